"""Arguments shared by sub-commands: every command accepts the same forms of exam INPUT."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import List, Optional

from ..exam import MeseExam


LATERALITY_HELP = ("knee side; right or left wins over the data's (DICOM Laterality tag), unknown sets the tag aside "
                   "(the side is then estimated from the cartilage where it matters)")


def add_exam_argument(parser: argparse.ArgumentParser, name: str = "input", help_prefix: str = "MESE exam",
                      laterality_help: str = LATERALITY_HELP) -> None:
    """Add a positional exam INPUT plus the ``--echo-times``, ``--laterality`` and ``--series`` options
    (``laterality_help``: what --laterality does in this command, as :func:`load_exam_from_args` applies it)."""
    parser.add_argument(
        name,
        help="%s: a DICOM folder (one series with all echoes, or one series per echo; other series "
        "in it are left out), or a 4D "
        "NRRD/NIfTI of the echoes with echo times in a JSON sidecar of the same name "
        "(echoes.nrrd + echoes.json holding \"EchoTimes\" in ms) or given by --echo-times, or any one "
        "file of a per-echo set as BIDS or dcm2niix write it (sub-01_echo-1_MESE.nii.gz, T2_e1.nii.gz..., "
        "their JSON sidecars giving EchoTime in s)" % help_prefix,
    )
    if not any(action.dest == "echo_times" for action in parser._actions):
        parser.add_argument(
            "--echo-times",
            type=parse_echo_times,
            default=None,
            metavar="TE1,TE2,...",
            help="echo times in ms, comma separated (for 4D NRRD/NIfTI input without a JSON sidecar)",
        )
        parser.add_argument(
            "--laterality",
            choices=("right", "left", "unknown"),
            default=None,
            help=laterality_help,
        )
        parser.add_argument(
            "--series",
            default=None,
            metavar="NUMBER",
            help="SeriesNumber (or SeriesInstanceUID) of the MESE series, when the DICOM folder holds several "
            "multi-echo series or a repeated one (with one, it is found by itself); a repeated MESE stored one "
            "series per echo is chosen by naming its series, e.g. 5,6,7,8",
        )


def add_record_full_paths_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--record-full-paths``: the one opt-in, worded once, for commands that write result files.

    Without it result files name each input by the last part of its path only (see
    :mod:`KneeCartilageT2Lib.result_privacy`): site folders are often named after the patient.
    """
    parser.add_argument(
        "--record-full-paths", action="store_true",
        help="also record each input's full path in the result files (default: only the last part of the path "
        "and, for an exam, a hash of its images, since site folders often name the patient; results written "
        "with full paths should stay at the site)")


