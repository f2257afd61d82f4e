"""Thickness across thick slices: the part of the surface's tilt that no single slice shows.

Sagittal series sample the cartilage surfaces only within each slice (the 2-4 mm steps
between slices say nothing about where a surface lies in the slice plane; see
:mod:`thickness`). Where a surface is tilted out of the slice plane, toward medial or
lateral by an angle ``a`` (trochlear facets, the condyles' medial and lateral flanks), a
bone-side point's nearest articular point in its own slice lies ``T / cos a`` away, not the
thickness ``T``: +15 % at 30 degrees, +31 % at 40 degrees. A neighbouring slice's articular
point is rarely nearer, as the slices are much further apart than the cartilage is thick.

The correction reads the tilt from the slices on either side. For a bone-side point ``p``
in slice ``k``, ``s_k`` is the signed in-slice distance to the articular surface (along that
surface's in-plane normal; to the local line through the surface points around the foot,
:mod:`thickness_local`, since the nearest of the stair-stepped points reads short);
``s_{k-1}`` and ``s_{k+1}`` are the same distances from ``p``
carried straight across to the neighbouring slice planes (along their normal, ``h`` mm
apart). Their slope ``g = ds / dh`` (central difference, one-sided at the plate's ends) is
``tan a``, and the distance from ``p`` to the articular surface interpolated between the
slices is ``d_k / sqrt(1 + g^2)``. On a surface curved only within the slices (a condyle,
a cylinder about the medial-lateral axis) ``g`` is zero and nothing changes. A neighbour is
not used where its nearest articular point is not straight across (the surface ends there:
the offset is not along its normal) or implies a tilt above :data:`MAX_TILT_DEG`.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .orientation import axis_plane_normals
from .thickness_local import local_surface_offset

MAX_TILT_DEG = 60.0
ALONG_NORMAL_COSINE = 0.7  # the offset to the nearest articular point must lie within ~45 degrees of its normal


def across_slice_thickness(
    bone_ras: np.ndarray,
    bone_slice: np.ndarray,
    articular_ras: np.ndarray,
    articular_normal_ras: np.ndarray,
    articular_slice: np.ndarray,
    ijk_to_ras: np.ndarray,
    slice_axis_kji: int,
    nearest_mm: np.ndarray,
    nearest_slice: np.ndarray,
    radius_mm: float,
) -> np.ndarray:
    """Thickness (mm) at bone-side surface points, corrected for out-of-slice tilt.

    Args:
        bone_ras, articular_ras: ``(B, 3)`` and ``(A, 3)`` surface points (RAS mm).
        bone_slice, articular_slice: slice index (along ``slice_axis_kji``) of each point.
        articular_normal_ras: ``(A, 3)`` outward unit normals of the articular points.
        ijk_to_ras: 4x4 voxel-to-RAS matrix (mm); may be sheared.
        slice_axis_kji: the slice axis in (k, j, i) order (the skipped face axis).
        nearest_mm: ``(B,)`` 3D distance to the nearest articular point, kept where a point's
            own slice holds no usable articular point.
        nearest_slice: ``(B,)`` slice of that nearest point. Where it is another slice the result
            never exceeds ``nearest_mm`` (the surface is at most that far: a surface ending or
            steeply tilted); in the point's own slice it may, by the scatter the nearest point picks.
        radius_mm: neighbourhood of the local surface line (:func:`thickness_local.local_surface_offset`).
    """
    normal, step = slice_plane_normal(ijk_to_ras, slice_axis_kji)
    in_plane = articular_normal_ras - np.outer(articular_normal_ras @ normal, normal)
    length = np.linalg.norm(in_plane, axis=1, keepdims=True)
    in_plane = np.where(length > 1e-6, in_plane / np.maximum(length, 1e-12), 0.0)
    slices = {int(k): np.flatnonzero(articular_slice == k) for k in np.unique(articular_slice)}
    trees = {k: cKDTree(articular_ras[members]) for k, members in slices.items()}

    def signed(points: np.ndarray, k: int):
        """In-plane distance to the local surface line, signed along its normal, and whether it is usable."""
        members = slices[k]
        along, _, distance, nearest = local_surface_offset(points, articular_ras[members], in_plane[members], trees[k],
                                                           radius_mm)
        which = members[nearest]
        along_nearest = np.einsum("ij,ij->i", articular_ras[which] - points, in_plane[which])
        return np.abs(along), along, np.abs(along_nearest) >= ALONG_NORMAL_COSINE * distance

    result = np.array(nearest_mm, dtype=np.float64, copy=True)
    max_step_change = step * np.tan(np.radians(MAX_TILT_DEG))
    for k in np.unique(bone_slice):
        k = int(k)
        if k not in trees:
            continue
        chosen = np.flatnonzero(bone_slice == k)
        points = bone_ras[chosen]
        distance, centre, usable = signed(points, k)
        sides = []
        for offset in (-1, 1):
            if k + offset not in trees:
                sides.append((np.zeros(len(chosen)), np.zeros(len(chosen), bool)))
                continue
            _, along, straight = signed(points + offset * step * normal, k + offset)
            sides.append((along, straight & (np.abs(along - centre) <= max_step_change)))
        (below, has_below), (above, has_above) = sides
        slope = np.where(has_below & has_above, (above - below) / (2.0 * step),
                         np.where(has_above, (above - centre) / step, np.where(has_below, (centre - below) / step, 0.0)))
        corrected = distance / np.sqrt(1.0 + slope * slope)
        cap = np.where(nearest_slice[chosen] != k, result[chosen], np.inf)
        result[chosen] = np.where(usable, np.minimum(corrected, cap), result[chosen])
    return result


def slice_plane_normal(ijk_to_ras: np.ndarray, slice_axis_kji: int):
    """Unit RAS normal of the slice planes (toward increasing slice index) and their spacing (mm).

    The normal is that of the plane spanned by the two in-plane axes
    (:func:`orientation.axis_plane_normals`), so on a sheared grid (slice axis not perpendicular
    to the slices) it is still perpendicular to every slice, and the spacing is the distance
    between neighbouring slice planes.
    """
    column = 2 - int(slice_axis_kji)
    normal = axis_plane_normals(ijk_to_ras)[:, column]  # points the way the slice index increases
    return normal, float(np.asarray(ijk_to_ras, dtype=np.float64)[:3, column] @ normal)
