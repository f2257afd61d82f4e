"""Distance from points to a surface sampled by scattered points: a local plane, not the nearest point.

The cartilage surfaces are known only as points, one per boundary face (:mod:`thickness`). Where
a surface is tilted to the voxel grid those points scatter about it (0.05-0.17 mm on the GE and
OAI grids: the voxel staircase is not all smoothed away), evenly on both sides (mean offset from
the true plane within 0.05 mm). The distance to the *nearest* point is the smallest of many
scattered distances, so it picks the points that stick out toward the query and reads short:
slabs tilted to the OAI grid read 1.3-3.2 % thin, on the GE grid 0.4-2.8 %, the analytic shell
0.04-0.05 mm thin, though the points themselves are not biased.

:mod:`thickness_slices` measures within each slice this way (the points of one slice form a
curve; ``radius_mm`` is two in-plane voxels, :func:`thickness.local_plane_radius_mm`, enough to
reach past the nearest stair step on either side; 1 and 1.5 voxels left part of the bias, up to
1.2 % on OAI slabs). Tilted slabs then read within -2.2 to +0.7 % (mean +0.2 % OAI, -0.3 % GE),
the analytic shells within 0.021 mm (``benchmarks/bench_thickness_tilt.py``).

Here the distance is taken to the local plane through the points around the foot of the
query: ``mean((a - p) . n)`` over the surface points ``a`` within ``radius_mm`` of the foot,
with ``n`` the mean of their normals. Which points are averaged must not depend on their scatter
along ``n``, or the bias comes back: the foot is first placed at the nearest point's height
(itself too near, so the first neighbourhood is chosen a little toward near points), then
moved to the height that neighbourhood gives and chosen again; from there a point's distance to
the foot does not depend on which side of the surface it scatters to. On a curved surface the
plane is off by about ``radius^2 / (6 R)`` for a curve of radius ``R`` (0.012 mm for a 1.25 mm
radius on a 22.5 mm condyle). Where the surface is flat and on the grid (untilted) all points
share one height, and the result is the nearest-point distance: an untilted slab still reads
whole voxels. Where no surface point lies within the radius of the foot (past the end of the sampled
surface, or a slice holding one or two points) there is no local plane: the nearest point's distance is
kept, as the plane's height would leave out the distance along the surface. The 3D distance used off sagittal grids (no slice axis skipped) is still the
nearest point's: there the surface normals are 3D and that path was not measured here.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

NEIGHBOURS = 24  # most points averaged per query; fewer where the surface is sparse within the radius
FOOT_PASSES = 2


def local_surface_offset(
    points: np.ndarray, surface_ras: np.ndarray, surface_normal_ras: np.ndarray, tree: cKDTree, radius_mm: float
):
    """Signed distance (mm) from each point to the local plane of the surface, and the plane's normal.

    Args:
        points: ``(P, 3)`` query points (mm).
        surface_ras: ``(S, 3)`` surface points (mm); ``tree`` is a :class:`cKDTree` of them.
        surface_normal_ras: ``(S, 3)`` unit normals of the surface points (any consistent side).
        radius_mm: neighbourhood radius around the foot of each query point.

    Returns:
        ``(offset, normal, nearest_distance, nearest_index)``: ``offset`` ``(P,)`` is
        ``mean((a - p) . n)`` (positive where the surface lies on the side its normals point to),
        ``normal`` ``(P, 3)`` the unit mean normal ``n``, and the distance to and index of the
        nearest surface point. Where the mean normal vanishes the nearest point's is used. Where no surface
        point lies within ``radius_mm`` of the foot, ``offset`` is the nearest point's distance (signed by the
        side it lies on along ``n``): with no local plane, the nearest point is all that is known there.
    """
    points = np.asarray(points, dtype=np.float64)
    nearest_distance, nearest_index = tree.query(points)
    normal = _mean_normal(tree, surface_normal_ras, surface_ras[nearest_index], radius_mm, surface_normal_ras[nearest_index])
    offset = np.einsum("ij,ij->i", surface_ras[nearest_index] - points, normal)
    k = min(NEIGHBOURS, len(surface_ras))
    count = np.zeros(len(points), dtype=np.int64)
    for _ in range(FOOT_PASSES):
        foot = points + offset[:, np.newaxis] * normal
        distance, index = tree.query(foot, k=k, distance_upper_bound=radius_mm)
        distance, index = distance.reshape(len(points), k), index.reshape(len(points), k)
        found = np.isfinite(distance)
        safe = np.where(found, index, 0)
        heights = np.einsum("pkj,pj->pk", surface_ras[safe] - points[:, np.newaxis, :], normal)
        count = found.sum(axis=1)
        offset = np.where(count > 0, np.where(found, heights, 0.0).sum(axis=1) / np.maximum(count, 1), offset)
    # No surface point near the foot (past the end of the sampled surface, or a slice holding one or two points
    # far along it): there is no local plane to measure to, and the height along the nearest point's normal
    # would leave out the distance along the surface; the nearest point's distance stands, with the side it is on.
    offset = np.where(count > 0, offset, np.where(offset < 0, -1.0, 1.0) * nearest_distance)
    return offset, normal, nearest_distance, nearest_index


def _mean_normal(tree, surface_normal_ras, centres, radius_mm, fallback):
    """Unit mean of the surface normals within ``radius_mm`` of each centre (``fallback`` where none)."""
    k = min(NEIGHBOURS, tree.n)
    distance, index = tree.query(centres, k=k, distance_upper_bound=radius_mm)
    found = np.isfinite(distance.reshape(len(centres), k))
    safe = np.where(found, index.reshape(len(centres), k), 0)
    total = np.einsum("pk,pkj->pj", found.astype(np.float64), surface_normal_ras[safe])
    length = np.linalg.norm(total, axis=1, keepdims=True)
    return np.where(length > 1e-6, total / np.maximum(length, 1e-12), fallback)
