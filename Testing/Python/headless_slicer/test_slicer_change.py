"""Compute change between two analysed visits: the core's registration and regional change, shown
as a table, a subregion bar chart, a follow-up-to-baseline transform and a T2 difference map."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")

T2_SHIFT_MS = 4.0


@pytest.fixture
def two_visits(slicer_scene, phantom_analysis):
    from KneeCartilageT2Lib.pipeline import AnalysisOptions, measure
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.phantom_exam import shell_phantom
    from KneeCartilageT2SlicerLib.results_nodes import present_analysis

    exam, mask, _, result = phantom_analysis
    followup_exam, _, _ = shell_phantom("left", t2_shift_ms=T2_SHIFT_MS, seed=5)
    followup_result = measure(followup_exam, mask.array, options=AnalysisOptions(t2_method="loglinear"))
    _, _, baseline = exam_to_sequence(exam, slicer_scene, "Visit 1")
    _, _, followup = exam_to_sequence(followup_exam, slicer_scene, "Visit 2")
    present_analysis(result, baseline)
    present_analysis(followup_result, followup)
    return baseline, followup


def test_change_table_chart_transform_and_difference_map(two_visits, slicer_scene):
    from KneeCartilageT2SlicerLib.mrml_helpers import matrix_from_vtk
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.plot_nodes import SUBREGION_CODE
    from KneeCartilageT2SlicerLib.table_nodes import rows_from_table
    from KneeCartilageT2SlicerLib.volume_nodes import node_to_volume

    baseline, followup = two_visits
    change = ModuleActions().compute_change(baseline, followup)
    rows = {row["region"]: row for row in rows_from_table(change.table)}
    subregion_deltas = [row["delta_t2_ms"] for name, row in rows.items() if SUBREGION_CODE.fullmatch(name)]
    assert len(subregion_deltas) == 12
    assert np.mean(subregion_deltas) == pytest.approx(T2_SHIFT_MS, abs=0.6)
    assert rows["all"]["delta_t2_ms"] == pytest.approx(rows["all"]["t2_followup_ms"] - rows["all"]["t2_baseline_ms"])
    assert change.chart.GetNthPlotSeriesNode(0).GetTableNode().GetTable().GetNumberOfRows() == 12
    motion = matrix_from_vtk(change.transform.GetMatrixTransformToParent())
    assert np.abs(motion[:3, 3]).max() < 1.0 and np.allclose(motion[:3, :3], np.eye(3), atol=0.02)  # same position
    difference = node_to_volume(change.difference_map).array
    assert np.median(difference[difference != 0]) == pytest.approx(T2_SHIFT_MS, abs=1.5)
    count = slicer_scene.GetNumberOfNodes()
    ModuleActions().compute_change(baseline, followup)
    assert slicer_scene.GetNumberOfNodes() == count


def test_change_needs_two_analysed_visits(two_visits, slicer_scene):
    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.volume_nodes import volume_to_node

    baseline, _ = two_visits
    with pytest.raises(InputError, match="same node"):
        ModuleActions().compute_change(baseline, baseline)
    from KneeCartilageT2Lib.geometry import Volume

    raw = volume_to_node(Volume(np.zeros((3, 4, 5), np.float32)), slicer_scene, "not analysed")
    with pytest.raises(InputError, match="has not been analysed"):
        ModuleActions().compute_change(baseline, raw)


@pytest.fixture
def visits_without_side_in_the_data(slicer_scene, phantom_analysis):
    """The phantom twice (no motion, no change), its Laterality left out of both visits' data."""
    import dataclasses

    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.results_nodes import present_analysis

    exam, _, _, result = phantom_analysis
    unsided = dataclasses.replace(exam, laterality="unknown", metadata=dict(exam.metadata))
    visits = [exam_to_sequence(unsided, slicer_scene, name)[2] for name in ("Visit 1", "Visit 2")]
    for visit in visits:
        present_analysis(result, visit)
    return visits


def _record_side(node, side, source, confidence):
    from KneeCartilageT2SlicerLib.mrml_helpers import set_input_attribute
    from KneeCartilageT2SlicerLib.results_nodes import (
        ANALYSED_SIDE_ATTRIBUTE, ANALYSED_SIDE_CONFIDENCE_ATTRIBUTE, ANALYSED_SIDE_SOURCE_ATTRIBUTE)

    set_input_attribute(node, ANALYSED_SIDE_ATTRIBUTE, side)
    set_input_attribute(node, ANALYSED_SIDE_SOURCE_ATTRIBUTE, source)
    set_input_attribute(node, ANALYSED_SIDE_CONFIDENCE_ATTRIBUTE, confidence)


def test_estimated_sides_are_checked_against_each_other_and_a_chosen_side_wins(visits_without_side_in_the_data):
    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2Lib.side_words import side_source_phrase
    from KneeCartilageT2SlicerLib.change_nodes import visit_from_nodes
    from KneeCartilageT2SlicerLib.exam_from_nodes import LATERALITY_ATTRIBUTE, PROVENANCE_ATTRIBUTES
    from KneeCartilageT2SlicerLib.mrml_helpers import sequence_behind, set_input_attribute
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.results_nodes import (
        ANALYSED_SIDE_CONFIDENCE_ATTRIBUTE, ANALYSED_SIDE_SOURCE_ATTRIBUTE)

    baseline, followup = visits_without_side_in_the_data
    assert baseline.GetAttribute(ANALYSED_SIDE_SOURCE_ATTRIBUTE) == "dicom"  # how the phantom's analysis knew its side
    assert baseline.GetAttribute(ANALYSED_SIDE_CONFIDENCE_ATTRIBUTE) == "1.000"
    # as analyses that had to estimate each visit's side would have recorded it
    _record_side(baseline, "right", "estimated", "0.550")
    _record_side(followup, "left", "estimated", "0.800")
    change = ModuleActions().compute_change(baseline, followup)
    assert change.warnings[0].startswith("Check the knee side")
    for side, confidence in (("right", 0.55), ("left", 0.80)):
        assert "%s knee (%s)" % (side, side_source_phrase("estimated", confidence)) in change.warnings[0]
    assert "'Knee side'" in change.warnings[0] and change.result.laterality == "left"
    _record_side(baseline, "right", "estimated", "0.850")
    with pytest.raises(InputError, match="look like different knees"):
        ModuleActions().compute_change(baseline, followup)

    # the panel's 'Knee side' (recorded as "user") wins over the Laterality in the data, as in the analysis itself
    set_input_attribute(baseline, LATERALITY_ATTRIBUTE, "left")
    _record_side(baseline, "right", "user", "1.000")
    visit = visit_from_nodes(baseline)
    assert (visit.laterality, visit.laterality_source) == ("right", "user")
    _record_side(baseline, "right", None, None)  # analysed before the source was recorded: the data's side
    assert (visit_from_nodes(baseline).laterality, visit_from_nodes(baseline).laterality_source) == ("left", "dicom")
    # ... and that side credited to an echo stack's sidecar when the input was loaded from one
    sequence_behind(baseline).SetAttribute(PROVENANCE_ATTRIBUTES["sidecar"], "/visits/1/knee.json")
    assert (visit_from_nodes(baseline).laterality, visit_from_nodes(baseline).laterality_source) == ("left", "sidecar")
