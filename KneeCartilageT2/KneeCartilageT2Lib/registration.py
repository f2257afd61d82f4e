"""Rigid registration of a follow-up visit onto its baseline.

Two visits of the same knee are scanned with the patient repositioned, so the
follow-up's voxels do not sit where the baseline's do. Before T2 maps can be
subtracted pixel by pixel (focal lesion clusters) the follow-up must be moved
onto the baseline. A knee between visits is a rigid body to the precision that
matters here (bones and cartilage do not deform), so a 6-parameter Euler
transform is fitted with SimpleITK on echo images (the analysis uses the echo
nearest 20 ms of each visit: bone/cartilage/fluid contrast, the same echo at
both visits), with a multi-resolution pyramid and, when the baseline cartilage is known, a metric
mask around the femoral cartilage so that the leg, the skin and the coil
profile do not drive the fit.

Transforms follow ITK's convention internally (a *resampling* transform that
maps baseline LPS points to follow-up LPS points); everything reported is in
RAS mm like the rest of the package. Resampling onto the baseline grid and the
``.tfm`` file for Slicer are in :mod:`resampling`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
from scipy import ndimage

from .errors import InputError
from .geometry import LPS_TO_RAS, Volume, spacing_from_matrix, voxel_centers_ras
from .resampling import FLIP_RAS_LPS, resample_onto
from .volume_io import volume_to_sitk

INITIALIZATIONS = ("auto", "identity", "geometry", "moments")
METRICS = ("mattes", "correlation")


@dataclass
class RegistrationResult:
    """A rigid follow-up -> baseline registration and how well it worked.

    Attributes:
        baseline_to_followup_ras: 4x4 (RAS mm) mapping a point of the baseline to the same
            anatomical point in the follow-up (the resampling transform; it describes how the
            knee moved between the visits).
        followup_to_baseline_ras: its inverse: apply it to follow-up points to put them on the
            baseline (the "transform to parent" of a Slicer transform node holding the follow-up).
        center_ras: centre of the region of interest (RAS mm): the baseline cartilage centroid
            when a mask was given, else the baseline image centre.
        displacement_mm: how far the knee at ``center_ras`` moved from baseline to follow-up
            (RAS mm vector); its norm is the translation to quote.
        rotation_deg: total rotation angle between the visits (degrees).
        rotation_axis_ras: unit rotation axis (RAS) of that rotation.
        metric: the similarity metric used (``"mattes"`` or ``"correlation"``).
        initialization: which start position was used (identity, geometry or moments).
        ncc_before / ncc_after: normalised cross-correlation (-1..1) of the baseline image and
            the follow-up resampled without / with the transform, inside the metric mask (or
            the overlap of the two images when no mask is given). Higher is better.
        dice_before / dice_after: Dice of the follow-up cartilage resampled onto the baseline
            without / with the transform versus the baseline cartilage (None without masks).
        iterations: optimiser iterations at the finest level.
        stop_condition: the optimiser's own stop reason.
        kept_scanner_frame: True when the optimiser's transform did not align the images better
            than the scanner coordinates did (correlation not higher) and the identity was kept:
            e.g. a series compared with itself or a re-scan without motion, where a registration
            jitter of a few hundredths of a mm would otherwise move voxels between projection cells.
        warnings: plain-language notes (a poor result).
    """

    baseline_to_followup_ras: np.ndarray
    followup_to_baseline_ras: np.ndarray
    center_ras: np.ndarray
    displacement_mm: np.ndarray
    rotation_deg: float
    rotation_axis_ras: np.ndarray
    metric: str
    initialization: str
    ncc_before: float
    ncc_after: float
    dice_before: Optional[float] = None
    dice_after: Optional[float] = None
    iterations: int = 0
    stop_condition: str = ""
    warnings: List[str] = field(default_factory=list)
    kept_scanner_frame: bool = False

    @property
    def translation_mm(self) -> float:
        """Length of :attr:`displacement_mm` (mm)."""
        return float(np.linalg.norm(self.displacement_mm))

    def to_dict(self) -> Dict[str, object]:
        """JSON-ready summary with units in the keys."""
        def _round(value):
            return None if value is None else round(float(value), 4)

        return {
            "baseline_to_followup_ras": np.round(self.baseline_to_followup_ras, 6).tolist(),
            "followup_to_baseline_ras": np.round(self.followup_to_baseline_ras, 6).tolist(),
            "center_ras_mm": np.round(self.center_ras, 3).tolist(),
            "displacement_ras_mm": np.round(self.displacement_mm, 3).tolist(),
            "translation_mm": _round(self.translation_mm),
            "rotation_deg": _round(self.rotation_deg),
            "rotation_axis_ras": np.round(self.rotation_axis_ras, 4).tolist(),
            "metric": self.metric,
            "initialization": self.initialization,
            "ncc_before": _round(self.ncc_before),
            "ncc_after": _round(self.ncc_after),
            "cartilage_dice_before": _round(self.dice_before),
            "cartilage_dice_after": _round(self.dice_after),
            "iterations": int(self.iterations),
            "stop_condition": self.stop_condition,
            "kept_scanner_frame": bool(self.kept_scanner_frame),
            "warnings": list(self.warnings),
        }


def register_rigid(
    baseline_image: Volume,
    followup_image: Volume,
    baseline_mask: Optional[np.ndarray] = None,
    followup_mask: Optional[np.ndarray] = None,
    mask_margin_mm: float = 15.0,
    metric: str = "mattes",
    initialization: str = "auto",
    shrink_factors=(4, 2, 1),
    smoothing_sigmas_mm=(2.0, 1.0, 0.0),
    max_iterations: int = 300,
    sampling_fraction: float = 0.3,
    seed: int = 20240607,
) -> RegistrationResult:
    """Fit the rigid transform that aligns ``followup_image`` onto ``baseline_image``.

    Args:
        baseline_image / followup_image: scalar volumes (e.g. the echo nearest 20 ms of each exam); their
            grids may differ, only physical space matters.
        baseline_mask: optional boolean ``(slice, row, col)`` baseline cartilage; the metric is then
            restricted to the mask dilated by ``mask_margin_mm`` (mm, real spacing).
        followup_mask: optional follow-up cartilage, only used to report Dice before/after.
        metric: ``"mattes"`` (Mattes mutual information, robust to gain changes) or
            ``"correlation"`` (normalised cross-correlation, same contrast only).
        initialization: ``"identity"`` (scanner coordinates), ``"geometry"`` (image centres),
            ``"moments"`` (intensity centres of mass) or ``"auto"`` (the best-scoring of the three).
        shrink_factors / smoothing_sigmas_mm: the multi-resolution pyramid, coarse to fine.

    Returns:
        A :class:`RegistrationResult`.
    """
    import SimpleITK as sitk

    if metric not in METRICS:
        raise InputError("Unknown registration metric %r: use one of %s." % (metric, ", ".join(METRICS)))
    if initialization not in INITIALIZATIONS:
        raise InputError("Unknown initialisation %r: use one of %s." % (initialization, ", ".join(INITIALIZATIONS)))
    metric_mask = None if baseline_mask is None else _metric_mask(baseline_image, baseline_mask, mask_margin_mm)
    center_ras = _roi_center_ras(baseline_image, baseline_mask)
    fixed_volume, fixed_mask = _crop_to(baseline_image, metric_mask)
    fixed = sitk.Cast(volume_to_sitk(fixed_volume), sitk.sitkFloat32)
    moving = sitk.Cast(volume_to_sitk(followup_image), sitk.sitkFloat32)
    levels = _usable_levels(fixed_volume, shrink_factors, smoothing_sigmas_mm)

    method = _configure_method(metric, levels, max_iterations, sampling_fraction, seed)
    if fixed_mask is not None:
        method.SetMetricFixedMask(volume_to_sitk(fixed_volume.with_array(fixed_mask.astype(np.uint8))))
    start, chosen = _initial_transform(method, fixed, moving, initialization, center_ras)
    method.SetInitialTransform(start, inPlace=True)
    method.Execute(fixed, moving)

    b2f_ras = _euler_to_ras_matrix(start)
    result = _summarise(b2f_ras, center_ras, metric, chosen, method)
    _assess_quality(result, baseline_image, followup_image, metric_mask, baseline_mask, followup_mask)
    if initialization in ("auto", "identity") and result.ncc_before >= result.ncc_after:
        _keep_scanner_frame(result)
    return result


def _keep_scanner_frame(result: RegistrationResult) -> None:
    """Replace a transform that aligned no better than the scanner coordinates by the identity."""
    result.baseline_to_followup_ras = np.eye(4)
    result.followup_to_baseline_ras = np.eye(4)
    result.displacement_mm = np.zeros(3)
    result.rotation_deg = 0.0
    result.ncc_after, result.dice_after = result.ncc_before, result.dice_before
    result.initialization = "identity"
    result.kept_scanner_frame = True
    if not result.ncc_before < 0.5:  # the "poor" warning judged the discarded transform
        result.warnings = [text for text in result.warnings if not text.startswith("Registration looks poor")]


def _configure_method(metric: str, levels, max_iterations: int, sampling_fraction: float, seed: int):
    import SimpleITK as sitk

    method = sitk.ImageRegistrationMethod()
    if metric == "mattes":
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    else:
        method.SetMetricAsCorrelation()
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(float(sampling_fraction), int(seed))
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-3, numberOfIterations=int(max_iterations),
        relaxationFactor=0.6, gradientMagnitudeTolerance=1e-8,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([int(s) for s, _ in levels])
    method.SetSmoothingSigmasPerLevel([float(g) for _, g in levels])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    return method


def _usable_levels(image: Volume, shrink_factors, smoothing_sigmas_mm):
    """Drop pyramid levels that would shrink the smallest image axis below 8 voxels."""
    smallest = min(np.shape(image.array))
    levels = [(s, g) for s, g in zip(shrink_factors, smoothing_sigmas_mm) if s == 1 or smallest / s >= 8]
    return levels or [(1, 0.0)]


def _crop_to(image: Volume, mask: Optional[np.ndarray]):
    """The image (and mask) cropped to the mask's bounding box: the metric never looks further."""
    if mask is None:
        return image, None
    present = np.argwhere(mask)
    low, high = present.min(axis=0), present.max(axis=0) + 1
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high))
    matrix = np.array(image.ijk_to_ras, dtype=np.float64)
    matrix[:3, 3] = matrix[:3, :3] @ low[::-1].astype(np.float64) + matrix[:3, 3]
    return Volume(np.ascontiguousarray(np.asarray(image.array)[box]), matrix), mask[box]


