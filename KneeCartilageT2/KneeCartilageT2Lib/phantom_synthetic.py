"""A small geometric knee label map and a small protocol, for fast tests and demos.

Real anatomy (the OAI label maps) takes tens of seconds to turn into a
phantom; this stylised right knee takes a fraction of a second yet has every
part the phantom generator needs: a femoral condyle (cylinder along
left-right) capped by a cartilage shell on its inferior-posterior side, a
tibial plateau with medial and lateral cartilage, and a patella with its
cartilage in front of the femur. Axes follow the real label maps: columns
toward posterior, rows toward inferior, slices toward the patient's right.
"""

from __future__ import annotations

import numpy as np

from . import phantom_tissues as T
from .geometry import Volume, make_ijk_to_ras
from .phantom_protocols import MeseProtocol

SYNTHETIC_AXES = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # columns: i, j, k in RAS


def synthetic_knee_labels(shape_kji=(40, 72, 72), spacing_kji=(1.0, 1.0, 1.0)) -> Volume:
    """A stylised right-knee label map (ids 1-7 as the real maps) on a ``[k, j, i]`` grid (mm spacing)."""
    n_k, n_j, n_i = shape_kji
    sk, sj, si = spacing_kji
    k, j, i = np.meshgrid(np.arange(n_k) * sk, np.arange(n_j) * sj, np.arange(n_i) * si, indexing="ij")
    centre_j, centre_i = n_j * sj * 0.40, n_i * si * 0.50
    width = n_k * sk
    inside_lr = (k > 0.15 * width) & (k < 0.85 * width)
    radius = 0.16 * n_i * si
    distance = np.hypot(j - centre_j, i - centre_i)
    labels = np.zeros(shape_kji, dtype=np.uint8)
    labels[inside_lr & (distance <= radius)] = T.FEMUR
    labels[inside_lr & (j < centre_j) & (np.abs(i - centre_i) <= 0.6 * radius)] = T.FEMUR  # shaft
    shell = inside_lr & (distance > radius) & (distance <= radius + 2.4) & ((j > centre_j - 0.3 * radius) | (i > centre_i))
    labels[shell] = T.FEMORAL_CARTILAGE
    plateau = centre_j + radius + 3.0
    tibia = inside_lr & (j >= plateau + 2.0) & (np.abs(i - centre_i) <= 1.2 * radius)
    labels[tibia] = T.TIBIA
    tibial_cartilage = inside_lr & (j >= plateau) & (j < plateau + 2.0) & (np.abs(i - centre_i) <= 0.8 * radius)
    labels[tibial_cartilage & (k < 0.5 * width)] = T.MEDIAL_TIBIAL_CARTILAGE
    labels[tibial_cartilage & (k >= 0.5 * width)] = T.LATERAL_TIBIAL_CARTILAGE
    patella_i = centre_i - radius - 7.0
    patella = (np.abs(k - 0.5 * width) < 0.2 * width) & (np.abs(j - centre_j) < 0.5 * radius) & (np.abs(i - patella_i) < 3.0)
    labels[patella] = T.PATELLA
    labels[patella & (i > patella_i + 1.5)] = T.PATELLAR_CARTILAGE
    matrix = make_ijk_to_ras(np.asarray(spacing_kji)[::-1], SYNTHETIC_AXES, (-20.0, 40.0, 40.0))
    return Volume(labels, matrix)


#: A small, fast protocol with the geometry rules of the real ones (for tests).
TINY_PROTOCOL = MeseProtocol(
    name="tiny", echo_times_ms=(10.0, 20.0, 30.0, 40.0, 50.0), tr_ms=2500.0, columns=64, rows=64,
    col_spacing_mm=1.0, row_spacing_mm=1.0, n_slices=8, slice_thickness_mm=3.0, slice_spacing_mm=4.0,
    description="small test protocol",
)
