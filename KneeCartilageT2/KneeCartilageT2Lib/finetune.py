"""Fine-tune a model on a dataset's approved labels and register it as a new model version (issue #6).

The correction loop ends here: after a reader has corrected and exported
cases (:func:`correction.export_corrected_case`), the current model is
trained further on them (``knee-t2 train DATASET --init BASE``) and the
result becomes the next version of ``BASE-finetuned`` in the user's model
cache (:mod:`model_versions`), selectable at once.

Training runs in a SEPARATE PROCESS (``python -m KneeCartilageT2Lib train
...``) so that it never blocks Slicer's GUI, uses its own threads and
memory, and can be cancelled by killing it outright. Progress is read from
the trainer's log lines (``epoch k batch b/n ...`` and ``epoch k/N: ...``).
The child writes into a private temporary folder; only after it finished
successfully (and nobody cancelled) is the model copied into the cache, so a
cancelled or failed run never leaves a partial model behind.

A fine-tuned model is registered only when it beat its base on the
validation cases (the trainer scores the base as "epoch 0" and keeps it
unless an epoch does better); otherwise :class:`NotImprovedError` says so and
the base stays the model to use (``FineTuneOptions.keep_if_not_better``
registers it anyway, e.g. to inspect it).

:class:`FineTuneJob` is the non-blocking form (start, poll, cancel) for a
GUI timer; :func:`fine_tune` blocks until done (scripts, tests, the CLI).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

from .errors import InputError, KneeT2Error
from .progress import CancelToken, ProgressCallback, no_progress

EPOCH_LINE = re.compile(r"^epoch (\d+)/(\d+):")
BATCH_LINE = re.compile(r"^\s*epoch (\d+) batch (\d+)/(\d+)")
CASES_LINE = re.compile(r"^\d+ training cases")
TRAIN_ERROR_PREFIX = "knee-t2 train: error: "
LOADED_FRACTION, TRAINED_FRACTION = 0.05, 0.97
LOG_LINES_KEPT = 300
STOP_GRACE_S = 5.0


class FineTuneError(KneeT2Error):
    """The training process failed; the message carries its explanation."""


class NotImprovedError(KneeT2Error):
    """Fine-tuning ran but no epoch beat the base model on the validation cases; nothing was registered."""


@dataclass
class FineTuneOptions:
    """How to fine-tune. The architecture and preprocessing always come from the base model.

    Attributes:
        epochs: passes over the training cases.
        device: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto`` (for the child process).
        threads: CPU threads of the child.
        learning_rate: Adam's starting rate; a tenth of the rate from scratch (1e-3)
            so that a few corrected cases adjust the model rather than overwrite
            it (3e-4 disturbed the bootstrap model more in the first epoch).
        crop_size: training crop in network pixels (clamped to the base model's grid).
            256 rather than the trainer's 128 from scratch: the model already knows
            cartilage; what a new site's cases teach is mostly where it is *not*
            (tibial and patellar cartilage, fluid), which small crops centred on
            the femoral cartilage rarely show. Measured on the iterative-annotation
            benchmark (5 corrected cases of a new anatomy, 6 epochs, 4 held-out
            cases): 128-pixel crops lowered the held-out Dice (0.863 -> 0.812 by
            epoch 6), 256-pixel crops raised it at every epoch (0.859 -> 0.879).
        batch_size: trainer default when None.
        max_minutes: stop before an epoch that would exceed this budget.
        seed: random seed of the trainer.
        validation_dir: a dataset for choosing the best epoch; None: the trainer
            holds out the last 10 % of the cases (at least one when there are two or more).
        name: name to register under; None: ``<base>-finetuned`` (:func:`model_versions.finetuned_name`).
        keep_if_not_better: register the result even when no epoch beat the base
            on the validation cases (its weights are then the base's).
        python: interpreter for the child (e.g. PythonSlicer in Slicer); None: this one.
    """

    epochs: int = 6
    device: str = "cpu"
    threads: int = 2
    learning_rate: float = 1e-4
    batch_size: Optional[int] = None
    crop_size: Optional[int] = 256
    max_minutes: Optional[float] = None
    seed: int = 0
    validation_dir: Optional[str] = None
    name: Optional[str] = None
    keep_if_not_better: bool = False
    python: Optional[str] = None


@dataclass
class FineTuneResult:
    """A registered fine-tuned model.

    Attributes:
        model: its :class:`model_registry.ModelInfo` (``extra`` = provenance).
        base_model: the base as given.
        epochs_run, best_epoch, best_validation_dice: from the trainer (the best epoch is kept).
        base_validation_dice: the base model's Dice on the same validation cases.
        seconds: wall time of the whole job.
        log: the trainer's last output lines.
    """

    model: Any
    base_model: str
    epochs_run: int
    best_epoch: int
    best_validation_dice: float
    seconds: float
    log: List[str] = field(default_factory=list)
    base_validation_dice: Optional[float] = None

    @property
    def reference(self) -> str:
        """``name@version`` of the new model, for ``--model``."""
        return "%s@%s" % (self.model.name, self.model.version)


def fine_tune(dataset_dir, base_model: str, epochs: Optional[int] = None, device: Optional[str] = None,
              progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
              options: Optional[FineTuneOptions] = None, log: Optional[Callable[[str], None]] = None) -> FineTuneResult:
    """Fine-tune ``base_model`` (name, ``name@version`` or path) on ``dataset_dir`` and register the result.

    Blocks until the child process ends. ``epochs`` and ``device``, when
    given, override ``options``. ``log`` receives every line of the
    trainer's output. Raises :class:`errors.OperationCancelled` (child killed,
    nothing registered) when ``cancel`` is set, :class:`FineTuneError` when
    training fails, :class:`InputError` for an unusable dataset or name.
    """
    chosen = options or FineTuneOptions()
    overrides = {key: value for key, value in (("epochs", epochs), ("device", device)) if value is not None}
    job = FineTuneJob(dataset_dir, base_model, replace(chosen, **overrides))
    return job.start().wait(progress, cancel, log)


class FineTuneJob:
    """One fine-tuning run in a child process: ``start()``, then ``wait()`` or ``poll()`` + ``finish()``.

    ``fraction`` and ``stage`` follow the trainer's log; ``cancel()`` kills the
    child and discards its files. Not thread-safe: drive it from one thread.
    """

    def __init__(self, dataset_dir, base_model: str, options: Optional[FineTuneOptions] = None) -> None:
        self.dataset_dir = Path(dataset_dir).expanduser().resolve()
        self.base_model = str(base_model)
        self.options = options or FineTuneOptions()
        self.process: Optional[subprocess.Popen] = None
        self.work_dir: Optional[Path] = None
        self.fraction, self.stage = 0.0, "not started"
        self.log_lines: List[str] = []
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._output_done = False
        self._started = 0.0

    @property
    def output_path(self) -> Path:
        if self.work_dir is None:
            raise RuntimeError("The fine-tuning job has not been started.")
        return self.work_dir / "model.safetensors"

    @property
    def name(self) -> str:
        from .model_versions import finetuned_name

        return self.options.name or finetuned_name(self._base_argument())

    def start(self) -> "FineTuneJob":
        """Check the inputs, then launch the trainer; returns at once."""
        from .model_versions import check_model_name

        if self.process is not None:
            raise RuntimeError("This fine-tuning job was already started.")
        labelled = count_labelled_cases(self.dataset_dir, self.options.validation_dir is not None)
        check_model_name(self.name)
        self.work_dir = Path(tempfile.mkdtemp(prefix="knee-t2-finetune-"))
        command = training_command(self.dataset_dir, self._base_argument(), self.output_path, self.options, self.name)
        self._started = time.time()
        try:
            self.process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=str(self.work_dir), env=child_environment(), text=True, encoding="utf-8", errors="replace",
                bufsize=1,
            )
        except OSError as error:
            self._remove_work_dir()
            raise FineTuneError("Cannot start the training process %s (%s); give the Python interpreter of this "
                                "installation (FineTuneOptions.python)." % (command[0], error))
        threading.Thread(target=self._read_output, name="knee-t2-finetune-output", daemon=True).start()
        self.stage = "Starting the training process (%d labelled case(s))" % labelled
        return self

    def poll(self, timeout_s: float = 0.0, progress: Optional[ProgressCallback] = None,
             log: Optional[Callable[[str], None]] = None) -> bool:
        """Take the trainer's new output lines (waiting up to ``timeout_s``); True once its output has ended."""
        report = progress or no_progress
        wait_s = max(timeout_s, 0.0)
        while not self._output_done:
            try:
                line = self._lines.get(timeout=wait_s) if wait_s > 0 else self._lines.get_nowait()
            except queue.Empty:
                break
            wait_s = 0.0  # after the first line, take only what is already there
            if line is None:
                self._output_done = True
            else:
                self._take_line(line, report, log)
        return self._output_done

    def wait(self, progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
             log: Optional[Callable[[str], None]] = None) -> FineTuneResult:
        """Follow the child until it ends, then register its model; see :func:`fine_tune`."""
        report = progress or no_progress
        try:
            while not self.poll(0.2, report, log):
                if cancel is not None:
                    cancel.raise_if_cancelled()
            return self.finish(report, cancel)
        except BaseException:
            self.cancel()
            raise

    def finish(self, progress: Optional[ProgressCallback] = None,
               cancel: Optional[CancelToken] = None) -> FineTuneResult:
        """After :meth:`poll` returned True: check the exit status and register the model."""
        report = progress or no_progress
        try:
            returncode = self.process.wait() if self.process is not None else None
            if cancel is not None:
                cancel.raise_if_cancelled()
            if returncode != 0:
                raise self._failure(returncode)
            report(TRAINED_FRACTION, "Registering the fine-tuned model")
            info, training = register_if_improved(self.output_path, self.name, self.dataset_dir,
                                                  self.options.keep_if_not_better)
            report(1.0, "Registered %s v%s" % (info.name, info.version))
            return FineTuneResult(info, self.base_model, int(training.get("epochs_run", 0)),
                                  int(training.get("best_epoch", 0)),
                                  float(training.get("best_validation_dice", float("nan"))),
                                  time.time() - self._started, list(self.log_lines),
                                  (training.get("init") or {}).get("validation_dice"))
        finally:
            self._remove_work_dir()

    def cancel(self) -> None:
        """Kill the child (if running) and delete its files; nothing is registered."""
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._remove_work_dir()

    # ------------------------------------------------------------------ internals

    def _base_argument(self) -> str:
        """The base as the child needs it: an existing path made absolute (the child runs elsewhere)."""
        path = Path(self.base_model).expanduser()
        return str(path.resolve()) if path.is_file() else self.base_model

    def _read_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        try:
            for line in self.process.stdout:
                self._lines.put(line.rstrip("\r\n"))
        finally:
            self._lines.put(None)

    def _take_line(self, line: str, report: ProgressCallback, log: Optional[Callable[[str], None]]) -> None:
        self.log_lines = (self.log_lines + [line])[-LOG_LINES_KEPT:]
        if log is not None:
            log(line)
        parsed = progress_from_line(line, self.options.epochs)
        if parsed is not None:
            self.fraction, self.stage = parsed
            report(self.fraction, self.stage)

    def _failure(self, returncode: Optional[int]) -> KneeT2Error:
        messages = [line[len(TRAIN_ERROR_PREFIX):] for line in self.log_lines if line.startswith(TRAIN_ERROR_PREFIX)]
        if messages:
            return FineTuneError("Fine-tuning stopped: %s" % messages[-1])
        tail = "\n".join(self.log_lines[-15:]) or "(none)"
        if returncode is not None and returncode < 0:
            return FineTuneError("The training process was killed by signal %d (out of memory?); nothing was "
                                 "registered. Its last output:\n%s" % (-returncode, tail))
        return FineTuneError("The training process ended with exit status %s; nothing was registered. Its last "
                             "output:\n%s" % (returncode, tail))

    def _remove_work_dir(self) -> None:
        if self.work_dir is not None and self.work_dir.exists():
            shutil.rmtree(self.work_dir, ignore_errors=True)


def register_if_improved(weights_path, name: str, dataset_dir, keep_if_not_better: bool = False):
    """Register a trained file as the next version of ``name`` if it beat its base; returns (ModelInfo, training).

    ``training`` is the file's training block. Raises :class:`NotImprovedError`
    (nothing registered) when the trainer reports that no epoch beat the
    starting model on the validation cases, unless ``keep_if_not_better``.
    """
    from .model_files import read_safetensors_spec
    from .model_versions import register_model_version

    training = dict(read_safetensors_spec(weights_path).get("training") or {})
    if training.get("improved_on_init") is False and not keep_if_not_better:
        base = dict(training.get("init") or {})
        raise NotImprovedError(
            "Fine-tuning did not improve on %s v%s: on the %d held-back corrected case(s) its Dice stayed at %.3f "
            "and no epoch did better; nothing was registered, keep using the base model. Export more corrected "
            "cases (the more the reader changed, the more there is to learn) or train more epochs."
            % (base.get("init_model", "the base model"), base.get("init_version", "?"),
               len(training.get("validation_cases", [])), float(base.get("validation_dice") or float("nan"))))
    return register_model_version(weights_path, name, dataset=dataset_dir), training


def progress_from_line(line: str, epochs: int) -> Optional[Tuple[float, str]]:
    """(fraction, stage) for a trainer log line that tells how far it is, else None.

    Loading the dataset is the first 5 %, the epochs share 5-97 % (batch
    lines move within an epoch), registration the rest.
    """
    span = TRAINED_FRACTION - LOADED_FRACTION
    epoch = EPOCH_LINE.match(line)
    if epoch:
        done, total = int(epoch.group(1)), max(int(epoch.group(2)), 1)
        return LOADED_FRACTION + span * done / total, line.strip()
    batch = BATCH_LINE.match(line)
    if batch:
        number, step, steps = (int(group) for group in batch.groups())
        fraction = LOADED_FRACTION + span * min(((number - 1) + step / max(steps, 1)) / max(epochs, 1), 1.0)
        return fraction, "Epoch %d/%d, batch %d/%d" % (number, epochs, step, steps)
    if line.startswith("Loading dataset"):
        return 0.01, "Loading the dataset"
    if CASES_LINE.match(line):
        return LOADED_FRACTION, line.strip()
    return None


def training_command(dataset_dir, base_model: str, output_path, options: FineTuneOptions, name: str) -> List[str]:
    """The ``python -m KneeCartilageT2Lib train ...`` command line of a fine-tuning run."""
    command = [options.python or sys.executable, "-m", "KneeCartilageT2Lib", "train", str(dataset_dir),
               "-o", str(output_path), "--init", base_model, "--epochs", str(int(options.epochs)),
               "--device", options.device, "--threads", str(int(options.threads)),
               "--learning-rate", repr(float(options.learning_rate)), "--seed", str(int(options.seed)),
               "--name", name, "--version", "pending", "--restart",
               "--training-data", "fine-tuning of %s on %s" % (Path(base_model).name, Path(dataset_dir).name)]
    optional = (("--batch-size", options.batch_size), ("--crop-size", options.crop_size),
                ("--max-minutes", options.max_minutes), ("--validation", options.validation_dir))
    for flag, value in optional:
        if value is not None:
            command += [flag, str(value)]
    return command


def child_environment() -> dict:
    """This environment, unbuffered, with this package importable (Slicer adds it to sys.path only)."""
    environment = dict(os.environ)
    environment["PYTHONUNBUFFERED"] = "1"
    package_parent = str(Path(__file__).resolve().parents[1])
    existing = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = package_parent + (os.pathsep + existing if existing else "")
    return environment


def count_labelled_cases(dataset_dir, separate_validation: bool = False) -> int:
    """Number of cases with an approved label; :class:`InputError` when there is none to train on, or only one
    and no ``separate_validation`` dataset to check the result on."""
    from .dataset_format import list_cases

    directory = Path(dataset_dir)
    if not (directory / "dataset.json").is_file():
        raise InputError("%s is not a training dataset (no dataset.json). Export corrected cases with `knee-t2 "
                         "export` or Slicer's 'Accept & export' first." % directory)
    labelled = sum(1 for record in list_cases(directory) if record.is_labelled)
    if labelled == 0:
        raise InputError("Dataset %s has no approved labels to fine-tune on; correct and export cases first."
                         % directory)
    if labelled == 1 and not separate_validation:
        raise InputError("Dataset %s has 1 approved label: fine-tuning needs at least 2, one held back to check that "
                         "the new model beats its base on a case it was not trained on. Correct and export another "
                         "case first." % directory)
    return labelled