def _metric_mask(image: Volume, mask: np.ndarray, margin_mm: float) -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != np.shape(image.array):
        raise InputError(
            "The baseline cartilage mask %s does not match the baseline image %s; give the "
            "segmentation computed on that exam." % (mask.shape, np.shape(image.array))
        )
    if not mask.any():
        raise InputError("The baseline cartilage mask is empty: segment the baseline first.")
    spacing_kji = spacing_from_matrix(image.ijk_to_ras)[::-1]
    distance = ndimage.distance_transform_edt(~mask, sampling=spacing_kji)
    return distance <= float(margin_mm)


def _roi_center_ras(image: Volume, mask: Optional[np.ndarray]) -> np.ndarray:
    if mask is not None and np.any(mask):
        centroid_kji = np.array(ndimage.center_of_mass(np.asarray(mask, dtype=bool)))
    else:
        centroid_kji = (np.array(np.shape(image.array), dtype=np.float64) - 1.0) / 2.0
    return voxel_centers_ras(image.ijk_to_ras, centroid_kji[np.newaxis, :])[0]


def _initial_transform(method, fixed, moving, initialization: str, center_ras: np.ndarray):
    """Candidate starts (rotation 0, centred on the ROI); keep the best metric value for 'auto'."""
    import SimpleITK as sitk

    center_lps = tuple((LPS_TO_RAS @ center_ras).tolist())
    candidates = []
    for name in ("identity", "geometry", "moments"):
        if initialization not in ("auto", name):
            continue
        transform = sitk.Euler3DTransform()
        if name != "identity":
            kind = sitk.CenteredTransformInitializerFilter.GEOMETRY
            if name == "moments":
                kind = sitk.CenteredTransformInitializerFilter.MOMENTS
            initial = sitk.CenteredTransformInitializer(fixed, moving, sitk.Euler3DTransform(), kind)
            transform.SetTranslation(initial.GetTranslation())
        transform.SetCenter(center_lps)
        candidates.append((name, transform))
    if len(candidates) == 1:
        return candidates[0][1], candidates[0][0]
    scored = []
    for name, transform in candidates:
        method.SetInitialTransform(transform, inPlace=False)
        try:
            scored.append((method.MetricEvaluate(fixed, moving), name, transform))
        except RuntimeError:  # no overlap at all from this start
            continue
    if not scored:
        raise InputError(
            "The baseline and follow-up images do not overlap from any starting position: check "
            "that both are images of the same knee."
        )
    value, name, transform = min(scored, key=lambda item: item[0])
    return transform, name


