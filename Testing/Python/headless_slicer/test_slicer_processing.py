"""The worker process behind "Segment & measure": errors come back as the core's exceptions,
Cancel kills the process and leaves nothing in the scene, and a full run lands in the scene.

The end-to-end run uses a tiny network whose output is "cartilage" everywhere
(all weights 0, output bias +10): the reference refinement then keeps the
voxels whose T2 lies in (0, 100] ms, which on the shell phantom is exactly the
cartilage (background T2 is 120 ms) - so the run checks the real chain
(exam file -> worker -> T2 fit -> network -> refinement -> regions -> result
file -> nodes) with known numbers, in seconds, without downloading weights.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")

WORKER_TIMEOUT_S = 240


def _scene_snapshot(scene):
    return sorted(scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes()))


@pytest.fixture(scope="module")
def saturated_model(tmp_path_factory) -> Path:
    torch = pytest.importorskip("torch")
    from KneeCartilageT2Lib.model_files import save_model_safetensors
    from KneeCartilageT2Lib.unet import build_unet

    module = build_unet(levels=2, base_filters=4)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.zero_()
        module.head.bias.fill_(10.0)
    spec = {"name": "saturated-test", "version": "0.1",
            "preprocessing": {"mode": "resize", "size": [64, 64], "target_te_ms": 20.0, "normalization": "quartile"},
            "refinement": {"probability_threshold": 0.501, "candidate_threshold": 0.01, "min_slice_voxels": 20,
                           "reference_pixel_area_mm2": 0.36, "t2_range_ms": [0.0, 100.0], "min_total_voxels": 100}}
    return save_model_safetensors(module, tmp_path_factory.mktemp("model") / "saturated.safetensors", spec)


def test_worker_errors_come_back_as_core_exceptions():
    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.processing import WorkerJob

    job = WorkerJob("no-such-task").start()
    job.wait(WORKER_TIMEOUT_S)
    assert job.state == "failed"
    with pytest.raises(InputError, match="Unknown worker task 'no-such-task'; known tasks: probe, analyse"):
        job.result()


def test_cancel_kills_the_worker_and_adds_nothing(slicer_scene, phantom_analysis):
    from KneeCartilageT2Lib.errors import OperationCancelled
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.workflow import ExamInput, KneeT2Workflow, default_options

    exam = phantom_analysis[0]
    _, _, proxy = exam_to_sequence(exam, slicer_scene, "Phantom")
    before = _scene_snapshot(slicer_scene)
    run = KneeT2Workflow().start_segment_and_measure(ExamInput(proxy), default_options(t2_method="mono"))
    job = run.job
    job_dir = job._job_dir
    deadline = time.monotonic() + WORKER_TIMEOUT_S
    while not job.poll() and not job.finished and time.monotonic() < deadline:
        time.sleep(0.05)  # until the first progress line: the worker is busy
    assert job.running, job.stderr_tail()
    job.cancel()
    assert job.state == "cancelled" and job._process.poll() is not None  # the process is gone
    assert not job_dir.exists()
    with pytest.raises(OperationCancelled):
        KneeT2Workflow().finish_segment_and_measure(run)
    assert _scene_snapshot(slicer_scene) == before


def test_segment_and_measure_through_the_worker_lands_in_the_scene(slicer_scene, phantom_analysis, saturated_model):
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.readback import model_label_of, provenance_of
    from KneeCartilageT2SlicerLib.segmentation_nodes import read_segment
    from KneeCartilageT2SlicerLib.workflow import ExamInput, KneeT2Workflow, default_options

    exam, mask, truth, _ = phantom_analysis
    _, _, proxy = exam_to_sequence(exam, slicer_scene, "Phantom")
    progress = []
    jobs_before = set(os.listdir(tempfile.gettempdir()))
    options = default_options(model=str(saturated_model), device="cpu", t2_method="loglinear")
    nodes = KneeT2Workflow().segment_and_measure(ExamInput(proxy), options, lambda f, s: progress.append((f, s)),
                                                 timeout_s=WORKER_TIMEOUT_S)
    fractions = [fraction for fraction, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(progress) > 3
    label = read_segment(nodes.segmentation, proxy).array > 0
    truth_mask = mask.array > 0
    dice = 2.0 * np.count_nonzero(label & truth_mask) / (label.sum() + truth_mask.sum())
    assert dice > 0.95
    assert np.array_equal(model_label_of(proxy).array > 0, label)
    segmentation = provenance_of(nodes.segmentation)["segmentation"]
    assert segmentation["model_name"] == "saturated-test" and segmentation["device"].startswith("cpu")
    assert nodes.region_table is not None and nodes.probability is not None
    left = {name for name in set(os.listdir(tempfile.gettempdir())) - jobs_before if name.startswith("knee-t2-job-")}
    assert left == set()  # the job folder is removed once its result is in the scene

    # The reader edits the segment: a later model run must not silently replace the edit.
    import slicer
    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.segmentation_nodes import CARTILAGE_SEGMENT_NAME

    workflow = KneeT2Workflow()
    assert not workflow.has_unsaved_edits(ExamInput(proxy))
    segment_id = nodes.segmentation.GetSegmentation().GetSegmentIdBySegmentName(CARTILAGE_SEGMENT_NAME)
    edited = slicer.util.arrayFromSegmentBinaryLabelmap(nodes.segmentation, segment_id, proxy)
    edited[: edited.shape[0] // 2] = 0
    slicer.util.updateSegmentBinaryLabelmapFromArray(edited, nodes.segmentation, segment_id, proxy)
    assert workflow.has_unsaved_edits(ExamInput(proxy))
    before = _scene_snapshot(slicer_scene)
    with pytest.raises(InputError, match="edited since the model made it"):
        workflow.start_segment_and_measure(ExamInput(proxy), options)
    assert _scene_snapshot(slicer_scene) == before
    assert int(read_segment(nodes.segmentation, proxy).array.sum()) == int(np.count_nonzero(edited))


def test_fine_tune_task_trains_then_registers_a_new_version_with_epoch_progress(tmp_path, monkeypatch, capsys):
    """The worker's fine_tune task: arguments reach training.train_model, the trained file is registered as
    the next version of <base>-finetuned in the cache, and "epoch k/N" lines become progress events
    (training itself is the training module's own test)."""
    import json

    from KneeCartilageT2Lib import training, worker
    from KneeCartilageT2Lib.training import TrainingResult

    pytest.importorskip("torch")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test_finetune_versions import save_tiny_model

    monkeypatch.setenv("KNEE_T2_CACHE", str(tmp_path / "cache"))
    calls = {}

    def fake_train_model(dataset_dir, output_path, config, init=None, log=print, **kwargs):
        calls.update(dataset_dir=dataset_dir, output_path=output_path, config=config, init=init)
        for epoch in (1, 2):
            log("epoch %d/2: loss 0.5, validation Dice 0.8" % epoch)
        log("writing the model")
        save_tiny_model(output_path, training={"improved_on_init": True, "best_epoch": 2,
                                               "init": {"init_model": "m1", "init_version": "1", "validation_dice": 0.7}})
        return TrainingResult(output_path, output_path.with_suffix(".json"), 2, 0.81, init_validation_dice=0.7)

    monkeypatch.setattr(training, "train_model", fake_train_model)
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    summary, result_file = worker.task_fine_tune(job_dir, {"dataset_dir": str(tmp_path / "set"), "base_model": "m1",
                                                           "config": {"epochs": 2}})
    assert result_file is None and summary["best_validation_dice"] == 0.81 and summary["base_validation_dice"] == 0.7
    assert calls["init"] == "m1" and calls["config"].epochs == 2 and calls["config"].name == "m1-finetuned"
    assert calls["output_path"] == job_dir / "model.safetensors"
    assert summary["model"] == "m1-finetuned@1"
    assert Path(summary["model_path"]) == tmp_path / "cache" / "models" / "m1-finetuned-1.safetensors"
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["fraction"] for e in events if e["event"] == "progress"] == [0.0, 0.5, 1.0]
    assert events[-1] == {"event": "log", "text": "writing the model"}


