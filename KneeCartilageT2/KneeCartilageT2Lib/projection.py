"""Unrolling femoral cartilage onto a 2D (medial-lateral x angle) projection.

The femoral condyles are close to a cylinder whose axis runs medial-lateral.
Cartilage voxels are expressed in the knee frame (:mod:`orientation`): a
lateral coordinate (mm, along the M-L axis, increasing toward lateral) and
sagittal-plane coordinates (anterior, superior; mm). Around a circle fitted
in the sagittal plane each voxel gets a polar angle and a radius.

Angle convention (same in every mode): 0 degrees points INFERIOR, positive
angles run toward POSTERIOR, negative toward ANTERIOR, +-180 is superior.
With 5-degree bins the projection has 72 columns; bin ``e`` covers the
half-open interval ``(-180 + 5 e, -180 + 5 (e + 1)]`` degrees, as in the
reference implementation.

Projection rows are M-L positions. When the M-L axis is an image axis (the
usual sagittal acquisition) a row is exactly one slice; otherwise voxels are
binned along M-L at the largest voxel step along that axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import optimize

from .errors import NoCartilageFoundError
from .geometry import voxel_centers_ras
from .orientation import VOXEL_AXIS_NAMES, KneeOrientation

ANGULAR_BIN_DEG = 5.0
N_ANGULAR_BINS = int(round(360.0 / ANGULAR_BIN_DEG))


@dataclass
class ProjectionMap:
    """A 2D map on the unrolled cartilage surface.

    Attributes:
        array: float array ``(ml_rows, arc_cols)``; NaN where there is no cartilage.
        row_positions_mm: M-L position of each row (mm), 0 at the medial/lateral boundary,
            negative medial, positive lateral (the same for left and right knees).
        col_positions_mm: arc length of each column centre (mm) at the nominal radius,
            0 at the inferior direction, negative anterior, positive posterior.
        name: short identifier (``"t2"``, ``"thickness"``, ``"regions"`` ...).
        unit: ``"ms"``, ``"mm"`` or ``"label"``.
        col_angles_deg: angle of each column centre (degrees, 0 inferior, + posterior).
        standard_error: optional, same shape as ``array``: the sampling error of each cell's
            value (same unit; :func:`cell_standard_error`), for tests of a change between visits.
    """

    array: np.ndarray
    row_positions_mm: np.ndarray
    col_positions_mm: np.ndarray
    name: str
    unit: str
    col_angles_deg: Optional[np.ndarray] = None
    standard_error: Optional[np.ndarray] = None


@dataclass
class Circle:
    """A circle in the sagittal plane (knee frame, mm) with its fit quality."""

    anterior_mm: float
    superior_mm: float
    radius_mm: float
    rms_residual_mm: float
    n_points: int

    def to_dict(self) -> dict:
        return {key: (round(float(value), 4) if key != "n_points" else int(value)) for key, value in vars(self).items()}


@dataclass
class KneeCoordinates:
    """Cartilage voxels in the knee frame.

    Attributes:
        indices_kji: ``(N, 3)`` int voxel indices (slice, row, col) of the cartilage voxels.
        lateral_mm, anterior_mm, superior_mm: ``(N,)`` coordinates (mm) along the knee axes.
        ml_voxel_axis: index (0=i, 1=j, 2=k) of the image axis that is the M-L axis, or None.
        row_spacing_mm: M-L bin width used for projection rows (mm).
    """

    indices_kji: np.ndarray
    lateral_mm: np.ndarray
    anterior_mm: np.ndarray
    superior_mm: np.ndarray
    ml_voxel_axis: Optional[int]
    row_spacing_mm: float

    @property
    def n_voxels(self) -> int:
        return int(self.lateral_mm.shape[0])


def knee_coordinates(mask: np.ndarray, ijk_to_ras: np.ndarray, orientation: KneeOrientation) -> KneeCoordinates:
    """Knee-frame coordinates (mm) of every nonzero voxel of ``mask`` (``[k, j, i]``)."""
    indices = np.argwhere(np.asarray(mask) != 0)
    if indices.shape[0] == 0:
        raise NoCartilageFoundError(
            "The cartilage mask is empty: nothing to measure. Check that the segmentation is the "
            "femoral cartilage label and that it overlaps the T2 map."
        )
    ras = voxel_centers_ras(ijk_to_ras, indices)
    steps_along_ml = np.abs(np.asarray(ijk_to_ras, dtype=np.float64)[:3, :3].T @ orientation.lateral_ras)
    axis = None if orientation.ml_voxel_axis is None else VOXEL_AXIS_NAMES.index(orientation.ml_voxel_axis)
    return KneeCoordinates(
        indices_kji=indices,
        lateral_mm=ras @ orientation.lateral_ras,
        anterior_mm=ras @ orientation.anterior_ras,
        superior_mm=ras @ orientation.superior_ras,
        ml_voxel_axis=axis,
        row_spacing_mm=float(np.max(steps_along_ml)),
    )


def sagittal_mip_points(coordinates: KneeCoordinates, selection: Optional[np.ndarray] = None):
    """(anterior, superior) mm of the sagittal maximum-intensity projection of the voxels.

    The projection along M-L keeps each in-plane pixel once however many
    slices contain it. With an image M-L axis the pixels are the unique
    in-plane index pairs; otherwise positions are pooled on a grid of the
    smallest in-plane voxel size.
    """
    chosen = np.ones(coordinates.n_voxels, bool) if selection is None else np.asarray(selection, bool)
    anterior, superior = coordinates.anterior_mm[chosen], coordinates.superior_mm[chosen]
    if coordinates.ml_voxel_axis is not None:
        in_plane = [axis for axis in range(3) if axis != 2 - coordinates.ml_voxel_axis]
        keys = coordinates.indices_kji[chosen][:, in_plane]
    else:
        cell = max(coordinates.row_spacing_mm, 1e-6) * 0.25
        keys = np.round(np.stack([anterior, superior], axis=1) / cell).astype(np.int64)
    _, first = np.unique(keys, axis=0, return_index=True)
    return anterior[first], superior[first]


def fit_circle(anterior_mm: np.ndarray, superior_mm: np.ndarray) -> Circle:
    """Least-squares (geometric) circle through sagittal points, in mm.

    Minimises the sum of squared distances of the points from the circle,
    started from the algebraic (Kasa) solution. Unlike the reference code the
    fit is done in millimetres, so non-square pixels do not turn the circle
    into an ellipse.
    """
    x = np.asarray(anterior_mm, dtype=np.float64)
    y = np.asarray(superior_mm, dtype=np.float64)
    if x.shape[0] < 3:
        raise NoCartilageFoundError(
            "Too little cartilage (%d projected pixels) to fit the condyle circle; the segmentation "
            "is almost empty. Check or correct it before the regional read-out." % x.shape[0]
        )
    x0, y0 = x.mean(), y.mean()
    design = np.stack([x - x0, y - y0, np.ones_like(x)], axis=1)
    rhs = (x - x0) ** 2 + (y - y0) ** 2
    solution = np.linalg.lstsq(design, rhs, rcond=None)[0]
    start = np.array([x0 + solution[0] / 2.0, y0 + solution[1] / 2.0])

    def residuals(centre):
        distances = np.hypot(x - centre[0], y - centre[1])
        return distances - distances.mean()

    centre = optimize.least_squares(residuals, start, method="lm").x
    distances = np.hypot(x - centre[0], y - centre[1])
    radius = float(distances.mean())
    rms = float(np.sqrt(np.mean((distances - radius) ** 2)))
    return Circle(float(centre[0]), float(centre[1]), radius, rms, int(x.shape[0]))


def polar_coordinates(anterior_mm, superior_mm, centre_anterior, centre_superior):
    """(angle in degrees: 0 inferior, + posterior; radius in mm) around a sagittal centre.

    The centre may be a scalar or one value per point.
    """
    toward_posterior = -(np.asarray(anterior_mm) - centre_anterior)
    toward_inferior = -(np.asarray(superior_mm) - centre_superior)
    return np.degrees(np.arctan2(toward_posterior, toward_inferior)), np.hypot(toward_posterior, toward_inferior)


def angular_bins(angle_deg: np.ndarray) -> np.ndarray:
    """Column index 0..71 of each angle; bin e is (-180 + 5e, -180 + 5(e+1)] degrees."""
    bins = np.ceil((np.asarray(angle_deg) + 180.0) / ANGULAR_BIN_DEG).astype(np.int64) - 1
    return np.mod(bins, N_ANGULAR_BINS)


def bin_centre_angles_deg() -> np.ndarray:
    return -180.0 + ANGULAR_BIN_DEG * (np.arange(N_ANGULAR_BINS) + 0.5)


def row_indices(coordinates: KneeCoordinates):
    """Projection row of each voxel and the lateral position (mm) of row 0.

    Rows are M-L bins ``row_spacing_mm`` wide, centred on voxel positions when
    the M-L axis is an image axis (one row per slice).
    """
    spacing = coordinates.row_spacing_mm
    start = float(coordinates.lateral_mm.min())
    rows = np.round((coordinates.lateral_mm - start) / spacing).astype(np.int64)
    return rows, start


def cell_statistic(rows, cols, values, n_rows: int, statistic: str = "mean") -> np.ndarray:
    """Per-cell mean / median / min / max of ``values`` over an (n_rows, 72) grid; NaN in empty cells.

    The median of a cell with an even number of values is the mean of its two middle values.
    """
    rows, cols, values = np.asarray(rows), np.asarray(cols), np.asarray(values, dtype=np.float64)
    flat = rows * N_ANGULAR_BINS + cols
    size = n_rows * N_ANGULAR_BINS
    result = np.full(size, np.nan)
    if statistic == "mean":
        counts = np.bincount(flat, minlength=size)
        sums = np.bincount(flat, weights=values, minlength=size)
        filled = counts > 0
        result[filled] = sums[filled] / counts[filled]
    elif statistic == "median":
        result = _cell_median(flat, values, size)
    elif statistic in ("min", "max"):
        fill = np.inf if statistic == "min" else -np.inf
        result[:] = fill
        (np.minimum if statistic == "min" else np.maximum).at(result, flat, values)
        result[~np.isfinite(result)] = np.nan
    else:
        raise ValueError("unknown cell statistic %r" % statistic)
    return result.reshape(n_rows, N_ANGULAR_BINS)


def _cell_median(flat: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Median of ``values`` per flat cell index (vectorised: one sort by cell, then by value)."""
    result = np.full(size, np.nan)
    if flat.size == 0:
        return result
    order = np.lexsort((values, flat))
    cells, ordered = flat[order], values[order]
    first = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
    counts = np.diff(np.r_[first, cells.size])
    lower = first + (counts - 1) // 2
    upper = first + counts // 2
    result[cells[first]] = 0.5 * (ordered[lower] + ordered[upper])
    return result