def _euler_to_ras_matrix(transform) -> np.ndarray:
    """4x4 RAS matrix of an ITK rigid transform (baseline LPS -> follow-up LPS)."""
    rotation = np.array(transform.GetMatrix(), dtype=np.float64).reshape(3, 3)
    center = np.array(transform.GetCenter(), dtype=np.float64)
    translation = np.array(transform.GetTranslation(), dtype=np.float64)
    lps = np.eye(4)
    lps[:3, :3] = rotation
    lps[:3, 3] = translation + center - rotation @ center
    return FLIP_RAS_LPS @ lps @ FLIP_RAS_LPS


def _summarise(b2f_ras: np.ndarray, center_ras: np.ndarray, metric: str, initialization: str, method) -> RegistrationResult:
    angle, axis = rotation_angle_axis(b2f_ras[:3, :3])
    moved_center = b2f_ras[:3, :3] @ center_ras + b2f_ras[:3, 3]
    return RegistrationResult(
        baseline_to_followup_ras=b2f_ras,
        followup_to_baseline_ras=np.linalg.inv(b2f_ras),
        center_ras=center_ras,
        displacement_mm=moved_center - center_ras,
        rotation_deg=angle,
        rotation_axis_ras=axis,
        metric=metric,
        initialization=initialization,
        ncc_before=float("nan"),
        ncc_after=float("nan"),
        iterations=int(method.GetOptimizerIteration()),
        stop_condition=method.GetOptimizerStopConditionDescription(),
    )


