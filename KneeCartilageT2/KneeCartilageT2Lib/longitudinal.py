"""Longitudinal T2 change between two visits of one knee: per region, and focal lesions.

:func:`compute_change` takes two analysed visits (:class:`VisitData`: cartilage
label, T2 map, an anatomical image for registration, the knee side) and
returns a :class:`ChangeResult`:

* Registration: the follow-up is registered rigidly onto the baseline
  (:mod:`registration`). Its voxels are then placed in the baseline's
  physical frame by changing only their ``ijk_to_ras`` (no resampling, no
  interpolation), so that "inferior", "anterior" and the M-L axis, from which
  sectors and projection angles are measured, are the same anatomical
  directions at both visits even when the knee lay differently in the
  scanner. (``ChangeOptions.regions_in_baseline_frame=False`` measures the
  follow-up in its own scanner frame instead, as the paper's code did.)
* Regional change: each visit's 27 regions are measured with its own
  segmentation and T2 map; the table gives follow-up minus baseline mean T2
  (ms) per region with the voxel counts of both visits.
* Pixel-wise change: both visits are unrolled with the baseline's projection
  geometry (:mod:`change_maps`), each cell summarised by the median T2 of its
  voxels away from both cartilage surfaces by default
  (``LesionParameters.cell_statistic``; the published method uses the mean);
  the focal lesion analysis (:mod:`lesions`) runs on follow-up minus baseline,
  and its clusters are carried back onto the baseline cartilage voxels as a 3D
  label map. For display, the
  follow-up label (nearest neighbour) and T2 map (normalised linear
  interpolation) are also resampled onto the baseline grid.

Both visits are measured with one knee side, so that medial and lateral mean
the same thing at both; :mod:`visit_sides` decides it from each visit's own
side (known, or estimated from that visit's cartilage in its own scanner
frame) and refuses two different known knees and two confident sides that
disagree; estimated, disagreeing or unchecked sides are warned about first
among :attr:`ChangeResult.warnings`. Two knees of the same side are told apart
after registration (:mod:`pair_similarity`): when the visits do not line up
like one knee (image correlation or cartilage overlap below its threshold),
a warning to check that they show the same knee comes before all others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
from scipy import ndimage

from .errors import InputError, KneeT2Error, NoCartilageFoundError
from .exam import normalize_laterality
from .geometry import Volume
from .lesions import LesionParameters, LesionResult, find_lesion_clusters
from .pair_similarity import (MIN_CARTILAGE_DICE, MIN_CORRELATION, SameKneeCheck, check_same_knee,
                              without_poor_registration_note)
from .progress import CancelToken, ProgressCallback, no_progress
from .projection import ProjectionMap
from .registration import RegistrationResult, register_rigid
from .resampling import resample_label_onto, resample_t2_onto
from .side_estimate import SideEstimate
from .visit_sides import PairSide, VisitSide, decide_pair_side, recorded_estimate

CHANGE_COLUMNS = (
    "region", "t2_baseline_ms", "t2_followup_ms", "delta_t2_ms",
    "n_voxels_baseline", "n_voxels_followup", "n_t2_voxels_baseline", "n_t2_voxels_followup",
)


@dataclass
class VisitData:
    """One analysed visit, all volumes on the visit's own grid ``(slice, row, col)``.

    Attributes:
        label: femoral cartilage (non-zero = cartilage).
        t2: T2 map in ms; values <= 0 or NaN mean "no valid fit".
        anatomy: image used for registration (the echo nearest 20 ms); None falls back to the label.
        laterality: ``"right"``, ``"left"`` or ``"unknown"`` (a side only estimated counts as unknown).
        laterality_source: ``"dicom"`` (Laterality tag), ``"sidecar"`` (an echo stack sidecar's Laterality
            field) or ``"user"`` when known.
        regions: the visit's :class:`~regions.RegionAnalysis` if already computed (re-used when its
            mode and side match), else computed here; when its side was estimated, that estimate is
            this visit's own.
        source: where the visit came from (path), for the report.
        scanner_frame: the geometry is the scanner's patient coordinates (DICOM), so an unknown
            side is estimated from where the knee lies as well as from its shape.
        side_estimate: for an unknown side, the :class:`side_estimate.SideEstimate` an earlier analysis
            of this visit made (read back from its folder or nodes); None: estimated here from the label.
        t2_status: the T2 fit's ``(slice, row, col)`` :mod:`.t2_status` codes when this run fitted it
            (an exam with a given segmentation), so that regions measured again here still split the
            voxels without T2 by reason; None for a T2 map read back from a file.
        fingerprint: SHA-256 of the visit's echo images (:func:`result_privacy.exam_fingerprint`) when known,
            so that the change report tells two visits apart whose files have the same name.
    """

    label: Volume
    t2: Volume
    anatomy: Optional[Volume] = None
    laterality: str = "unknown"
    laterality_source: str = "user"
    regions: Any = None
    source: str = ""
    scanner_frame: bool = False
    side_estimate: Optional[SideEstimate] = None
    t2_status: Optional[np.ndarray] = None
    fingerprint: str = ""

    def __post_init__(self) -> None:
        self.laterality = normalize_laterality(self.laterality)
        if not self.label.same_geometry(self.t2, tolerance_mm=1e-2):
            raise InputError(
                "The cartilage label and the T2 map of %s are not on the same grid; both must come "
                "from the same exam." % (self.source or "a visit")
            )
        if self.anatomy is not None and np.shape(self.anatomy.array) != np.shape(self.label.array):
            raise InputError("The anatomical image of %s is not on the label's grid." % (self.source or "a visit"))

    @property
    def mask(self) -> np.ndarray:
        return np.asarray(self.label.array) != 0


@dataclass
class ChangeOptions:
    """Choices of the change analysis (recorded in the outputs)."""

    region_mode: str = "improved"  # improved | reference: used for both visits
    register: bool = True  # False: trust the scanner coordinates (no registration)
    registration_metric: str = "mattes"  # mattes | correlation
    mask_margin_mm: float = 15.0  # registration metric mask = baseline cartilage dilated by this
    lesions: LesionParameters = field(default_factory=LesionParameters)
    regions_in_baseline_frame: bool = True  # measure the registered follow-up with the baseline's directions
    min_same_knee_correlation: float = MIN_CORRELATION  # warn below this NCC after registration (pair_similarity)
    min_same_knee_dice: float = MIN_CARTILAGE_DICE  # warn below this cartilage Dice after registration


@dataclass
class ChangeResult:
    """Everything :func:`compute_change` produced (volumes on the baseline grid)."""

    laterality: str
    rows: List[Dict[str, Any]]  # one per region, keys :data:`CHANGE_COLUMNS`
    registration: Optional[RegistrationResult]
    baseline_map: Optional[ProjectionMap]
    followup_map: Optional[ProjectionMap]
    lesions: Optional[LesionResult]
    lesion_labels_3d: Optional[Volume]
    followup_label_on_baseline: Volume
    followup_t2_on_baseline: Volume
    baseline_regions: Any
    followup_regions: Any
    options: ChangeOptions
    warnings: List[str] = field(default_factory=list)
    side: Optional[PairSide] = None  # how the side was decided: each visit's own side, source and confidence
    same_knee: Optional[SameKneeCheck] = None  # do the visits line up like one knee? (None: not registered)

    def delta(self, region: str) -> float:
        """Follow-up minus baseline mean T2 (ms) of one region (e.g. ``"all"``, ``"DMC"``)."""
        for row in self.rows:
            if row["region"] == region:
                return float(row["delta_t2_ms"])
        raise KeyError("no region %r" % region)


def compute_change(
    baseline: VisitData,
    followup: VisitData,
    options: Optional[ChangeOptions] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> ChangeResult:
    """Regional and focal T2 change from ``baseline`` to ``followup`` (see the module doc)."""
    options = options or ChangeOptions()
    report = progress or no_progress
    token = cancel or CancelToken()
    side = decide_pair_side(visit_side(baseline, "baseline"), visit_side(followup, "follow-up"))
    warnings = list(side.warnings)
    report(0.02, "Registering the follow-up onto the baseline")
    registration, registration_warnings = _register(baseline, followup, options)
    same_knee = check_same_knee(registration, options.min_same_knee_correlation, options.min_same_knee_dice)
    if same_knee is not None and not same_knee.looks_same:  # the gravest note: first, in place of "looks poor"
        warnings = [same_knee.warning()] + warnings + without_poor_registration_note(registration_warnings)
    else:
        warnings += registration_warnings
    matrix = np.eye(4) if registration is None else registration.baseline_to_followup_ras
    moved = followup_in_baseline_frame(followup, registration) if options.regions_in_baseline_frame else followup
    token.raise_if_cancelled()
    report(0.35, "Measuring baseline regions")
    baseline_regions = _regions_of(baseline, side, side.baseline, options.region_mode)
    token.raise_if_cancelled()
    report(0.5, "Measuring follow-up regions")
    followup_regions = _regions_of(moved, side, side.followup, options.region_mode)
    rows = change_rows(baseline_regions.rows, followup_regions.rows)
    token.raise_if_cancelled()
    report(0.65, "Resampling the follow-up onto the baseline grid")
    label_on_baseline = resample_label_onto(followup.label.with_array(followup.mask.astype(np.uint8)),
                                            baseline.label, matrix)
    t2_on_baseline = resample_t2_onto(followup.t2, baseline.label, matrix)
    report(0.8, "Focal lesion clusters")
    maps = _lesion_analysis(baseline, baseline_regions, followup_in_baseline_frame(followup, registration),
                            options, warnings)
    report(1.0, "Change computed")
    return ChangeResult(
        laterality=side.laterality, rows=rows, registration=registration, baseline_map=maps[0], followup_map=maps[1],
        lesions=maps[2], lesion_labels_3d=maps[3], followup_label_on_baseline=label_on_baseline,
        followup_t2_on_baseline=t2_on_baseline, baseline_regions=baseline_regions,
        followup_regions=followup_regions, options=options,
        warnings=warnings + ["Baseline: " + text for text in _region_notes(baseline_regions)]
        + ["Follow-up: " + text for text in _region_notes(followup_regions)], side=side, same_knee=same_knee,
    )


def followup_in_baseline_frame(followup: VisitData, registration: Optional[RegistrationResult]) -> VisitData:
    """The follow-up with its grid moved onto the baseline (arrays untouched, regions dropped)."""
    if registration is None:
        return followup
    move = registration.followup_to_baseline_ras

    def moved(volume: Optional[Volume]) -> Optional[Volume]:
        return None if volume is None else Volume(volume.array, move @ volume.ijk_to_ras)

    return VisitData(moved(followup.label), moved(followup.t2), moved(followup.anatomy), followup.laterality,
                     followup.laterality_source, None, followup.source, followup.scanner_frame, followup.side_estimate,
                     followup.t2_status, followup.fingerprint)


def visit_side(visit: VisitData, name: str) -> VisitSide:
    """The visit's own knee side: known, or else estimated from its own cartilage on its own grid (the
    position cue then judges where the knee lay in its own scanner session).

    An estimate already made is used as it is: :attr:`VisitData.side_estimate` (recorded by an earlier
    analysis), else the estimate its :attr:`VisitData.regions` were measured with. A side that cannot be
    estimated (too little cartilage, no notch) is unknown, with the reason.
    """
    from .regions import MIN_CARTILAGE_VOXELS
    from .side_estimate import estimate_side

    if visit.laterality != "unknown":
        return VisitSide.known(name, visit.laterality, visit.laterality_source)
    estimate = visit.side_estimate
    orientation = getattr(visit.regions, "orientation", None)
    if estimate is None and orientation is not None and orientation.side_source == "estimated":
        estimate = recorded_estimate(orientation.laterality, orientation.side_confidence, orientation.note)
    if estimate is None:
        mask = visit.mask
        if int(mask.sum()) < MIN_CARTILAGE_VOXELS:
            return VisitSide(name, "unknown", "unknown", 0.0, reason="too little cartilage to estimate it from")
        try:
            estimate = estimate_side(mask, visit.label.ijk_to_ras, visit.scanner_frame)
        except KneeT2Error as error:
            return VisitSide(name, "unknown", "unknown", 0.0, reason=str(error))
    return VisitSide.estimated(name, estimate)


def _regions_of(visit: VisitData, side: PairSide, own: VisitSide, mode: str):
    """The visit's regions measured with the pair's side (``own``: the visit's own side, for the source)."""
    from .regions import analyse_regions

    existing = visit.regions
    if existing is not None and existing.mode == mode and existing.orientation.laterality == side.laterality:
        return existing
    laterality, source, estimate = side.measuring_arguments(own)
    t2 = np.asarray(visit.t2.array, dtype=np.float32)
    t2 = visit.t2.with_array(np.where(np.isfinite(t2) & (t2 > 0), t2, 0.0).astype(np.float32))
    try:
        return analyse_regions(visit.label, t2, laterality, mode=mode, laterality_source=source,
                               scanner_frame=visit.scanner_frame, side_estimate=estimate, t2_status=visit.t2_status)
    except NoCartilageFoundError as error:
        raise NoCartilageFoundError("The %s visit (%s): %s" % (own.name, visit.source or "given data", error))


def _region_notes(regions) -> List[str]:
    """A visit's region warnings less its estimated-side note: the pair's side notes say it for both visits."""
    from .regions import side_warnings

    own_side = side_warnings(regions.orientation)
    return [text for text in regions.warnings if text not in own_side]


def change_rows(baseline_rows: List[dict], followup_rows: List[dict]) -> List[Dict[str, Any]]:
    """Per region: both visits' mean T2 and voxel counts and follow-up minus baseline (ms)."""
    followup_by_name = {row["region"]: row for row in followup_rows}
    rows = []
    for before in baseline_rows:
        after = followup_by_name.get(before["region"], {})
        t2_before = float(before.get("t2_mean_ms", np.nan))
        t2_after = float(after.get("t2_mean_ms", np.nan))
        rows.append({
            "region": before["region"],
            "t2_baseline_ms": t2_before,
            "t2_followup_ms": t2_after,
            "delta_t2_ms": t2_after - t2_before,
            "n_voxels_baseline": int(before.get("n_voxels", 0)),
            "n_voxels_followup": int(after.get("n_voxels", 0)),
            "n_t2_voxels_baseline": int(before.get("n_t2_voxels", 0)),
            "n_t2_voxels_followup": int(after.get("n_t2_voxels", 0)),
        })
    return rows


def registration_image(visit: VisitData) -> Volume:
    """The visit's anatomical image, or (without one) its smoothed cartilage mask."""
    if visit.anatomy is not None:
        return visit.anatomy.with_array(np.asarray(visit.anatomy.array, dtype=np.float32))
    spacing_kji = visit.label.spacing_ijk[::-1]
    smoothed = ndimage.gaussian_filter(visit.mask.astype(np.float32), sigma=1.0 / spacing_kji * 1.5)
    return visit.label.with_array(smoothed.astype(np.float32))


def _register(baseline: VisitData, followup: VisitData, options: ChangeOptions):
    if not options.register:
        return None, ["The follow-up was not registered (scanner coordinates were trusted); pixel-wise "
                      "change and lesions assume the knee did not move between visits."]
    warnings = []
    if baseline.anatomy is None or followup.anatomy is None:
        warnings.append("No anatomical image for one visit: the registration aligned the cartilage masks "
                        "only, which is less accurate.")
    result = register_rigid(
        registration_image(baseline), registration_image(followup),
        baseline_mask=baseline.mask, followup_mask=followup.mask,
        mask_margin_mm=options.mask_margin_mm, metric=options.registration_metric,
    )
    return result, warnings + list(result.warnings)


SLICE_SPACING_TOLERANCE = 1.05  # the follow-up's slice spacing may exceed the baseline's by this factor at most


def _lesion_analysis(baseline: VisitData, baseline_regions, followup: VisitData, options: ChangeOptions,
                     warnings: List[str]):
    """(baseline map, follow-up map, LesionResult, 3D cluster labels); ``followup`` is in the baseline frame."""
    from .change_maps import back_project_clusters, geometry_from_analysis, project_t2
    from .region_definitions import COMPARTMENT_TABLE

    spacings = [float(np.linalg.norm(np.asarray(visit.label.ijk_to_ras)[:3, 2])) for visit in (baseline, followup)]
    if spacings[1] > SLICE_SPACING_TOLERANCE * spacings[0]:
        warnings.append(
            "No lesion analysis: the follow-up's slices are %.1f mm apart, the baseline's %.1f mm. Projection cells "
            "are one baseline slice wide, so sparser follow-up slices leave rows of cells empty; compare scans of "
            "the same protocol (the regional changes above do not depend on it)." % (spacings[1], spacings[0]))
        return None, None, None, None
    geometry = geometry_from_analysis(baseline_regions, baseline.label.ijk_to_ras)
    cells = options.lesions.projection_cells()
    baseline_map = project_t2(geometry, baseline.mask, np.asarray(baseline.t2.array), "t2_baseline", **cells)
    followup_map = project_t2(geometry, followup.mask, np.asarray(followup.t2.array), "t2_followup",
                              ijk_to_ras=followup.label.ijk_to_ras, **cells)
    try:
        lesions = find_lesion_clusters(baseline_map, followup_map, options.lesions,
                                       region_map=baseline_regions.projections["regions"],
                                       region_names={value: name for value, name, _ in COMPARTMENT_TABLE})
    except InputError as error:
        warnings.append("No lesion analysis: %s" % error)
        return baseline_map, followup_map, None, None
    labels_3d = back_project_clusters(geometry, baseline.mask, lesions)
    return baseline_map, followup_map, lesions, labels_3d
