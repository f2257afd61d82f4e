"""The functions Dask runs on workers for ``knee-t2 batch``, and the runner contracts.

Every task returns a status dict (``kind``, ``id``, ``subject``, ``visit``,
``side``, ``status``, ``error``, ``seconds``, ``worker``, ``result``) and
never raises for a bad scan: the error is recorded (with its traceback in the
scan folder's ``FAILED.json``) so that one broken exam cannot stop a cohort.

Runner contracts (module-level objects, so Dask can ship them to workers):

* :class:`ScanRunner`: ``runner(job, out_dir, options) -> summary dict``; it
  writes the scan's folder and ``DONE.json`` last (when it does not, the
  batch writes ``DONE.json`` with the summary).
* :class:`StagedScanRunner`: ``segment(job, work_dir, options)`` (network,
  runs on GPU workers) then ``measure(job, work_dir, out_dir, options) ->
  summary`` (T2 fit and regions, on any worker); ``work_dir`` is
  ``out_dir/.work`` and holds what the first step hands to the second.
* :data:`ChangeFunction`: ``change_fn(baseline_dir, followup_dir, out_dir,
  options) -> summary``; it writes ``region_change.csv`` into ``out_dir``.

What the outputs say about the inputs (:mod:`result_privacy`): the scan
folders, the change folders and the error of a failed scan (status table,
``FAILED.json``) name an exam by the last part of its path, never by the path
in the manifest, which may name the patient; with ``options["record_full_paths"]``
(``knee-t2 batch --record-full-paths``) the full paths are written too. The
batch's own resume record in ``DONE.json`` (:func:`scan_fingerprint`) keeps a
hash of the input's path: enough to tell a changed manifest row, and safe to
share with the folder.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Protocol

import numpy as np

from .atomic_files import atomic_write_json
from .errors import KneeT2Error
from .pipeline import DONE_MARKER
from .measurement_method import MEASUREMENT_METHOD
from .result_privacy import input_name, path_digest, redact_paths

FAILED_MARKER = "FAILED.json"
WORK_FOLDER = ".work"
THREAD_LIMIT_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "KNEE_T2_THREADS")
ChangeFunction = Callable[[Path, Path, Path, Dict[str, Any]], Dict[str, Any]]


class ScanRunner(Protocol):
    def __call__(self, job, out_dir: Path, options: Dict[str, Any]) -> Dict[str, Any]: ...


class StagedScanRunner(Protocol):
    def segment(self, job, work_dir: Path, options: Dict[str, Any]) -> Any: ...

    def measure(self, job, work_dir: Path, out_dir: Path, options: Dict[str, Any]) -> Dict[str, Any]: ...


def is_staged(runner) -> bool:
    """True for a :class:`StagedScanRunner` (it has ``segment`` and ``measure`` methods)."""
    return callable(getattr(runner, "segment", None)) and callable(getattr(runner, "measure", None))


def run_scan_task(job, scan_dir: str, runner, options: Dict[str, Any]) -> Dict[str, Any]:
    """Run a whole scan; returns its status (never raises for a bad scan)."""
    started = time.time()
    folder = Path(scan_dir)
    try:
        _prepare(folder, options)
        summary = runner(job, folder, options) or {}
        _finish(folder, dict(summary, job=scan_fingerprint(job, options), run=uuid.uuid4().hex))
        return _scan_status(job, "done", None, started, summary)
    except Exception as error:
        return _record_failure(job, folder, error, started, options)


def run_segment_stage(job, scan_dir: str, runner, options: Dict[str, Any]) -> Dict[str, Any]:
    """First step of a staged runner (network); its status feeds :func:`run_measure_stage`."""
    started = time.time()
    folder = Path(scan_dir)
    try:
        _prepare(folder, options)
        runner.segment(job, folder / WORK_FOLDER, options)
        return _scan_status(job, "segmented", None, started, {})
    except Exception as error:
        return _record_failure(job, folder, error, started, options)


def run_measure_stage(segment_status: Dict[str, Any], job, scan_dir: str, runner,
                      options: Dict[str, Any]) -> Dict[str, Any]:
    """Second step of a staged runner (T2 fit, regions, outputs); skips when the first failed."""
    if segment_status.get("status") == "failed":
        return segment_status
    started = time.time()
    folder = Path(scan_dir)
    try:
        _limit_threads(options.get("threads"))
        summary = runner.measure(job, folder / WORK_FOLDER, folder, options) or {}
        _finish(folder, dict(summary, job=scan_fingerprint(job, options), run=uuid.uuid4().hex))
        _remove_tree(folder / WORK_FOLDER)
        status = _scan_status(job, "done", None, started, summary)
        status["seconds"] = round(status["seconds"] + (segment_status.get("seconds") or 0.0), 3)
        return status
    except Exception as error:
        return _record_failure(job, folder, error, started, options)


def run_change_task(pair, baseline_status, followup_status, pair_dir: str, baseline_dir: str, followup_dir: str,
                    change_fn: ChangeFunction, options: Dict[str, Any]) -> Dict[str, Any]:
    """Change between a pair's two scans; skipped (with the reason) when either scan failed."""
    started = time.time()
    identity = {"kind": "change", "id": pair.pair_id, "subject": pair.subject, "visit": pair.followup.visit,
                "side": pair.side}
    folder = Path(pair_dir)
    for which, status in (("baseline", baseline_status), ("follow-up", followup_status)):
        if status.get("status") == "failed":
            _remove(folder / DONE_MARKER)  # an earlier result of this pair no longer describes its scans
            return dict(identity, status="skipped", error="%s scan %s failed" % (which, status["id"]),
                        seconds=0.0, worker=_worker_name(), result=None)
    try:
        _limit_threads(options.get("threads"))
        folder.mkdir(parents=True, exist_ok=True)
        _remove(folder / DONE_MARKER)
        summary = change_fn(Path(baseline_dir), Path(followup_dir), folder, options) or {}
        _finish(folder, dict(summary, scans=[done_run(baseline_dir), done_run(followup_dir)]))
        return dict(identity, status="done", error=None, seconds=round(time.time() - started, 3),
                    worker=_worker_name(), result=summary.get("status"), notes=joined_notes(summary))
    except Exception as error:
        return dict(identity, status="failed", error=describe_error(error), seconds=round(time.time() - started, 3),
                    worker=_worker_name(), result=None)


