"""An analytic femoral-cartilage model with exactly known regions, T2 and thickness.

A cylindrical shell (axis medial-lateral, inner radius = bone surface, outer
radius = articular surface) covers an arc from anterior-superior (trochlea)
round the inferior pole to posterior-superior (posterior condyles). A band
in the middle of the M-L extent keeps only the anterior part, like the
intercondylar notch under the trochlea. Every voxel's true region follows
from its position, so the read-out can be checked against exact numbers:
regional T2 means, thickness (outer - inner radius) and regional volumes.

The model is built in knee coordinates and placed in patient RAS through a
sagittal acquisition geometry (slice axis = M-L) that can be oblique,
mirrored to a left knee, or stored with the slice order reversed; the
anatomy in RAS is the same in every variant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple

import numpy as np

from .geometry import Volume, voxel_centers_ras

SECTOR_EDGES_DEG = (-30.0, 30.0)
# The shell axis sits off the voxel lattice so that no lattice symmetry biases voxel counts.
GRID_OFFSET_VOXELS = (0.37, 0.61)


@dataclass
class ShellSpec:
    """Dimensions of the shell model (mm, degrees; angle 0 inferior, + posterior).

    ``lateral_range_mm`` is the M-L extent in the knee's lateral coordinate
    (0 = notch centre, negative medial); ``notch_range_mm`` the band that keeps
    only angles below ``notch_max_angle_deg``. ``spacing_mm`` is the voxel size
    (col = posterior, row = inferior, slice = M-L). The lateral half (lateral
    coordinate >= 0) can be a different condyle: its axis moved by
    ``lateral_axis_shift_mm`` (anterior, superior) and both radii changed by
    ``lateral_radius_change_mm``; regions of each half are defined around its own axis.
    """

    inner_radius_mm: float = 20.0
    outer_radius_mm: float = 22.5
    arc_deg: Tuple[float, float] = (-150.0, 140.0)
    lateral_range_mm: Tuple[float, float] = (-20.0, 20.0)
    notch_range_mm: Tuple[float, float] = (-4.0, 4.0)
    notch_max_angle_deg: float = -45.0
    spacing_mm: Tuple[float, float, float] = (0.2, 0.25, 2.0)
    margin_mm: float = 2.0
    lateral_axis_shift_mm: Tuple[float, float] = (0.0, 0.0)
    lateral_radius_change_mm: float = 0.0
    region_t2_ms: Dict[str, float] = field(default_factory=lambda: dict(DEFAULT_T2_MS))

    @property
    def mid_radius_mm(self) -> float:
        return 0.5 * (self.inner_radius_mm + self.outer_radius_mm)

    def radii_mm(self, side: str) -> Tuple[float, float]:
        """(inner, outer) radius of the medial ('M') or lateral ('L') condyle."""
        change = self.lateral_radius_change_mm if side == "L" else 0.0
        return self.inner_radius_mm + change, self.outer_radius_mm + change

    @property
    def thickness_mm(self) -> float:
        return self.outer_radius_mm - self.inner_radius_mm


DEFAULT_T2_MS = {
    "DLA": 30.0, "DLC": 32.0, "DLP": 34.0, "DMA": 36.0, "DMC": 38.0, "DMP": 40.0,
    "SLA": 42.0, "SLC": 44.0, "SLP": 46.0, "SMA": 48.0, "SMC": 50.0, "SMP": 52.0,
}


def true_regions(spec: ShellSpec, lateral, anterior, superior):
    """Membership and subregion name of points in knee coordinates (shell axis at origin).

    Returns ``(inside, names)``: a bool array and an array of subregion names
    ('' outside). Central is (-30, 30] degrees around the half's own axis; deep
    is nearer the axis than the mid radius; medial is lateral < 0.
    """
    is_lateral = lateral >= 0.0
    shift = np.where(is_lateral[:, np.newaxis], np.asarray(spec.lateral_axis_shift_mm)[np.newaxis], 0.0)
    anterior, superior = anterior - shift[:, 0], superior - shift[:, 1]
    inner = np.where(is_lateral, spec.radii_mm("L")[0], spec.radii_mm("M")[0])
    outer = np.where(is_lateral, spec.radii_mm("L")[1], spec.radii_mm("M")[1])
    angle = np.degrees(np.arctan2(-anterior, -superior))
    radius = np.hypot(anterior, superior)
    in_notch = (lateral > spec.notch_range_mm[0]) & (lateral < spec.notch_range_mm[1])
    inside = (
        (radius >= inner) & (radius <= outer)
        & (angle > spec.arc_deg[0]) & (angle <= spec.arc_deg[1])
        & (lateral > spec.lateral_range_mm[0]) & (lateral < spec.lateral_range_mm[1])
        & ~(in_notch & (angle > spec.notch_max_angle_deg))
    )
    layer = (radius >= 0.5 * (inner + outer)).astype(int)
    sector = np.where(angle <= SECTOR_EDGES_DEG[0], 0, np.where(angle <= SECTOR_EDGES_DEG[1], 1, 2))
    codes = 6 * layer + 3 * (~is_lateral) + sector
    table = np.array([a + b + c for a in "DS" for b in "LM" for c in "ACP"] + [""])
    return inside, table[np.where(inside, codes, 12)]


def analytic_volume_mm3(spec: ShellSpec, name: str) -> float:
    """Exact volume (mm^3) of a subregion (e.g. 'DLA'), or of 'all'."""
    if name == "all":
        return sum(analytic_volume_mm3(spec, n) for n in DEFAULT_T2_MS)
    layer, side, sector = name
    inner, outer = spec.radii_mm(side)
    middle = 0.5 * (inner + outer)
    r0, r1 = (inner, middle) if layer == "D" else (middle, outer)
    sector_range = {"A": (-180.0, SECTOR_EDGES_DEG[0]), "C": SECTOR_EDGES_DEG, "P": (SECTOR_EDGES_DEG[1], 180.0)}[sector]
    side_range = (spec.lateral_range_mm[0], 0.0) if side == "M" else (0.0, spec.lateral_range_mm[1])
    total = 0.0
    for ml_range, max_angle in _ml_segments(spec):
        length = max(0.0, min(ml_range[1], side_range[1]) - max(ml_range[0], side_range[0]))
        span = min(sector_range[1], spec.arc_deg[1], max_angle) - max(sector_range[0], spec.arc_deg[0])
        total += length * max(span, 0.0) * np.pi / 180.0 * 0.5 * (r1 ** 2 - r0 ** 2)
    return float(total)


def _ml_segments(spec: ShellSpec):
    low, high = spec.lateral_range_mm
    notch_low, notch_high = spec.notch_range_mm
    return [((low, notch_low), 180.0), ((notch_low, notch_high), spec.notch_max_angle_deg), ((notch_high, high), 180.0)]


def shell_geometry(spec: ShellSpec, side: str = "right", oblique_deg: float = 0.0, reverse_slices: bool = False):
    """``(shape_kji, ijk_to_ras, knee_axes)`` of a sagittal acquisition of the shell.

    Columns run posterior, rows inferior, slices along M-L (medial to lateral
    for ``reverse_slices=False``). ``oblique_deg`` rotates the slice plane
    about the superior axis. ``knee_axes`` = (lateral, anterior, superior) RAS unit
    vectors; the shell axis passes through the RAS origin, off the voxel lattice by
    :data:`GRID_OFFSET_VOXELS` in-plane. A left knee is the mirror image
    (x -> -x) of the right knee scanned with the opposite obliquity, so every
    voxel has the same knee-frame position in both.
    """
    outer = spec.outer_radius_mm + max(spec.lateral_radius_change_mm, 0.0) + spec.margin_mm
    outer += float(np.max(np.abs(spec.lateral_axis_shift_mm)))
    angle = np.radians(oblique_deg)
    right = np.array([np.cos(angle), np.sin(angle), 0.0])
    anterior = np.array([-np.sin(angle), np.cos(angle), 0.0])
    superior = np.array([0.0, 0.0, 1.0])
    lateral = right if side == "right" else -right
    dx, dy, dz = spec.spacing_mm
    n_cols, n_rows = int(np.ceil(2 * outer / dx)), int(np.ceil(2 * outer / dy))
    low, high = spec.lateral_range_mm
    n_slices = int(round((high - low) / dz))
    first_lateral = low + 0.5 * dz
    slice_direction = lateral
    if reverse_slices:
        first_lateral, slice_direction = high - 0.5 * dz, -lateral
    matrix = np.eye(4)
    matrix[:3, 0] = -anterior * dx
    matrix[:3, 1] = -superior * dy
    matrix[:3, 2] = slice_direction * dz
    in_plane_offset = np.asarray(GRID_OFFSET_VOXELS) * np.array([dx, dy])
    matrix[:3, 3] = (
        anterior * (0.5 * (n_cols - 1) * dx + in_plane_offset[0])
        + superior * (0.5 * (n_rows - 1) * dy + in_plane_offset[1])
        + lateral * first_lateral
    )
    return (n_slices, n_rows, n_cols), matrix, (lateral, anterior, superior)


def build_shell(spec: ShellSpec, side: str = "right", oblique_deg: float = 0.0, reverse_slices: bool = False):
    """``(mask, t2, truth_names)``: uint8 mask and float32 T2 (ms) Volumes plus per-voxel true names."""
    shape, matrix, (lateral, anterior, superior) = shell_geometry(spec, side, oblique_deg, reverse_slices)
    indices = np.indices(shape).reshape(3, -1).T
    ras = voxel_centers_ras(matrix, indices)
    inside, names = true_regions(spec, ras @ lateral, ras @ anterior, ras @ superior)
    t2 = np.zeros(inside.shape[0], np.float32)
    for name, value in spec.region_t2_ms.items():
        t2[names == name] = value
    mask = Volume(inside.reshape(shape).astype(np.uint8), matrix)
    return mask, mask.with_array(t2.reshape(shape)), names.reshape(shape)
