"""*Next case* without freezing Slicer: the "uncertain" strategy ranks the cases in a worker the panel polls (progress,
Cancel, the worker's death reported), and the other choices stay immediate.

The worker here is a stand-in script given as the worker's Python (as ``KNEE_T2_WORKER_PYTHON`` would name it): it
speaks the worker's protocol (JSON lines on stdout) without a network, so the ranking's result, a hang or a crash
are chosen by the test. The real ``rank_cases`` task is tested in test_correction_loop.
"""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")

WAIT_S = 60


def _scene_ids(scene):
    return sorted(scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes()))


def _worker(tmp_path, name, body):
    """An executable that stands in for the worker's Python and runs the shell ``body``."""
    script = tmp_path / name
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return str(script)


def _line(**event):
    """A shell line printing one worker event (no single quotes inside)."""
    return "echo '%s'\n" % json.dumps(event)


def _ranking(*cases, error=None):
    return _line(event="done", result=[{"case": case, "score": 0.5 - 0.1 * n, "error": error}
                                       for n, case in enumerate(cases)], result_file=None)


@pytest.fixture
def two_cases(tmp_path, slicer_scene, phantom_analysis):
    """(dataset folder, [first case id, second case id]) of two unlabelled exams."""
    from KneeCartilageT2Lib.dataset_format import write_case
    from KneeCartilageT2Lib.exam import MeseExam

    exam = phantom_analysis[0]
    other = MeseExam(exam.echoes * 1.01, exam.echo_times_ms, exam.ijk_to_ras, exam.laterality, {})
    dataset = tmp_path / "dataset"
    return dataset, [write_case(dataset, item, None, source="phantom").case_id for item in (exam, other)]


def test_the_uncertain_strategy_returns_at_once_and_a_hung_ranking_is_cancelled(two_cases, tmp_path, slicer_scene):
    """It used to wait for the ranking on the GUI thread, with no timeout: Slicer froze for the whole ranking, and
    for good when the worker hung."""
    from KneeCartilageT2Lib.errors import OperationCancelled
    from KneeCartilageT2SlicerLib.workflow import KneeT2Workflow

    dataset, _ = two_cases
    hangs = _worker(tmp_path, "hangs", _line(event="progress", fraction=0.25, stage="Scoring case knee_001 (1 of 2)")
                    + "exec sleep 600\n")
    workflow = KneeT2Workflow(worker_python=hangs)
    before = _scene_ids(slicer_scene)
    started = time.monotonic()
    choice = workflow.start_next_case(dataset, "uncertain")
    assert time.monotonic() - started < 10.0 and choice.job.running
    deadline = time.monotonic() + WAIT_S
    while choice.job.fraction == 0.0 and time.monotonic() < deadline:
        choice.job.poll()  # what the panel's timer does
        time.sleep(0.05)
    assert (choice.job.fraction, choice.job.stage) == (0.25, "Scoring case knee_001 (1 of 2)")
    assert choice.job.running and _scene_ids(slicer_scene) == before
    choice.job.cancel()  # the panel's Cancel
    assert choice.job.state == "cancelled" and choice.job._process.poll() is not None
    with pytest.raises(OperationCancelled):
        workflow.finish_next_case(choice)
    assert _scene_ids(slicer_scene) == before

    with pytest.raises(TimeoutError):  # scripts: the blocking variant gives up and leaves no worker behind
        workflow.next_case(dataset, "uncertain", timeout_s=1.0)
    assert _scene_ids(slicer_scene) == before


def test_the_least_certain_case_still_unlabelled_is_loaded_when_the_ranking_ends(two_cases, tmp_path, phantom_analysis):
    from KneeCartilageT2Lib.correction import export_corrected_case
    from KneeCartilageT2SlicerLib.case_drafts import dataset_case_of
    from KneeCartilageT2SlicerLib.workflow import KneeT2Workflow

    dataset, (first, second) = two_cases
    ranks = _worker(tmp_path, "ranks", _ranking(second, first))
    workflow = KneeT2Workflow(worker_python=ranks)
    choice = workflow.start_next_case(dataset, "uncertain")
    choice.job.wait(WAIT_S)
    case_id, proxy = workflow.finish_next_case(choice)
    assert case_id == second and dataset_case_of(proxy) == (str(dataset), second)

    choice = workflow.start_next_case(dataset, "uncertain")
    exam, mask = phantom_analysis[0], phantom_analysis[1]
    label = mask.array.copy()
    assert export_corrected_case(dataset, exam, label, label, reader="AB").case_id == first  # while it ranks
    choice.job.wait(WAIT_S)
    assert workflow.finish_next_case(choice)[0] == second  # the case labelled meanwhile is passed over


def test_a_worker_that_dies_or_scores_nothing_is_reported_and_nothing_is_loaded(two_cases, tmp_path, slicer_scene):
    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.processing import WorkerFailed
    from KneeCartilageT2SlicerLib.workflow import KneeT2Workflow

    dataset, (first, second) = two_cases
    before = _scene_ids(slicer_scene)
    dies = _worker(tmp_path, "dies", "echo 'Fatal Python error: Segmentation fault' >&2\nexit 139\n")
    workflow = KneeT2Workflow(worker_python=dies)
    choice = workflow.start_next_case(dataset, "uncertain")
    choice.job.wait(WAIT_S)
    with pytest.raises(WorkerFailed, match=r"(?s)Ranking the unlabelled cases with the model failed: The worker "
                                           r"process stopped \(exit status 139\).*Segmentation fault"):
        workflow.finish_next_case(choice)

    unscored = _worker(tmp_path, "unscored", _ranking(first, second, error="ModelError: no weights for m1"))
    choice = KneeT2Workflow(worker_python=unscored).start_next_case(dataset, "uncertain")
    choice.job.wait(WAIT_S)
    with pytest.raises(InputError, match="No unlabelled case could be scored by the model .%s: ModelError: no "
                                         "weights for m1; %s" % (first, second)):
        KneeT2Workflow(worker_python=unscored).finish_next_case(choice)
    assert _scene_ids(slicer_scene) == before
    assert not choice.job._job_dir.exists()  # the job folder goes with the job


def test_a_drafted_case_and_the_first_and_random_strategies_are_chosen_without_a_worker(two_cases, phantom_analysis):
    from KneeCartilageT2Lib.dataset_drafts import save_draft
    from KneeCartilageT2SlicerLib.workflow import KneeT2Workflow

    dataset, (first, second) = two_cases
    workflow = KneeT2Workflow(worker_python="/nonexistent/PythonSlicer")  # starting a worker would raise
    for strategy, expected in (("first", first), ("random", None)):
        choice = workflow.start_next_case(dataset, strategy, seed=3)
        assert choice.job is None and choice.case_id in ((expected,) if expected else (first, second))
    save_draft(dataset, second, phantom_analysis[1].array)
    choice = workflow.start_next_case(dataset, "uncertain")
    assert choice.job is None and choice.case_id == second  # unfinished work first, no ranking
    assert workflow.finish_next_case(choice)[0] == second