def rotation_angle_axis(rotation: np.ndarray):
    """Angle (degrees) and unit axis of a 3x3 rotation matrix."""
    rotation = np.asarray(rotation, dtype=np.float64)
    cosine = np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0)
    angle = float(np.degrees(np.arccos(cosine)))
    axis = np.array([
        rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0], rotation[1, 0] - rotation[0, 1]
    ])
    norm = np.linalg.norm(axis)
    return angle, (axis / norm if norm > 1e-12 else np.array([0.0, 0.0, 1.0]))


def _assess_quality(result, baseline_image, followup_image, metric_mask, baseline_mask, followup_mask) -> None:
    identity = np.eye(4)
    before = resample_onto(followup_image, baseline_image, identity, "linear", default=np.nan)
    after = resample_onto(followup_image, baseline_image, result.baseline_to_followup_ras, "linear", default=np.nan)
    region = np.ones(np.shape(baseline_image.array), dtype=bool) if metric_mask is None else metric_mask
    result.ncc_before = normalized_cross_correlation(baseline_image.array, before.array, region)
    result.ncc_after = normalized_cross_correlation(baseline_image.array, after.array, region)
    if baseline_mask is not None and followup_mask is not None:
        moving = followup_image.with_array(np.asarray(followup_mask, dtype=np.uint8))
        for attribute, matrix in (("dice_before", identity), ("dice_after", result.baseline_to_followup_ras)):
            warped = resample_onto(moving, baseline_image, matrix, "nearest", default=0).array > 0
            setattr(result, attribute, _dice(np.asarray(baseline_mask, dtype=bool), warped))
    if np.isfinite(result.ncc_after) and result.ncc_after < 0.5:
        result.warnings.append(
            "Registration looks poor (correlation %.2f after alignment): inspect the aligned "
            "follow-up before trusting pixel-wise change maps." % result.ncc_after
        )


def normalized_cross_correlation(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    """Pearson correlation of two same-shape arrays over ``region`` where both are finite."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    use = np.asarray(region, dtype=bool) & np.isfinite(a) & np.isfinite(b)
    if use.sum() < 10:
        return float("nan")
    x, y = a[use] - a[use].mean(), b[use] - b[use].mean()
    denominator = np.sqrt(np.sum(x * x) * np.sum(y * y))
    return float(np.sum(x * y) / denominator) if denominator > 0 else float("nan")


def _dice(a: np.ndarray, b: np.ndarray) -> Optional[float]:
    total = int(a.sum()) + int(b.sum())
    return None if total == 0 else 2.0 * float(np.logical_and(a, b).sum()) / total
