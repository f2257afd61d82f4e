"""Does the cohort review put the worst segmentations first? Measured on phantoms with known truth.

A small cohort of digital phantoms of the held-out anatomy (the bootstrap
model never saw it; GE protocol, both sides) is analysed by the real pipeline
(T2 fit, network, refinement, regions, files) into a batch-style folder. A few
scans are made harder on purpose (very low SNR), and one input is broken so
its analysis fails. Then :func:`batch_review.build_review` orders the scans
exactly as ``knee-t2 batch`` does, and the order is compared with what only
the truth can tell: each scan's Dice and whole-plate T2 error (model mask vs
true mask, same T2 map).

Printed: every scan's review rank, priority and reasons beside its Dice and T2
error; where the scans with the lowest Dice land in the review order, against
the position a random order gives them on average (the baseline, (n + 1) / 2);
and Spearman's rank correlation between review rank and Dice.

Usage: python benchmarks/bench_cohort_review.py [--cases 12] [--hard 3] [--base-seed 7500] [--keep DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_setup import HELD_OUT_ANATOMY, knee_labels_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=12, help="ordinary phantoms (default 12)")
    parser.add_argument("--hard", type=int, default=3, help="extra phantoms at SNR 6 (default 3)")
    parser.add_argument("--base-seed", type=int, default=7500)
    parser.add_argument("--keep", default=None, metavar="DIR", help="write the batch folder here and keep it")
    args = parser.parse_args()
    labels_dir = knee_labels_dir()
    anatomy_path = labels_dir / HELD_OUT_ANATOMY if labels_dir else None
    if anatomy_path is None or not anatomy_path.is_file():
        return 1
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="knee-t2-review-"))
    try:
        truth = analyse_cohort(anatomy_path, out, args.cases, args.hard, args.base_seed)
        report(out, truth)
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    return 0


def analyse_cohort(anatomy_path: Path, out: Path, cases: int, hard: int, base_seed: int):
    """Simulate, analyse and write every scan; returns the status rows and each scan's truth figures."""
    import torch

    from KneeCartilageT2Lib.phantom import simulate_phantom
    from KneeCartilageT2Lib.phantom_anatomy import load_anatomy
    from KneeCartilageT2Lib.phantom_output import case_plan
    from KneeCartilageT2Lib.pipeline import AnalysisOptions, analyse_exam, write_analysis
    from KneeCartilageT2Lib.t2_fitting import fit_exam

    torch.set_num_threads(2)
    anatomy = load_anatomy(anatomy_path)
    plan = case_plan(cases + hard, base_seed, protocols=("ge",))
    plan = plan[:cases] + [dataclasses.replace(options, snr=6.0) for options in plan[cases:]]
    statuses, truth = [], {}
    for options in plan:
        scan_id = "%s_seed%d_snr%.0f" % (options.laterality, options.seed, options.snr)
        started = time.time()
        phantom = simulate_phantom(anatomy, options)
        result = analyse_exam(phantom.exam, AnalysisOptions(device="cpu", laterality=options.laterality))
        write_analysis(result, out / "scans" / scan_id, preview=True, figures=False)
        predicted, true_mask = result.label.array > 0, phantom.label > 0
        fit = fit_exam(phantom.exam, method="mono", mask=predicted | true_mask)
        model_t2 = fit.t2_ms[predicted & fit.valid]
        true_t2 = fit.t2_ms[true_mask & fit.valid]
        truth[scan_id] = {
            "dice": float(2 * (predicted & true_mask).sum() / max(predicted.sum() + true_mask.sum(), 1)),
            "t2_error": abs(float(model_t2.mean()) - float(true_t2.mean())) if model_t2.size else float("nan"),
            "hard": options in plan[cases:],
        }
        statuses.append({"kind": "scan", "id": scan_id, "subject": scan_id, "visit": "base",
                         "side": options.laterality, "status": "done", "error": None,
                         "notes": " | ".join(result.messages)})
        print("  analysed %s: Dice %.3f (%.0f s)" % (scan_id, truth[scan_id]["dice"], time.time() - started), flush=True)
    statuses.append({"kind": "scan", "id": "broken_input", "subject": "broken", "visit": "base", "side": "",
                     "status": "failed", "error": "InputError: the file is not an image"})
    return statuses, truth


def report(out: Path, statuses_and_truth) -> None:
    from KneeCartilageT2Lib.agreement_stats import spearman
    from KneeCartilageT2Lib.batch_review import build_review, cohort_notes
    from KneeCartilageT2Lib.review_page import write_review

    statuses, truth = statuses_and_truth
    rows = build_review(out, statuses)
    write_review(out, rows, title="Phantom cohort review")
    print()
    print("%4s %-12s %-22s %6s %9s %8s  %s" % ("rank", "priority", "scan", "Dice", "|dT2| ms", "unc.bits", "reasons"))
    for row in rows:
        figures = truth.get(row["id"], {})
        print("%4d %-12s %-22s %6s %9s %8s  %s" % (
            row["rank"], row["priority"], row["id"], "%.3f" % figures["dice"] if figures else "-",
            "%.2f" % figures["t2_error"] if figures else "-",
            "%.3f" % row["uncertainty_bits"] if row.get("uncertainty_bits") is not None else "-", row["reasons"]))
    analysed = [row for row in rows if row["id"] in truth]
    ranks = np.array([row["rank"] for row in analysed], dtype=float)
    dice = np.array([truth[row["id"]]["dice"] for row in analysed])
    worst = np.argsort(dice)[:3]
    baseline = (len(rows) + 1) / 2.0
    print()
    print("the 3 lowest-Dice scans (%s) sit at review ranks %s of %d: mean %.1f vs %.1f for a random order "
          "(ratio %.2f)" % (", ".join("%.3f" % dice[index] for index in worst),
                            ", ".join("%d" % ranks[index] for index in worst), len(rows), ranks[worst].mean(),
                            baseline, ranks[worst].mean() / baseline))
    print("Spearman rank correlation, review rank vs Dice: %+.2f (positive: lower Dice reviewed earlier)"
          % spearman(ranks, dice)[0])
    print("flagged: %d of %d scans; review written to %s" % (sum(row["priority"] != "routine" for row in rows),
                                                             len(rows), out / "review.html"))
    ordinary = [row for row in analysed if not truth[row["id"]]["hard"]]
    abrupt = np.array([bool(row.get("abrupt_ends")) for row in ordinary])
    errors = np.array([truth[row["id"]]["t2_error"] for row in ordinary])
    if abrupt.any() and not abrupt.all():
        print("ordinary-SNR scans whose plate ends abruptly: %d, mean |dT2| %.2f ms vs %.2f ms for the other %d"
              % (abrupt.sum(), errors[abrupt].mean(), errors[~abrupt].mean(), (~abrupt).sum()))
    for note in cohort_notes(rows):
        print("cohort note: %s" % note)


if __name__ == "__main__":
    sys.exit(main())
