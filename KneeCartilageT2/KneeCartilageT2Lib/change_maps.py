"""Projection maps of two visits on one grid, and lesion clusters carried back to 3D.

Pixel-wise change needs both visits' T2 maps unrolled with *the same*
geometry. After the follow-up has been registered onto the baseline
(:mod:`registration`), its own voxels (no resampling) are placed in the
baseline frame and unrolled with the baseline's knee frame, medial/lateral boundary and condyle circle(s)
(from the baseline :class:`~regions.RegionAnalysis`) rather than with circles
fitted again to the follow-up, so that a cell of the map is the same patch
of the condyle at both visits. Each visit keeps its own segmentation: the
follow-up map shows the follow-up cartilage, and the lesion analysis uses
the overlap of the two.

The unrolling repeats, for any set of voxels, exactly what the region
read-out does for the baseline cartilage (:mod:`projection`,
:mod:`regions_improved`, :mod:`regions_reference`): rows are M-L bins of
the baseline's row spacing counted from the baseline's first row, columns
are 5-degree bins around the condyle circle of the voxel's side (improved
mode) or the single circle (reference mode).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from .errors import InputError
from .geometry import Volume
from .projection import (
    N_ANGULAR_BINS,
    ProjectionMap,
    angular_bins,
    bin_centre_angles_deg,
    cell_standard_error,
    cell_statistic,
    knee_coordinates,
    mid_depth_cell_median,
    mid_depth_standard_error,
    polar_coordinates,
)
from .region_definitions import lateral_side
from .thickness import normal_thickness


@dataclass
class MapGeometry:
    """How cartilage voxels of the baseline grid are placed on the baseline projection grid.

    Attributes:
        ijk_to_ras: the baseline grid (mm).
        orientation: the baseline knee's directions (:class:`~orientation.KneeOrientation`).
        ml_boundary_mm: lateral coordinate (mm) of the medial/lateral boundary.
        centres: ``{"lateral": (anterior_mm, superior_mm), "medial": (...)}``: the circle centre
            used for voxels on each side.
        nominal_radius_mm: converts angles to arc length (mm).
        row_positions_mm: M-L position of each baseline map row (mm from the boundary).
        row_spacing_mm: M-L bin width (mm).
    """

    ijk_to_ras: np.ndarray
    orientation: object
    ml_boundary_mm: float
    centres: Dict[str, Tuple[float, float]]
    nominal_radius_mm: float
    row_positions_mm: np.ndarray
    row_spacing_mm: float

    @property
    def n_rows(self) -> int:
        return int(self.row_positions_mm.size)

    def col_positions_mm(self) -> np.ndarray:
        return np.radians(bin_centre_angles_deg()) * self.nominal_radius_mm


def geometry_from_analysis(analysis, ijk_to_ras: np.ndarray) -> MapGeometry:
    """The :class:`MapGeometry` of a baseline :class:`~regions.RegionAnalysis` on its grid."""
    details = analysis.details
    circles = details.get("circles", {})
    if "global" not in circles:
        raise InputError("The baseline region analysis has no fitted circle; re-run the regional read-out.")
    centres = {}
    for side in ("lateral", "medial"):
        circle = circles.get(side, circles["global"]) if analysis.mode == "improved" else circles["global"]
        centres[side] = (float(circle["anterior_mm"]), float(circle["superior_mm"]))
    t2_map = analysis.projections["t2"]
    return MapGeometry(
        ijk_to_ras=np.asarray(ijk_to_ras, dtype=np.float64),
        orientation=analysis.orientation,
        ml_boundary_mm=float(details["ml_boundary_lateral_mm"]),
        centres=centres,
        nominal_radius_mm=float(details["nominal_radius_mm"]),
        row_positions_mm=np.asarray(t2_map.row_positions_mm, dtype=np.float64),
        row_spacing_mm=float(details["row_spacing_mm"]),
    )


def _placed_voxels(geometry: MapGeometry, mask: np.ndarray, ijk_to_ras: Optional[np.ndarray]):
    """Knee-frame coordinates of the voxels of ``mask`` and each voxel's condyle centre (mm)."""
    matrix = geometry.ijk_to_ras if ijk_to_ras is None else np.asarray(ijk_to_ras, dtype=np.float64)
    coordinates = knee_coordinates(mask, matrix, geometry.orientation)
    is_lateral = lateral_side(coordinates.lateral_mm, geometry.ml_boundary_mm)
    centre_a = np.where(is_lateral, geometry.centres["lateral"][0], geometry.centres["medial"][0])
    centre_s = np.where(is_lateral, geometry.centres["lateral"][1], geometry.centres["medial"][1])
    return matrix, coordinates, centre_a, centre_s


def _cells_of(geometry: MapGeometry, coordinates, centre_a, centre_s):
    """Map row (-1 outside the baseline rows), column, M-L mm and arc mm of placed voxels."""
    angle, _ = polar_coordinates(coordinates.anterior_mm, coordinates.superior_mm, centre_a, centre_s)
    ml_mm = coordinates.lateral_mm - geometry.ml_boundary_mm
    rows = np.rint((ml_mm - geometry.row_positions_mm[0]) / geometry.row_spacing_mm).astype(np.int64)
    rows[(rows < 0) | (rows >= geometry.n_rows)] = -1
    arc_mm = np.radians(angle) * geometry.nominal_radius_mm
    return rows, angular_bins(angle), ml_mm, arc_mm