MEDIAN_EFFICIENCY = 1.2533  # standard error of a median / that of a mean, for normal data (sqrt(pi / 2))
MAD_TO_SD = 1.4826  # median absolute deviation -> standard deviation, for normal data
POOLING_MIN_VOXELS = 5  # cells with at least this many voxels give the plate's pooled spread


def cell_standard_error(rows, cols, values, n_rows: int, statistic: str = "median") -> np.ndarray:
    """Per-cell sampling error of :func:`cell_statistic`'s ``"median"`` or ``"mean"``; NaN in empty cells.

    A cell's value comes from a handful of voxels (6-30 on the GE and OAI protocols) whose T2
    spreads widely; which voxels a cell holds changes when the knee moves by a fraction of a
    voxel, and with it the value (one voxel in or out of a cell of 8 moved its median by up to
    8 ms on the real GE exam). The error is ``k x s / sqrt(n)``: ``s`` the cell's spread (robust:
    1.4826 x its median absolute deviation for the median, the SD for the mean), never below the
    plate's pooled spread (median ``s`` of the cells with at least 5 voxels), since a few voxels
    cannot show their own spread; ``k`` = 1.2533 for a median, 1 for a mean.
    """
    rows, cols, values = np.asarray(rows), np.asarray(cols), np.asarray(values, dtype=np.float64)
    flat = rows * N_ANGULAR_BINS + cols
    size = n_rows * N_ANGULAR_BINS
    counts = np.bincount(flat, minlength=size).astype(np.float64)
    filled = counts > 0
    spread = np.full(size, np.nan)
    if statistic == "median":
        centre = _cell_median(flat, values, size)
        spread = MAD_TO_SD * _cell_median(flat, np.abs(values - centre[flat]), size)
        factor = MEDIAN_EFFICIENCY
    elif statistic == "mean":
        sums = np.bincount(flat, weights=values, minlength=size)
        squares = np.bincount(flat, weights=values * values, minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = sums / counts
            spread = np.sqrt(np.maximum(squares / counts - mean * mean, 0.0))
        factor = 1.0
    else:
        raise ValueError("no standard error for the cell statistic %r" % statistic)
    pooled_from = filled & (counts >= POOLING_MIN_VOXELS)
    pooled = float(np.median(spread[pooled_from if pooled_from.any() else filled])) if filled.any() else 0.0
    result = np.full(size, np.nan)
    result[filled] = factor * np.maximum(spread[filled], pooled) / np.sqrt(counts[filled])
    return result.reshape(n_rows, N_ANGULAR_BINS)


def mid_depth_standard_error(rows, cols, values, depth, n_rows: int, depth_margin: float) -> np.ndarray:
    """:func:`cell_standard_error` of :func:`mid_depth_cell_median`: from the same voxels its median used."""
    return _mid_depth(lambda *cells: cell_standard_error(*cells, "median"), rows, cols, values, depth, n_rows,
                      depth_margin)


def mid_depth_cell_median(rows, cols, values, depth, n_rows: int, depth_margin: float) -> np.ndarray:
    """Per-cell median of ``values`` over the voxels away from both cartilage surfaces; NaN in empty cells.

    ``depth`` is each voxel's normalised depth (0 at the bone, 1 at the articular surface; NaN
    unknown). Only voxels with ``depth_margin <= depth <= 1 - depth_margin`` enter a cell's
    median: the voxels at the two surfaces mix cartilage with bone (low apparent T2) or fluid
    (high apparent T2), and how many of them a cell holds changes whenever the slices fall
    differently on the knee. A cell with no voxel in that band (cartilage one or two voxels thick,
    unknown depth) takes the median of all its voxels, so the map covers the same cells as the
    plain median.
    """
    return _mid_depth(lambda *cells: cell_statistic(*cells, "median"), rows, cols, values, depth, n_rows,
                      depth_margin)


def _mid_depth(per_cell, rows, cols, values, depth, n_rows: int, depth_margin: float) -> np.ndarray:
    """``per_cell(rows, cols, values, n_rows)`` over the voxels in the depth band, over all of a cell's voxels
    where it has none there."""
    rows, cols = np.asarray(rows), np.asarray(cols)
    values, depth = np.asarray(values, dtype=np.float64), np.asarray(depth, dtype=np.float64)
    middle = np.isfinite(depth) & (depth >= depth_margin) & (depth <= 1.0 - depth_margin)
    away_from_surfaces = per_cell(rows[middle], cols[middle], values[middle], n_rows)
    every_voxel = per_cell(rows, cols, values, n_rows)
    return np.where(np.isfinite(away_from_surfaces), away_from_surfaces, every_voxel)
