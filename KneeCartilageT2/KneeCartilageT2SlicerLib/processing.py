"""Run worker tasks in a separate process: start, poll progress, cancel, collect the result.

:class:`WorkerJob` starts ``python -m KneeCartilageT2Lib.worker JOB_DIR``
(PythonSlicer inside Slicer, so the worker sees Slicer's torch) in a private
temporary folder. Two threads read the child's stdout/stderr into a queue so
that :meth:`WorkerJob.poll` never blocks: the GUI calls it from a
``qt.QTimer``; scripts and tests call the blocking :meth:`WorkerJob.wait`.
:meth:`WorkerJob.cancel` kills the process (and its process group) and
deletes the folder: a result is only ever read after the worker said
``done`` and exited 0, so nothing half-written reaches the scene.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from KneeCartilageT2Lib import errors
from KneeCartilageT2Lib.errors import KneeT2Error, OperationCancelled
from KneeCartilageT2Lib.exam import MeseExam

from .translation import tr as _

CORE_PARENT_DIR = Path(__file__).resolve().parents[1]  # the folder that holds KneeCartilageT2Lib
WORKER_MODULE = "KneeCartilageT2Lib.worker"
POLL_INTERVAL_S = 0.1
STDERR_TAIL_LINES = 30
STATES = ("created", "running", "succeeded", "failed", "cancelled")


class WorkerFailed(KneeT2Error):
    """The worker process ended without a result (crash, bug, or killed from outside)."""


@dataclass
class ProgressUpdate:
    fraction: float
    stage: str


def worker_python() -> str:
    """The interpreter for the worker: ``$KNEE_T2_WORKER_PYTHON``, else PythonSlicer, else this Python."""
    configured = os.environ.get("KNEE_T2_WORKER_PYTHON")
    if configured:
        return configured
    python_slicer = shutil.which("PythonSlicer")
    return python_slicer or sys.executable


def worker_environment() -> Dict[str, str]:
    """This process's environment with the core package's folder first on PYTHONPATH."""
    environment = dict(os.environ)
    paths = [str(CORE_PARENT_DIR)] + [p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    environment["PYTHONUNBUFFERED"] = "1"
    environment["PYTHONIOENCODING"] = "utf-8"  # what the pipe readers decode
    return environment


class WorkerJob:
    """One worker task: ``WorkerJob("analyse", {"options": {...}}, exam).start()``."""

    def __init__(self, task: str, arguments: Optional[Dict[str, Any]] = None, exam: Optional[MeseExam] = None,
                 python: Optional[str] = None) -> None:
        self.task = task
        self.arguments = dict(arguments or {})
        self.exam = exam
        self.python = python or worker_python()
        self.state = "created"
        self.fraction = 0.0
        self.stage = ""
        self.error_kind: Optional[str] = None
        self.error_message: Optional[str] = None
        self.summary: Any = None
        self.log_lines: List[str] = []  # "log" events and progress stages, for the panel's log
        self._result_file: Optional[str] = None
        self._done = False
        self._job_dir: Optional[Path] = None
        self._process: Optional[subprocess.Popen] = None
        self._lines: "queue.Queue" = queue.Queue()
        self._stderr: List[str] = []
        self._threads: List[threading.Thread] = []

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> "WorkerJob":
        from KneeCartilageT2Lib.worker import EXAM_FILE, REQUEST_FILE, save_exam

        self._job_dir = Path(tempfile.mkdtemp(prefix="knee-t2-job-"))
        if self.exam is not None:
            save_exam(self.exam, self._job_dir / EXAM_FILE)
        request = {"task": self.task, "arguments": self.arguments}
        (self._job_dir / REQUEST_FILE).write_text(json.dumps(request), encoding="utf-8")
        try:
            self._process = subprocess.Popen(
                [self.python, "-u", "-m", WORKER_MODULE, str(self._job_dir)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                env=worker_environment(), cwd=str(self._job_dir), universal_newlines=True, bufsize=1,
                encoding="utf-8", errors="replace",  # a native library's stray bytes never stop the pipe readers
                **_new_process_group(),
            )
        except OSError as error:
            self.cleanup()
            raise WorkerFailed(_("Cannot start the analysis process with {python} ({error}). Set "
                                 "KNEE_T2_WORKER_PYTHON to a Python that has KneeCartilageT2's dependencies.").format(
                python=self.python, error=error))
        self._threads = [self._reader(self._process.stdout, "out"), self._reader(self._process.stderr, "err")]
        self.state = "running"
        return self

    def _reader(self, stream, name: str) -> threading.Thread:
        def pump():
            try:
                for line in iter(stream.readline, ""):
                    self._lines.put((name, line.rstrip("\n")))
            except (OSError, ValueError) as error:  # never leave the pipe undrained: the worker would block on it
                self._lines.put((name, "(worker output unreadable: %s)" % error))
                for _chunk in iter(lambda: stream.buffer.read(65536) if hasattr(stream, "buffer") else b"", b""):
                    pass
            stream.close()

        thread = threading.Thread(target=pump, name="knee-t2-worker-%s" % name, daemon=True)
        thread.start()
        return thread

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed", "cancelled")

    @property
    def pid(self) -> Optional[int]:
        return self._process.pid if self._process is not None else None

    def poll(self) -> List[ProgressUpdate]:
        """Handle every line received so far (never blocks); returns the progress updates among them."""
        updates = self._drain()
        if self.running and self._process.poll() is not None:
            for thread in self._threads:
                thread.join(timeout=5.0)
            updates += self._drain()
            self._finish(self._process.returncode)
        return updates

    def _drain(self) -> List[ProgressUpdate]:
        updates = []
        while True:
            try:
                name, line = self._lines.get_nowait()
            except queue.Empty:
                return updates
            if name == "err":
                self._stderr = (self._stderr + [line])[-STDERR_TAIL_LINES:]
                continue
            update = self._handle_event(line)
            if update is not None:
                updates.append(update)

    def _handle_event(self, line: str) -> Optional[ProgressUpdate]:
        try:
            event = json.loads(line)
        except ValueError:
            self._stderr = (self._stderr + [line])[-STDERR_TAIL_LINES:]  # stray print from a library
            return None
        kind = event.get("event") if isinstance(event, dict) else None
        if kind == "progress":
            self.fraction, self.stage = float(event.get("fraction", 0.0)), str(event.get("stage", ""))
            self.log_lines.append(self.stage)
            return ProgressUpdate(self.fraction, self.stage)
        if kind == "log":
            self.log_lines.append(str(event.get("text", "")))
        if kind == "done":
            self.summary, self._result_file, self._done = event.get("result"), event.get("result_file"), True
        elif kind == "error":
            self.error_kind, self.error_message = event.get("kind"), event.get("message")
        return None

    def _finish(self, returncode: int) -> None:
        succeeded = returncode == 0 and self._done and self.error_kind is None
        self.state = "succeeded" if succeeded else "failed"
        if succeeded:
            self.fraction, self.stage = 1.0, self.stage or _("Done")
        elif self.error_message is None:
            tail = "\n".join(self._stderr[-8:]) or _("no output")
            self.error_message = _("The worker process stopped (exit status {status}) without a result:\n{output}"
                                   ).format(status=returncode, output=tail)

    def wait(self, timeout_s: Optional[float] = None,
             progress: Optional[Callable[[float, str], None]] = None) -> "WorkerJob":
        """Block until the job ends (or ``timeout_s`` passes: then it is cancelled and TimeoutError raised)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self.finished:
            for update in self.poll():
                if progress is not None:
                    progress(update.fraction, update.stage)
            if self.finished:
                break
            if deadline is not None and time.monotonic() > deadline:
                self.cancel()
                raise TimeoutError(_("The {task} job did not finish within {seconds:.0f} s and was cancelled.").format(
                    task=self.task, seconds=timeout_s))
            time.sleep(POLL_INTERVAL_S)
        return self

    def cancel(self) -> None:
        """Kill the worker (and anything it started) and delete the job folder; no result remains."""
        if self._process is not None and self._process.poll() is None:
            _kill_process_group(self._process)
            try:
                self._process.wait(timeout=10.0)
            except subprocess.TimeoutExpired:
                self._process.kill()
        if not self.finished:
            self.state = "cancelled"
            self.stage = _("Cancelled")
        self.cleanup()

    def result(self) -> Any:
        """The task's result (result file or inline JSON); raises the worker's error otherwise."""
        if self.state == "cancelled":
            raise OperationCancelled(_("The {task} job was cancelled; nothing was added to the scene.").format(
                task=self.task))
        if self.state != "succeeded":
            raise self.error()
        if not self._result_file:
            return self.summary
        from KneeCartilageT2Lib.result_transfer import read_transfer

        return read_transfer(self._job_dir / Path(self._result_file).name)  # never unpickles

    def error(self) -> KneeT2Error:
        """The worker's error as the same exception class of the core package when it is one."""
        error_class = getattr(errors, self.error_kind or "", None)
        if not (isinstance(error_class, type) and issubclass(error_class, KneeT2Error)):
            error_class = WorkerFailed
        return error_class(self.error_message or _("The {task} job failed.").format(task=self.task))

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    def cleanup(self) -> None:
        if self._job_dir is not None:
            shutil.rmtree(self._job_dir, ignore_errors=True)

    def __del__(self) -> None:
        try:
            if self._process is not None and self._process.poll() is None:
                _kill_process_group(self._process)
            self.cleanup()
        except Exception:
            pass


def _new_process_group() -> Dict[str, Any]:
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def _kill_process_group(process: subprocess.Popen) -> None:
    if os.name == "nt":
        process.kill()
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


def run_worker_task(task: str, arguments: Optional[Dict[str, Any]] = None, exam: Optional[MeseExam] = None,
                    progress: Optional[Callable[[float, str], None]] = None, timeout_s: Optional[float] = None) -> Any:
    """Blocking variant for scripts and tests: start, wait, return the result (or raise the worker's error)."""
    job = WorkerJob(task, arguments, exam).start()
    try:
        return job.wait(timeout_s, progress).result()
    finally:
        job.cleanup()
