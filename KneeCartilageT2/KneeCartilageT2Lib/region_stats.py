"""The 27 regional numbers: size, T2 and thickness per region, and the projection maps.

Voxel count and volume come from the cartilage mask. T2 statistics use only
voxels with a valid T2 (finite and > 0 ms), so voxels where the fit failed
do not pull the means down. When the fit's per-voxel status is known
(:mod:`.t2_status`), the cartilage voxels without a valid T2 are split by
reason: ``n_t2_no_fit`` (no signal above the noise, the fit failed, or the
voxel lay outside the fitted mask) and
``n_t2_out_of_range`` (fitted, but T2 outside the valid range: above it,
usually fluid sharing the voxel); both are empty (None) when it is not known. Thickness describes the whole plate at a
location, so a region's thickness is taken over the projection cells (one
M-L row x 5 degrees, roughly equal surface areas) that the region occupies:
the mean and the maximum of the per-cell thickness. Deep and superficial
layers share the plate thickness of their cells.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from .projection import N_ANGULAR_BINS, ProjectionMap, bin_centre_angles_deg, cell_statistic
from .region_definitions import REGION_ORDER, RegionPartition, compartment_codes, region_members
from .t2_status import ABOVE_RANGE, BELOW_RANGE, FIT_FAILED, NO_SIGNAL, NOT_FITTED

ROW_KEYS = (
    "region", "mode", "n_voxels", "n_t2_voxels", "volume_mm3", "t2_mean_ms", "t2_median_ms", "t2_sd_ms",
    "thickness_mean_mm", "thickness_max_mm", "n_t2_no_fit", "n_t2_out_of_range",
)


def valid_t2(t2_values: np.ndarray) -> np.ndarray:
    """True where a T2 value can be used (finite and > 0 ms)."""
    values = np.asarray(t2_values, dtype=np.float64)
    return np.isfinite(values) & (values > 0)


def region_rows(partition: RegionPartition, t2_values: np.ndarray, voxel_volume_mm3: float, mode: str,
                status_values: Optional[np.ndarray] = None) -> List[dict]:
    """One dict per region in :data:`REGION_ORDER` with the keys in :data:`ROW_KEYS`.

    ``t2_values`` (ms) and ``status_values`` (:mod:`.t2_status` codes, or None when not known) hold
    one entry per cartilage voxel, in the partition's voxel order.
    """
    t2_values = np.asarray(t2_values, dtype=np.float64)
    usable = valid_t2(t2_values)
    no_fit = out_of_range = None
    if status_values is not None:
        status_values = np.asarray(status_values)
        no_fit = ~usable & np.isin(status_values, (NOT_FITTED, NO_SIGNAL, FIT_FAILED))
        out_of_range = ~usable & np.isin(status_values, (BELOW_RANGE, ABOVE_RANGE))
    flat_cells = partition.rows * N_ANGULAR_BINS + partition.cols
    cell_thickness = partition.cell_thickness_mm.reshape(-1)
    rows = []
    for name in REGION_ORDER:
        members = region_members(name, partition.is_lateral, partition.sector, partition.is_deep)
        values = t2_values[members & usable]
        thickness = cell_thickness[np.unique(flat_cells[members])]
        thickness = thickness[np.isfinite(thickness)]
        rows.append(
            {
                "region": name,
                "mode": mode,
                "n_voxels": int(members.sum()),
                "n_t2_voxels": int(values.size),
                "volume_mm3": float(members.sum() * voxel_volume_mm3),
                "t2_mean_ms": _or_nan(np.mean, values),
                "t2_median_ms": _or_nan(np.median, values),
                "t2_sd_ms": float(np.std(values, ddof=1)) if values.size > 1 else float("nan"),
                "thickness_mean_mm": _or_nan(np.mean, thickness),
                "thickness_max_mm": _or_nan(np.max, thickness),
                "n_t2_no_fit": None if no_fit is None else int(np.count_nonzero(members & no_fit)),
                "n_t2_out_of_range": None if out_of_range is None else int(np.count_nonzero(members & out_of_range)),
            }
        )
    return rows


def t2_voxel_count(row: dict) -> int:
    """The voxels a row's T2 figures come from (its voxel count for rows written before ``n_t2_voxels``)."""
    return int(row.get("n_t2_voxels", row["n_voxels"]))


def t2_voxels_differ(rows) -> bool:
    """True when some row's T2 comes from fewer voxels than its voxel count (cartilage without valid T2).

    Printed tables and the figure add a T2 voxel column only then, so the
    ordinary table (every cartilage voxel has a T2) stays as it was.
    """
    return any(t2_voxel_count(row) != int(row["n_voxels"]) for row in rows)


def projection_maps(partition: RegionPartition, t2_values: np.ndarray) -> Dict[str, ProjectionMap]:
    """T2 (all, deep, superficial), thickness and compartment maps on the unrolled surface."""
    t2_values = np.asarray(t2_values, dtype=np.float64)
    usable = valid_t2(t2_values)
    rows, cols, n_rows = partition.rows, partition.cols, partition.n_rows
    arrays = {
        "t2": _mean_map(rows, cols, t2_values, usable, n_rows),
        "t2_deep": _mean_map(rows, cols, t2_values, usable & partition.is_deep, n_rows),
        "t2_superficial": _mean_map(rows, cols, t2_values, usable & ~partition.is_deep, n_rows),
        "thickness": partition.cell_thickness_mm.copy(),
        "regions": _compartment_map(partition),
    }
    units = {"t2": "ms", "t2_deep": "ms", "t2_superficial": "ms", "thickness": "mm", "regions": "label"}
    angles = bin_centre_angles_deg()
    return {
        name: ProjectionMap(
            array=array,
            row_positions_mm=partition.row_positions_mm(),
            col_positions_mm=np.radians(angles) * partition.nominal_radius_mm,
            name=name,
            unit=units[name],
            col_angles_deg=angles,
        )
        for name, array in arrays.items()
    }


def _mean_map(rows, cols, values, selection, n_rows: int) -> np.ndarray:
    if not np.any(selection):
        return np.full((n_rows, N_ANGULAR_BINS), np.nan)
    return cell_statistic(rows[selection], cols[selection], values[selection], n_rows, "mean")


def _compartment_map(partition: RegionPartition) -> np.ndarray:
    codes = np.zeros((partition.n_rows, N_ANGULAR_BINS))
    codes[partition.rows, partition.cols] = compartment_codes(partition.is_lateral, partition.sector)
    return codes


def _or_nan(function, values: np.ndarray) -> float:
    return float(function(values)) if values.size else float("nan")