def skipped_status(kind: str, identifier: str, subject: str, visit: str, side, reason: str,
                   notes: Optional[str] = None) -> Dict[str, Any]:
    """The status row of a scan or pair that was not run (``reason`` goes in ``result``; ``notes``: an
    earlier run's, see :func:`done_notes`)."""
    return {"kind": kind, "id": identifier, "subject": subject, "visit": visit, "side": side,
            "status": "skipped", "error": None, "seconds": 0.0, "worker": None, "result": reason, "notes": notes}


def describe_error(error: BaseException) -> str:
    """One line: the message of our own errors, ``Type: message`` for anything else."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text if isinstance(error, KneeT2Error) else "%s: %s" % (type(error).__name__, text)


# --- the real pipeline ---------------------------------------------------------------------------

def pipeline_runner(job, out_dir: Path, options: Dict[str, Any]) -> Dict[str, Any]:
    """The full analysis of one scan (load, T2 fit, network, regions, outputs with DONE.json last).

    ``options``: ``model``, ``device``, ``t2_method``, ``t2_range_ms``, ``region_mode``
    (:func:`analysis_choices`), ``figures`` (False skips the preview and the region figure,
    the slowest files of a scan) and ``record_full_paths`` (:func:`pipeline.write_analysis`).
    """
    from .pipeline import analyse_exam_to_folder

    summary = analyse_exam_to_folder(job.input_path, out_dir, _analysis_options(job, options),
                                     echo_times_ms=job.echo_times_ms, figures=bool(options.get("figures", True)),
                                     series=job.series, record_full_paths=_full_paths(options))
    return {"status": summary["status"], "messages": summary["messages"]}


class PipelineStagedRunner:
    """:func:`pipeline_runner` in two steps, for clusters with GPU workers.

    ``segment`` (a GPU worker) loads the exam and runs the network
    (:func:`pipeline.predict_stage`), leaving the probabilities (float32,
    slice x row x col) and the device text in the work folder. ``measure``
    (any worker: it needs neither torch nor the weights, see
    :func:`pipeline.finish_stage`) loads the exam again, fits T2, refines,
    measures the regions and writes the scan folder as :func:`pipeline_runner`
    does. The work folder sits in the scan's output folder, so both workers
    must see the output file system (as they must for the outputs anyway).
    """

    PROBABILITIES_FILE = "probabilities.npy"
    NETWORK_FILE = "network.json"

    def segment(self, job, work_dir: Path, options: Dict[str, Any]) -> None:
        from .exam_loader import load_exam
        from .pipeline import predict_stage

        exam = load_exam(job.input_path, echo_times_ms=job.echo_times_ms, series=job.series)
        probabilities, device = predict_stage(exam, _analysis_options(job, options))
        work_dir = Path(work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        np.save(work_dir / self.PROBABILITIES_FILE, np.asarray(probabilities, dtype=np.float32))
        atomic_write_json(work_dir / self.NETWORK_FILE, {"device": device, "worker": _worker_name()})

    def measure(self, job, work_dir: Path, out_dir: Path, options: Dict[str, Any]) -> Dict[str, Any]:
        from .exam_loader import load_exam
        from .pipeline import finish_stage, write_analysis

        work_dir = Path(work_dir)
        exam = load_exam(job.input_path, echo_times_ms=job.echo_times_ms, series=job.series)
        probabilities = np.load(work_dir / self.PROBABILITIES_FILE)
        device = json.loads((work_dir / self.NETWORK_FILE).read_text())["device"]
        result = finish_stage(exam, probabilities, device, _analysis_options(job, options))
        figures = bool(options.get("figures", True))
        write_analysis(result, out_dir, preview=figures, figures=figures, record_full_paths=_full_paths(options))
        return {"status": result.status, "messages": result.messages}


pipeline_staged_runner = PipelineStagedRunner()


def _full_paths(options: Dict[str, Any]) -> bool:
    """Whether the outputs record the inputs' full paths (``knee-t2 batch --record-full-paths``)."""
    return bool(options.get("record_full_paths"))


