"""Choose a trained model's probability threshold on its validation exams.

A network trained with soft Dice is conservative at partial-volume edges, so
0.5 is not always the best cut. After training, every validation case (never
a test case) is run through the real inference path (preprocessing, network,
the refinement rules with T2 fitted in the candidate voxels) for a few
thresholds, on the exam's own grid. The rule: the best mean Dice; among the
thresholds within 0.002 of it, the smallest mean whole-plate T2 difference
between the predicted and the true mask (both on the same mono-exponential
T2 map), so the choice also serves the T2 measurement the model is for.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence

import numpy as np

THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5)
DICE_TOLERANCE = 0.002


def calibrate_on_exams(module, spec: Dict[str, Any], cases: Sequence[tuple], device,
                       thresholds: Sequence[float] = THRESHOLDS) -> Dict[str, Any]:
    """``cases`` are ``(dataset_dir, case_id)`` pairs; returns the choice and the per-threshold figures."""
    from .dataset_format import read_case
    from .inference import predict_probabilities
    from .model_registry import LoadedModel
    from .preprocessing import spacing_row_col
    from .refinement import RefinementParams, refine_segmentation
    from .t2_fitting import fit_exam

    model = LoadedModel(module, spec, str(spec.get("name", "")), str(spec.get("version", "")), channels_last=False)
    dice = {threshold: [] for threshold in thresholds}
    t2_error = {threshold: [] for threshold in thresholds}
    for dataset_dir, case_id in cases:
        exam, label, _ = read_case(dataset_dir, case_id)
        truth = label.array > 0
        probabilities, _ = predict_probabilities(exam, model, (device, "training device"))
        params = RefinementParams.from_dict(spec["refinement"])
        fit = fit_exam(exam, method="mono", mask=(probabilities > params.candidate_threshold) | truth)
        oracle = _mean(fit.t2_ms[truth & fit.valid])
        row_mm, col_mm = spacing_row_col(exam.ijk_to_ras)
        for threshold in thresholds:
            chosen = RefinementParams.from_dict(dict(spec["refinement"], probability_threshold=threshold))
            predicted = refine_segmentation(probabilities, fit.t2_ms, row_mm * col_mm, chosen).label > 0
            dice[threshold].append(_dice(predicted, truth))
            t2_error[threshold].append(abs(_mean(fit.t2_ms[predicted & fit.valid]) - oracle))
    mean_dice = {threshold: float(np.mean(values)) for threshold, values in dice.items()}
    mean_error = {threshold: _finite_mean(values) for threshold, values in t2_error.items()}
    best = max(mean_dice.values())
    near_best = [threshold for threshold in thresholds if mean_dice[threshold] >= best - DICE_TOLERANCE]
    chosen_threshold = min(near_best, key=lambda threshold: (mean_error[threshold], threshold))
    return {
        "threshold": float(chosen_threshold),
        "rule": "best mean validation Dice; within %.3f of it, smallest mean |T2(model mask) - T2(true mask)|"
                % DICE_TOLERANCE,
        "dice_by_threshold": {"%.3f" % key: value for key, value in mean_dice.items()},
        "t2_difference_ms_by_threshold": {"%.3f" % key: (value if np.isfinite(value) else None)
                                          for key, value in mean_error.items()},
        "cases": [case_id for _, case_id in cases],
    }


def _dice(predicted: np.ndarray, truth: np.ndarray) -> float:
    total = predicted.sum() + truth.sum()
    return float(2.0 * np.logical_and(predicted, truth).sum() / total) if total else 1.0


def _finite_mean(values) -> float:
    """Mean of the finite values; infinity when there are none (an empty mask has no T2)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else float("inf")


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")
