"""From network probabilities to a cartilage label: the reference refinement rules.

All arrays are ``(slice, row, col)`` on the exam grid. In the order the
reference code applies them:

1. candidates: ``p > candidate_threshold`` (0.01): the voxels worth a T2 fit;
2. T2 rule: voxels whose T2 is not in ``(t2_low, t2_high]`` ms (0, 100], or
   was not fitted (NaN), are removed; skipped when no T2 map is given. An
   analysis fitted with another valid range passes it here in place of the
   model's (:func:`inference.segmentation_from_probabilities`);
3. binarise: ``p > probability_threshold`` (0.501, strictly greater as in the
   reference code);
4. slice rule: slices with fewer than ``min_slice_voxels`` cartilage voxels
   are emptied. The reference value (425) is a voxel count tuned on OAI
   pixels of 0.3125 x 0.446 mm, so it is scaled by
   ``reference_pixel_area_mm2 / pixel_area_mm2`` (fewer, larger pixels on a
   coarser protocol cover the same cartilage area);
5. optional (DOSMA): keep the largest 3D connected component (26-connected);
6. too little left: fewer than ``min_total_voxels`` (1000, scaled the same
   way) means no cartilage was found.

Step 6 does not raise by default: :class:`RefinementResult` says
``cartilage_found=False`` with a message for the user, and the label is
empty, so a pipeline can still write its outputs and explain. Pass
``raise_if_empty=True`` to get :class:`NoCartilageFoundError` instead.
When cartilage is found, :mod:`slice_coverage` adds messages naming the slices
to check (empty slices inside the plate, cut-off slices, an abrupt plate end).
What the slice rule emptied is kept (:class:`slice_rule.SliceRule`), so that
those checks can tell a margin slice the rule removed from one the network missed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

from .errors import InputError, NoCartilageFoundError
from .slice_coverage import slice_coverage_messages
from .slice_rule import SliceRule

REFERENCE_PIXEL_AREA_MM2 = 0.3125 * 0.446


@dataclass
class RefinementParams:
    """Refinement settings (from the model's ``refinement`` metadata)."""

    probability_threshold: float = 0.501
    candidate_threshold: float = 0.01
    min_slice_voxels: float = 425
    reference_pixel_area_mm2: float = REFERENCE_PIXEL_AREA_MM2
    t2_range_ms: tuple = (0.0, 100.0)
    min_total_voxels: float = 1000
    largest_component: bool = False

    @classmethod
    def from_dict(cls, values: Optional[Dict[str, Any]]) -> "RefinementParams":
        values = dict(values or {})
        known = {key: values[key] for key in cls.__dataclass_fields__ if key in values}
        if "t2_range_ms" in known:
            known["t2_range_ms"] = tuple(float(v) for v in known["t2_range_ms"])
        return cls(**known)

    def as_dict(self) -> Dict[str, Any]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


@dataclass
class RefinementResult:
    """Output of :func:`refine_segmentation`.

    Attributes:
        label: uint8 (slice, row, col), 1 = femoral cartilage.
        candidates: bool (slice, row, col), p > candidate threshold (where T2 is worth fitting).
        messages: what the rules did, in words.
        cartilage_found: False when fewer than the minimum number of voxels remained.
        slice_voxel_threshold: the per-slice count actually used (after pixel-area scaling).
        total_voxel_threshold: the minimum total count actually used.
        slice_rule: the slices the slice rule emptied, with the voxels each held before it.
    """

    label: np.ndarray
    candidates: np.ndarray
    messages: List[str] = field(default_factory=list)
    cartilage_found: bool = True
    slice_voxel_threshold: float = 0.0
    total_voxel_threshold: float = 0.0
    slice_rule: Optional[SliceRule] = None


def candidate_mask(probabilities: np.ndarray, params: Optional[RefinementParams] = None) -> np.ndarray:
    """Voxels worth fitting T2 for: ``p > candidate_threshold``."""
    params = params or RefinementParams()
    return np.asarray(probabilities) > params.candidate_threshold


def scaled_count(reference_count: float, pixel_area_mm2: float, params: RefinementParams) -> float:
    """A voxel count tuned on reference pixels, rescaled to pixels of ``pixel_area_mm2``."""
    if not pixel_area_mm2 > 0:
        raise InputError("Pixel area must be positive (mm^2), got %r; the image header is corrupt." % pixel_area_mm2)
    return float(reference_count) * params.reference_pixel_area_mm2 / float(pixel_area_mm2)


def largest_connected_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of a 3D boolean mask (empty stays empty)."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if count <= 1:
        return labels > 0
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def refine_segmentation(
    probabilities: np.ndarray,
    t2_ms: Optional[np.ndarray],
    pixel_area_mm2: float,
    params: Optional[Any] = None,
    raise_if_empty: bool = False,
) -> RefinementResult:
    """Apply the reference rules (module docstring) to a (slice, row, col) probability map.

    Args:
        probabilities: float (slice, row, col) in [0, 1].
        t2_ms: T2 map (ms) of the same shape (NaN where not fitted), or None to skip the T2 rule.
        pixel_area_mm2: in-plane pixel area of the exam (row spacing x col spacing).
        params: :class:`RefinementParams` or a dict of its fields (model metadata).
        raise_if_empty: raise :class:`NoCartilageFoundError` instead of returning an empty label.
    """
    if not isinstance(params, RefinementParams):
        params = RefinementParams.from_dict(params)
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if probabilities.ndim != 3:
        raise InputError("Probabilities must be (slice, row, col), got shape %s." % (probabilities.shape,))
    messages: List[str] = []
    candidates = candidate_mask(probabilities, params)
    keep = probabilities > params.probability_threshold
    if t2_ms is not None:
        t2 = np.asarray(t2_ms, dtype=np.float32)
        if t2.shape != probabilities.shape:
            raise InputError("T2 map shape %s differs from the probability map %s." % (t2.shape, probabilities.shape))
        low, high = params.t2_range_ms
        with np.errstate(invalid="ignore"):
            plausible = (t2 > low) & (t2 <= high)
        removed = int(np.count_nonzero(keep & ~plausible))
        keep &= plausible
        messages.append("T2 rule: removed %d voxels with T2 outside (%g, %g] ms or not fitted." % (removed, low, high))
    else:
        messages.append("T2 rule skipped: no T2 map was given.")
    slice_threshold = scaled_count(params.min_slice_voxels, pixel_area_mm2, params)
    per_slice = keep.reshape(keep.shape[0], -1).sum(axis=1)
    sparse = (per_slice > 0) & (per_slice < slice_threshold)
    keep[sparse] = False
    rule = SliceRule(slice_threshold, {int(k): int(per_slice[k]) for k in np.flatnonzero(sparse)})
    if np.any(sparse):
        messages.append("Slice rule: emptied %d slice(s) with fewer than %d cartilage voxels (%s)."
                        % (len(rule.emptied), rule.smallest_kept, ", ".join(str(k) for k in sorted(rule.emptied))))
    if params.largest_component and np.any(keep):
        before = int(keep.sum())
        keep = largest_connected_component(keep)
        messages.append("Kept the largest connected component (%d of %d voxels)." % (int(keep.sum()), before))
    total_threshold = scaled_count(params.min_total_voxels, pixel_area_mm2, params)
    result = RefinementResult(keep.astype(np.uint8), candidates, messages, True, slice_threshold, total_threshold,
                              rule)
    if keep.sum() < total_threshold:
        result.cartilage_found = False
        result.label[...] = 0
        text = ("No cartilage found: only %d voxels passed the refinement (at least %d are needed). Check that "
                "the input is a sagittal knee MESE series, or correct the segmentation by hand."
                % (int(keep.sum()), math.ceil(total_threshold)))  # counts are whole: the least that passes
        messages.append(text)
        if raise_if_empty:
            raise NoCartilageFoundError(text)
    else:
        messages.extend(slice_coverage_messages(keep, rule))
    return result
