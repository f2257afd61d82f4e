"""Indicators of a segmentation's plausibility, for deciding which scans a person should look at.

A cohort of thousands of scans cannot be reviewed slice by slice. These numbers
are cheap to compute when the analysis runs and point at the usual failures of
a cartilage network: a plate that is too small or too big, broken into pieces,
with a slice missing in its middle or at its end, or drawn where the network was unsure.
:mod:`batch_review` compares them across a cohort; on their own they carry no
verdict (a healthy plate may legitimately fall apart into two condyles when the
trochlea is not in the field of view).

Arrays are ``(slice, row, col)``; volumes in mm^3; uncertainty in bits.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from .correction import CANDIDATE_THRESHOLD, uncertainty
from .geometry import voxel_volume_from_matrix
from .slice_coverage import plate_ends, plate_slice_gaps, single_slice
from .slice_rule import SliceRule

QUALITY_FORMAT = "knee-t2-segmentation-quality"


def segmentation_quality(label_kji: np.ndarray, ijk_to_ras: np.ndarray,
                         probabilities_kji: Optional[np.ndarray] = None,
                         slice_rule: Optional[SliceRule] = None) -> Dict[str, Any]:
    """JSON-ready indicators of one segmentation (see the module docstring).

    Keys:
        ``n_voxels``, ``volume_mm3``: size of the final mask.
        ``n_slices``: slices holding cartilage; ``gap_slices``: empty slices inside
        the plate, ``detached_slices``: filled slices cut off from it by empty ones
        (:func:`slice_coverage.plate_slice_gaps`: a missed slice, a false positive).
        ``end_area_shares``: for each plate end (lower slice index first), its last
        slice's area / the fullest slice's area; ``abrupt_ends``: ends inside the
        series at or above :data:`slice_coverage.ABRUPT_END_SHARE` whose next slice
        the network left empty (a margin slice probably missed);
        ``rule_emptied_ends``: such ends whose next slice held network cartilage that
        the refinement's minimum-area slice rule removed (known only when
        ``slice_rule`` is given; otherwise counted in ``abrupt_ends``);
        ``edge_ends``: abrupt ends in the series' first or last slice (the plate may
        go on outside the scanned slices). ``single_slice_plate``: the plate lies in
        one slice (its two ends, one per side, are both counted above; a segmentation
        that most likely failed).
        ``n_components``: pieces of the mask (3D, touching along faces, edges or
        corners); ``largest_component_fraction``: share of its voxels in the biggest.
        ``uncertainty_bits``: mean binary entropy of the network's probabilities over
        its candidate voxels (p > 0.01), as ``knee-t2 next-case`` ranks cases;
        ``mean_probability_in_mask``: the network's mean probability inside the final
        mask. Both ``None`` when no probabilities are given (a corrected label).
    """
    from scipy import ndimage

    mask = np.asarray(label_kji) > 0
    if mask.ndim != 3:
        raise ValueError("The label must be 3D (slice, row, col); got shape %s." % (mask.shape,))
    n_voxels = int(mask.sum())
    filled = np.nonzero(mask.any(axis=(1, 2)))[0]
    missed, detached = plate_slice_gaps(mask)
    ends = plate_ends(mask, slice_rule=slice_rule)
    components, n_components = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    largest = int(np.bincount(components.ravel())[1:].max()) if n_components else 0
    quality: Dict[str, Any] = {
        "format": QUALITY_FORMAT,
        "n_voxels": n_voxels,
        "volume_mm3": round(n_voxels * voxel_volume_from_matrix(ijk_to_ras), 3),
        "n_slices": int(len(filled)),
        "gap_slices": int(missed.size),
        "detached_slices": int(detached.size),
        "end_area_shares": [round(end.area_share, 3) for end in ends],
        "abrupt_ends": sum(1 for end in ends if end.missed_beyond),
        "rule_emptied_ends": sum(1 for end in ends if end.removed_beyond),
        "edge_ends": sum(1 for end in ends if end.abrupt and end.at_series_edge),
        "single_slice_plate": single_slice(ends) is not None,
        "n_components": int(n_components),
        "largest_component_fraction": round(largest / n_voxels, 4) if n_voxels else None,
        "uncertainty_bits": None,
        "n_candidates": None,
        "mean_probability_in_mask": None,
    }
    if probabilities_kji is not None:
        probabilities = np.asarray(probabilities_kji, dtype=np.float32)
        if probabilities.shape != mask.shape:
            raise ValueError("Probabilities %s and label %s differ in shape." % (probabilities.shape, mask.shape))
        scored = uncertainty(probabilities, "entropy", CANDIDATE_THRESHOLD)
        quality["uncertainty_bits"] = round(scored.score, 4)
        quality["n_candidates"] = scored.n_candidates
        if n_voxels:
            quality["mean_probability_in_mask"] = round(float(probabilities[mask].mean()), 4)
    return quality
