"""Is an abrupt plate end a missed margin slice? The evidence behind slice_coverage.ABRUPT_END_SHARE.

Two measurements on digital phantoms of the two real knee anatomies:

1. **True plates.** For many phantoms (both anatomies, the default and a wider
   anatomical variety, OAI and GE geometry, both sides) the share of the
   fullest slice's area held by the last slice at each end of the TRUE femoral
   cartilage plate, for ends inside the series. The rule's threshold must lie
   above these (a perfect segmentation is never flagged).
2. **Segmented plates.** Phantoms segmented with a model (default: the shipped
   bootstrap model) through the real refinement: for each plate end inside the
   series, whether the rule flags it and whether the truth holds cartilage in
   the slice beyond it (the network missed a margin slice there; counted when
   the truth there holds at least 5 % of its fullest slice's area). Held-out
   anatomy (the model never saw it) and training anatomy, counted apart.
   Baseline: the share of all ends with truth beyond them, i.e. the precision
   of flagging ends at random.

Usage: python benchmarks/bench_plate_ends.py [--truth-cases 48] [--model PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from bench_setup import DEFAULT_MODEL, HELD_OUT_ANATOMY, knee_labels_dir

ANATOMIES = {"training": "right_knee_example.nrrd", "held-out": HELD_OUT_ANATOMY}
# (anatomy, first seed, cases) segmented with the model: the held-out sets of bench_bootstrap_model.py and new
# training-anatomy phantoms (not the training or validation seeds)
SEGMENTED = (("held-out", 7300, 16), ("held-out", 7000, 8), ("training", 9100, 16))
MISSED_SHARE = 0.05  # true cartilage beyond an end counts as a missed margin slice from this share of the fullest


def main() -> int:

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truth-cases", type=int, default=48, help="true plates per anatomy and variety (default 48)")
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    args = parser.parse_args()
    labels_dir = knee_labels_dir()
    if labels_dir is None:
        return 1
    import torch

    from KneeCartilageT2Lib.phantom_anatomy import load_anatomy
    from KneeCartilageT2Lib.slice_coverage import ABRUPT_END_SHARE

    torch.set_num_threads(2)
    anatomies = {role: load_anatomy(labels_dir / name) for role, name in ANATOMIES.items()}
    started = time.time()
    shares = true_end_shares(anatomies, args.truth_cases)
    print("True plates: %d ends inside the series from %d phantoms (%.0f s)"
          % (len(shares), 4 * args.truth_cases, time.time() - started))
    print("  end share of the fullest slice: median %.2f, 95th percentile %.2f, 99th %.2f, max %.2f; "
          "at or above the rule's %.2f: %d" % (np.median(shares), np.percentile(shares, 95),
                                               np.percentile(shares, 99), shares.max(), ABRUPT_END_SHARE,
                                               int((shares >= ABRUPT_END_SHARE).sum())))
    print("\nSegmented plates (%s):" % Path(args.model).name)
    counts = segmented_ends(anatomies, args.model)
    for role, (tally, beyond) in counts.items():
        ends = sum(tally.values())
        with_missed = tally["flagged, missed"] + tally["not flagged, missed"]
        flagged = tally["flagged, missed"] + tally["flagged, nothing beyond"]
        print("  %s anatomy: %d ends inside the series, %d with a missed margin slice beyond (random flagging "
              "precision %.2f)" % (role, ends, with_missed, with_missed / max(ends, 1)))
        print("    flagged %d: %d with a missed margin slice beyond (precision %s); missed margin slices found: %d of %d"
              % (flagged, tally["flagged, missed"],
                 "%.2f" % (tally["flagged, missed"] / flagged) if flagged else "n/a",
                 tally["flagged, missed"], with_missed))
        for key in ("flagged, missed", "not flagged, missed"):
            if beyond[key]:
                print("    %s: true voxels in the missed slice, mean %.0f (%d-%d)"
                      % (key, np.mean(beyond[key]), min(beyond[key]), max(beyond[key])))
    return 0


def true_end_shares(anatomies, cases: int) -> np.ndarray:
    """End shares of the true plates (ends inside the series) over both anatomies and varieties."""
    from KneeCartilageT2Lib.phantom import PhantomOptions, simulate_phantom
    from KneeCartilageT2Lib.phantom_output import case_plan
    from KneeCartilageT2Lib.slice_coverage import plate_ends

    wide = dataclasses.replace(PhantomOptions(), deformation_mm=4.5, scale_jitter=0.15, max_rotation_deg=12.0)
    shares = []
    for anatomy in anatomies.values():
        for plan in (case_plan(cases, 20000), case_plan(cases, 30000, template=wide)):
            for options in plan:
                label = simulate_phantom(anatomy, options).label > 0
                shares.extend(end.area_share for end in plate_ends(label) if not end.at_series_edge)
    return np.array(shares)


def segmented_ends(anatomies, model_path: str):
    """Per anatomy role: (counts of ends by flagged or not and missed slice beyond or not,
    the true voxel counts beyond the ends of each kind)."""
    from KneeCartilageT2Lib.inference import segment_exam
    from KneeCartilageT2Lib.model_registry import load_model
    from KneeCartilageT2Lib.phantom import simulate_phantom
    from KneeCartilageT2Lib.phantom_output import case_plan
    from KneeCartilageT2Lib.slice_coverage import plate_ends
    from KneeCartilageT2Lib.t2_fitting import fit_exam

    model = load_model(model_path, device="cpu")
    keys = ("flagged, missed", "flagged, nothing beyond", "not flagged, missed", "not flagged, nothing beyond")
    counts = {role: (dict.fromkeys(keys, 0), {key: [] for key in keys}) for role in ANATOMIES}
    for role, base_seed, cases in SEGMENTED:
        for options in case_plan(cases, base_seed):
            phantom = simulate_phantom(anatomies[role], options)
            exam = phantom.exam
            result = segment_exam(exam, model, device="cpu",
                                  t2_ms=lambda candidates: fit_exam(exam, method="mono", mask=candidates).t2_ms)
            truth_per_slice = (phantom.label > 0).reshape(phantom.label.shape[0], -1).sum(axis=1)
            for end in plate_ends(result.label > 0):
                if end.at_series_edge:
                    continue
                beyond = int(truth_per_slice[end.next_slice])
                missed = beyond >= MISSED_SHARE * truth_per_slice.max()
                key = "%s, %s" % ("flagged" if end.abrupt else "not flagged", "missed" if missed else "nothing beyond")
                counts[role][0][key] += 1
                counts[role][1][key].append(beyond)
                if end.abrupt or missed:
                    print("    %s %s %-5s seed %d: end slice %d, share %.2f, true voxels beyond %d%s"
                          % (role, options.protocol, options.laterality, options.seed, end.slice_index,
                             end.area_share, beyond, "  FLAGGED" if end.abrupt else ""), flush=True)
    return counts


if __name__ == "__main__":
    sys.exit(main())