def parse_echo_times(text: str) -> List[float]:
    """``"10,20;30"`` -> ``[10.0, 20.0, 30.0]`` (ms); an argparse error for anything else."""
    try:
        values = [float(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("echo times must be numbers in ms separated by commas, got %r" % text)
    if not values:
        raise argparse.ArgumentTypeError("no echo times given")
    return values


def load_exam_from_args(args: argparse.Namespace, name: str = "input", apply_laterality: bool = True) -> MeseExam:
    """Load and validate the exam named by a positional argument, applying --laterality.

    What the loader noticed (files not used, laterality tags that disagree) is printed on stderr.
    ``apply_laterality=False`` keeps the side the data gives: the whole analysis takes the user's side
    through :class:`pipeline.AnalysisOptions` instead, so that provenance.json tells the two apart.
    """
    from ..exam_loader import load_exam

    exam = load_exam(getattr(args, name), echo_times_ms=getattr(args, "echo_times", None),
                     series=getattr(args, "series", None))
    for warning in exam.metadata.get("warnings") or []:
        print("warning: %s" % warning, file=sys.stderr)
    override: Optional[str] = getattr(args, "laterality", None)
    if override and apply_laterality:
        exam.laterality = override
    return exam


def check_output_volumes(*paths: Optional[str]) -> None:
    """Refuse output names whose suffix is not a volume format before any long computation runs."""
    from ..errors import InputError
    from ..volume_io import VOLUME_SUFFIXES, has_volume_suffix

    for path in paths:
        if path and not has_volume_suffix(path):
            raise InputError("Cannot write a volume to %s: name the output with one of %s (e.g. t2.nrrd)."
                             % (path, ", ".join(VOLUME_SUFFIXES)))
        if path:
            check_output_file(path)


def check_output_folder(path) -> None:
    """Refuse an output folder that cannot be made, before any long computation runs.

    The path must be a folder or not exist yet, and its nearest existing parent must be a
    writable folder (an analysis used to run for minutes and then fail on ``-o`` naming a file).
    Nothing is created here.
    """
    from ..errors import InputError

    path = Path(path)
    if path.is_symlink() and not _exists(path):
        raise InputError("The output %s is a link to something that does not exist: give a folder name." % path)
    if _exists(path) and not path.is_dir():
        raise InputError("The output %s is a file, not a folder: give a folder name (it is created)." % path)
    _check_writable_parent(path if _exists(path) else path.parent, path)


def refuse_output_in_input(input_path, out_dir, what: str = "the exam folder") -> None:
    """Refuse a result folder that is an exam's own folder or inside it (``analyse``, ``change``, ``batch``): the
    volumes written there would become files of the exam folder, named as files not used each time it is read
    (and a DICOM folder's loader walks its sub-folders). ``what`` names the exam in the message, e.g. "the
    baseline exam folder". An exam given as a file, or a path that is no folder, is not checked."""
    from ..errors import InputError

    exam_folder = Path(input_path)
    if not exam_folder.is_dir():
        return
    exam_folder, target = exam_folder.resolve(), Path(out_dir).resolve()
    if target == exam_folder or exam_folder in target.parents:
        raise InputError("The output %s is inside %s %s: give a result folder outside it (e.g. %s)."
                         % (out_dir, what, input_path, exam_folder.parent / (exam_folder.name + "-t2")))


def check_result_folder(path, what: str) -> None:
    """Refuse a file named where a result folder belongs (e.g. its report.html), naming the folder to give."""
    from ..errors import InputError

    path = Path(path)
    if path.is_file():
        raise InputError("%s is a file: give the folder that holds it, %s." % (path, what))


def check_output_file(path, example: str = "t2.nrrd") -> None:
    """Refuse an output file that cannot be written (a folder of that name, or no writable folder above it).

    ``example`` is the file name the message suggests inside a folder given by mistake.
    """
    from ..errors import InputError

    path = Path(path)
    if path.is_dir():
        raise InputError("The output %s is a folder: give a file name in it (e.g. %s)." % (path, path / example))
    _check_writable_parent(path.parent, path)


def _check_writable_parent(folder: Path, target: Path) -> None:
    from ..errors import InputError

    folder = Path(os.path.abspath(str(folder)))
    while not _exists(folder):
        if folder.parent == folder:  # a drive or share that is not there (E:\\ on Windows)
            raise InputError("Cannot write %s: %s does not exist; choose another output." % (target, folder))
        folder = folder.parent
    if not folder.is_dir():
        raise InputError("Cannot write %s: %s is a file, not a folder." % (target, folder))
    if not os.access(str(folder), os.W_OK | os.X_OK):
        raise InputError("Cannot write %s: the folder %s is not writable; choose another output." % (target, folder))


def _exists(path: Path) -> bool:
    """``path.exists()`` that answers False, not PermissionError, for a path below a folder one cannot enter
    (Python < 3.12 raises there); the writable check then names that folder."""
    try:
        return path.exists()
    except OSError:
        return False


class ProgressPrinter:
    """A command's progress callback ``(fraction 0-1, stage text)``, written to stderr.

    On a terminal: one line, ``[ 42%] stage``, overwritten by each report. Into a file or a
    pipe (a SLURM or CI log, ``2> log.txt``) carriage returns do not overwrite anything, and a
    T2 fit reports some 60 times: there a line is written only when the stage changes (its
    text before any parenthesis, so "Segmenting slices (2/24)" and "(4/24)" are one stage).
    Call :meth:`end` when the step is over (a newline on a terminal, nothing otherwise).
    """

    def __init__(self, prefix: str = "", stream=None) -> None:
        self.prefix = prefix + " " if prefix else ""
        self.stream = stream
        self._last_stage: Optional[str] = None

    def _target(self):
        return self.stream if self.stream is not None else sys.stderr

    def _interactive(self) -> bool:
        isatty = getattr(self._target(), "isatty", None)
        return bool(isatty and isatty())

    def __call__(self, fraction: float, stage: str) -> None:
        text = "[%s%3d%%] %s" % (self.prefix, round(100 * fraction), stage)
        if self._interactive():
            width = max(20, 66 - len(self.prefix))
            print("\r%-*s" % (width, text[:width]), end="", file=self._target(), flush=True)
            return
        key = stage.split(" (")[0]
        if key != self._last_stage:
            self._last_stage = key
            print(text, file=self._target(), flush=True)

    def end(self) -> None:
        """Close the progress line of the finished step."""
        if self._interactive():
            print("", file=self._target(), flush=True)
        self._last_stage = None


print_progress = ProgressPrinter()
"""The progress callback of single-step commands (``t2map``, ``segment``, ``regions``...)."""
