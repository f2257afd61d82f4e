"""Image geometry: voxel arrays tied to patient space.

A :class:`Volume` is a 3D array indexed ``[k, j, i]`` (slice, row, col) plus
the 4x4 ``ijk_to_ras`` matrix (mm) that maps a homogeneous index
``(i, j, k, 1)`` to Right-Anterior-Superior patient coordinates, the same
convention as Slicer's volume nodes. Conversions to and from ITK's LPS
origin/spacing/direction live here so that no other module repeats them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


@dataclass
class Volume:
    """A 3D image: ``array[k, j, i]`` with ``ijk_to_ras`` (4x4, mm)."""

    array: np.ndarray
    ijk_to_ras: np.ndarray = field(default_factory=lambda: np.eye(4))

    def __post_init__(self) -> None:
        self.ijk_to_ras = np.asarray(self.ijk_to_ras, dtype=np.float64).reshape(4, 4)
        if np.asarray(self.array).ndim != 3:
            raise ValueError("Volume.array must be 3D (slice, row, col), got shape %s" % (np.shape(self.array),))

    @property
    def spacing_ijk(self) -> np.ndarray:
        """Voxel size along (i=col, j=row, k=slice) in mm."""
        return spacing_from_matrix(self.ijk_to_ras)

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel (mm^3): |det| of the 3x3 part, also right for sheared grids."""
        return voxel_volume_from_matrix(self.ijk_to_ras)

    def with_array(self, array: np.ndarray) -> "Volume":
        """A new volume with the same geometry and another array of the same shape."""
        if np.shape(array) != np.shape(self.array):
            raise ValueError("shape %s does not match the volume's %s" % (np.shape(array), np.shape(self.array)))
        return Volume(np.asarray(array), self.ijk_to_ras.copy())

    def same_geometry(self, other: "Volume", tolerance_mm: float = 1e-3) -> bool:
        """Same shape and every ``ijk_to_ras`` entry within ``tolerance_mm`` (the voxels coincide)."""
        return np.shape(self.array) == np.shape(other.array) and bool(
            np.allclose(self.ijk_to_ras, other.ijk_to_ras, atol=tolerance_mm)
        )


def spacing_from_matrix(ijk_to_ras: np.ndarray) -> np.ndarray:
    """Voxel size (mm) along i, j, k: the norms of the matrix's first three columns."""
    return np.linalg.norm(np.asarray(ijk_to_ras, dtype=np.float64)[:3, :3], axis=0)


def voxel_volume_from_matrix(ijk_to_ras: np.ndarray) -> float:
    """Volume (mm^3) of the parallelepiped spanned by one voxel step along i, j and k."""
    return float(abs(np.linalg.det(np.asarray(ijk_to_ras, dtype=np.float64)[:3, :3])))


def direction_from_matrix(ijk_to_ras: np.ndarray) -> np.ndarray:
    """Unit RAS direction vectors of the i, j, k axes as the columns of a 3x3 matrix."""
    matrix = np.asarray(ijk_to_ras, dtype=np.float64)[:3, :3]
    return matrix / spacing_from_matrix(ijk_to_ras)


