"""How quickly the measurements follow a reader's edit, against a full analysis in the same run.

The real GE exam (or, without it, the module's phantom) is analysed in-process
with the bootstrap model and put into a headless Slicer scene (slicer-core).
Then a series of reader-like edits is made on the cartilage segment through
the segmentation API (erase a patch in one slice, paint a patch back next to
the plate), and each time the panel's after-edit update runs
(``update_after_edit``: digest check, segment read-back, T2 fit rebuilt from
the map node, regions, thickness, projections, nodes updated). Also timed: the
check alone when nothing changed (what a colour change or a no-op stroke costs),
and keeping the edited segment as the exam's draft (``keep_draft``: segment
read-back, digest, compressed NRRD written atomically to a temporary drafts
folder), which the panel does after every settled edit too; the first call
also computes the echo images' digest when the exam has no series UID.

Usage: python benchmarks/bench_edit_update.py [--edits 12] [--phantom]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

import bench_setup  # noqa: F401  (the project's packages on sys.path)


def _exam(use_phantom: bool):
    """(exam, its true cartilage mask or None, what it is)."""
    from KneeCartilageT2Lib.sample_data import find_ge_exam_dir

    folder = None if use_phantom else find_ge_exam_dir()
    if folder is not None:
        from KneeCartilageT2Lib.exam_loader import load_exam

        return load_exam(folder), None, "real GE exam"
    from KneeCartilageT2SlicerLib.phantom_exam import shell_phantom

    exam, mask, _ = shell_phantom("right")
    why = "chosen with --phantom" if use_phantom else "GE exam not found: run `knee-t2 fetch-sample`"
    return exam, mask.array, "shell phantom (%s; the segment edited is its true cartilage)" % why


def _edits(mask: np.ndarray, count: int, seed: int = 0):
    """Reader-like edits: alternately erase a 6 x 6 patch of cartilage and paint a 4 x 4 patch beside it."""
    random = np.random.default_rng(seed)
    inside = np.argwhere(mask)
    for number in range(count):
        k, row, col = inside[random.integers(len(inside))]
        edited = mask.copy()
        if number % 2 == 0:
            edited[k, max(row - 3, 0):row + 3, max(col - 3, 0):col + 3] = False
        else:
            edited[k, row:row + 4, col:col + 4] = True
        yield edited
        mask = edited


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=12)
    parser.add_argument("--phantom", action="store_true", help="use the shell phantom even if the GE exam is here")
    args = parser.parse_args()
    try:
        import slicer_harness
    except ImportError:
        print("slicer-core is not installed: `pip install slicer-core` (Python >= 3.10)")
        return 1
    import torch

    torch.set_num_threads(2)
    slicer_harness.install_slicer_stand_ins()
    harness = slicer_harness.HeadlessSlicer()
    scene = harness.new_scene()

    from KneeCartilageT2Lib.pipeline import AnalysisOptions, analyse_exam, measure
    from KneeCartilageT2SlicerLib.edit_tracking import CURRENT, measurement_state
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.readback import result_nodes_of
    from KneeCartilageT2SlicerLib.results_nodes import present_analysis
    from KneeCartilageT2SlicerLib.segmentation_nodes import read_segment, segment_id_by_name, write_segment
    from KneeCartilageT2SlicerLib.workflow import ExamInput

    exam, truth, what = _exam(args.phantom)
    options = AnalysisOptions(device="cpu")
    started = time.perf_counter()
    result = analyse_exam(exam, options)
    analysis_s = time.perf_counter() - started
    if truth is not None:  # the phantom-trained model does not see the analytic shell: the reader's segment is given
        result = measure(exam, truth, t2=result.t2, options=options, label_source="given")
    _, browser, proxy = exam_to_sequence(exam, scene, "MESE")
    started = time.perf_counter()
    present_analysis(result, proxy)
    present_s = time.perf_counter() - started
    print("%s, %s voxels of cartilage; full analysis (network + T2 fit + regions) %.2f s, put into the scene %.2f s"
          % (what, int(np.count_nonzero(result.label.array)), analysis_s, present_s))

    logic, source = ModuleActions(), ExamInput(browser)
    segmentation = result_nodes_of(proxy).segmentation
    segment_id = segment_id_by_name(segmentation, "Femoral cartilage")
    mask = np.asarray(read_segment(segmentation, proxy).array) > 0
    drafts = tempfile.TemporaryDirectory(prefix="knee-t2-bench-drafts-")
    os.environ["KNEE_T2_DRAFTS"] = drafts.name
    update_s, check_s, draft_s, followed = [], [], [], 0
    for edited in _edits(mask, args.edits):
        write_segment(segmentation, segment_id, result.label.with_array(edited.astype(np.uint8)))
        started = time.perf_counter()
        text, nodes = logic.update_after_edit(source, True, options)
        update_s.append(time.perf_counter() - started)
        followed += int(nodes is not None and measurement_state(proxy) == CURRENT)
        started = time.perf_counter()
        logic.update_after_edit(source, True, options)  # nothing changed since: the check alone
        check_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        kept = logic.keep_draft(browser, "bench")
        draft_s.append(time.perf_counter() - started)
        followed -= int(not kept.startswith("Draft of"))  # every edit must be kept
    median_update = statistics.median(update_s)
    print("after-edit update over %d edits: median %.3f s, max %.3f s; measurements current after %d of %d"
          % (len(update_s), median_update, max(update_s), followed, len(update_s)))
    print("check alone (no change): median %.3f s" % statistics.median(check_s))
    from KneeCartilageT2SlicerLib.exam_from_nodes import series_uid_of

    print("draft kept after each edit (named by its %s): first %.3f s, median %.3f s, max %.3f s; %.3f of a full "
          "analysis" % ("series UID" if series_uid_of(proxy) else "echo images' digest", draft_s[0],
                        statistics.median(draft_s), max(draft_s), statistics.median(draft_s) / analysis_s))
    drafts.cleanup()
    print("ratio: an edit costs %.3f of a full analysis (%.1fx faster)" % (median_update / analysis_s,
                                                                            analysis_s / median_update))
    harness.close()
    harness.shutdown()
    return 0 if followed == len(update_s) else 1


if __name__ == "__main__":
    sys.exit(main())
