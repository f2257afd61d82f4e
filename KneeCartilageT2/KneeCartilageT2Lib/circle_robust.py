"""A condyle circle that a stray blob in the segmentation cannot drag away.

The improved regions fit circles to the sagittal projection of the femoral
cartilage (:func:`projection.fit_circle`, least squares). On clean masks the
projected points lie within 10 mm of their least-squares circle (at most
10.0 mm on 8 phantoms of both anatomies and protocols; rms 2-3 mm, the
condyles are not perfect circles). A false-positive blob far from the
condyle breaks that: on the real GE exam the bootstrap model marked soft
tissue by the tibial tuberosity, 45 mm below the medial condyle, and the
least-squares medial circle grew to a 76 mm radius, which put the whole
medial plate in the anterior sector.

:func:`robust_circle` therefore keeps the least-squares circle whenever every
point lies within ``OUTLIER_RESIDUAL_MM`` (12 mm) of it, so clean masks get
exactly the same circle as before. Otherwise it finds the circle most points
agree with (a seeded random-sample consensus: circles through three points,
radius 8-60 mm, points within 4 mm counted), refits by least squares to the
points within 12 mm of it until that set stops changing, and reports how many
points it left out.

It serves the per-condyle circles of the improved regions. The global circle
(one circle through the whole plate, used to find the notch and the facets
the condyle circles are fitted to) stays plain least squares: on a messy
segmentation the consensus there picks the longest nearly flat strip, which
is worse than the average that least squares gives.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from .projection import Circle, fit_circle

OUTLIER_RESIDUAL_MM = 12.0
CONSENSUS_TOLERANCE_MM = 4.0
RADIUS_RANGE_MM = (8.0, 60.0)
CONSENSUS_SAMPLES = 400
MAX_REFITS = 10


def robust_circle(anterior_mm: np.ndarray, superior_mm: np.ndarray, seed: int = 0) -> Tuple[Circle, int]:
    """(circle, number of points left out of its fit) for sagittal points in mm; see the module docstring."""
    x = np.asarray(anterior_mm, dtype=np.float64)
    y = np.asarray(superior_mm, dtype=np.float64)
    circle = fit_circle(x, y)
    if _residuals(circle, x, y).max() <= OUTLIER_RESIDUAL_MM:
        return circle, 0
    consensus = _consensus_circle(x, y, seed)
    if consensus is None:
        return circle, 0
    kept = _residuals(consensus, x, y) <= CONSENSUS_TOLERANCE_MM
    for _ in range(MAX_REFITS):
        if kept.sum() < 3:
            return circle, 0
        circle = fit_circle(x[kept], y[kept])
        within = _residuals(circle, x, y) <= OUTLIER_RESIDUAL_MM
        if np.array_equal(within, kept):
            break
        kept = within
    return circle, int((~kept).sum())


def _residuals(circle: Circle, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.abs(np.hypot(x - circle.anterior_mm, y - circle.superior_mm) - circle.radius_mm)


def _consensus_circle(x: np.ndarray, y: np.ndarray, seed: int):
    """The circle through three of the points that most points lie near (None if no sample qualifies)."""
    rng = np.random.default_rng(seed)
    best, best_count = None, -1
    for _ in range(CONSENSUS_SAMPLES):
        picks = rng.choice(x.size, size=3, replace=False)
        through = _circle_through(x[picks], y[picks])
        if through is None or not RADIUS_RANGE_MM[0] <= through.radius_mm <= RADIUS_RANGE_MM[1]:
            continue
        count = int((_residuals(through, x, y) <= CONSENSUS_TOLERANCE_MM).sum())
        if count > best_count:
            best, best_count = through, count
    return best


def _circle_through(x: np.ndarray, y: np.ndarray):
    """The circle through three points (None when they are (nearly) collinear)."""
    (x1, x2, x3), (y1, y2, y3) = x, y
    determinant = 2.0 * (x1 * (y2 - y3) + x2 * (y3 - y1) + x3 * (y1 - y2))
    if abs(determinant) < 1e-9:
        return None
    square = np.array([x1 * x1 + y1 * y1, x2 * x2 + y2 * y2, x3 * x3 + y3 * y3])
    centre_x = (square[0] * (y2 - y3) + square[1] * (y3 - y1) + square[2] * (y1 - y2)) / determinant
    centre_y = (square[0] * (x3 - x2) + square[1] * (x1 - x3) + square[2] * (x2 - x1)) / determinant
    return Circle(float(centre_x), float(centre_y), float(np.hypot(x1 - centre_x, y1 - centre_y)), 0.0, 3)
