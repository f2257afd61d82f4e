"""The common grid of a lesion analysis: two projection maps onto one physical 1 mm grid.

Projection maps are (rows, cols) = (medial-lateral, arc) arrays with their
cell-centre positions in mm (``row_positions_mm``, ``col_positions_mm``); each
visit's map has its own cells. :func:`common_grid` places a ``pixel_mm`` grid
over the overlap of both maps' axes, :func:`resample_map` puts a T2 map on it
(nearest cell, or NaN-aware bilinear interpolation that never blends empty
cells in) and :func:`resample_codes` an integer region map (nearest);
:func:`cell_size_mm` gives the size of the maps' cells.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
from scipy.interpolate import RegularGridInterpolator

from .errors import InputError


def _axes(map_) -> Sequence[np.ndarray]:
    array = np.asarray(map_.array, dtype=np.float64)
    rows = np.asarray(map_.row_positions_mm, dtype=np.float64).reshape(-1)
    cols = np.asarray(map_.col_positions_mm, dtype=np.float64).reshape(-1)
    if array.ndim != 2 or array.shape != (rows.size, cols.size):
        raise InputError(
            "A projection map of shape %s does not match its axes (%d row and %d column positions)."
            % (array.shape, rows.size, cols.size)
        )
    return array, rows, cols


def common_grid(map_a, map_b, pixel_mm: float):
    """Row and column positions (mm) of a ``pixel_mm`` grid covering the overlap of two maps' axes."""
    _, rows_a, cols_a = _axes(map_a)
    _, rows_b, cols_b = _axes(map_b)
    axes = []
    for a, b, name in ((rows_a, rows_b, "medial-lateral"), (cols_a, cols_b, "arc")):
        start, stop = max(a.min(), b.min()), min(a.max(), b.max())
        if stop - start < pixel_mm:
            raise InputError(
                "The two projections do not overlap along the %s axis (%.1f..%.1f mm vs %.1f..%.1f mm): "
                "register the follow-up onto the baseline and project both with the same geometry."
                % (name, a.min(), a.max(), b.min(), b.max())
            )
        count = int(np.floor((stop - start) / pixel_mm + 1e-9)) + 1
        offset = (stop - start - (count - 1) * pixel_mm) / 2.0
        axes.append(start + offset + pixel_mm * np.arange(count))
    return axes[0], axes[1]


def cell_size_mm(map_a, map_b) -> Tuple[float, float]:
    """The larger of two maps' projection cells, (rows, cols) in mm: the median step of each axis.

    Rows step by the slice spacing (3.5 mm on the OAI protocol, 4 mm on GE); columns by
    the arc length of one angular bin (about 2.5-3 mm). An axis with a single cell
    gives 0.
    """
    steps = []
    for axis in ("row_positions_mm", "col_positions_mm"):
        step = 0.0
        for map_ in (map_a, map_b):
            positions = np.asarray(getattr(map_, axis), dtype=np.float64).reshape(-1)
            if positions.size > 1:
                step = max(step, float(np.median(np.abs(np.diff(positions)))))
        steps.append(step)
    return steps[0], steps[1]


def _ascending(array: np.ndarray, rows: np.ndarray, cols: np.ndarray):
    if rows.size > 1 and rows[1] < rows[0]:
        rows, array = rows[::-1], array[::-1, :]
    if cols.size > 1 and cols[1] < cols[0]:
        cols, array = cols[::-1], array[:, ::-1]
    return array, rows, cols


def resample_map(map_, rows: np.ndarray, cols: np.ndarray, min_coverage: float = 0.5,
                 interpolation: str = "linear") -> np.ndarray:
    """Resample a map onto (rows, cols) mm positions, never mixing empty cells in; NaN where empty.

    Pixels that are NaN or <= 0 in the source are "no cartilage". ``"nearest"``: a target pixel
    takes the value of the source cell it falls in. ``"linear"``:
    the weighted mean of the covered source cells around it (NaN-aware bilinear), NaN when their
    interpolation weight is below ``min_coverage``.
    """
    array, src_rows, src_cols = _ascending(*_axes(map_))
    if src_rows.size < 2 or src_cols.size < 2:
        raise InputError("A projection map needs at least 2 rows and 2 columns to be resampled.")
    covered = np.isfinite(array) & (array > 0)
    if interpolation == "nearest":
        values = np.where(covered, array, np.nan)[np.ix_(_nearest_index(src_rows, rows), _nearest_index(src_cols, cols))]
        values[_outside(src_rows, rows), :] = np.nan
        values[:, _outside(src_cols, cols)] = np.nan
        return values
    points = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1)

    def interpolate(values):
        return RegularGridInterpolator((src_rows, src_cols), values, bounds_error=False, fill_value=0.0)(points)

    weight = interpolate(covered.astype(np.float64))
    total = interpolate(np.where(covered, array, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight >= min_coverage, total / np.maximum(weight, 1e-12), np.nan)


def _outside(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Target positions more than half a step beyond the first or last source position."""
    half = _half_step(source)
    return (target < source[0] - half) | (target > source[-1] + half)


def resample_codes(map_, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Nearest-neighbour resampling of an integer code map onto (rows, cols) mm positions."""
    array, src_rows, src_cols = _ascending(*_axes(map_))
    codes = np.nan_to_num(array, nan=0.0).astype(np.int64)
    result = codes[np.ix_(_nearest_index(src_rows, rows), _nearest_index(src_cols, cols))]
    result[_outside(src_rows, rows), :] = 0
    result[:, _outside(src_cols, cols)] = 0
    return result


def _half_step(positions: np.ndarray) -> float:
    return 0.5 * float(np.median(np.diff(positions))) if positions.size > 1 else 0.5


def _nearest_index(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    index = np.clip(np.searchsorted(source, target), 1, max(source.size - 1, 1))
    left = source[index - 1]
    right = source[np.minimum(index, source.size - 1)]
    return np.where(np.abs(target - left) <= np.abs(right - target), index - 1, index).clip(0, source.size - 1)
