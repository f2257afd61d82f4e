"""The femoral cartilage read-out: subregions, regional T2 and thickness, maps.

:func:`analyse_regions` takes any femoral cartilage mask (model output or a
corrected segmentation) and a T2 map in the same geometry and returns the 27
regional statistics of the primary paper, a 3D label map of the 12
subregions, and 2D projection maps with physical axes. Two modes:

* ``"reference"`` reproduces the paper's subregions (one cylinder, fixed
  angles, radial deep/superficial split); see :mod:`regions_reference`.
* ``"improved"`` (default) follows each knee's anatomy: notch-based
  medial/lateral split, one circle per condyle, deep/superficial at half the
  local thickness, thickness along the surface normal; see
  :mod:`regions_improved`.

Medial/lateral always comes from the geometry and the knee side
(:mod:`orientation`), never from slice order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .errors import InputError, NoCartilageFoundError
from .exam import normalize_laterality
from .geometry import Volume
from .orientation import KneeOrientation, knee_orientation
from .progress import ProgressCallback, no_progress
from .projection import ProjectionMap, knee_coordinates
from .region_definitions import REGION_ORDER, SUBREGION_TABLE, RegionPartition, subregion_codes
from .region_stats import projection_maps, region_rows, valid_t2
from .regions_improved import improved_partition
from .regions_reference import reference_partition
from .t2_status import ABOVE_RANGE, BELOW_RANGE, FIT_FAILED, NO_SIGNAL, NOT_FITTED, count_codes

MODES = ("improved", "reference")
MIN_CARTILAGE_VOXELS = 50
CROP_MARGIN_VOXELS = 3

__all__ = [
    "MODES", "REGION_ORDER", "SUBREGION_TABLE", "RegionAnalysis", "analyse_regions", "cartilage_mask",
    "write_region_outputs",
]


@dataclass
class RegionAnalysis:
    """Everything the regional read-out produced.

    Attributes:
        mode: ``"improved"`` or ``"reference"``.
        rows: 27 dicts in :data:`REGION_ORDER` (keys in :data:`region_stats.ROW_KEYS`).
        subregion_labels: uint8 Volume in the input geometry, 0 outside cartilage and
            1..12 for the subregions of :data:`SUBREGION_TABLE`.
        projections: ProjectionMaps by name: ``t2``, ``t2_deep``, ``t2_superficial`` (ms),
            ``thickness`` (mm), ``regions`` (compartment labels 1..6).
        orientation: the knee's directions and side (with its source and confidence).
        details: fitted circles, M/L boundary, how each boundary was found (JSON-friendly).
        warnings: sentences for the user about fallbacks or doubtful input.
    """

    mode: str
    rows: List[dict]
    subregion_labels: Volume
    projections: Dict[str, ProjectionMap]
    orientation: KneeOrientation
    details: Dict[str, object] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)

    @property
    def laterality(self) -> str:
        return self.orientation.laterality

    @property
    def laterality_source(self) -> str:
        return self.orientation.side_source

    def row(self, region: str) -> dict:
        """The statistics row of one region (e.g. ``"DMC"``)."""
        for entry in self.rows:
            if entry["region"] == region:
                return entry
        raise KeyError("no region %r; regions are %s" % (region, ", ".join(REGION_ORDER)))


def cartilage_mask(label_volume: Volume, cartilage_label: Optional[int] = None) -> np.ndarray:
    """Bool mask of the femoral cartilage: ``label == cartilage_label``, or the single nonzero label.

    A map with several labels (bones, other cartilages) needs ``cartilage_label``.
    """
    labels = np.asarray(label_volume.array)
    if cartilage_label is not None:
        return labels == cartilage_label
    values = np.unique(labels[labels != 0])
    if values.size > 1:
        raise InputError(
            "The segmentation holds several labels (%s); say which one is femoral cartilage "
            "(--cartilage-label N, or cartilage_label=N)." % ", ".join("%g" % value for value in values[:12])
        )
    return labels != 0


def write_region_outputs(analysis: "RegionAnalysis", out_dir, metadata: Optional[dict] = None, figure: bool = True):
    """Write tables, label map, projection maps and figure; see :mod:`region_maps`."""
    from .region_maps import write_region_outputs as write_outputs

    return write_outputs(analysis, out_dir, metadata=metadata, figure=figure)


def analyse_regions(
    label_volume: Volume,
    t2: Volume,
    laterality: str,
    mode: str = "improved",
    laterality_source: str = "user",
    cartilage_label: Optional[int] = None,
    progress: Optional[ProgressCallback] = None,
    scanner_frame: bool = False,
    side_estimate=None,
    t2_status: Optional[np.ndarray] = None,
) -> RegionAnalysis:
    """Regional T2 and thickness of a femoral cartilage mask.

    Args:
        label_volume: femoral cartilage mask (nonzero = cartilage, or ``cartilage_label``).
        t2: T2 map (ms) in the same geometry; voxels with T2 <= 0 or NaN are ignored for T2.
        laterality: ``"right"``, ``"left"`` or ``"unknown"`` (then estimated from the shape).
        mode: ``"improved"`` (default) or ``"reference"``.
        laterality_source: ``"dicom"`` or ``"user"``: where a known side came from.
        cartilage_label: label value of femoral cartilage in a multi-label map.
        progress: optional ``(fraction, stage)`` callback.
        scanner_frame: the geometry is the scanner's patient coordinates (DICOM); an unknown side
            is then estimated from where the knee lies as well as from its shape.
        side_estimate: for an unknown side, a :class:`side_estimate.SideEstimate` already made
            (side, confidence 0.5-0.9, note) to use instead of estimating again: the one an earlier
            analysis recorded, or the one a change analysis decided for both of its visits.
        t2_status: optional ``(slice, row, col)`` :mod:`.t2_status` codes of the T2 fit (the fit's
            ``status``): the rows and the note then say why cartilage voxels lack a valid T2.
    """
    report = progress or no_progress
    if mode not in MODES:
        raise InputError("Unknown region mode %r: use 'improved' or 'reference'." % mode)
    _check_inputs(label_volume, t2)
    mask = cartilage_mask(label_volume, cartilage_label)
    if int(mask.sum()) < MIN_CARTILAGE_VOXELS:
        raise NoCartilageFoundError(
            "Only %d cartilage voxels in the segmentation (at least %d are needed for regions). Check "
            "that the right label was given or correct the segmentation." % (int(mask.sum()), MIN_CARTILAGE_VOXELS)
        )
    report(0.05, "Orienting the knee")
    orientation = resolve_orientation(mask, label_volume.ijk_to_ras, laterality, laterality_source, scanner_frame,
                                      side_estimate)
    crop, offset, cropped_matrix = _crop_to_mask(mask, label_volume.ijk_to_ras)
    coordinates = knee_coordinates(crop, cropped_matrix, orientation)
    report(0.2, "Dividing the cartilage into subregions (%s mode)" % mode)
    if mode == "reference":
        partition = reference_partition(coordinates, crop, cropped_matrix, orientation)
    else:
        partition = improved_partition(coordinates, crop, cropped_matrix, orientation)
    report(0.8, "Regional statistics")
    full_indices = coordinates.indices_kji + offset
    t2_values = np.asarray(t2.array, dtype=np.float64)[tuple(full_indices.T)]
    status_values = None
    if t2_status is not None:
        if np.shape(t2_status) != np.shape(label_volume.array):
            raise InputError("The T2 fit status map has shape %s but the segmentation %s: pass the status of the "
                             "fit that made this T2 map." % (np.shape(t2_status), np.shape(label_volume.array)))
        status_values = np.asarray(t2_status)[tuple(full_indices.T)]
    rows = region_rows(partition, t2_values, label_volume.voxel_volume_mm3, mode, status_values)
    labels = np.zeros(np.shape(label_volume.array), np.uint8)
    labels[tuple(full_indices.T)] = subregion_codes(partition.is_lateral, partition.sector, partition.is_deep)
    warnings = list(partition.warnings) + side_warnings(orientation) + t2_left_out_warnings(
        rows[0], None if status_values is None else status_values[~valid_t2(t2_values)])
    report(1.0, "Regions done")
    return RegionAnalysis(
        mode=mode,
        rows=rows,
        subregion_labels=label_volume.with_array(labels),
        projections=projection_maps(partition, t2_values),
        orientation=orientation,
        details=_details(partition),
        warnings=warnings,
    )


def resolve_orientation(mask: np.ndarray, ijk_to_ras: np.ndarray, laterality: str, source: str,
                        scanner_frame: bool = False, side_estimate=None) -> KneeOrientation:
    """Knee directions with a known side, or with a side estimated from the cartilage (shape, and
    position when ``scanner_frame``), or with ``side_estimate`` when one was made already."""
    side = normalize_laterality(laterality)
    if side != "unknown":
        return knee_orientation(ijk_to_ras, side, side_source=source)
    from .side_estimate import estimate_side

    estimate = side_estimate if side_estimate is not None else estimate_side(mask, ijk_to_ras, scanner_frame)
    return knee_orientation(ijk_to_ras, estimate.laterality, "estimated", estimate.confidence, estimate.note)


def _check_inputs(label_volume: Volume, t2: Volume) -> None:
    if np.shape(label_volume.array) != np.shape(t2.array):
        raise InputError(
            "The segmentation (%s voxels) and the T2 map (%s) have different sizes; both must be on the "
            "exam's voxel grid. Resample the segmentation onto the T2 map first."
            % (np.shape(label_volume.array), np.shape(t2.array))
        )
    if not label_volume.same_geometry(t2, tolerance_mm=1e-2):
        raise InputError(
            "The segmentation and the T2 map are not in the same geometry (origin/spacing/directions "
            "differ). Use a segmentation made on this exam, or resample it onto the T2 map."
        )


def _crop_to_mask(mask: np.ndarray, ijk_to_ras: np.ndarray):
    """The mask's bounding box (+ margin) as an array, its k/j/i offset, and its ijk_to_ras."""
    nonzero = np.argwhere(mask)
    low = np.maximum(nonzero.min(axis=0) - CROP_MARGIN_VOXELS, 0)
    high = np.minimum(nonzero.max(axis=0) + CROP_MARGIN_VOXELS + 1, mask.shape)
    crop = mask[low[0]:high[0], low[1]:high[1], low[2]:high[2]]
    matrix = np.array(ijk_to_ras, dtype=np.float64)
    matrix[:3, 3] = matrix[:3, :3] @ low[::-1].astype(np.float64) + matrix[:3, 3]
    return crop, low, matrix


