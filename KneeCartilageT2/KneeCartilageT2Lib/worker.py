"""The analysis worker: long jobs in a separate process, with progress on stdout.

Slicer (or any caller) runs ``python -m KneeCartilageT2Lib.worker JOB_DIR``
with PythonSlicer, so the network never blocks the GUI and a Cancel can kill
the process outright. This file imports nothing from Slicer.

``JOB_DIR/request.json`` names the task and its arguments; an exam, when the
task needs one, is ``JOB_DIR/exam.npz`` (see :func:`save_exam`). The worker
writes one JSON object per line to stdout:

* ``{"event": "progress", "fraction": 0.42, "stage": "Segmenting slice 7/24"}``
* ``{"event": "log", "text": "..."}`` (a line for the log, no progress)
* ``{"event": "done", "result": <small JSON result or null>, "result_file": "result.json" or null}``
* ``{"event": "error", "kind": "InputError", "message": "..."}``

and exits 0 on success, 2 for an error of this package (a user-level problem,
message says what to do), 1 for anything else (a bug; traceback on stderr).
Large results are written as ``JOB_DIR/result.json`` + ``result.npz`` by
:mod:`result_transfer` (no pickle: reading a result never runs code), each
through a temporary name and renamed when complete, the JSON last, so a
killed worker never leaves a partial result.

Tasks: ``probe`` (torch, devices and models available to the worker),
``analyse`` (:func:`pipeline.analyse_exam`), ``rank_cases`` (unlabelled cases
of a dataset, least certain first), ``fine_tune`` (training on a dataset).
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np

from .atomic_files import jsonable
from .errors import InputError, KneeT2Error
from .exam import MeseExam
from .result_transfer import write_transfer

REQUEST_FILE = "request.json"
EXAM_FILE = "exam.npz"
RESULT_FILE = "result.json"
EXIT_OK, EXIT_BUG, EXIT_USER_ERROR = 0, 1, 2
EPOCH_LINE = re.compile(r"epoch (\d+)/(\d+)")


def save_exam(exam: MeseExam, path) -> Path:
    """Write an exam for the worker (uncompressed ``.npz``: echoes, TEs, geometry, side)."""
    path = Path(path)
    np.savez(path, echoes=exam.echoes, echo_times_ms=exam.echo_times_ms, ijk_to_ras=exam.ijk_to_ras,
             laterality=np.array(exam.laterality), metadata=np.array(json.dumps(jsonable(exam.metadata), default=str)))
    return path


def load_exam_file(path) -> MeseExam:
    with np.load(Path(path), allow_pickle=False) as data:
        return MeseExam(data["echoes"], data["echo_times_ms"], data["ijk_to_ras"], str(data["laterality"]),
                        json.loads(str(data["metadata"])))


def emit(event: str, **fields: Any) -> None:
    """One strict-JSON line on stdout (NaN/inf as null, numpy as Python), flushed at once (the parent reads line by line)."""
    sys.stdout.write(json.dumps(jsonable(dict(fields, event=event)), allow_nan=False, default=str) + "\n")
    sys.stdout.flush()


def report_progress(fraction: float, stage: str) -> None:
    emit("progress", fraction=round(min(max(float(fraction), 0.0), 1.0), 4), stage=str(stage))


def write_result_file(job_dir: Path, result: Any) -> str:
    """Write ``result`` into the job folder (JSON + NPZ, see :mod:`result_transfer`); returns the file name."""
    write_transfer(result, Path(job_dir) / RESULT_FILE)
    return RESULT_FILE


# --- tasks ------------------------------------------------------------------------------------


def task_probe(job_dir: Path, arguments: Dict[str, Any]):
    """What the worker's Python can use: torch version, the device "auto" picks, the models."""
    info: Dict[str, Any] = {"python": sys.version.split()[0], "torch": None, "device": "cpu",
                            "device_description": "torch is not installed", "cuda_available": False}
    try:
        import torch

        from .devices import select_device

        device, description = select_device(arguments.get("device", "auto"))
        info.update(torch=torch.__version__, device=str(device), device_description=description,
                     cuda_available=bool(torch.cuda.is_available()))
    except ImportError:
        pass
    from .model_registry import list_models

    info["models"] = [{"name": model.name, "version": model.version, "available": model.available,
                       "location": model.location, "description": model.description} for model in list_models()]
    return info, None


def task_analyse(job_dir: Path, arguments: Dict[str, Any]):
    """Full analysis of the job's exam; the AnalysisResult (without the echoes) goes to a result file."""
    from .pipeline import AnalysisOptions, analyse_exam

    exam = load_exam_file(job_dir / EXAM_FILE)
    options = AnalysisOptions(**arguments.get("options", {}))
    result = analyse_exam(exam, options, progress=report_progress)
    light = replace(result, exam=None)  # the caller has the echoes already
    summary = {"status": result.status, "messages": list(result.messages)}
    return summary, write_result_file(job_dir, light)


