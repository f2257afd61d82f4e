"""The module's self-test: the whole panel workflow on a phantom, with checks on real numbers.

Run by ``KneeCartilageT2Test`` in Slicer (Developer mode > Reload and Test)
and by the headless tests. No network and no download: the phantom's true
cartilage label stands in for the model's output. Steps: load the phantom
as a sequence, measure, compare subregional T2 with the truth, erase slices
through the segment array API (the edit watcher must notice, the measurements
must go stale and then follow the edit, keeping the T2 preset the reader chose
and still splitting the cartilage voxels without T2 by reason from the fit's
hidden status), ask for the next slice to check
(the one beyond the erased slices), keep the edit as the exam's draft (in a
folder of the test's own, never the user's drafts), export the approved label
to a temporary training dataset (which takes the draft over), load the next
unlabelled case, measure a follow-up visit with T2 raised by 3 ms and compute
the change, re-run and check that no nodes pile up, then edit that dataset
case and check that the edit is kept as its draft, and page through its
echoes (the case and analysis marks must survive the browser's updates of the
shown volume).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Callable, Dict, Tuple

import numpy as np
import slicer

from KneeCartilageT2Lib.local_drafts import DRAFTS_VARIABLE, list_local_drafts

from .edit_tracking import CURRENT, STALE, SegmentEditWatcher, measurement_state
from .exam_from_nodes import exam_to_sequence
from .phantom_exam import shell_phantom
from .plot_nodes import SUBREGION_CODE
from .segmentation_nodes import CARTILAGE_SEGMENT_NAME, read_segment
from .t2_colors import T2_COLOR_NODE_NAME, T2_WINDOW_PRESETS_MS
from .table_nodes import rows_from_table
from .workflow import ExamInput, default_options

T2_TOLERANCE_MS = 1.5
FOLLOWUP_T2_SHIFT_MS = 3.0
ERASED_SLICES = 3
DETAIL_PRESET = "Cartilage detail 20-60 ms"
Checks = Dict[str, Tuple[bool, str]]


def run_self_test(logic, scene, log: Callable[[str], None] = print) -> Checks:
    """Run the workflow on a phantom through ``logic`` (a KneeCartilageT2Logic); returns named checks."""
    checks: Checks = {}
    options = default_options(t2_method="loglinear")
    dataset_dir = tempfile.mkdtemp(prefix="knee-t2-selftest-")
    drafts_before = os.environ.get(DRAFTS_VARIABLE)
    os.environ[DRAFTS_VARIABLE] = os.path.join(dataset_dir, "local-drafts")  # never the user's own drafts
    try:
        exam, mask, truth = shell_phantom("right")
        _, _, baseline = exam_to_sequence(exam, scene, "KneeT2 phantom baseline")
        log("Measuring the phantom")
        nodes = logic.measure_label(ExamInput(baseline), mask, options)
        _check_measurement(checks, nodes, truth)
        log("Editing the segmentation; the measurements follow the edit")
        noticed = []
        watcher = SegmentEditWatcher(lambda: noticed.append(measurement_state(baseline)))
        watcher.watch(nodes.segmentation)
        logic.apply_t2_preset(baseline, DETAIL_PRESET)  # the reader's choice, which the update must keep
        edited = _erase_first_slices(nodes.segmentation, baseline)
        watcher.stop()
        checks["the edit is noticed and the measurements go stale"] = (
            bool(noticed) and noticed[-1] == STALE, "states seen after the edit's events: %s" % noticed)
        _, recomputed = logic.update_after_edit(ExamInput(baseline), True, options)
        voxels = _region_rows(recomputed.region_table)["all"]["n_voxels"] if recomputed is not None else -1
        checks["recompute uses the edited segment"] = (
            voxels == edited and measurement_state(baseline) == CURRENT,
            "%d voxels, edited segment %d, now %s" % (voxels, edited, measurement_state(baseline)))
        window = _window_of(recomputed.t2_map) if recomputed is not None else None
        checks["the reader's T2 preset is kept by the update"] = (
            window == T2_WINDOW_PRESETS_MS[DETAIL_PRESET], "T2 map window %s ms" % (window,))
        _check_fit_status(checks, recomputed)
        to_check = logic.next_slice_to_check(baseline)  # the erased slices leave the plate ending abruptly
        checks["the slice beyond the cut plate is named for checking"] = (
            to_check is not None and to_check[0] == ERASED_SLICES - 1, str(to_check))
        log("Saving the results folder")
        saved = logic.save_results_folder(ExamInput(baseline), os.path.join(dataset_dir, "results"), options)
        page = (saved / "report.html").read_text(encoding="utf-8") if (saved / "report.html").is_file() else ""
        checks["the results folder holds the edited analysis and its report"] = (
            ">%d<" % edited in page and (saved / "DONE.json").is_file(), "report %d characters" % len(page))
        log("Keeping the edit as a draft of the exam")
        note = logic.keep_draft(baseline, "selftest")
        kept = [info.n_voxels for _, info in list_local_drafts()]
        checks["an edit of an exam outside a dataset is kept as its draft"] = (kept == [edited], "%s; drafts %s"
                                                                               % (note, kept))
        log("Exporting the approved label")
        record = logic.accept_and_export(ExamInput(baseline), dataset_dir, "selftest")
        _check_export(checks, record, dataset_dir, edited)
        checks["the export takes the exam's draft over"] = (not list_local_drafts(), "%d draft(s) left"
                                                            % len(list_local_drafts()))
        log("Loading the next case")
        followup_exam, _, _ = shell_phantom("right", t2_shift_ms=FOLLOWUP_T2_SHIFT_MS, seed=1)
        from KneeCartilageT2Lib.dataset_format import write_case

        write_case(dataset_dir, followup_exam, None, source="phantom")
        loaded = logic.next_case(dataset_dir, "first")
        same = loaded is not None and np.array_equal(ExamInput(loaded[1]).exam().echoes, followup_exam.echoes)
        checks["next case loads the unlabelled exam"] = (same, str(loaded[0] if loaded else None))
        log("Longitudinal change")
        logic.measure_label(ExamInput(loaded[1]), mask, options)
        _check_change(checks, logic.compute_change(baseline, loaded[1]).table)
        count = scene.GetNumberOfNodes()
        logic.measure_label(ExamInput(loaded[1]), mask, options)
        checks["re-running adds no nodes"] = (scene.GetNumberOfNodes() == count,
                                               "%d nodes before, %d after" % (count, scene.GetNumberOfNodes()))
        log("Keeping a draft of the next case's edit")
        _check_draft(checks, logic, loaded, dataset_dir)
        log("Paging through the echoes")
        _check_paging(checks, loaded[1])
    finally:
        if drafts_before is None:
            os.environ.pop(DRAFTS_VARIABLE, None)
        else:
            os.environ[DRAFTS_VARIABLE] = drafts_before
        shutil.rmtree(dataset_dir, ignore_errors=True)
    return checks


def _window_of(volume_node) -> Tuple[float, float]:
    """(low, high) of a volume's display window (ms for a T2 map)."""
    display = volume_node.GetDisplayNode()
    return display.GetWindowLevelMin(), display.GetWindowLevelMax()


