"""A focal lesion's area corrected for the partly covered projection cells at its edge.

A lesion cluster's footprint (``LesionCluster.area_mm2``, the published
measure) counts every 1 mm pixel above the threshold as wholly raised. The
pixels copy the projection cells they lie in, and a cell is coarse: one slice
(3 mm thick, 4 mm apart on the GE protocol) by 5 degrees of arc (about 2.5 mm).
A lesion's edge crosses cells, so its rim cells are only partly raised: their
increase is a fraction of the lesion's, and whether each one passes the
threshold decides the footprint by a whole cell. For a lesion of 5 mm radius
(8-12 cells) that alone moves the footprint by 20-40 %.

The coverage area weighs each pixel by how much of the lesion's increase it
shows instead of counting it 0 or 1:

    coverage area = pixel area x sum over pixels of clip(delta / core, 0, 1)

over the cluster's pixels and the pixels of a rim around it (inside the
analysed plate, not in another cluster), where ``core`` is the
``core_percentile`` percentile of the cluster's increases (the level of its
wholly covered cells). Rim pixels below the threshold still hold part of the
lesion; pixels in the cluster with a small increase hold less than a whole
pixel of it. Arrays are (rows, cols) = (medial-lateral, arc) on the common grid.

The rim is one projection cell wide in each direction by default (rows: the
slice spacing, 4 mm on the GE protocol; columns: one arc bin, about 3 mm), so
that every cell beside the cluster counts with its share, however the cluster's
edge falls. A rim of 2 mm in both directions (the former default) reached only
half of a neighbouring slice's cell: a partly raised slice beside the lesion
then counted by half, and lesions read about 7 % small once the cell-error gate
(``LesionParameters.min_cell_z``) left more of their partly raised cells out of
the cluster.
"""

from __future__ import annotations

from typing import Tuple, Union

import numpy as np
from scipy import ndimage

CORE_PERCENTILE = 75.0  # percentile of the cluster's increases taken as "wholly covered" (%)
RIM_MM = 2.0  # a rim of this width in both directions when no cell size is given (mm)


def coverage_area_mm2(cluster_pixels: np.ndarray, difference_ms: np.ndarray, plate: np.ndarray,
                      other_clusters: np.ndarray, pixel_mm: float, core_percentile: float = CORE_PERCENTILE,
                      rim_mm: Union[float, Tuple[float, float]] = RIM_MM) -> float:
    """Partial-coverage area (mm^2) of one cluster (module docstring).

    Args:
        cluster_pixels: bool (rows, cols), the cluster.
        difference_ms: follow-up - baseline T2 (ms), NaN where either visit has no cartilage.
        plate: bool, the analysed plate (rim pixels outside it are not counted).
        other_clusters: bool, pixels of the other clusters (never counted in this one's rim).
        pixel_mm: grid pixel size (mm).
        rim_mm: width of the rim (mm): one value for both directions, or (rows, cols), e.g. one
            projection cell (:func:`lesion_grid.cell_size_mm`).
    """
    values = difference_ms[cluster_pixels]
    if values.size == 0:
        return 0.0
    core = float(np.percentile(values, core_percentile))
    if not core > 0:
        return float(values.size) * pixel_mm ** 2
    rim_rows_mm, rim_cols_mm = (rim_mm, rim_mm) if np.isscalar(rim_mm) else rim_mm
    rim_rows, rim_cols = int(round(rim_rows_mm / pixel_mm)), int(round(rim_cols_mm / pixel_mm))
    region = cluster_pixels.copy()
    if rim_rows > 0 or rim_cols > 0:
        grown = ndimage.binary_dilation(cluster_pixels, structure=np.ones((2 * rim_rows + 1, 2 * rim_cols + 1), bool))
        region |= grown & plate & ~other_clusters & np.isfinite(difference_ms)
    weights = np.clip(np.nan_to_num(difference_ms[region], nan=0.0) / core, 0.0, 1.0)
    return float(weights.sum()) * pixel_mm ** 2
