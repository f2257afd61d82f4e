"""One entry point for every exam INPUT: a DICOM folder or a 4D echo-stack file.

:func:`load_exam` decides by what the path is: a directory is read as DICOM
(:mod:`dicom_loader`), a ``.nrrd`` / ``.nhdr`` / ``.nii`` / ``.nii.gz`` /
``.mha`` / ``.mhd`` file as a 4D echo stack (:mod:`echo_stack_io`). The result
is always checked by :func:`exam.validate_exam`, so every consumer gets an
exam that can be fitted, or a message saying what to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from .errors import InputError
from .exam import MeseExam, validate_exam

_DICOM_MAGIC_OFFSET = 128


def load_exam(path, echo_times_ms: Optional[Sequence[float]] = None, series: Optional[str] = None) -> MeseExam:
    """Load and validate a MESE exam.

    Args:
        path: a folder holding the MESE DICOM series (one series with all
            echoes, or one series per echo), an enhanced multi-frame MR DICOM
            file holding the series, or a 4D NRRD/NIfTI echo stack.
        echo_times_ms: echo times (ms) for a 4D file without a JSON sidecar;
            for DICOM they are only needed when the headers lack EchoTime,
            and must agree with the headers otherwise.
        series: DICOM only: SeriesNumber or SeriesInstanceUID of the MESE
            series when the folder holds several multi-echo series.

    Returns:
        A validated :class:`MeseExam` (echoes ``(echo, slice, row, col)``).
    """
    if path is None or str(path).strip() == "":
        raise InputError("No exam was given: name a DICOM folder or a 4D NRRD/NIfTI echo stack.")
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError("Exam not found: %s does not exist. Check the path (a DICOM folder or a 4D "
                         "NRRD/NIfTI file)." % path)
    from .echo_stack_io import is_echo_stack_path, read_echo_stack

    if path.is_dir():
        echo_file = _echo_file_exam_in(path)
        if echo_file is not None and series is None:
            return validate_exam(read_echo_stack(echo_file, echo_times_ms=echo_times_ms))
        from .dicom_loader import load_dicom_exam

        return validate_exam(load_dicom_exam(path, echo_times_ms=echo_times_ms, series=series))

    if is_echo_stack_path(path):
        if series is not None:
            raise InputError("--series chooses a series of a DICOM folder; %s is a single echo stack." % path.name)
        return validate_exam(read_echo_stack(path, echo_times_ms=echo_times_ms))
    if _looks_like_dicom(path):
        if _is_enhanced_dicom(path):
            from .dicom_loader import load_dicom_exam

            return validate_exam(load_dicom_exam(path, echo_times_ms=echo_times_ms, series=series))
        raise InputError("%s is a single DICOM file; give the folder that holds the whole MESE series "
                         "(every echo of every slice): %s" % (path.name, path.parent))
    raise InputError("Unknown exam type: %s. Give a DICOM folder, or a 4D echo stack ending in .nrrd, .nhdr, "
                     ".nii or .nii.gz (with a JSON sidecar or --echo-times)." % path)


def _echo_file_exam_in(folder: Path) -> Optional[Path]:
    """The one echo-image exam a folder holds at its top level (not DICOM), or None to read it as DICOM.

    For a folder chosen where only folders can be chosen (Slicer's *Load MESE folder...*): a 4D
    echo stack with its echo-time sidecar (a phantom's ``echoes.nrrd`` beside its label maps) or
    a BIDS / dcm2niix per-echo set (BIDS's phase, real and imaginary parts left out). A folder
    with DICOM files at its top is DICOM; one with several such exams is refused with their names.
    """
    from .echo_set_io import echo_set_files, is_later_echo_of_a_set, is_non_magnitude_name
    from .echo_stack_io import is_echo_stack_path, sidecar_file_of

    files = [child for child in sorted(folder.iterdir()) if child.is_file()]
    images = [child for child in files if is_echo_stack_path(child)]
    if not images or any(_looks_like_dicom(child) for child in files if child not in images):
        return None
    exams = []
    for image in images:
        if is_non_magnitude_name(image) or is_later_echo_of_a_set(image, files):
            continue  # T2 is fitted on the magnitude part; a set is listed by its first echo
        if echo_set_files(image, files) or sidecar_file_of(image) is not None:
            exams.append(image)
    if len(exams) > 1:
        raise InputError("%s holds %d echo-image exams (%s); name the file of the one to load." % (
            folder, len(exams), ", ".join(exam.name for exam in exams)))
    return exams[0] if exams else None


def _is_enhanced_dicom(path: Path) -> bool:
    """True for a DICOM file whose frames carry their own geometry (an enhanced MR object)."""
    import pydicom

    from .dicom_enhanced import is_enhanced

    try:
        dataset = pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
    except Exception:  # unreadable: the caller's message about single files applies
        return False
    return is_enhanced(dataset)


def _looks_like_dicom(path: Path) -> bool:
    if path.suffix.lower() in (".dcm", ".ima", ".dicom"):
        return True
    try:
        with open(str(path), "rb") as stream:
            stream.seek(_DICOM_MAGIC_OFFSET)
            return stream.read(4) == b"DICM"
    except OSError:
        return False
