"""The multi-echo spin-echo (MESE) exam: echo images, echo times, geometry, side.

Every loader (DICOM, 4D NRRD/NIfTI, Slicer sequence) produces a
:class:`MeseExam`; every analysis consumes one. :func:`validate_exam` is the
single place that decides whether an exam can be fitted, and its messages say
what is wrong and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np

from .errors import InputError
from .geometry import Volume, spacing_from_matrix, voxel_volume_from_matrix

LATERALITIES = ("right", "left", "unknown")
# A MESE exam whose last echo comes before 1 ms is not physical: spin echoes start at a few ms. Such
# times are almost always seconds (the unit of BIDS sidecars) typed or copied as if they were ms.
MIN_LAST_ECHO_TIME_MS = 1.0
MAX_FIRST_ECHO_TIME_MS = 1000.0  # a first echo later than this is a unit mistake, not a MESE protocol


@dataclass
class MeseExam:
    """A MESE exam.

    Attributes:
        echoes: float32 array ``(echo, slice, row, col)`` of magnitude images.
        echo_times_ms: strictly increasing echo times (ms), one per echo.
        ijk_to_ras: 4x4 geometry (mm) shared by every echo, see :mod:`geometry`.
        laterality: ``"right"``, ``"left"`` or ``"unknown"`` (from the data when it says so).
        metadata: free-form provenance (source path, series description, vendor, UIDs).
    """

    echoes: np.ndarray
    echo_times_ms: np.ndarray
    ijk_to_ras: np.ndarray = field(default_factory=lambda: np.eye(4))
    laterality: str = "unknown"
    metadata: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.echoes = np.asarray(self.echoes, dtype=np.float32)
        self.echo_times_ms = np.asarray(self.echo_times_ms, dtype=np.float64).reshape(-1)
        self.ijk_to_ras = np.asarray(self.ijk_to_ras, dtype=np.float64).reshape(4, 4)
        self.laterality = normalize_laterality(self.laterality)

    @property
    def laterality_source(self) -> str:
        """Where the data's own side (:attr:`laterality`) came from: ``"sidecar"`` for an echo stack read from
        a file (the ``Laterality`` field of its JSON sidecar, written by this tool or by hand), else ``"dicom"``
        (the Laterality tags of a DICOM series, or of a Slicer volume loaded by the DICOM module)."""
        return "sidecar" if self.metadata.get("sidecar") else "dicom"

    @property
    def n_echoes(self) -> int:
        return int(self.echoes.shape[0])

    @property
    def volume_shape(self) -> tuple:
        """(slice, row, col)."""
        return tuple(self.echoes.shape[1:])

    @property
    def spacing_ijk(self) -> np.ndarray:
        """Voxel size (mm) along col, row, slice."""
        return spacing_from_matrix(self.ijk_to_ras)

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm^3."""
        return voxel_volume_from_matrix(self.ijk_to_ras)

    def echo_volume(self, echo_index: int) -> Volume:
        """Echo ``echo_index`` (0-based, in TE order) as a (slice, row, col) Volume."""
        return Volume(self.echoes[echo_index], self.ijk_to_ras.copy())

    def volume_like(self, array: np.ndarray) -> Volume:
        """Wrap a (slice, row, col) array computed from this exam in its geometry."""
        if tuple(np.shape(array)) != self.volume_shape:
            raise ValueError("array shape %s != exam volume shape %s" % (np.shape(array), self.volume_shape))
        return Volume(np.asarray(array), self.ijk_to_ras.copy())

    @property
    def in_scanner_frame(self) -> bool:
        """True when the geometry is the scanner's patient coordinates (mm from the isocentre).

        So it is for an exam read from DICOM, or from an echo stack this tool wrote from one
        (its sidecar keeps ``source_format``), or from a Slicer volume loaded by the DICOM module
        (it carries the series UID) and not under a transform that moves it. Files of other
        origin may have had their origin moved, so where the knee lies says nothing there.
        """
        if self.metadata.get("moved_by_transform"):
            return False
        return self.metadata.get("source_format") == "dicom" or bool(self.metadata.get("SeriesInstanceUID"))

    def echo_index_nearest(self, target_te_ms: float) -> int:
        """Index of the echo whose TE is nearest ``target_te_ms`` (absolute difference)."""
        return int(np.argmin(np.abs(self.echo_times_ms - float(target_te_ms))))