def _analysis_options(job, options: Dict[str, Any]):
    """The :class:`pipeline.AnalysisOptions` of one scan: the batch's model, device and analysis choices
    (:func:`analysis_choices`), the manifest row's side."""
    from .pipeline import AnalysisOptions

    choices = analysis_choices(options)
    return AnalysisOptions(model=options.get("model"), device=options.get("device") or "auto", laterality=job.side,
                           t2_method=choices["t2_method"], t2_range_ms=tuple(choices["t2_range_ms"]),
                           region_mode=choices["region_mode"])


EARLIER_ANALYSIS_CHOICES = {"t2_method": "mono", "t2_range_ms": [0.0, 100.0], "region_mode": "improved"}
"""What every batch scan was analysed with before these choices reached the scans (the defaults of
:class:`pipeline.AnalysisOptions`, whatever a resume record's ``region_mode`` said)."""


def analysis_choices(options: Dict[str, Any]) -> Dict[str, Any]:
    """The T2 method, valid T2 range (ms, [low, high]) and region mode a batch's ``options`` choose
    (``knee-t2 batch --t2-method/--t2-range/--region-mode``); absent ones are the defaults."""
    range_ms = options.get("t2_range_ms") or EARLIER_ANALYSIS_CHOICES["t2_range_ms"]
    return {"t2_method": options.get("t2_method") or EARLIER_ANALYSIS_CHOICES["t2_method"],
            "t2_range_ms": [float(value) for value in range_ms],
            "region_mode": options.get("region_mode") or EARLIER_ANALYSIS_CHOICES["region_mode"]}


