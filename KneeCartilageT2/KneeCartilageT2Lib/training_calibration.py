"""Choose a trained model's refinement settings on its validation exams.

A network trained with soft Dice is conservative at partial-volume edges, so
0.5 is not always the best cut; and the reference slice rule (slices with
fewer than 425 OAI-pixel-sized voxels are emptied) also drops the truly thin
outermost medial and lateral slices, whose partial-volume voxels carry the
highest T2. After training, every validation case (never a test case) is run
through the real inference path (preprocessing, network, the refinement rules
with T2 fitted in the candidate voxels) for each pair of probability threshold
and slice-rule count, on the exam's own grid. The rule: the best mean Dice;
among the settings within 0.002 of it, the smallest mean whole-plate T2
difference between the predicted and the true mask (both on the same
mono-exponential T2 map), so the choice also serves the T2 measurement the
model is for; remaining ties go to the reference slice count, then the lower
threshold.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence

import numpy as np

THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5)
SLICE_VOXELS = (425, 200, 100)  # the reference count first (OAI pixels; scaled by pixel area when applied)
DICE_TOLERANCE = 0.002


def calibrate_on_exams(module, spec: Dict[str, Any], cases: Sequence[tuple], device,
                       thresholds: Sequence[float] = THRESHOLDS,
                       slice_voxels: Sequence[float] = SLICE_VOXELS) -> Dict[str, Any]:
    """``cases`` are ``(dataset_dir, case_id)`` pairs; returns the choice and the per-setting figures.

    Keys: ``threshold`` and ``min_slice_voxels`` (the choice), ``rule``, ``dice_by_setting`` and
    ``t2_difference_ms_by_setting`` (keyed ``"p0.400/s425"``), ``cases``.
    """
    from .dataset_format import read_case
    from .inference import predict_probabilities
    from .model_registry import LoadedModel
    from .preprocessing import spacing_row_col
    from .refinement import RefinementParams, refine_segmentation
    from .t2_fitting import fit_exam

    model = LoadedModel(module, spec, str(spec.get("name", "")), str(spec.get("version", "")), channels_last=False)
    settings = [(float(threshold), float(count)) for count in slice_voxels for threshold in thresholds]
    dice = {setting: [] for setting in settings}
    t2_error = {setting: [] for setting in settings}
    for dataset_dir, case_id in cases:
        exam, label, _ = read_case(dataset_dir, case_id)
        truth = label.array > 0
        probabilities, _ = predict_probabilities(exam, model, (device, "training device"))
        params = RefinementParams.from_dict(spec["refinement"])
        fit = fit_exam(exam, method="mono", mask=(probabilities > params.candidate_threshold) | truth)
        oracle = _mean(fit.t2_ms[truth & fit.valid])
        row_mm, col_mm = spacing_row_col(exam.ijk_to_ras)
        for threshold, count in settings:
            chosen = RefinementParams.from_dict(dict(spec["refinement"], probability_threshold=threshold,
                                                     min_slice_voxels=count))
            predicted = refine_segmentation(probabilities, fit.t2_ms, row_mm * col_mm, chosen).label > 0
            dice[(threshold, count)].append(mask_dice(predicted, truth))
            t2_error[(threshold, count)].append(abs(_mean(fit.t2_ms[predicted & fit.valid]) - oracle))
    mean_dice = {setting: float(np.mean(values)) for setting, values in dice.items()}
    mean_error = {setting: _finite_mean(values) for setting, values in t2_error.items()}
    threshold, count = choose_setting(mean_dice, mean_error, slice_voxels[0])
    return {
        "threshold": threshold,
        "min_slice_voxels": count,
        "rule": "best mean validation Dice; within %.3f of it, smallest mean |T2(model mask) - T2(true mask)|"
                % DICE_TOLERANCE,
        "dice_by_setting": {setting_key(setting): value for setting, value in mean_dice.items()},
        "t2_difference_ms_by_setting": {setting_key(setting): (value if np.isfinite(value) else None)
                                        for setting, value in mean_error.items()},
        "cases": [case_id for _, case_id in cases],
    }


def choose_setting(mean_dice: Dict[tuple, float], mean_error: Dict[tuple, float],
                   reference_count: float) -> tuple:
    """The (threshold, slice count) of the module docstring's rule from per-setting mean figures."""
    best = max(mean_dice.values())
    near_best = [setting for setting, value in mean_dice.items() if value >= best - DICE_TOLERANCE]
    return min(near_best, key=lambda setting: (mean_error[setting], setting[1] != reference_count, setting[0]))


def setting_key(setting: tuple) -> str:
    """``(0.4, 425.0)`` -> ``"p0.400/s425"``."""
    return "p%.3f/s%d" % (setting[0], round(setting[1]))


def mask_dice(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Dice of two boolean masks; 1.0 when both are empty."""
    total = predicted.sum() + truth.sum()
    return float(2.0 * np.logical_and(predicted, truth).sum() / total) if total else 1.0


def _finite_mean(values) -> float:
    """Mean of the finite values; infinity when there are none (an empty mask has no T2)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else float("inf")


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")