def make_ijk_to_ras(spacing_ijk, directions_ras=None, origin_ras=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Build ``ijk_to_ras`` from spacing (mm, i/j/k order), unit direction columns and origin (RAS mm)."""
    directions = np.eye(3) if directions_ras is None else np.asarray(directions_ras, dtype=np.float64)
    matrix = np.eye(4)
    matrix[:3, :3] = directions * np.asarray(spacing_ijk, dtype=np.float64)[np.newaxis, :]
    matrix[:3, 3] = np.asarray(origin_ras, dtype=np.float64)
    return matrix


def itk_geometry_to_ijk_to_ras(origin_lps, spacing, direction_lps) -> np.ndarray:
    """Convert ITK origin/spacing/direction (LPS) to a Slicer-style ``ijk_to_ras``."""
    direction = np.asarray(direction_lps, dtype=np.float64).reshape(3, 3)
    return make_ijk_to_ras(spacing, LPS_TO_RAS @ direction, LPS_TO_RAS @ np.asarray(origin_lps, dtype=np.float64))


def ijk_to_ras_to_itk_geometry(ijk_to_ras: np.ndarray) -> Tuple[tuple, tuple, tuple]:
    """Inverse of :func:`itk_geometry_to_ijk_to_ras`: (origin LPS, spacing, direction LPS flattened)."""
    spacing = spacing_from_matrix(ijk_to_ras)
    direction_lps = LPS_TO_RAS @ direction_from_matrix(ijk_to_ras)
    origin_lps = LPS_TO_RAS @ np.asarray(ijk_to_ras, dtype=np.float64)[:3, 3]
    return tuple(origin_lps.tolist()), tuple(spacing.tolist()), tuple(direction_lps.flatten().tolist())


def voxel_centers_ras(ijk_to_ras: np.ndarray, indices_kji: np.ndarray) -> np.ndarray:
    """RAS positions (mm) of voxels given as an (N, 3) array of (k, j, i) indices."""
    indices = np.asarray(indices_kji, dtype=np.float64)
    ijk = indices[:, ::-1]
    matrix = np.asarray(ijk_to_ras, dtype=np.float64)
    return ijk @ matrix[:3, :3].T + matrix[:3, 3]


def sagittal_display_orientation(ijk_to_ras: Optional[np.ndarray]) -> Tuple[bool, bool, bool]:
    """``(transpose, flip_rows, flip_cols)`` that show a sagittal ``(row, col)`` slice radiologically.

    After the transform (applied by :func:`orient_inplane`: transpose first,
    then the flips) rows run superior to inferior and columns anterior to
    posterior, i.e. superior up and anterior left, as in the OAI training
    data and in Slicer's sagittal view. Decided from the dominant RAS
    component of the column (i) and row (j) directions; no change when the
    geometry is unknown or the slices are not sagittal (their in-plane axes
    are then not anterior/superior).
    """
    if ijk_to_ras is None:
        return False, False, False
    directions = direction_from_matrix(ijk_to_ras)
    col_axis, row_axis = directions[:, 0], directions[:, 1]
    col_dominant, row_dominant = int(np.argmax(np.abs(col_axis))), int(np.argmax(np.abs(row_axis)))
    if {col_dominant, row_dominant} != {1, 2}:
        return False, False, False
    transpose = col_dominant == 2  # columns run superior/inferior: swap so they run anterior/posterior
    new_col, new_row = (row_axis, col_axis) if transpose else (col_axis, row_axis)
    flip_cols = new_col[1] > 0  # +A: columns should run toward posterior (-A)
    flip_rows = new_row[2] > 0  # +S: rows should run toward inferior (-S)
    return bool(transpose), bool(flip_rows), bool(flip_cols)


def orient_inplane(array: np.ndarray, orientation: Tuple[bool, bool, bool]) -> np.ndarray:
    """Apply ``(transpose, flip_rows, flip_cols)`` to the last two (row, col) axes of a 2D or 3D array."""
    transpose, flip_rows, flip_cols = orientation
    if transpose:
        array = np.swapaxes(array, -2, -1)
    if flip_rows:
        array = array[..., ::-1, :]
    if flip_cols:
        array = array[..., ::-1]
    return np.ascontiguousarray(array)


def unorient_inplane(array: np.ndarray, orientation: Tuple[bool, bool, bool]) -> np.ndarray:
    """The exact inverse of :func:`orient_inplane` with the same ``orientation``."""
    transpose, flip_rows, flip_cols = orientation
    if flip_cols:
        array = array[..., ::-1]
    if flip_rows:
        array = array[..., ::-1, :]
    if transpose:
        array = np.swapaxes(array, -2, -1)
    return np.ascontiguousarray(array)