def _depth_of(geometry: MapGeometry, mask: np.ndarray, matrix: np.ndarray, coordinates, centre_a, centre_s):
    """Normalised depth of placed voxels from the mask's own surfaces (NaN where they are not told apart)."""
    surface = normal_thickness(mask, matrix, geometry.orientation, coordinates.indices_kji, centre_a, centre_s)
    return np.asarray(surface.voxel_depth, dtype=np.float64)


def voxel_cells(geometry: MapGeometry, mask: np.ndarray, ijk_to_ras: Optional[np.ndarray] = None):
    """Voxel indices ``(N, 3)`` (k, j, i) of ``mask`` and their map row, column and M-L / arc mm.

    ``ijk_to_ras`` places the mask's grid in the baseline's physical frame (default: the baseline
    grid itself); a registered follow-up passes its own grid moved onto the baseline, so its
    voxels are unrolled where they lie without any resampling. Rows outside the baseline's rows
    are returned as -1 (no baseline cell there).
    """
    _, coordinates, centre_a, centre_s = _placed_voxels(geometry, mask, ijk_to_ras)
    return (coordinates.indices_kji,) + _cells_of(geometry, coordinates, centre_a, centre_s)


def voxel_depth(geometry: MapGeometry, mask: np.ndarray, ijk_to_ras: Optional[np.ndarray] = None) -> np.ndarray:
    """Normalised depth of each voxel of ``mask`` (0 at the bone, 1 at the articular surface), in the
    order of :func:`voxel_cells`; NaN when the two surfaces could not be told apart.

    The surfaces are the mask's own (:func:`thickness.normal_thickness`), faces told apart by the
    baseline's condyle circles, so each visit's depth comes from its own cartilage.
    """
    matrix, coordinates, centre_a, centre_s = _placed_voxels(geometry, mask, ijk_to_ras)
    return _depth_of(geometry, mask, matrix, coordinates, centre_a, centre_s)


def project_t2(geometry: MapGeometry, mask: np.ndarray, t2_ms: np.ndarray, name: str = "t2",
               ijk_to_ras: Optional[np.ndarray] = None, statistic: str = "mean",
               depth_margin: float = 0.15) -> ProjectionMap:
    """T2 (ms) per baseline map cell from the voxels of ``mask`` with valid T2 (> 0, finite).

    ``statistic``: ``"mean"`` (the published method), ``"median"``, or ``"mid-depth-median"``:
    the median of the voxels at normalised depth ``[depth_margin, 1 - depth_margin]``
    (:func:`projection.mid_depth_cell_median`, depth as in :func:`voxel_depth`). The median and,
    more so, the mid-depth band leave out the partial-volume voxels at the cartilage surfaces,
    whose number in a cell changes with the slice placement (see :class:`~lesions.LesionParameters`).
    ``mask`` and ``t2_ms`` share one grid, placed in the baseline frame by ``ijk_to_ras``
    (default: the baseline grid), see :func:`voxel_cells`.
    """
    if not np.any(mask):
        raise InputError("The %s cartilage is empty: nothing to project." % name)
    matrix, coordinates, centre_a, centre_s = _placed_voxels(geometry, mask, ijk_to_ras)
    rows, cols, _, _ = _cells_of(geometry, coordinates, centre_a, centre_s)
    values = np.asarray(t2_ms, dtype=np.float64)[tuple(coordinates.indices_kji.T)]
    usable = (rows >= 0) & np.isfinite(values) & (values > 0)
    if not usable.any():
        array = error = np.full((geometry.n_rows, N_ANGULAR_BINS), np.nan)
    elif statistic == "mid-depth-median":
        depth = _depth_of(geometry, mask, matrix, coordinates, centre_a, centre_s)
        cells = (rows[usable], cols[usable], values[usable], depth[usable], geometry.n_rows, depth_margin)
        array, error = mid_depth_cell_median(*cells), mid_depth_standard_error(*cells)
    else:
        cells = (rows[usable], cols[usable], values[usable], geometry.n_rows, statistic)
        array, error = cell_statistic(*cells), cell_standard_error(*cells)
    return ProjectionMap(array, geometry.row_positions_mm.copy(), geometry.col_positions_mm(), name, "ms",
                         bin_centre_angles_deg(), standard_error=error)


def back_project_clusters(geometry: MapGeometry, mask: np.ndarray, lesions) -> Volume:
    """3D cluster label map on the baseline grid: each baseline cartilage voxel takes the cluster
    label of the lesion-grid pixel nearest to its (M-L mm, arc mm) position (0 = none).

    ``lesions`` is a :class:`~lesions.LesionResult` computed on maps made with this geometry.
    """
    labels = np.zeros(np.shape(mask), dtype=np.uint8)
    if not np.any(mask) or not lesions.clusters:
        return Volume(labels, geometry.ijk_to_ras.copy())
    indices, _, _, ml_mm, arc_mm = voxel_cells(geometry, mask)
    rows, cols = lesions.row_positions_mm, lesions.col_positions_mm
    step = float(lesions.parameters.pixel_mm)
    row_index = np.rint((ml_mm - rows[0]) / step).astype(np.int64)
    col_index = np.rint((arc_mm - cols[0]) / step).astype(np.int64)
    inside = (row_index >= 0) & (row_index < rows.size) & (col_index >= 0) & (col_index < cols.size)
    values = np.zeros(indices.shape[0], dtype=np.uint8)
    values[inside] = np.minimum(lesions.cluster_labels[row_index[inside], col_index[inside]], 255)
    labels[tuple(indices.T)] = values
    return Volume(labels, geometry.ijk_to_ras.copy())
