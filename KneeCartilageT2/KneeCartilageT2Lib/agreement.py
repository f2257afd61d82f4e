"""Agreement between two or more segmentations of the same scan: overlap, boundaries, STAPLE.

Used to compare the model with a reader, or readers with each other (the
paper's Table 2: Dice 0.85 model vs Reader 1, 0.74 Reader 2 vs Reader 1).

Definitions (masks are boolean ``(slice, row, col)`` arrays on one grid; distances
use the real, possibly anisotropic, voxel spacing in mm):

* Dice = 2 |A n B| / (|A| + |B|); Jaccard = |A n B| / |A u B|.
* Surface voxels of a mask: its voxels with at least one 6-connected neighbour
  outside it (voxels on the image border count as surface). The distance from a
  surface voxel of A to B's surface is the Euclidean distance (mm) between voxel
  centres, computed exactly with a distance transform.
* Hausdorff (maximum) = the largest such distance in either direction.
* HD95 = max(95th percentile of A->B distances, 95th percentile of B->A
  distances), the convention of MONAI and most challenge reports.
* Mean symmetric surface distance (MSSD, also "ASSD") = mean of all A->B and
  B->A distances pooled: (sum d(a, B) + sum d(b, A)) / (|dA| + |dB|).

When one mask is empty the overlap scores are 0 and the distances undefined
(NaN); both empty gives Dice 1 and distances 0.

STAPLE (Warfield et al. 2004, SimpleITK's ``STAPLEImageFilter``) estimates a
consensus from three or more segmentations and each rater's sensitivity and
specificity. It is run on the bounding box of the union of all masks (plus a
margin), so that the empty background far from the knee does not inflate
specificities; Dice, sensitivity and specificity of each rater against the
thresholded consensus (probability >= 0.5) are then measured on that box too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
from scipy import ndimage

from .errors import InputError


@dataclass
class SegmentationAgreement:
    """Overlap and boundary agreement of two masks (distances in mm)."""

    dice: float
    jaccard: float
    hausdorff_mm: float  # maximum symmetric surface distance
    hausdorff95_mm: float  # max of the two directed 95th percentiles
    mean_surface_distance_mm: float  # mean symmetric surface distance (pooled)
    volume_a_ml: float
    volume_b_ml: float
    volume_difference_percent: float  # 100 (B - A) / A

    def as_dict(self) -> Dict[str, float]:
        return asdict(self)


def dice_jaccard(mask_a: np.ndarray, mask_b: np.ndarray):
    """(Dice, Jaccard) of two boolean arrays; both empty gives (1, 1)."""
    a, b = _as_masks(mask_a, mask_b)
    intersection = float(np.logical_and(a, b).sum())
    total = float(a.sum()) + float(b.sum())
    if total == 0:
        return 1.0, 1.0
    union = total - intersection
    return 2.0 * intersection / total, intersection / union


def _as_masks(mask_a, mask_b):
    a, b = np.asarray(mask_a, dtype=bool), np.asarray(mask_b, dtype=bool)
    if a.shape != b.shape:
        raise InputError(
            "Segmentations of shapes %s and %s cannot be compared voxel by voxel: resample one onto "
            "the other's grid first." % (a.shape, b.shape)
        )
    return a, b


def surface_voxels(mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` with a face neighbour outside it (image border = outside)."""
    mask = np.asarray(mask, dtype=bool)
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0)


def directed_surface_distances(mask_from: np.ndarray, mask_to: np.ndarray, spacing_kji) -> np.ndarray:
    """Distances (mm) from every surface voxel of ``mask_from`` to the surface of ``mask_to``.

    ``spacing_kji`` is the voxel size in mm along (slice, row, col).
    """
    surface_from, surface_to = surface_voxels(mask_from), surface_voxels(mask_to)
    if not surface_to.any():
        return np.full(int(surface_from.sum()), np.inf)
    distance = ndimage.distance_transform_edt(~surface_to, sampling=np.asarray(spacing_kji, dtype=np.float64))
    return distance[surface_from]


def segmentation_agreement(mask_a: np.ndarray, mask_b: np.ndarray, spacing_kji,
                           voxel_volume_mm3: Optional[float] = None) -> SegmentationAgreement:
    """Dice, Jaccard, Hausdorff, HD95 and MSSD of two masks on one grid (spacing in mm, k/j/i).

    ``voxel_volume_mm3``: the voxel's true volume (``Volume.voxel_volume_mm3``, right on a sheared grid
    too); default the product of the spacings.
    """
    a, b = _as_masks(mask_a, mask_b)
    spacing = np.asarray(spacing_kji, dtype=np.float64)
    if spacing.shape != (a.ndim,) or np.any(spacing <= 0):
        raise InputError("Voxel spacing must be %d positive numbers (mm); got %s." % (a.ndim, spacing_kji))
    dice, jaccard = dice_jaccard(a, b)
    voxel_ml = float(voxel_volume_mm3 if voxel_volume_mm3 is not None else np.prod(spacing)) / 1000.0
    volume_a, volume_b = float(a.sum()) * voxel_ml, float(b.sum()) * voxel_ml
    hausdorff, hd95, mssd = _distances(a, b, spacing)
    difference = 100.0 * (volume_b - volume_a) / volume_a if volume_a > 0 else float("nan")
    return SegmentationAgreement(dice, jaccard, hausdorff, hd95, mssd, volume_a, volume_b, difference)


