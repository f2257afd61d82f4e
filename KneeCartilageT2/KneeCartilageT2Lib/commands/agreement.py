"""``knee-t2 agreement REFERENCE OTHER [OTHER ...] -o OUTDIR``: agreement between segmentation sets.

Compares sets of femoral cartilage segmentations of the same scans (model vs
reader, reader vs reader). The first set is the reference; each other set is
compared with it. Scans are matched by id across sets.

Layout of each set folder (either form, mixed freely):
  SET/<scan_id>/label.nrrd     one folder per scan (also .nii.gz/.nii/.mha), e.g. the output
                               folders of a batch (OUTDIR/scans); optional beside it: t2.nrrd (T2 map,
                               ms), regions/regions.json (region table), provenance.json (side)
  SET/<scan_id>.nrrd           flat label maps, one per scan (also .nii.gz/.nii/.mha)
  SET/<pair_id>/region_change.csv   a `knee-t2 change` report: change agreement per region
Femoral cartilage = voxels equal to --label-value (default: 1, or the only non-zero label).
A scan folder whose analysis did not finish (no DONE.json) or that a batch marked failed
(FAILED.json) is left out and named.

Outputs in OUTDIR (CSV tables, PNG plots):
  segmentation_agreement.csv   per scan: Dice, Jaccard, Hausdorff, HD95, mean symmetric surface
                               distance (mm), volumes (ml); segmentation_summary.csv: mean and SD
  region_t2_values.csv, region_t2_agreement.csv   per region: Spearman rho, MAE, bias, limits
                               of agreement (ms), RMS-CV (%) = root-mean-square over scans of the
                               coefficient of variation of the two measurements
  bland_altman_region_t2_<B>_vs_<A>.png
  region_change_*.csv/png      the same for longitudinal change (region_change.csv folders, or
                               visit pairs given by --pairs)
  staple_raters.csv, staple_summary.csv, staple/<scan_id>.nrrd   with 3 or more sets: STAPLE
                               consensus and each set's sensitivity, specificity and Dice against it
  agreement.json               summary
Regional T2 needs a region table in every set, or a t2.nrrd in at least one set (then every set's
mask is measured on that same T2 map).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import List, Tuple

from ._common import ProgressPrinter, check_output_folder


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "agreement", help="agreement of segmentation sets (model vs reader, readers): Dice, distances, "
        "regional T2 statistics, Bland-Altman, STAPLE",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("sets", nargs="+", metavar="SET_DIR",
                        help="segmentation set folders; the first is the reference")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="report folder (created)")
    parser.add_argument("--names", default=None, metavar="A,B,...",
                        help="display names of the sets, comma separated (default: folder names)")
    parser.add_argument("--label-value", type=int, default=None, help="femoral cartilage label value")
    parser.add_argument("--region-mode", choices=("improved", "reference"), default="improved",
                        help="subregion definition when regions are measured here (default improved)")
    parser.add_argument("--laterality", choices=("right", "left"), default=None,
                        help="knee side for scans whose side is not recorded (else estimated)")
    parser.add_argument("--pairs", default=None, metavar="PAIRS.csv",
                        help="CSV with columns baseline,followup (scan ids): T2 change agreement per region")
    parser.add_argument("--no-plots", action="store_true", help="write the tables only (no Bland-Altman PNGs)")
    parser.set_defaults(handler=run)


def read_pairs(path) -> List[Tuple[str, str]]:
    """(baseline, follow-up) scan ids from a CSV with those two columns."""
    from ..errors import InputError

    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"baseline", "followup"} <= set(reader.fieldnames):
            raise InputError("%s must have the columns 'baseline' and 'followup' (scan ids)." % path)
        return [(row["baseline"].strip(), row["followup"].strip()) for row in reader]


def run(args) -> int:
    from ..agreement_stats import MIN_SCANS_SD, MIN_SCANS_SPEARMAN, statistic_text
    from ..agreement_study import StudyOptions, run_agreement_study
    from ..errors import InputError

    check_output_folder(args.output)
    if len(args.sets) < 2:
        raise InputError("Give at least two segmentation set folders (the reference first).")
    names = [name.strip() for name in args.names.split(",")] if args.names else None
    options = StudyOptions(label_value=args.label_value, region_mode=args.region_mode, laterality=args.laterality,
                           pairs=read_pairs(args.pairs) if args.pairs else [], plots=not args.no_plots)
    progress = ProgressPrinter()
    summary = run_agreement_study(args.sets, args.output, names, options, progress)
    progress.end()
    for note in summary["notes"]:
        print("  note: " + note)
    for entry in summary["segmentation"]:
        n = entry["n_scans"]
        print("%s vs %s: Dice %s +/- %s, HD95 %s mm, MSSD %s mm (%d scan%s)" % (
            entry["compared"], entry["reference"], statistic_text(entry["dice_mean"], "%.3f", n),
            statistic_text(entry["dice_sd"], "%.3f", n, MIN_SCANS_SD),
            statistic_text(entry["hausdorff95_mm_mean"], "%.2f", n),
            statistic_text(entry["mean_surface_distance_mm_mean"], "%.2f", n), n, "" if n == 1 else "s"))
    for entry in summary["regional_t2"]:
        if entry["region"] == "all":
            n = entry["n"]
            print("%s vs %s, whole-plate T2: Spearman %s, MAE %s ms, RMS-CV %s%%" % (
                entry["compared"], entry["reference"], statistic_text(entry["spearman_rho"], "%.2f", n,
                                                                      MIN_SCANS_SPEARMAN),
                statistic_text(entry["mae_ms"], "%.2f", n), statistic_text(entry["rms_cv_percent"], "%.2f", n)))
    for entry in summary.get("staple", []):
        n = entry["n_scans"]
        print("STAPLE %s: sensitivity %s, specificity %s, Dice %s" % (
            entry["rater"], statistic_text(entry["sensitivity_mean"], "%.3f", n),
            statistic_text(entry["specificity_mean"], "%.4f", n), statistic_text(entry["dice_mean"], "%.3f", n)))
    print("Report written to %s" % Path(args.output))
    return 0