def _details(partition: RegionPartition) -> Dict[str, object]:
    return {
        "coordinates": "knee frame, mm: the RAS position dotted with the unit vectors lateral_ras, anterior_ras "
        "and superior_ras of 'orientation'; circle centres are (anterior, superior) in that frame",
        "ml_boundary_lateral_mm": round(float(partition.ml_boundary_mm), 4),
        "row_spacing_mm": round(float(partition.coordinates.row_spacing_mm), 4),
        "nominal_radius_mm": round(float(partition.nominal_radius_mm), 4),
        "circles": {name: circle.to_dict() for name, circle in partition.circles.items()},
        "method": partition.method,
    }


def t2_left_out_warnings(whole: dict, left_out_status: Optional[np.ndarray] = None) -> List[str]:
    """A sentence when some cartilage voxels have no valid T2 (in a label that kept them): the T2 figures
    come from fewer voxels than the voxel count shows.

    ``left_out_status``: the :mod:`.t2_status` codes of those voxels, when known; the sentence then says
    how many lay outside the fit's mask (when any did), had no signal, failed to fit, or had a T2 below or
    above the valid range (above it: usually fluid sharing the voxel with cartilage, a finding rather than
    a failure).
    """
    left_out = whole["n_voxels"] - whole["n_t2_voxels"]
    if left_out <= 0:
        return []
    reasons, columns = "the fit failed or T2 fell outside the valid range", "n_t2_voxels"
    if left_out_status is not None:
        columns = "n_t2_voxels, n_t2_no_fit and n_t2_out_of_range"
        counts = count_codes(left_out_status)
        outside = ("%d outside the voxels the T2 fit was given (its mask), " % counts[NOT_FITTED]
                   if counts[NOT_FITTED] else "")
        reasons = "%s%d without signal above the noise, %d fits failed, %d with T2 below and %d above the valid " \
                  "range%s" % (outside, counts[NO_SIGNAL], counts[FIT_FAILED], counts[BELOW_RANGE],
                               counts[ABOVE_RANGE],
                               ": T2 above the range usually means fluid (effusion) sharing the voxel with cartilage"
                               if counts[ABOVE_RANGE] else "")
    return [
        "%d of the plate's %d cartilage voxels have no valid T2 (%s): they count for the voxels and the volume "
        "but not for T2, whose figures come from the %d T2 voxels (%s per region)."
        % (left_out, whole["n_voxels"], reasons, whole["n_t2_voxels"], columns)
    ]


def side_warnings(orientation: KneeOrientation) -> List[str]:
    """The note telling the reader that the side was estimated (and how sure it is); [] for a known side."""
    if orientation.side_source != "estimated":
        return []
    return [
        "The knee side was not in the data and was estimated from the cartilage as %s (confidence "
        "%.2f): %s Give the side explicitly (--laterality) if it is known."
        % (orientation.laterality, orientation.side_confidence, orientation.note)
    ]
