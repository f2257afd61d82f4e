"""Knee anatomical directions from the image geometry and the knee side.

Every anatomical word the read-out uses (superior, anterior, medial, lateral)
is derived here from ``ijk_to_ras`` and the knee side, never from a slice
index or from how an image happens to be displayed.

RAS convention (Slicer, DICOM-derived): +x points to the patient's Right,
+y to Anterior, +z to Superior. A right knee lies at larger x than the body
midline, so for a right knee *medial* (toward the midline) is the -x
direction and *lateral* is +x; for a left knee medial is +x and lateral -x.

Medial-lateral axis. Technologists prescribe (oblique) sagittal knee series
with the slice plane perpendicular to the line across the femoral condyles,
so the image axis nearest the patient's left-right axis is a better knee
M-L axis than the scanner's x axis. We use that image axis (the normal of
its slices, which differs from the axis itself on a sheared grid) when it
lies within :data:`ML_AXIS_MAX_TILT_DEG` of left-right; otherwise patient
left-right itself. Superior is patient superior made orthogonal to the M-L
axis, and anterior completes a right-handed frame (R x A = S).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .errors import InputError
from .exam import normalize_laterality
from .geometry import direction_from_matrix

ML_AXIS_MAX_TILT_DEG = 30.0
SIDE_SOURCES = ("dicom", "sidecar", "user", "estimated")
VOXEL_AXIS_NAMES = ("i", "j", "k")


@dataclass
class KneeOrientation:
    """Anatomical directions of one knee image, as unit vectors in RAS.

    Attributes:
        laterality: ``"right"`` or ``"left"``.
        side_source: where the side came from: ``"dicom"`` (Laterality tag), ``"sidecar"`` (the
            ``Laterality`` field of an echo stack's JSON sidecar), ``"user"`` (CLI option or panel) or
            ``"estimated"`` (from the cartilage: its shape, and its position in the scanner when known).
        side_confidence: 1.0 for dicom/user; the estimator's confidence in [0.5, 1) otherwise.
        superior_ras, anterior_ras, lateral_ras: unit vectors (RAS), mutually orthogonal.
        ml_voxel_axis: ``"i"``, ``"j"`` or ``"k"`` when the M-L axis is an image axis, else None.
        note: how the side was decided (for reports), e.g. the estimator's evidence.
    """

    laterality: str
    side_source: str
    side_confidence: float
    superior_ras: np.ndarray
    anterior_ras: np.ndarray
    lateral_ras: np.ndarray
    ml_voxel_axis: Optional[str] = None
    note: str = ""
    right_ras: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0, 0.0]))

    @property
    def inferior_ras(self) -> np.ndarray:
        return -self.superior_ras

    @property
    def posterior_ras(self) -> np.ndarray:
        return -self.anterior_ras

    @property
    def medial_ras(self) -> np.ndarray:
        return -self.lateral_ras

    def to_dict(self) -> dict:
        """JSON-friendly summary (vectors as lists, rounded to 1e-6)."""
        return {
            "laterality": self.laterality,
            "side_source": self.side_source,
            "side_confidence": round(float(self.side_confidence), 3),
            "superior_ras": _rounded(self.superior_ras),
            "anterior_ras": _rounded(self.anterior_ras),
            "lateral_ras": _rounded(self.lateral_ras),
            "medial_ras": _rounded(self.medial_ras),
            "ml_voxel_axis": self.ml_voxel_axis,
            "note": self.note,
        }


def knee_axes(ijk_to_ras: np.ndarray):
    """The knee's right-pointing M-L axis, superior and anterior axes (RAS unit vectors).

    Returns ``(right_ras, superior_ras, anterior_ras, ml_voxel_axis)`` where
    ``right_ras`` is the M-L axis oriented toward the patient's right and
    ``ml_voxel_axis`` names the image axis used for it (None when the
    patient's left-right axis was used because no image axis is near it).
    """
    normals = axis_plane_normals(ijk_to_ras)
    alignment = np.abs(normals[0, :])
    best = int(np.argmax(alignment))
    if alignment[best] >= np.cos(np.radians(ML_AXIS_MAX_TILT_DEG)):
        right = normals[:, best] * np.sign(normals[0, best])
        axis_name: Optional[str] = VOXEL_AXIS_NAMES[best]
    else:
        right = np.array([1.0, 0.0, 0.0])
        axis_name = None
    superior = np.array([0.0, 0.0, 1.0]) - right[2] * right
    if np.linalg.norm(superior) < 0.5:
        raise InputError(
            "The image's left-right axis is almost parallel to superior-inferior; the geometry "
            "is corrupt or not a knee acquisition. Check the image header (orientation)."
        )
    superior = superior / np.linalg.norm(superior)
    anterior = np.cross(superior, right)
    return right, superior, anterior / np.linalg.norm(anterior), axis_name


def axis_plane_normals(ijk_to_ras: np.ndarray) -> np.ndarray:
    """Unit RAS normals (columns, i/j/k order) of the planes in which each index is constant.

    The normal for axis ``i`` is perpendicular to the ``j`` and ``k`` directions and points the way
    ``i`` increases. On an orthogonal grid it is the ``i`` direction itself; on a sheared grid (slices
    shifted in their plane, e.g. a gantry tilt) it is not, and only the normal keeps every voxel of
    one slice at one medial-lateral position, as the projection rows need.
    """
    directions = direction_from_matrix(ijk_to_ras)
    normals = np.empty((3, 3))
    for axis in range(3):
        first, second = (directions[:, other] for other in range(3) if other != axis)
        normal = np.cross(first, second)
        normal /= np.linalg.norm(normal)
        normals[:, axis] = normal * np.sign(normal @ directions[:, axis])
    return normals


def knee_orientation(
    ijk_to_ras: np.ndarray,
    laterality: str,
    side_source: str = "user",
    side_confidence: float = 1.0,
    note: str = "",
) -> KneeOrientation:
    """Anatomical directions for a knee whose side is known.

    ``laterality`` must be ``"right"`` or ``"left"``; for an unknown side call
    :func:`KneeCartilageT2Lib.side_estimate.estimate_side` first.
    """
    side = normalize_laterality(laterality)
    if side == "unknown":
        raise InputError(
            "The knee side is unknown; give it (--laterality right|left, or the panel's side "
            "selector) or let the read-out estimate it from the cartilage shape."
        )
    if side_source not in SIDE_SOURCES:
        raise InputError("side_source must be one of %s, got %r." % (", ".join(SIDE_SOURCES), side_source))
    right, superior, anterior, axis_name = knee_axes(ijk_to_ras)
    lateral = right if side == "right" else -right
    return KneeOrientation(
        laterality=side,
        side_source=side_source,
        side_confidence=float(side_confidence),
        superior_ras=superior,
        anterior_ras=anterior,
        lateral_ras=lateral,
        ml_voxel_axis=axis_name,
        note=note,
        right_ras=right,
    )


def _rounded(vector: np.ndarray) -> list:
    return [round(float(value), 6) + 0.0 for value in vector]