def task_rank_cases(job_dir: Path, arguments: Dict[str, Any]):
    """Unlabelled cases of a dataset ranked least certain first (runs the model on each)."""
    from .correction import model_predictor, rank_by_uncertainty, unlabelled_dataset_candidates
    from .pipeline import AnalysisOptions

    options = AnalysisOptions(**arguments.get("options", {}))
    candidates = unlabelled_dataset_candidates(arguments["dataset_dir"], model_predictor(options))
    report_progress(0.0, "Scoring %d unlabelled cases" % len(candidates))
    reported = {case: _progress_before(load, number, len(candidates), case)
                for number, (case, load) in enumerate(candidates.items())}
    ranked = rank_by_uncertainty(reported, arguments.get("measure", "entropy"))
    return [{"case": item.case, "score": item.score, "error": item.error} for item in ranked], None


def _progress_before(load: Callable[[], Any], number: int, total: int, case: str) -> Callable[[], Any]:
    """``load`` that first reports "Scoring case <case> (k of n)": the panel's bar moves case by case."""

    def reported():
        report_progress(number / max(total, 1), "Scoring case %s (%d of %d)" % (case, number + 1, total))
        return load()

    return reported


def task_fine_tune(job_dir: Path, arguments: Dict[str, Any]):
    """Fine-tune ``base_model`` (or train a new model) on a dataset's approved labels (:mod:`training`).

    This worker is already a separate process, so the trainer runs in it
    directly; the model is written into the job folder and then registered as
    the next version of ``name`` (default ``<base>-finetuned``) in the model
    cache (:func:`finetune.register_if_improved`: only when it beat the base on
    the validation cases), so it appears in the model list at once.
    """
    from .finetune import FineTuneOptions, register_if_improved
    from .model_versions import check_model_name, finetuned_name
    from .training import TrainingConfig, train_model

    base = arguments.get("base_model") or None
    name = check_model_name(arguments.get("name") or (finetuned_name(base) if base else "knee-t2-site-model"))
    recipe = FineTuneOptions()  # the same recipe as `knee-t2 finetune` unless the request says otherwise
    defaults = {"epochs": recipe.epochs, "learning_rate": recipe.learning_rate, "crop_size": recipe.crop_size}
    config = TrainingConfig(**dict(defaults if base else {}, **arguments.get("config", {}), name=name,
                                   version="pending"))
    report_progress(0.0, "Loading the dataset")
    result = train_model(arguments["dataset_dir"], job_dir / "model.safetensors", config, init=base, resume=False,
                         log=epoch_progress(config.epochs))
    info, _ = register_if_improved(result.model_path, name, arguments["dataset_dir"],
                                   bool(arguments.get("keep_if_not_better", False)))
    summary = {"model": "%s@%s" % (info.name, info.version), "name": info.name, "version": info.version,
               "model_path": info.location, "best_epoch": result.best_epoch,
               "best_validation_dice": result.best_validation_dice,
               "base_validation_dice": result.init_validation_dice, "stopped_early": result.stopped_early}
    return summary, None


def epoch_progress(epochs: int) -> Callable[[str], None]:
    """A training log callback that turns "epoch k/N: ..." lines into progress events."""

    def log(text: str) -> None:
        match = EPOCH_LINE.match(str(text))
        if match:
            report_progress(int(match.group(1)) / max(int(match.group(2)), 1), str(text))
        else:
            emit("log", text=str(text))

    return log


TASKS: Dict[str, Callable[[Path, Dict[str, Any]], Any]] = {
    "probe": task_probe,
    "analyse": task_analyse,
    "rank_cases": task_rank_cases,
    "fine_tune": task_fine_tune,
}


def run_job(job_dir) -> int:
    """Run the job described by ``job_dir/request.json``; returns the exit status."""
    job_dir = Path(job_dir)
    try:
        request = json.loads((job_dir / REQUEST_FILE).read_text(encoding="utf-8"))
        task = TASKS.get(request.get("task"))
        if task is None:
            raise InputError("Unknown worker task %r; known tasks: %s." % (request.get("task"), ", ".join(TASKS)))
        result, result_file = task(job_dir, request.get("arguments", {}))
        emit("done", result=result, result_file=result_file)
        return EXIT_OK
    except KneeT2Error as error:
        emit("error", kind=type(error).__name__, message=str(error))
        return EXIT_USER_ERROR
    except Exception as error:  # a bug: report it, with the traceback on stderr
        traceback.print_exc()
        emit("error", kind=type(error).__name__, message="%s: %s" % (type(error).__name__, error))
        return EXIT_BUG


def main(argv: Optional[list] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: python -m KneeCartilageT2Lib.worker JOB_DIR\n")
        return EXIT_USER_ERROR
    return run_job(argv[0])


if __name__ == "__main__":
    sys.exit(main())
