"""Reference mode: the subregions as the primary paper's code defines them.

* One least-squares circle fitted to the sagittal maximum-intensity
  projection of the whole cartilage (one cylinder, axis M-L).
* Each M-L row (slice) unrolled around that centre in 5-degree bins
  (72 columns); angle 0 points inferior, central is (-30, +30] degrees,
  anterior and posterior on either side (all from the image geometry).
* Deep/superficial per (row, bin): split at half of the radial extent of
  the voxels in that cell, deep nearer the centre.
* Thickness: not part of the paper's results; measured as in improved mode
  (along the surface normal, in mm, see :mod:`thickness`) so both modes
  report the same physical quantity.

Deliberate differences from the reference code, each a correction:
the circle is fitted in mm rather than pixels; medial/lateral comes from the
geometry and the knee side rather than "slice 0 is lateral", and the split is
at the mid-point of the cartilage's M-L extent (voxels exactly on it count as
lateral), where the code used the median slice of the anterior cartilage for
the anterior sector and the middle slice of the volume for the others.
The code also dropped voxels with T2 above 100 ms before everything; here the
geometry comes from the mask alone (the reference T2 rule belongs to the
segmentation refinement upstream) and T2 statistics use voxels with T2 > 0.
"""

from __future__ import annotations

import numpy as np

from .orientation import KneeOrientation
from .projection import (
    KneeCoordinates,
    angular_bins,
    cell_statistic,
    fit_circle,
    polar_coordinates,
    row_indices,
    sagittal_mip_points,
)
from .region_definitions import RegionPartition, lateral_side, sector_of_bins
from .thickness import cell_mean_thickness, normal_thickness

DEEP_FRACTION = 0.5


def reference_partition(
    coordinates: KneeCoordinates, mask: np.ndarray, ijk_to_ras: np.ndarray, orientation: KneeOrientation
) -> RegionPartition:
    """Assign every cartilage voxel to its reference-mode cell, side, sector and layer."""
    circle = fit_circle(*sagittal_mip_points(coordinates))
    angle, radius = polar_coordinates(coordinates.anterior_mm, coordinates.superior_mm, circle.anterior_mm, circle.superior_mm)
    cols = angular_bins(angle)
    rows, row_start = row_indices(coordinates)
    n_rows = int(rows.max()) + 1
    is_deep = split_layers_radially(rows, cols, radius, n_rows)
    boundary = 0.5 * (float(coordinates.lateral_mm.min()) + float(coordinates.lateral_mm.max()))
    surface = normal_thickness(mask, ijk_to_ras, orientation, coordinates.indices_kji, circle.anterior_mm, circle.superior_mm)
    return RegionPartition(
        coordinates=coordinates,
        rows=rows,
        cols=cols,
        angle_deg=angle,
        radius_mm=radius,
        is_lateral=lateral_side(coordinates.lateral_mm, boundary),
        sector=sector_of_bins(cols),
        is_deep=is_deep,
        n_rows=n_rows,
        row_start_mm=row_start,
        ml_boundary_mm=boundary,
        cell_thickness_mm=cell_mean_thickness(rows, cols, n_rows, surface),
        nominal_radius_mm=circle.radius_mm,
        circles={"global": circle},
        method={
            "ml_split": "mid-point of the cartilage M-L extent",
            "sectors": "fixed angles around one circle: central (-30, +30] deg, 0 = inferior",
            "layers": "half of the radial extent per (row, 5-degree bin)",
            "thickness": "3D distance from each bone-side surface point to the articular surface (mm)",
        },
    )


def split_layers_radially(rows, cols, radius_mm, n_rows: int, fraction: float = DEEP_FRACTION) -> np.ndarray:
    """Deep (True) when a voxel's radius is at most min + fraction * (max - min) of its cell."""
    nearest = cell_statistic(rows, cols, radius_mm, n_rows, "min")[rows, cols]
    farthest = cell_statistic(rows, cols, radius_mm, n_rows, "max")[rows, cols]
    return radius_mm <= nearest + fraction * (farthest - nearest) + 1e-6