def _region_rows(table) -> Dict[str, dict]:
    return {row["region"]: row for row in rows_from_table(table)}


def _check_measurement(checks: Checks, nodes, truth: Dict[str, float]) -> None:
    rows = _region_rows(nodes.region_table)
    errors = {name: abs(rows[name]["t2_mean_ms"] - value) for name, value in truth.items()}
    worst = max(errors, key=errors.get)
    checks["subregion T2 matches the phantom"] = (errors[worst] < T2_TOLERANCE_MS,
                                                  "largest error %.2f ms in %s" % (errors[worst], worst))
    display = nodes.t2_map.GetDisplayNode()
    window = (display.GetWindowLevelMin(), display.GetWindowLevelMax())
    checks["T2 map has the T2 colours and 0-100 ms window"] = (
        display.GetColorNode().GetName() == T2_COLOR_NODE_NAME and window == (0.0, 100.0), str(window))
    names = [nodes.subregions.GetSegmentation().GetNthSegment(i).GetName()
             for i in range(nodes.subregions.GetSegmentation().GetNumberOfSegments())]
    checks["12 named subregions"] = (len(set(names)) == 12, ", ".join(names))


def _check_fit_status(checks: Checks, nodes) -> None:
    """The T2 fit's status stays beside the T2 map, hidden from the volume selectors, so that the re-measure after
    an edit (which reuses the T2 map, not the fit) still counts n_t2_no_fit / n_t2_out_of_range: numbers, not
    the blanks of a fit whose status is not known."""
    status = nodes.t2_status if nodes is not None else None
    table = nodes.region_table.GetTable() if nodes is not None else None
    kinds = [table.GetColumnByName(name).GetClassName() if table is not None and table.GetColumnByName(name)
             else None for name in ("n_t2_no_fit", "n_t2_out_of_range")]
    checks["the re-measure after the edit splits the voxels without T2 from the hidden fit status"] = (
        status is not None and bool(status.GetHideFromEditors()) and kinds == ["vtkIntArray", "vtkIntArray"],
        "status node %s, columns %s" % (None if status is None else status.GetName(), kinds))


