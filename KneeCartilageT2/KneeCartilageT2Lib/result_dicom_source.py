"""Find the DICOM images an analysis was computed from, for the series :mod:`result_dicom` adds to their study.

Every slice of the result grid must match source images by position and
in-plane orientation (within :data:`POSITION_TOLERANCE_MM`), all of them in
one study. What the new series copy (patient, study, frame of reference,
side) and link to (``SourceImageSequence``) comes from those images: classic
files, or the frames of an enhanced multi-frame object (linked to by frame
number), in a folder or named on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .dicom_loader import SLICE_NUMBERING
from .dicom_repeats import component_of_image_type
from .dicom_source_images import ImageReference, image_reference, is_enhanced_file, read_source_images
from .dicom_writer import _SliceGeometry
from .errors import InputError

POSITION_TOLERANCE_MM = 0.5
ORIENTATION_TOLERANCE = 1e-3  # 1 - |cos| between the source's and the result's in-plane axes
ECHO_TIME_TOLERANCE_MS = 0.01
_COPIED_PATIENT_STUDY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                         "StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName",
                         "StudyDescription", "FrameOfReferenceUID", "Laterality", "BodyPartExamined",
                         "PatientPosition", "SpecificCharacterSet")


@dataclass
class SourceStudy:
    """What the new series take from the source DICOM files."""

    identifiers: Dict[str, str]
    series_number: int
    series_description: str
    slice_thickness_mm: Optional[float]
    images_by_slice: Dict[int, List[ImageReference]] = field(default_factory=dict)  # slice (from 0) -> its images


def find_source_study(source, ijk_to_ras: np.ndarray, n_slices: int,
                      echo_times_ms: Optional[Sequence[float]] = None) -> SourceStudy:
    """Match every slice of a result grid to the source DICOM images at its position.

    ``source`` is a folder (searched recursively), a list of files (e.g.
    from Slicer's DICOM database) or one enhanced multi-frame file (as the
    exam loader reads one); an enhanced object gives one image per frame
    (:mod:`dicom_source_images`). Files that are not DICOM images are
    ignored, and so are images at the right place that are not the analysed
    echoes: an echo time not in ``echo_times_ms`` (when given, e.g. a vendor's
    own T2 map or another sequence in a study folder), or a series this module
    wrote earlier. Raises :class:`InputError` naming the mismatch when a slice
    has no source image or when the images belong to more than one study.
    """
    paths, where = _source_files(source)
    geometry = _SliceGeometry(ijk_to_ras)
    matched: Dict[int, list] = {}
    for path in paths:
        for header in read_source_images(path):
            slice_index = _slice_of(header, geometry, n_slices)
            if slice_index is not None and _is_analysed_echo(header, echo_times_ms):
                matched.setdefault(slice_index, []).append(header)
    missing = [k for k in range(n_slices) if k not in matched]
    if len(missing) == n_slices:
        raise InputError("No DICOM image in %s lies on the result's slices (position and orientation) with the "
                         "analysed echo times: they do not hold the exam this result was computed from." % where)
    if missing:
        raise InputError("The source DICOM images cover %d of the result's %d slices (none at slice(s) %s; %s): "
                         "give the folder with the whole series." % (n_slices - len(missing), n_slices,
                                                                     ", ".join(str(k) for k in missing[:10]),
                                                                     SLICE_NUMBERING))
    _refuse_repeated_series(matched, where)
    headers = [header for k in range(n_slices) for header in matched[k]]
    studies = sorted({str(header.get("StudyInstanceUID", "")) for header in headers})
    if len(studies) != 1 or not studies[0]:
        raise InputError("The source images at the result's slices belong to %d studies; the new series must "
                         "join exactly one. Give the folder of the one exam that was analysed." % len(studies))
    first = headers[0]
    identifiers = {keyword: _text(first, keyword) for keyword in _COPIED_PATIENT_STUDY}
    images = {k: [image_reference(header) for header in matched[k]] for k in range(n_slices)}
    return SourceStudy(identifiers, _series_number(first), _text(first, "SeriesDescription"),
                       _number(first, "SliceThickness"), images)


def _source_files(source) -> Tuple[List[Path], str]:
    """(files to read, what to call them in messages) of a folder, a list of files or one enhanced object."""
    if isinstance(source, (str, Path)):
        folder = Path(source)
        if folder.is_file():
            if is_enhanced_file(folder):
                return [folder], str(folder)
            raise InputError("The source %s is a file, not a folder of DICOM images: give the folder holding the "
                             "analysed DICOM series (--source), or the enhanced multi-frame DICOM file that holds "
                             "it. An exam read from NRRD/NIfTI has no DICOM study for the T2 map to join." % folder)
        if not folder.is_dir():
            raise InputError("DICOM folder of the source exam not found: %s. Give the folder the analysis read "
                             "(--source)." % folder)
        return sorted(path for path in folder.rglob("*") if path.is_file()), str(folder)
    paths = sorted(Path(path) for path in source if path and Path(path).is_file())
    if not paths:
        raise InputError("None of the source exam's DICOM files can be found (moved or deleted since loading?).")
    return paths, "the %d files of the loaded series" % len(paths)


def _slice_of(header, geometry: _SliceGeometry, n_slices: int) -> Optional[int]:
    """The result slice a source image lies on (position and in-plane axes), or None."""
    try:
        orientation = np.asarray([float(v) for v in header.get("ImageOrientationPatient")], dtype=np.float64)
        position = np.asarray([float(v) for v in header.get("ImagePositionPatient")], dtype=np.float64)
    except (AttributeError, TypeError, ValueError):
        return None
    if orientation.size != 6 or position.size != 3:
        return None
    rows_match = abs(orientation[:3] @ geometry.direction[:, 0]) > 1.0 - ORIENTATION_TOLERANCE
    cols_match = abs(orientation[3:] @ geometry.direction[:, 1]) > 1.0 - ORIENTATION_TOLERANCE
    if not (rows_match and cols_match):
        return None
    offset = position - geometry.origin
    step = geometry.spacing[2] * geometry.direction[:, 2]
    k = int(round(float(offset @ step) / float(step @ step)))
    if not 0 <= k < n_slices or np.linalg.norm(offset - k * step) > POSITION_TOLERANCE_MM:
        return None
    return k


def _is_analysed_echo(header, echo_times_ms: Optional[Sequence[float]]) -> bool:
    image_type = [str(value) for value in (header.get("ImageType") or [])]
    if is_derived_map(image_type):
        return False  # a map made from the echoes (ours or the scanner's) is no echo, whatever EchoTime it carries
    if component_of_image_type(image_type) != "magnitude":
        return False  # phase/real/imaginary images beside the echoes: the loader fitted the magnitude ones
    if not echo_times_ms:
        return True
    echo_time = _number(header, "EchoTime")
    return echo_time is not None and min(abs(echo_time - float(t)) for t in echo_times_ms) < ECHO_TIME_TOLERANCE_MS


def is_derived_map(image_type: Sequence[str]) -> bool:
    """Whether an ImageType names a map computed from the echoes: this project's T2 map and colour overlay
    (``T2_MAP``, ``T2_COLOUR``) or a scanner's (``T2_MAP``, ``T2 MAP``, ``T2MAP``, ``PARAMETRIC_MAP``...: any
    value from the third on that holds ``MAP``)."""
    values = [str(value).upper() for value in image_type]
    return "T2_COLOUR" in values or any("MAP" in value for value in values[2:])


def _refuse_repeated_series(matched: Dict[int, list], where: str) -> None:
    """InputError when two series hold an image of the same slice and echo time (a repeated acquisition).

    Which repeat was analysed is not recorded in the result, so the new series could
    name the wrong one as their source; the reader gives the analysed series' folder instead.
    """
    for k, headers in matched.items():
        owners: Dict[Optional[float], set] = {}  # echo time (ms) -> series holding it at slice k
        for header in headers:
            echo_time = _number(header, "EchoTime")
            owners.setdefault(None if echo_time is None else round(echo_time, 2), set()).add(
                str(header.get("SeriesInstanceUID", "")))
        if any(len(series) > 1 for series in owners.values()):
            raise InputError("%s holds the analysed slices more than once (a repeated acquisition: two series with "
                             "the same slice %d and echo time; %s), and the result does not record which one "
                             "was analysed. Give --source the folder of the analysed series alone."
                             % (where, k, SLICE_NUMBERING))


def _series_number(header) -> int:
    try:
        return int(header.get("SeriesNumber") or 0)
    except (TypeError, ValueError):
        return 0


def _number(header, keyword: str) -> Optional[float]:
    try:
        value = header.get(keyword)
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _text(header, keyword: str) -> str:
    value = header.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(item) for item in value)
    return str(value)