def test_a_missing_worker_python_is_reported_not_hidden():
    from KneeCartilageT2SlicerLib.processing import WorkerFailed, WorkerJob

    with pytest.raises(WorkerFailed, match="KNEE_T2_WORKER_PYTHON"):
        WorkerJob("probe", python="/nonexistent/PythonSlicer").start()


def test_edits_made_while_the_model_runs_are_never_replaced(slicer_scene, phantom_analysis):
    import dataclasses

    import slicer
    from slicer_harness import FinishedJob

    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.segmentation_nodes import CARTILAGE_SEGMENT_NAME, read_segment
    from KneeCartilageT2SlicerLib.workflow import AnalysisRun, KneeT2Workflow, current_segment

    exam, _, _, result = phantom_analysis
    _, _, proxy = exam_to_sequence(exam, slicer_scene, "Phantom")
    workflow = KneeT2Workflow()
    assert current_segment(proxy) is None
    nodes = workflow.finish_segment_and_measure(AnalysisRun(FinishedJob(dataclasses.replace(result)), exam, proxy))
    run = AnalysisRun(FinishedJob(dataclasses.replace(result)), exam, proxy, current_segment(proxy))
    segment_id = nodes.segmentation.GetSegmentation().GetSegmentIdBySegmentName(CARTILAGE_SEGMENT_NAME)
    edited = slicer.util.arrayFromSegmentBinaryLabelmap(nodes.segmentation, segment_id, proxy)
    edited[: edited.shape[0] // 2] = 0  # the reader edits while the worker is still running
    slicer.util.updateSegmentBinaryLabelmapFromArray(edited, nodes.segmentation, segment_id, proxy)
    before = _scene_snapshot(slicer_scene)
    with pytest.raises(InputError, match="edited while the model was running"):
        workflow.finish_segment_and_measure(run)
    assert _scene_snapshot(slicer_scene) == before
    assert int(read_segment(nodes.segmentation, proxy).array.sum()) == int(np.count_nonzero(edited)) > 0


def test_a_run_whose_series_left_the_scene_adds_nothing_and_says_why(slicer_scene, phantom_analysis):
    import dataclasses

    from slicer_harness import FinishedJob

    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.workflow import AnalysisRun, KneeT2Workflow

    exam, _, _, result = phantom_analysis
    for close_scene in (False, True):
        sequence, browser, proxy = exam_to_sequence(exam, slicer_scene, "Phantom")
        run = AnalysisRun(FinishedJob(dataclasses.replace(result)), exam, proxy)
        if close_scene:
            slicer_scene.Clear(0)
        else:
            for node in (browser, sequence, proxy):
                slicer_scene.RemoveNode(node)
        count = slicer_scene.GetNumberOfNodes()
        with pytest.raises(InputError, match="removed from the scene .or the scene was closed. while the model"):
            KneeT2Workflow().finish_segment_and_measure(run)
        assert slicer_scene.GetNumberOfNodes() == count


def test_worker_events_are_strict_json(capsys):
    """A NaN Dice (an empty validation set) or a numpy number must not make the event line unreadable."""
    import json

    from KneeCartilageT2Lib import worker

    worker.emit("done", result={"dice": float("nan"), "voxels": np.int64(7), "t2": np.float32(41.5)})
    line = capsys.readouterr().out.strip()
    assert "NaN" not in line
    assert json.loads(line) == {"event": "done", "result": {"dice": None, "voxels": 7, "t2": 41.5}}


def test_a_removed_cartilage_segment_counts_as_an_edit_and_the_next_run_brings_it_back(slicer_scene, phantom_analysis):
    """A reader who deleted (or renamed) the segment to start over is asked before a run, which then recreates it;
    a renamed segment of theirs stays."""
    import dataclasses

    from slicer_harness import FinishedJob

    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.workflow import AnalysisRun, ExamInput, KneeT2Workflow, current_segment

    exam, mask, _, result = phantom_analysis
    _, browser, proxy = exam_to_sequence(exam, slicer_scene, "Phantom")
    workflow = KneeT2Workflow()
    nodes = workflow.finish_segment_and_measure(AnalysisRun(FinishedJob(dataclasses.replace(result)), exam, proxy))
    segmentation = nodes.segmentation.GetSegmentation()
    segmentation.GetSegment(segmentation.GetSegmentIdBySegmentName("Femoral cartilage")).SetName("my attempt")
    assert current_segment(proxy) is None and workflow.has_unsaved_edits(ExamInput(browser))
    with pytest.raises(InputError, match="has been edited since the model made it"):
        workflow.start_segment_and_measure(ExamInput(browser))
    run = AnalysisRun(FinishedJob(dataclasses.replace(result)), exam, proxy, current_segment(proxy))
    workflow.finish_segment_and_measure(run)
    assert np.array_equal(current_segment(proxy), np.asarray(mask.array) > 0)
    assert segmentation.GetSegmentIdBySegmentName("my attempt")  # the reader's renamed segment is kept


def test_stray_bytes_from_a_native_library_never_stall_the_worker(tmp_path):
    """A byte that is not UTF-8 on the worker's stderr used to stop its pipe reader; the pipe then filled and
    the worker blocked for good (the panel's progress bar froze)."""
    from KneeCartilageT2SlicerLib.processing import WorkerJob

    script = tmp_path / "python"
    script.write_text("#!/bin/sh\nprintf 'native warning: \\377\\376\\n' >&2\n"
                      "head -c 200000 /dev/zero | tr '\\000' 'x' | fold -w 100 >&2\n"
                      "echo '{\"event\": \"done\", \"result\": 1, \"result_file\": null}'\n")
    script.chmod(0o755)
    job = WorkerJob("probe", python=str(script)).start()
    try:
        assert job.wait(timeout_s=30).result() == 1
    finally:
        job.cleanup()