def normalize_laterality(value: Optional[str]) -> str:
    """Map 'R'/'right'/'L'/'left'/None/'' to 'right', 'left' or 'unknown'."""
    text = (value or "").strip().lower()
    if text in ("r", "right", "rt"):
        return "right"
    if text in ("l", "left", "lt"):
        return "left"
    if text in ("", "unknown", "u", "none", "b"):
        return "unknown"
    raise InputError("Unknown knee side %r: use 'right', 'left' or 'unknown'." % value)


def validate_exam(exam: MeseExam) -> MeseExam:
    """Check that an exam can be fitted; raise :class:`InputError` saying what is wrong."""
    echoes, times = exam.echoes, exam.echo_times_ms
    if echoes.ndim != 4:
        raise InputError(
            "Echo images must be 4D (echo, slice, row, col); got shape %s. "
            "Load all echoes of the MESE series together." % (echoes.shape,)
        )
    if echoes.shape[0] < 2:
        raise InputError(
            "Only one echo was found; T2 mapping needs a multi-echo series (at least 2 echoes, "
            "3 or more after the first is excluded). Select the whole MESE series."
        )
    if times.shape[0] != echoes.shape[0]:
        raise InputError(
            "%d echo times were given for %d echo images; give one echo time (ms) per echo."
            % (times.shape[0], echoes.shape[0])
        )
    if not np.all(np.isfinite(times)) or np.any(times <= 0):
        raise InputError("Echo times must be positive numbers in ms; got %s." % _format_times(times))
    differences = np.diff(times)
    if np.any(differences == 0):
        raise InputError("Duplicate echo times %s: each echo needs its own TE." % _format_times(times))
    if np.any(differences < 0):
        raise InputError(
            "Echo times %s are not increasing: order the echoes by echo time." % _format_times(times)
        )
    if times.max() < MIN_LAST_ECHO_TIME_MS:
        raise InputError(
            "Echo times %s are all below %g ms, shorter than any spin echo: they look like seconds (BIDS "
            "sidecars give EchoTime in s). Give them in ms, e.g. 0.01 s as 10."
            % (_format_times(times), MIN_LAST_ECHO_TIME_MS)
        )
    if times.min() > MAX_FIRST_ECHO_TIME_MS:
        raise InputError(
            "Echo times %s start above %g ms, longer than any spin-echo T2 mapping protocol: they look like ms "
            "written where seconds were expected (x1000) or like microseconds. Give them in ms, e.g. 10, 20, 30."
            % (_format_times(times), MAX_FIRST_ECHO_TIME_MS)
        )
    if np.iscomplexobj(echoes):
        raise InputError("The echo images are complex-valued; T2 is fitted on magnitude images. Give the "
                         "magnitude series (or its absolute value).")
    if min(echoes.shape[1:]) < 1:
        raise InputError("Echo images are empty (shape %s)." % (echoes.shape,))
    if not np.all(np.isfinite(echoes)):
        raise InputError("Echo images contain NaN or infinite values; the data are corrupt.")
    if not np.any(echoes):
        raise InputError("Every echo image is zero everywhere: the series holds no signal (a blank or failed "
                         "reconstruction, or an export that lost the pixel data). Export the series again.")
    if not np.all(np.isfinite(exam.ijk_to_ras)):
        raise InputError("The image geometry (IJK to RAS matrix) holds NaN or infinite values; the header "
                         "is corrupt. Re-export the series from the scanner or PACS.")
    if np.any(spacing_from_matrix(exam.ijk_to_ras) <= 0):
        raise InputError("The image geometry has a zero voxel size; the header is corrupt.")
    return exam


def _format_times(times: np.ndarray) -> str:
    return "[" + ", ".join("%g" % t for t in times) + "] ms"