def _erase_first_slices(segmentation, reference_volume) -> int:
    """Erase the first slices of the cartilage segment through Slicer's segment array API; new voxel count."""
    segment_id = segmentation.GetSegmentation().GetSegmentIdBySegmentName(CARTILAGE_SEGMENT_NAME)
    array = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, segment_id, reference_volume)
    array[:ERASED_SLICES] = 0
    slicer.util.updateSegmentBinaryLabelmapFromArray(array, segmentation, segment_id, reference_volume)
    return int(read_segment(segmentation, reference_volume).array.sum())


def _check_draft(checks: Checks, logic, loaded, dataset_dir: str) -> None:
    from KneeCartilageT2Lib.dataset_drafts import read_draft

    case_id, proxy = loaded
    segmentation = logic.cartilage_segmentation_of(proxy)
    edited = _erase_first_slices(segmentation, proxy)
    note = logic.keep_draft(proxy, "selftest")
    draft = read_draft(dataset_dir, case_id)
    stored = int(np.count_nonzero(draft[0].array)) if draft is not None else -1
    checks["an edit of a dataset case is kept as its draft"] = (stored == edited, "%s; %d voxels kept, segment %d"
                                                                % (note, stored, edited))


def _check_paging(checks: Checks, proxy) -> None:
    """The browser replaces the proxy's attributes with each shown echo's: the case and analysis marks must last."""
    from .case_drafts import dataset_case_of
    from .mrml_helpers import nodes_of_class

    case = dataset_case_of(proxy)
    browser = next(node for node in nodes_of_class(proxy.GetScene(), "vtkMRMLSequenceBrowserNode")
                   if node.IsProxyNode(proxy.GetID()))
    lost = []
    for item in range(browser.GetNumberOfItems()):
        browser.SetSelectedItemNumber(item)
        if dataset_case_of(proxy) != case or proxy.GetAttribute("KneeT2.Analysed") != "1":
            lost.append(item)
    checks["the case and analysis marks last while paging through echoes"] = (
        case is not None and not lost, "case %s; marks lost at echoes %s" % (case, lost))


def _check_export(checks: Checks, record, dataset_dir: str, edited: int) -> None:
    from KneeCartilageT2Lib.dataset_format import read_case

    _, label, _ = read_case(dataset_dir, record.case_id)
    stored = int(np.count_nonzero(label.array)) if label is not None else -1
    checks["export stores the approved label"] = (stored == edited, "%s: %d voxels stored" % (record.case_id, stored))


def _check_change(checks: Checks, table) -> None:
    rows = [row for row in rows_from_table(table) if SUBREGION_CODE.fullmatch(row["region"])]
    mean_change = float(np.mean([row["delta_t2_ms"] for row in rows]))
    checks["follow-up T2 change is +3 ms"] = (abs(mean_change - FOLLOWUP_T2_SHIFT_MS) < 1.0,
                                              "mean subregion change %.2f ms" % mean_change)
