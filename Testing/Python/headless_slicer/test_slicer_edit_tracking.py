"""Measurements that follow the reader's edits: the measured-label stamp, the edit watcher, and the
update the panel runs once the edits settle (headless: real segmentation nodes and events)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")


def _segment(proxy):
    from KneeCartilageT2SlicerLib.readback import result_nodes_of

    return result_nodes_of(proxy).segmentation


def _edit(proxy, change):
    """Apply ``change(mask)`` (in place, on a bool (slice, row, col) copy) to the cartilage segment."""
    from KneeCartilageT2SlicerLib.segmentation_nodes import read_segment, segment_id_by_name, write_segment

    segmentation = _segment(proxy)
    label = read_segment(segmentation, proxy)
    mask = np.asarray(label.array) > 0
    change(mask)
    write_segment(segmentation, segment_id_by_name(segmentation, "Femoral cartilage"), label.with_array(mask.astype(np.uint8)))
    return int(mask.sum())


def _table_voxels(proxy) -> int:
    from KneeCartilageT2SlicerLib.readback import result_nodes_of
    from KneeCartilageT2SlicerLib.table_nodes import rows_from_table

    rows = {row["region"]: row for row in rows_from_table(result_nodes_of(proxy).region_table)}
    return int(rows["all"]["n_voxels"])


def _erase_slice(k):
    def change(mask):
        mask[k] = False
    return change


def test_a_measurement_is_current_until_the_segment_changes(analysed):
    from KneeCartilageT2SlicerLib.edit_tracking import CURRENT, NO_MEASUREMENT, STALE, measurement_state

    browser, proxy = analysed
    assert measurement_state(None) == NO_MEASUREMENT
    assert measurement_state(proxy) == CURRENT
    before = _table_voxels(proxy)
    _edit(proxy, lambda mask: None)  # rewriting the same voxels is no edit
    assert measurement_state(proxy) == CURRENT
    _edit(proxy, _erase_slice(5))
    assert measurement_state(proxy) == STALE
    assert _table_voxels(proxy) == before  # nothing re-measured behind the reader's back


def test_the_watcher_fires_on_voxel_and_segment_list_changes_only(analysed):
    from KneeCartilageT2SlicerLib.edit_tracking import SegmentEditWatcher

    _, proxy = analysed
    segmentation = _segment(proxy)
    fired = []
    watcher = SegmentEditWatcher(lambda: fired.append(1))
    watcher.watch(segmentation)
    watcher.watch(segmentation)  # watching the same node again adds no second set of observers
    assert watcher.watched is segmentation
    _edit(proxy, _erase_slice(5))
    strokes = len(fired)
    assert strokes >= 1
    segment = segmentation.GetSegmentation().GetSegment(segmentation.GetSegmentation().GetSegmentIdBySegmentName(
        "Femoral cartilage"))
    segment.SetColor(1.0, 0.0, 0.0)  # a colour change is no edit of the voxels
    assert len(fired) == strokes
    segmentation.GetSegmentation().AddEmptySegment("scratch")
    added = len(fired)
    assert added > strokes
    segmentation.GetSegmentation().RemoveSegment("scratch")
    removed = len(fired)
    assert removed > added
    watcher.stop()
    assert watcher.watched is None
    _edit(proxy, _erase_slice(6))
    assert len(fired) == removed
    watcher.watch(None)
    assert watcher.watched is None


def test_update_after_edit_re_measures_only_when_asked_and_only_when_stale(analysed):
    from KneeCartilageT2SlicerLib.edit_tracking import CURRENT, STALE, measurement_state
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput, default_options

    browser, proxy = analysed
    logic, options = ModuleActions(), default_options(t2_method="loglinear")
    text, nodes = logic.update_after_edit(ExamInput(browser), True, options)
    assert (text, nodes) == ("Measurements match the segment.", None)
    before = _table_voxels(proxy)
    edited = _edit(proxy, _erase_slice(5))
    assert edited < before
    text, nodes = logic.update_after_edit(ExamInput(browser), False, options)
    assert nodes is None and "out of date" in text and "Recompute" in text
    assert _table_voxels(proxy) == before and measurement_state(proxy) == STALE
    segment_before = _segment(proxy)
    text, nodes = logic.update_after_edit(ExamInput(browser), True, options)
    assert text == "Measurements updated to the edited segment."
    assert nodes.region_table is not None and _table_voxels(proxy) == edited
    assert measurement_state(proxy) == CURRENT
    assert nodes.segmentation is segment_before and _edit(proxy, lambda mask: None) == edited  # the edit is kept
    assert logic.update_after_edit(ExamInput(browser), True, options) == ("Measurements match the segment.", None)


def test_an_unmeasurable_edit_is_reported_and_the_edit_and_last_table_are_kept(analysed):
    from KneeCartilageT2SlicerLib.edit_tracking import STALE, measurement_state
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput, default_options

    browser, proxy = analysed
    before = _table_voxels(proxy)

    def erase_all(mask):
        mask[:] = False

    _edit(proxy, erase_all)
    text, nodes = ModuleActions().update_after_edit(ExamInput(browser), True, default_options(t2_method="loglinear"))
    assert nodes is None and text.startswith("Measurements not updated: ")
    assert measurement_state(proxy) == STALE and _table_voxels(proxy) == before
    assert _edit(proxy, lambda mask: None) == 0  # the reader's (empty) segment is still there to undo


def test_a_removed_segment_or_an_unstamped_table_counts_as_stale(analysed):
    from KneeCartilageT2SlicerLib.edit_tracking import STALE, measurement_state
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.readback import result_nodes_of
    from KneeCartilageT2SlicerLib.results_nodes import MEASURED_LABEL_ATTRIBUTE
    from KneeCartilageT2SlicerLib.workflow import ExamInput

    browser, proxy = analysed
    table = result_nodes_of(proxy).region_table
    table.RemoveAttribute(MEASURED_LABEL_ATTRIBUTE)  # a scene saved before tables were stamped
    assert measurement_state(proxy) == STALE
    segmentation = _segment(proxy)
    assert ModuleActions.cartilage_segmentation_of(browser) is segmentation
    edited, source = ModuleActions.editing_targets(browser)  # what the Segment Editor edits for this input
    assert edited is segmentation and source is proxy
    segmentation.GetSegmentation().RemoveAllSegments()
    assert measurement_state(proxy) == STALE
    text, nodes = ModuleActions().update_after_edit(ExamInput(browser), True)
    assert nodes is None and text.startswith("Measurements not updated: ")


def test_inputs_without_results_have_nothing_to_follow(slicer_scene):
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput

    assert ModuleActions.cartilage_segmentation_of(None) is None
    volume = slicer_scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "not an echo series")
    assert ModuleActions.cartilage_segmentation_of(volume) is None
    assert ModuleActions.editing_targets(volume) == (None, None) == ModuleActions.editing_targets(None)
    assert ModuleActions().update_after_edit(ExamInput(None), True) == ("", None)


def test_label_digest_depends_on_voxels_and_shape_only():
    from KneeCartilageT2SlicerLib.results_nodes import label_digest

    mask = np.zeros((3, 4, 5), dtype=np.uint8)
    mask[1, 2, 3] = 1
    assert label_digest(mask) == label_digest(mask.astype(bool)) == label_digest(mask * 7)
    moved = np.roll(mask, 1, axis=2)
    assert label_digest(moved) != label_digest(mask)
    assert label_digest(mask.reshape(3, 5, 4)) != label_digest(mask)


def test_the_status_line_follows_the_state(analysed):
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    _, proxy = analysed
    assert ModuleActions.measurement_status(None) == ""
    assert ModuleActions.measurement_status(proxy) == "Measurements match the segment."
    _edit(proxy, _erase_slice(5))
    assert "out of date" in ModuleActions.measurement_status(proxy)


def test_an_earlier_state_copied_back_is_noticed_and_matches_the_measurement_again(analysed):
    """A whole earlier segmentation copied back (DeepCopy, as an undo buffer would) fires the watcher,
    and the measurements describe the segment again without a recompute."""
    import slicer

    from KneeCartilageT2SlicerLib.edit_tracking import CURRENT, STALE, SegmentEditWatcher, measurement_state

    _, proxy = analysed
    segmentation = _segment(proxy)
    saved = slicer.vtkSegmentation()
    saved.DeepCopy(segmentation.GetSegmentation())
    fired = []
    watcher = SegmentEditWatcher(lambda: fired.append(1))
    watcher.watch(segmentation)
    _edit(proxy, _erase_slice(5))
    assert measurement_state(proxy) == STALE
    before = len(fired)
    segmentation.GetSegmentation().DeepCopy(saved)
    assert len(fired) > before and measurement_state(proxy) == CURRENT
    watcher.stop()


def _stroke(proxy, corner_kji, size, mode_name):
    """A brush stroke as the Segment Editor's Paint / Erase effects write it: a small modifier labelmap merged
    into the segment over its own extent (``SetBinaryLabelmapToSegment``, MODE_MERGE_MAX to paint, MODE_MERGE_MIN
    with the brush cleared to erase)."""
    import slicer

    from KneeCartilageT2Lib.geometry import Volume
    from KneeCartilageT2SlicerLib.mrml_helpers import ijk_to_ras_of
    from KneeCartilageT2SlicerLib.segmentation_nodes import oriented_image_from_volume

    k, j, i = corner_kji
    grid = ijk_to_ras_of(proxy).copy()
    grid[:3, 3] = (grid @ [i, j, k, 1.0])[:3]  # the brush's own small image, on the volume's voxels
    brush = oriented_image_from_volume(Volume(np.full((size, size, size), 0 if mode_name == "MODE_MERGE_MIN" else 1,
                                                      np.uint8), grid))
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    segmentation = _segment(proxy)
    segment_id = segmentation.GetSegmentation().GetSegmentIdBySegmentName("Femoral cartilage")
    assert logic.SetBinaryLabelmapToSegment(brush, segmentation, segment_id, getattr(logic, mode_name),
                                            brush.GetExtent())


def test_brush_strokes_merged_as_the_editor_effects_merge_them_are_noticed(analysed):
    """Paint and Erase write small modifier labelmaps merged over their extent, not whole replacements."""
    from KneeCartilageT2SlicerLib.edit_tracking import CURRENT, STALE, SegmentEditWatcher, measurement_state
    from KneeCartilageT2SlicerLib.segmentation_nodes import read_segment

    browser, proxy = analysed
    fired = []
    watcher = SegmentEditWatcher(lambda: fired.append(1))
    watcher.watch(_segment(proxy))
    before = np.asarray(read_segment(_segment(proxy), proxy).array) > 0
    inside = np.argwhere(before)[len(np.argwhere(before)) // 2]
    _stroke(proxy, tuple(int(v) - 1 for v in inside), 3, "MODE_MERGE_MIN")  # erase around a cartilage voxel
    erased = np.asarray(read_segment(_segment(proxy), proxy).array) > 0
    assert fired and measurement_state(proxy) == STALE
    assert erased.sum() < before.sum() and not erased[tuple(inside)]
    strokes = len(fired)
    _stroke(proxy, (0, 0, 0), 2, "MODE_MERGE_MAX")  # paint in a corner, far from the plate
    painted = np.asarray(read_segment(_segment(proxy), proxy).array) > 0
    assert len(fired) > strokes and painted[:2, :2, :2].all() and painted.sum() == erased.sum() + 8
    watcher.stop()
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput

    text, _ = ModuleActions().update_after_edit(ExamInput(browser), True)
    assert text == "Measurements updated to the edited segment." and measurement_state(proxy) == CURRENT
