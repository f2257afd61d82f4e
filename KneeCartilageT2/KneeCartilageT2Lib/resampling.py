"""Resampling a follow-up onto the baseline grid with a rigid transform, and writing the transform.

The transform is always given as ``baseline_to_followup_ras``: the 4x4 RAS (mm)
matrix that maps a baseline point to the same anatomical point in the
follow-up (what :func:`registration.register_rigid` returns). Resampling then
asks, for every baseline voxel centre, what the follow-up holds there.
Labels use nearest neighbour; T2 maps use normalised linear interpolation so
that voxels without a valid fit never blend into valid ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .geometry import Volume
from .volume_io import sitk_to_volume, volume_to_sitk

FLIP_RAS_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def ras_matrix_to_sitk(baseline_to_followup_ras: np.ndarray):
    """The ITK resampling transform (baseline LPS -> follow-up LPS) of a RAS 4x4 matrix."""
    import SimpleITK as sitk

    lps = FLIP_RAS_LPS @ np.asarray(baseline_to_followup_ras, dtype=np.float64) @ FLIP_RAS_LPS
    transform = sitk.AffineTransform(3)
    transform.SetMatrix(lps[:3, :3].flatten().tolist())
    transform.SetTranslation(lps[:3, 3].tolist())
    return transform


def resample_onto(volume: Volume, reference: Volume, baseline_to_followup_ras: np.ndarray,
                  interpolation: str = "linear", default: float = 0.0) -> Volume:
    """Resample a follow-up volume onto the ``reference`` (baseline) grid.

    ``interpolation`` is ``"linear"`` (images) or ``"nearest"`` (labels; keeps the label dtype).
    Points that fall outside the follow-up get ``default``.
    """
    import SimpleITK as sitk

    if interpolation not in ("linear", "nearest"):
        raise ValueError("interpolation must be 'linear' or 'nearest'")
    array = np.asarray(volume.array)
    if interpolation == "linear":
        array = array.astype(np.float64)
    image = volume_to_sitk(volume.with_array(array))
    interpolator = sitk.sitkLinear if interpolation == "linear" else sitk.sitkNearestNeighbor
    reference_image = volume_to_sitk(reference.with_array(np.zeros(np.shape(reference.array), np.uint8)))
    resampled = sitk.Resample(image, reference_image, ras_matrix_to_sitk(baseline_to_followup_ras),
                              interpolator, float(default), image.GetPixelID())
    return sitk_to_volume(resampled)


def resample_label_onto(label: Volume, reference: Volume, baseline_to_followup_ras: np.ndarray) -> Volume:
    """Nearest-neighbour resampling of a follow-up label map onto the baseline grid (0 outside)."""
    return resample_onto(label, reference, baseline_to_followup_ras, "nearest", default=0)


def resample_t2_onto(t2: Volume, reference: Volume, baseline_to_followup_ras: np.ndarray,
                     valid: Optional[np.ndarray] = None, min_weight: float = 0.5) -> Volume:
    """Linear resampling of a follow-up T2 map (ms) that never blends invalid voxels into valid ones.

    Normalised interpolation: ``T2 * w`` and ``w`` (``w`` = 1 on valid voxels, 0 elsewhere) are
    resampled separately and divided, so a baseline voxel takes the weighted mean of the valid
    follow-up voxels around it only. Voxels whose valid weight is below ``min_weight`` (mostly
    outside the follow-up's valid voxels) become NaN. ``valid`` defaults to the finite, positive
    T2 voxels.
    """
    values = np.asarray(t2.array, dtype=np.float64)
    weights = np.isfinite(values) & (values > 0) if valid is None else np.asarray(valid, dtype=bool)
    weights = weights & np.isfinite(values)
    numerator = resample_onto(t2.with_array(np.where(weights, values, 0.0)), reference, baseline_to_followup_ras)
    denominator = resample_onto(t2.with_array(weights.astype(np.float64)), reference, baseline_to_followup_ras)
    weight = denominator.array
    with np.errstate(invalid="ignore", divide="ignore"):
        result = np.where(weight >= float(min_weight), numerator.array / np.maximum(weight, 1e-12), np.nan)
    return reference.with_array(result.astype(np.float32))


def write_transform(baseline_to_followup_ras: np.ndarray, path) -> Path:
    """Write the transform as an ITK ``.tfm``.

    ITK stores the resampling transform (baseline -> follow-up points); 3D Slicer loads it as a
    linear transform that moves the follow-up onto the baseline when the follow-up is placed under it.
    """
    import SimpleITK as sitk

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteTransform(ras_matrix_to_sitk(baseline_to_followup_ras), str(path))
    return path
