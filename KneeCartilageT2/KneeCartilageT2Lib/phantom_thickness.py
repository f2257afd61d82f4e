"""Smooth random change of the femoral cartilage thickness of a phantom's anatomy.

One real label map has one cartilage thickness pattern and one annotator's
idea of where the cartilage ends at the condyle margins. A network trained on
phantoms of it learns that pattern. Knees differ: femoral cartilage is about
1.5-3 mm thick, thicker or thinner by region, and at the medial and lateral
margins it wraps further or less far round the condyle. This module varies
the thickness per case with a smooth random field ``f(x)`` (mm, within
``+-amplitude``, wavelengths 15-60 mm), applied in the anatomy's own space
before the slice grid samples it:

* where ``f > 0`` the cartilage grows by ``f`` into the soft tissue and fluid
  that touch its articular surface and margins (never into bone, menisci or
  another cartilage);
* where ``f < 0`` the superficial part within ``|f|`` of the articular surface
  becomes joint fluid, limited to the superficial half of the cartilage so
  the plate never breaks up.

The normalised depth (0 at the bone, 1 at the articular surface) that sets
the deep-to-superficial T2 rise is recomputed for the changed cartilage.
Arrays are ``(k, j, i)`` on the anatomy grid; distances are in mm.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

import numpy as np

from . import phantom_tissues as T
from .geometry import spacing_from_matrix, voxel_centers_ras
from .phantom_anatomy import bounding_box, normalised_cartilage_depth
from .phantom_fields import random_cosine_field

GROWABLE_TISSUES = (T.AIR, T.MUSCLE, T.SUBCUTANEOUS_FAT, T.ARTICULAR_FAT, T.JOINT_FLUID, T.TENDON)
MIN_WAVELENGTH_MM = 15.0
MAX_WAVELENGTH_MM = 60.0
MAX_AMPLITUDE_MM = 1.5


def vary_femoral_thickness(tissues: np.ndarray, depth: np.ndarray, matrix: np.ndarray, amplitude_mm: float,
                           rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, Dict[str, Any]]:
    """New (tissues, depth) with the femoral cartilage thickness changed by a random field.

    Args:
        tissues: uint8 tissue labels (k, j, i) (:mod:`phantom_tissues`); not modified.
        depth: float32 normalised cartilage depth (k, j, i); not modified.
        matrix: the anatomy's ijk-to-RAS matrix (4x4, mm); the field lives in RAS.
        amplitude_mm: largest thickness change (mm), at most ``MAX_AMPLITUDE_MM``.
        rng: the random stream that draws the field.

    Returns:
        the new tissues and depth (copies) and a description of what was drawn and changed.
    """
    if not 0.0 <= amplitude_mm <= MAX_AMPLITUDE_MM:
        raise ValueError("thickness amplitude must be in [0, %g] mm, got %g" % (MAX_AMPLITUDE_MM, amplitude_mm))
    femoral = tissues == T.FEMORAL_CARTILAGE
    if amplitude_mm == 0.0 or not femoral.any():
        return tissues, depth, {"amplitude_mm": float(amplitude_mm)}
    from scipy import ndimage

    spacing_kji = spacing_from_matrix(matrix)[::-1]
    box = bounding_box(femoral, np.ceil((amplitude_mm + 2.0) / spacing_kji).astype(int))
    sub_tissues = tissues[box]
    cartilage = femoral[box]
    outside = ndimage.distance_transform_edt(~cartilage, sampling=spacing_kji)
    # the field only matters in the cartilage and where it could grow: evaluate it there alone
    reachable = cartilage | ((outside <= amplitude_mm) & np.isin(sub_tissues, GROWABLE_TISSUES))
    offset = np.array([s.start for s in box])
    centre = voxel_centers_ras(matrix, np.argwhere(femoral).mean(axis=0, keepdims=True))[0]
    field_function = random_cosine_field(rng, amplitude_mm, centre, MIN_WAVELENGTH_MM, MAX_WAVELENGTH_MM)
    change = np.zeros(cartilage.shape, dtype=np.float32)
    change[reachable] = field_function(voxel_centers_ras(matrix, np.argwhere(reachable) + offset))

    grow = (change > 0) & (outside <= change) & ~cartilage
    bone = np.isin(sub_tissues, (T.FEMUR, T.CORTICAL_BONE))
    surface_distance = ndimage.distance_transform_edt(cartilage | bone, sampling=spacing_kji)
    shrink = cartilage & (change < 0) & (surface_distance <= -change) & (depth[box] > 0.5)

    new_tissues = tissues.copy()
    new_sub = new_tissues[box]
    new_sub[grow] = T.FEMORAL_CARTILAGE
    new_sub[shrink] = T.JOINT_FLUID
    new_depth = depth.copy()
    new_depth[box] = np.where(new_sub == T.FEMORAL_CARTILAGE,
                              normalised_cartilage_depth(new_sub, T.FEMORAL_CARTILAGE, T.FEMUR, spacing_kji), depth[box])
    spacing_volume = float(np.prod(spacing_kji))
    info = {"amplitude_mm": float(amplitude_mm), "field": field_function.to_dict(),
            "grown_ml": round(float(grow.sum()) * spacing_volume / 1000.0, 3),
            "removed_ml": round(float(shrink.sum()) * spacing_volume / 1000.0, 3)}
    return new_tissues, new_depth, info

