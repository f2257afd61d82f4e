"""Flat cartilage slabs of known thickness on the sagittal grids scanners use (shared by the thickness
tests and ``benchmarks/bench_thickness_tilt.py``).

A slab between two parallel planes ``T`` mm apart is voxelised on a right knee's sagittal grid
(columns posterior, rows inferior, slices medial-lateral), tilted within the slice plane (about the
right axis) and out of it (about the anterior axis). Its bone side faces a far condyle centre, so
:func:`thickness.normal_thickness` tells the two surfaces apart as it does on a knee. The library is
imported inside the functions, so a benchmark run with another version first on the path measures
that version.
"""

from __future__ import annotations

import numpy as np

OAI_SPACING = (0.3125, 0.446, 3.5)  # mm along columns (i), rows (j), slices (k)
GE_SPACING = (0.625, 0.625, 4.0)
SHAPE_KJI = (15, 90, 120)


def rotation(axis, degrees: float) -> np.ndarray:
    """3x3 rotation about a RAS axis (Rodrigues)."""
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = np.radians(degrees)
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross


def sagittal_grid(spacing, shear_ras_by_axis=None) -> np.ndarray:
    """``ijk_to_ras`` of a right knee's sagittal series centred near the RAS origin (off-lattice).

    ``shear_ras_by_axis`` maps an image axis ('i', 'j', 'k') to a RAS vector (mm) added to its
    column: a sheared (non-orthogonal) grid.
    """
    matrix = np.eye(4)
    matrix[:3, 0] = np.array([0.0, -1.0, 0.0]) * spacing[0]
    matrix[:3, 1] = np.array([0.0, 0.0, -1.0]) * spacing[1]
    matrix[:3, 2] = np.array([1.0, 0.0, 0.0]) * spacing[2]
    for axis, vector in (shear_ras_by_axis or {}).items():
        matrix[:3, "ijk".index(axis)] += vector
    centre_ijk = (np.array(SHAPE_KJI[::-1]) - 1) / 2.0 + np.array([0.37, 0.21, 0.0])
    matrix[:3, 3] = -matrix[:3, :3] @ centre_ijk
    return matrix


def slab_middle_thickness(thickness_mm, matrix, in_plane_deg=0.0, out_of_plane_deg=0.0, offset_mm=0.0) -> np.ndarray:
    """Thickness (mm) read at the bone-side points of the slab's middle (away from its edges).

    ``offset_mm`` moves the slab along its normal (a sub-voxel position).
    """
    from KneeCartilageT2Lib.geometry import voxel_centers_ras
    from KneeCartilageT2Lib.orientation import knee_orientation
    from KneeCartilageT2Lib.thickness import normal_thickness

    normal = rotation([0, 1, 0], out_of_plane_deg) @ rotation([1, 0, 0], in_plane_deg) @ np.array([0.0, 0.0, 1.0])
    indices = np.indices(SHAPE_KJI).reshape(3, -1).T
    height = voxel_centers_ras(matrix, indices) @ normal - offset_mm  # 0 on the bone side, -T on the articular side
    mask = ((height <= 0) & (height >= -thickness_mm)).reshape(SHAPE_KJI)
    orientation = knee_orientation(matrix, "right")
    centre = 1000.0 * normal
    surface = normal_thickness(mask, matrix, orientation, np.argwhere(mask), centre @ orientation.anterior_ras,
                               centre @ orientation.superior_ras)
    position = voxel_centers_ras(matrix, surface.bone_voxel_kji)
    middle = (np.abs(position[:, 0]) < 0.3 * SHAPE_KJI[0] * 3.5) & (np.abs(position[:, 1]) < 0.25 * SHAPE_KJI[2] * 0.3125)
    return np.asarray(surface.bone_thickness_mm[middle], dtype=np.float64)