def longitudinal_change(baseline_dir: Path, followup_dir: Path, out_dir: Path,
                        options: Dict[str, Any]) -> Dict[str, Any]:
    """Regional T2 change between two analysis folders (:func:`longitudinal.compute_change`).

    Reads each folder's ``label.nrrd``, ``t2.nrrd``, ``anatomy.nrrd`` and the knee side
    (:func:`longitudinal_io.load_visit_folder`: a side that was only estimated comes with its
    confidence, and :mod:`visit_sides` checks the two visits' sides against each other: sides
    that disagree are refused, failing the pair, when both are confident, else named in the
    pair's messages); writes what ``knee-t2 change`` writes
    (:func:`longitudinal_io.write_change_outputs`): the region table ``region_change.csv``
    (columns :data:`longitudinal.CHANGE_COLUMNS`), the registration, the focal lesions,
    ``change.json`` (naming the two scan folders by their scan ids) and ``change_report.html``.
    Returns the pair's summary: ``status``, the number of ``warnings``, the ``messages`` and
    ``side`` (the side used, its source and confidence, and each visit's own).
    """
    from .longitudinal import ChangeOptions, compute_change
    from .longitudinal_io import change_inputs, load_visit_folder, write_change_outputs

    baseline, followup = load_visit_folder(baseline_dir), load_visit_folder(followup_dir)
    change_options = ChangeOptions(region_mode=options.get("region_mode") or "improved")
    result = compute_change(baseline, followup, change_options)
    write_change_outputs(result, out_dir, change_inputs({"baseline": baseline_dir, "followup": followup_dir},
                                                        baseline, followup, _full_paths(options)))
    return {"status": "ok", "warnings": len(result.warnings), "messages": list(result.warnings),
            "side": None if result.side is None else result.side.to_dict()}


# --- helpers --------------------------------------------------------------------------------

def _prepare(folder: Path, options: Dict[str, Any]) -> None:
    _limit_threads(options.get("threads"))
    folder.mkdir(parents=True, exist_ok=True)
    _remove(folder / DONE_MARKER)
    _remove(folder / FAILED_MARKER)


BOOKKEEPING_KEYS = ("job", "run", "scans")  # what the batch adds to a DONE.json the analysis itself wrote


def _finish(folder: Path, summary: Dict[str, Any]) -> None:
    """Write ``DONE.json`` (the runner may have written its own: the batch's bookkeeping is added to it)."""
    record = done_record(folder)
    if record is None:
        record = dict(summary, finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    record.update({key: summary[key] for key in BOOKKEEPING_KEYS if key in summary})
    atomic_write_json(folder / DONE_MARKER, record)


def _record_failure(job, folder: Path, error: BaseException, started: float,
                    options: Dict[str, Any]) -> Dict[str, Any]:
    """``FAILED.json`` and the failed status row; the input's path in the error becomes its last part
    (errors name the folder they could not read) unless the batch records full paths."""
    message, details = describe_error(error), traceback.format_exc()
    record: Dict[str, Any] = {"input": input_name(job.input_path)}
    if _full_paths(options):
        record["input_path"] = str(job.input_path)
    else:
        message, details = redact_paths(message, [job.input_path]), redact_paths(details, [job.input_path])
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / FAILED_MARKER, dict(record, error=message, traceback=details))
    except OSError:
        pass  # the status row still carries the error
    return _scan_status(job, "failed", message, started, {})


def _scan_status(job, status: str, error: Optional[str], started: float, summary: Dict[str, Any]) -> Dict[str, Any]:
    return {"kind": "scan", "id": job.scan_id, "subject": job.subject, "visit": job.visit, "side": job.side,
            "status": status, "error": error, "seconds": round(time.time() - started, 3),
            "worker": _worker_name(), "result": summary.get("status"), "notes": joined_notes(summary)}