def _distances(a: np.ndarray, b: np.ndarray, spacing: np.ndarray):
    if not a.any() and not b.any():
        return 0.0, 0.0, 0.0
    if not a.any() or not b.any():
        return float("nan"), float("nan"), float("nan")
    a_to_b = directed_surface_distances(a, b, spacing)
    b_to_a = directed_surface_distances(b, a, spacing)
    pooled = np.concatenate([a_to_b, b_to_a])
    hd95 = max(float(np.percentile(a_to_b, 95)), float(np.percentile(b_to_a, 95)))
    return float(pooled.max()), hd95, float(pooled.mean())


@dataclass
class RaterPerformance:
    """One rater's agreement with the STAPLE consensus."""

    rater: str
    staple_sensitivity: float  # STAPLE's own estimate
    staple_specificity: float  # STAPLE's own estimate (on the analysed box)
    sensitivity: float  # measured against the consensus mask
    specificity: float  # measured against the consensus mask, on the analysed box
    dice: float  # Dice against the consensus mask


@dataclass
class StapleResult:
    """STAPLE consensus of several segmentations of one scan."""

    probability: np.ndarray  # float32 (slice, row, col): posterior probability of cartilage
    consensus: np.ndarray  # bool: probability >= threshold
    raters: List[RaterPerformance]
    box: tuple  # slices (k, j, i) of the analysed bounding box
    iterations: int


def staple_consensus(masks: Sequence[np.ndarray], names: Optional[Sequence[str]] = None,
                     margin_voxels: int = 5, threshold: float = 0.5) -> StapleResult:
    """STAPLE consensus of three or more boolean masks on one grid, and each rater's performance."""
    import SimpleITK as sitk

    masks = [np.asarray(mask, dtype=bool) for mask in masks]
    names = list(names) if names is not None else ["rater_%d" % (index + 1) for index in range(len(masks))]
    if len(masks) < 3:
        raise InputError("STAPLE needs segmentations from at least 3 raters; got %d." % len(masks))
    if len(names) != len(masks) or any(mask.shape != masks[0].shape for mask in masks):
        raise InputError("All segmentations given to STAPLE must share one grid and have one name each.")
    union = np.any(masks, axis=0)
    if not union.any():
        raise InputError("Every segmentation is empty: there is nothing to build a consensus from.")
    box = _bounding_box(union, margin_voxels)
    images = [sitk.GetImageFromArray(mask[box].astype(np.uint8)) for mask in masks]
    staple = sitk.STAPLEImageFilter()
    staple.SetForegroundValue(1.0)
    probability_box = sitk.GetArrayFromImage(staple.Execute(images)).astype(np.float32)
    consensus_box = probability_box >= threshold
    raters = []
    for index, (name, mask) in enumerate(zip(names, masks)):
        sensitivity, specificity = _sensitivity_specificity(mask[box], consensus_box)
        raters.append(RaterPerformance(
            rater=name,
            staple_sensitivity=float(staple.GetSensitivity()[index]),
            staple_specificity=float(staple.GetSpecificity()[index]),
            sensitivity=sensitivity,
            specificity=specificity,
            dice=dice_jaccard(mask[box], consensus_box)[0],
        ))
    probability = np.zeros(masks[0].shape, dtype=np.float32)
    probability[box] = probability_box
    return StapleResult(probability, probability >= threshold, raters, box, int(staple.GetElapsedIterations()))


def _sensitivity_specificity(mask: np.ndarray, truth: np.ndarray):
    positives, negatives = float(truth.sum()), float((~truth).sum())
    sensitivity = float(np.logical_and(mask, truth).sum()) / positives if positives else float("nan")
    specificity = float(np.logical_and(~mask, ~truth).sum()) / negatives if negatives else float("nan")
    return sensitivity, specificity


def _bounding_box(mask: np.ndarray, margin: int) -> tuple:
    box = []
    for axis in range(mask.ndim):
        other = tuple(index for index in range(mask.ndim) if index != axis)
        present = np.nonzero(np.any(mask, axis=other))[0]
        box.append(slice(max(int(present[0]) - margin, 0), min(int(present[-1]) + margin + 1, mask.shape[axis])))
    return tuple(box)
