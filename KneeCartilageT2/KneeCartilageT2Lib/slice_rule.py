"""What the refinement's minimum-area slice rule removed, carried from the refinement to the slice checks.

The refinement (:mod:`refinement`, step 4) empties every slice whose cartilage
area is below a minimum. At a condyle margin that can remove a thin slice the
network did find: the plate then seems to end abruptly at the slice before,
which :mod:`slice_coverage` would otherwise call a slice the network missed.
This record lets the checks tell the two apart. It travels in the
segmentation's parameters (``provenance.json``: ``segmentation.parameters``)
so that the review, the preview and the Slicer module see it too.

Slice indices are along axis 0 of the ``(slice, row, col)`` arrays, counted
from 0 as Slicer's Data Probe counts K; voxel counts are exam pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional

THRESHOLD_KEY = "slice_voxel_threshold"  # keys in the segmentation's parameters
EMPTIED_KEY = "slice_rule_emptied"


@dataclass(frozen=True)
class SliceRule:
    """The slice rule as applied to one segmentation.

    Attributes:
        threshold_voxels: slices with fewer cartilage voxels than this were
            emptied (voxels of this exam's pixel size, after scaling from the
            reference's OAI count; may be fractional).
        emptied: slice index -> cartilage voxels the slice held just before the
            rule (after the T2 rule and the probability threshold). After the
            rule each of these slices holds 0.
    """

    threshold_voxels: float
    emptied: Mapping[int, int] = field(default_factory=dict)

    @property
    def smallest_kept(self) -> int:
        """The fewest voxels a slice may hold and be kept: counts are whole, so the threshold rounded up."""
        return int(math.ceil(self.threshold_voxels))

    def voxels_removed(self, slice_index: int) -> int:
        """Voxels the rule removed from ``slice_index`` (0 when it emptied nothing there)."""
        return int(self.emptied.get(int(slice_index), 0))

    def as_parameters(self) -> Dict[str, Any]:
        """The record as JSON-ready segmentation parameters (slices in ascending order)."""
        return {THRESHOLD_KEY: float(self.threshold_voxels),
                EMPTIED_KEY: [{"slice": int(k), "voxels": int(self.emptied[k])} for k in sorted(self.emptied)]}

    @classmethod
    def from_parameters(cls, parameters: Optional[Mapping[str, Any]]) -> Optional["SliceRule"]:
        """The record from segmentation parameters; None when they do not hold it (a folder written before it
        existed, a label not made by the refinement) or it cannot be read."""
        if not isinstance(parameters, dict) or EMPTIED_KEY not in parameters:
            return None
        try:
            threshold = float(parameters[THRESHOLD_KEY])
            emptied = {int(item["slice"]): int(item["voxels"]) for item in parameters[EMPTIED_KEY] or []}
        except (KeyError, TypeError, ValueError):
            return None
        return cls(threshold, emptied) if math.isfinite(threshold) else None

    @classmethod
    def from_provenance(cls, provenance: Optional[Mapping[str, Any]]) -> Optional["SliceRule"]:
        """The record from an analysis' provenance (``segmentation.parameters``); None when absent."""
        segmentation = provenance.get("segmentation") if isinstance(provenance, dict) else None
        return cls.from_parameters(segmentation.get("parameters") if isinstance(segmentation, dict) else None)