def scan_fingerprint(job, options: Dict[str, Any]) -> Dict[str, Any]:
    """What a scan's results depend on: the input (series, echo times, side, and its absolute path as a hash,
    :func:`result_privacy.path_digest`), the model, the analysis choices (:func:`analysis_choices`: T2
    method, T2 range, region mode), whether full paths are recorded, and the measurement method
    (:data:`measurement_method.MEASUREMENT_METHOD`).

    The batch's resume record, kept in ``DONE.json``: a manifest row or setting changed since makes the
    scan run again, and so does a newer measurement method (a cohort table never mixes two), as does
    ``--record-full-paths`` turned on or off (a folder meant to be shared must not keep full paths).
    Resuming needs only to tell two paths apart, so the path is hashed: the scan folder can be shared
    without naming the patient's folder (see :func:`same_scan` for records of earlier versions).
    """
    return {"input": path_digest(job.input_path), "series": job.series, "side": job.side,
            "echo_times_ms": list(job.echo_times_ms) if job.echo_times_ms is not None else None,
            "model": None if options.get("model") is None else str(options.get("model")),
            **analysis_choices(options), "record_full_paths": _full_paths(options), "method": MEASUREMENT_METHOD}


def measured_with_earlier_method(recorded: Any) -> bool:
    """Whether a ``DONE.json`` resume record (its ``job``) comes from an earlier measurement method."""
    return isinstance(recorded, dict) and recorded.get("method") != MEASUREMENT_METHOD


def same_scan(recorded: Any, job, options: Dict[str, Any]) -> bool:
    """Whether a ``DONE.json``'s resume record (its ``job``) describes this manifest row and settings.

    Records written before the path was hashed hold the absolute path itself; they match when nothing
    else differs (they hold no measurement method, so they run again after a method change anyway).
    Records written before the T2 method and range were recorded describe scans analysed with
    :data:`EARLIER_ANALYSIS_CHOICES`; they match a batch that chooses those.
    """
    fingerprint = scan_fingerprint(job, options)
    if isinstance(recorded, dict) and "t2_method" not in recorded:
        recorded = dict(recorded, **EARLIER_ANALYSIS_CHOICES)
    if recorded == fingerprint:
        return True
    return (isinstance(recorded, dict) and recorded.get("input") == os.path.abspath(str(job.input_path))
            and dict(recorded, input=fingerprint["input"]) == fingerprint)


def done_record(folder) -> Optional[Dict[str, Any]]:
    """A finished folder's ``DONE.json`` (None when absent or unreadable)."""
    try:
        record = json.loads((Path(folder) / DONE_MARKER).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def done_run(folder) -> Optional[str]:
    """The run id a finished scan's ``DONE.json`` carries (None for folders finished before run ids)."""
    record = done_record(folder)
    return record.get("run") if record else None


def joined_notes(summary: Dict[str, Any]) -> Optional[str]:
    """A finished scan's or pair's messages (loader warnings, protocol notes, rules applied) as one
    ``" | "``-separated cell of the status table, so a cohort can be screened by them; None when none."""
    messages = [str(text) for text in summary.get("messages") or []]
    return " | ".join(messages) if messages else None


def done_notes(folder: Path) -> Optional[str]:
    """:func:`joined_notes` of a folder finished by an earlier run (from its DONE marker), None if unreadable."""
    try:
        return joined_notes(json.loads((Path(folder) / DONE_MARKER).read_text()))
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def thread_limit_environment(threads: int) -> Dict[str, str]:
    """Environment variables that cap the numeric libraries and the T2 fit at ``threads`` threads."""
    return {name: str(max(1, int(threads))) for name in THREAD_LIMIT_VARIABLES}


def _limit_threads(threads: Optional[int]) -> None:
    """Keep each task's numeric libraries to the worker's thread share (no oversubscription)."""
    if not threads:
        return
    os.environ.update(thread_limit_environment(threads))
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != int(threads):
        torch.set_num_threads(int(threads))


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except Exception:
        return "%s:%d" % (socket.gethostname(), os.getpid())


def _remove(path: Path) -> None:
    if path.is_file():
        path.unlink()


def _remove_tree(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
