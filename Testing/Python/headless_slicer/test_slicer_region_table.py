"""The region table the panel shows: the voxels without a valid T2 split by reason (``n_t2_no_fit``,
``n_t2_out_of_range``) when the T2 fit's status is known, blank (never ``nan`` or ``0``) when it is not; the
re-measurement after the reader's edits keeps the split through the fit's status node (headless)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")


def _column_texts(table, name):
    """What the table view shows in column ``name``, row by row (vtkVariant's text of each value)."""
    import vtk

    column = table.GetTable().GetColumnByName(name)
    return [vtk.vtkVariant(column.GetVariantValue(row)).ToString() for row in range(column.GetNumberOfTuples())]


def _region_rows(table):
    from KneeCartilageT2SlicerLib.table_nodes import rows_from_table

    return {row["region"]: row for row in rows_from_table(table)}


def test_counts_that_are_not_known_show_blank_not_nan_or_zero(slicer_scene):
    from KneeCartilageT2SlicerLib.table_nodes import fill_table

    table = slicer_scene.AddNewNodeByClass("vtkMRMLTableNode")
    rows = [{"region": "all", "n_t2_no_fit": None, "n_t2_out_of_range": float("nan"), "n_voxels": 7, "late": 3},
            {"region": "DLA", "n_t2_no_fit": None, "n_t2_out_of_range": None, "n_voxels": 2, "late": None}]
    fill_table(table, rows)
    assert _column_texts(table, "n_t2_no_fit") == ["", ""]
    assert _column_texts(table, "n_t2_out_of_range") == ["", ""]
    assert _column_texts(table, "late") == ["3", ""]  # a count not known is not shown as 0
    assert table.GetTable().GetColumnByName("n_voxels").GetClassName() == "vtkIntArray"


def _mark_without_t2(nodes, reason_by_voxel):
    """Give cartilage voxels of the presented fit another status (and T2 0, as the T2 map holds where no T2 is
    valid): ``reason_by_voxel`` maps (slice, row, col) to a t2_status code."""
    import slicer

    t2 = slicer.util.arrayFromVolume(nodes.t2_map)
    status = slicer.util.arrayFromVolume(nodes.t2_status)
    for voxel, code in reason_by_voxel.items():
        t2[voxel], status[voxel] = 0.0, code
    slicer.util.arrayFromVolumeModified(nodes.t2_map)
    slicer.util.arrayFromVolumeModified(nodes.t2_status)


def test_the_re_measure_after_an_edit_keeps_the_split_of_the_voxels_without_t2(analysed):
    import slicer
    from KneeCartilageT2Lib.t2_status import ABOVE_RANGE, FIT_FAILED, NO_SIGNAL
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.readback import result_nodes_of
    from KneeCartilageT2SlicerLib.segmentation_nodes import read_segment, segment_id_by_name, write_segment
    from KneeCartilageT2SlicerLib.workflow import ExamInput, default_options

    browser, proxy = analysed
    nodes = result_nodes_of(proxy)
    assert nodes.t2_status is not None and nodes.t2_status.GetHideFromEditors()
    assert _column_texts(nodes.region_table, "n_t2_out_of_range")[0] == "0"
    label = read_segment(nodes.segmentation, proxy)
    mask = np.asarray(label.array) > 0
    inside = [tuple(int(i) for i in voxel) for voxel in np.argwhere(mask)]
    codes = [ABOVE_RANGE] * 5 + [NO_SIGNAL] * 2 + [FIT_FAILED]
    marked = inside[::len(inside) // len(codes)][:len(codes)]  # spread over the slices, the first voxel first
    _mark_without_t2(nodes, dict(zip(marked, codes)))
    erased = inside[0][0]  # the reader erases the first slice with cartilage (one voxel above range in it)
    assert [voxel[0] for voxel in marked].count(erased) == 1
    mask[erased] = False
    write_segment(nodes.segmentation, segment_id_by_name(nodes.segmentation, "Femoral cartilage"),
                  label.with_array(mask.astype(np.uint8)))
    status = slicer.util.arrayFromVolume(nodes.t2_status)
    text, updated = ModuleActions().update_after_edit(ExamInput(browser), True, default_options(t2_method="loglinear"))
    assert text == "Measurements updated to the edited segment." and updated is not None
    whole = _region_rows(updated.region_table)["all"]
    assert whole["n_voxels"] == int(mask.sum())
    assert int(whole["n_t2_out_of_range"]) == int(np.count_nonzero(mask & (status == ABOVE_RANGE))) == 4
    assert int(whole["n_t2_no_fit"]) == int(np.count_nonzero(mask & np.isin(status, (NO_SIGNAL, FIT_FAILED)))) == 3
    assert whole["n_t2_voxels"] == int(mask.sum()) - 7


def test_a_t2_map_without_its_fit_status_leaves_the_split_blank(analysed):
    """A scene saved before the status was kept has a T2 map only: which voxels failed and which fell outside
    the range is not known, so the re-measured table leaves both counts blank (the T2 figures still come)."""
    from KneeCartilageT2SlicerLib.readback import result_nodes_of, t2_fit_from_nodes
    from KneeCartilageT2SlicerLib.workflow import ExamInput, KneeT2Workflow, default_options

    browser, proxy = analysed
    nodes = result_nodes_of(proxy)
    proxy.GetScene().RemoveNode(nodes.t2_status)
    assert t2_fit_from_nodes(nodes.t2_map, nodes.r2_map, None).status is None
    updated = KneeT2Workflow().recompute(ExamInput(browser), default_options(t2_method="loglinear"))
    assert updated.t2_status is None and result_nodes_of(proxy).t2_status is None
    assert set(_column_texts(updated.region_table, "n_t2_no_fit")) == {""}
    assert set(_column_texts(updated.region_table, "n_t2_out_of_range")) == {""}
    whole = _region_rows(updated.region_table)["all"]
    assert whole["n_t2_voxels"] > 0 and whole["t2_mean_ms"] > 0


def test_a_fit_without_status_removes_the_status_an_earlier_fit_left(analysed, phantom_analysis):
    """The status node must never describe another T2 map than the one shown."""
    import dataclasses

    from KneeCartilageT2SlicerLib.readback import result_nodes_of
    from KneeCartilageT2SlicerLib.results_nodes import present_analysis

    _, proxy = analysed
    assert result_nodes_of(proxy).t2_status is not None
    result = phantom_analysis[3]
    present_analysis(dataclasses.replace(result, t2=dataclasses.replace(result.t2, status=None)), proxy)
    assert result_nodes_of(proxy).t2_status is None
