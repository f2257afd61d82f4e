"""``knee-t2 change BASELINE FOLLOWUP -o OUTDIR``: longitudinal T2 change and focal lesions.

Each visit is either the output folder of a previous analysis (holding
label.nrrd, t2.nrrd and anatomy.nrrd) or an exam (a DICOM folder or a 4D echo
stack). An exam is analysed here: with --baseline-seg / --followup-seg the T2
map is fitted inside the given femoral cartilage label, otherwise the U-Net
segments it. The follow-up is registered rigidly onto the baseline; per-region
change is follow-up minus baseline mean T2 (ms); focal lesions are clusters of
increased T2 on the unrolled cartilage (Monu et al. 2017, with the sign and
the alignment right). Both visits are measured as one knee side: a left and a
right knee are refused, and so are sides that disagree when each is known or
confidently estimated from the cartilage; an uncertain estimate that disagrees
is warned about (give the side with --baseline-laterality/--followup-laterality).
Two knees of one side are told apart after registration: when the visits do
not line up like one knee (image correlation below 0.70 or cartilage Dice below
0.50: --same-knee-correlation / --same-knee-dice), a WARNING to check that both
show the same knee comes first (console, change.json, the report).
A DICOM folder holding several MESE series takes --baseline-series /
--followup-series (each visit its own SeriesNumber, as analyse's --series).

Outputs in OUTDIR: region_change.csv/.json, registration.json/.tfm, the
follow-up label and T2 resampled onto the baseline grid, lesions/ (figure,
NRRD maps, cluster table, 3D cluster labels on the baseline cartilage),
change.json, and baseline/ and followup/ analysis folders for exam inputs.
The files name each input by the last part of its path (with --record-full-paths, by its full path too).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._analysis_options import (add_model_arguments, add_region_mode_argument, add_t2_method_argument,
                                add_t2_range_argument, analysis_options)
from ._common import (ProgressPrinter, add_record_full_paths_argument, check_output_folder, parse_echo_times,
                      refuse_output_in_input)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "change", help="longitudinal T2 change between two visits of one knee, with focal lesion clusters",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for name in ("baseline", "followup"):
        parser.add_argument(name, metavar=name.upper(),
                            help="%s visit: an analysis output folder, a DICOM folder, or a 4D NRRD/NIfTI echo "
                            "stack (echo times in a JSON sidecar or --echo-times)" % name)
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="report folder (created)")
    parser.add_argument("--baseline-seg", metavar="SEG", help="femoral cartilage label of the baseline exam")
    parser.add_argument("--followup-seg", metavar="SEG", help="femoral cartilage label of the follow-up exam")
    parser.add_argument("--baseline-series", metavar="NUMBER",
                        help="SeriesNumber (or SeriesInstanceUID) of the baseline's MESE series, when its DICOM folder "
                        "holds several (as analyse's --series; a repeated MESE stored one series per echo: e.g. 5,6,7,8)")
    parser.add_argument("--followup-series", metavar="NUMBER",
                        help="the same for the follow-up's DICOM folder (each visit names its own: two studies "
                        "number their series independently)")
    parser.add_argument("--baseline-laterality", choices=("right", "left", "unknown"), default=None,
                        help="knee side of the baseline (wins over the data's; recorded as given by you)")
    parser.add_argument("--followup-laterality", choices=("right", "left", "unknown"), default=None,
                        help="knee side of the follow-up (wins over the data's; recorded as given by you)")
    parser.add_argument("--echo-times", type=parse_echo_times, default=None, metavar="TE1,TE2,...",
                        help="echo times in ms for echo stacks without a JSON sidecar (both visits)")
    add_region_mode_argument(parser, " used for both visits")
    add_model_arguments(parser)  # for exams without --*-seg
    add_t2_method_argument(parser, " for exam inputs")
    add_t2_range_argument(parser, " for exam inputs (an analysis folder keeps the range it was analysed with); where "
                          "the U-Net segments an exam (no --*-seg), the T2 rule also leaves it out of the cartilage "
                          "label")
    parser.add_argument("--no-visit-folders", action="store_true",
                        help="do not write the baseline/ and followup/ analysis folders of exam inputs")
    add_record_full_paths_argument(parser)
    parser.add_argument("--no-registration", action="store_true",
                        help="trust the scanner coordinates instead of registering the follow-up")
    parser.add_argument("--metric", choices=("mattes", "correlation"), default="mattes",
                        help="registration similarity: Mattes mutual information (default) or correlation")
    parser.add_argument("--same-knee-correlation", type=float, default=None, metavar="NCC",
                        help="warn that the visits may be different knees when the image correlation after "
                        "registration is below this (default 0.70; same-knee pairs measured 0.96-1.00, different "
                        "knees 0.16-0.51)")
    parser.add_argument("--same-knee-dice", type=float, default=None, metavar="DICE",
                        help="... or when the two visits' cartilage overlap after registration is below this "
                        "(default 0.50; same knee 0.86-1.00, different knees 0.00-0.34)")
    lesions = parser.add_argument_group(
        "focal lesion analysis", "Defaults: the published thresholds plus the median T2 of the mid-depth voxels\n"
        "of each projection cell, a 4 ms floor on a pixel's increase, an increase of at least twice its\n"
        "cells' sampling error, and a cluster-mean guard (mean + 2 SD), measured on phantom test-retest\n"
        "pairs and the real GE exam, with nearest-cell resampling (README: 'What it computes, and how').\n"
        "--lesion-published gives the published method exactly.")
    lesions.add_argument("--lesion-pixel-mm", type=float, default=1.0, metavar="MM",
                         help="pixel size of the common grid both visits' unrolled T2 maps are resampled onto, "
                              "where lesions are found (mm, default 1)")
    lesions.add_argument("--lesion-erosion-px", type=int, default=4, metavar="PX",
                         help="pixels trimmed off the edge of the area both visits cover before lesions are "
                              "sought (default 4)")
    lesions.add_argument("--lesion-sd-factor", type=float, default=1.0, metavar="K",
                         help="a pixel is a lesion candidate when its T2 change reaches the plate's mean change "
                              "+ K x its SD (default 1)")
    lesions.add_argument("--lesion-min-area-percent", type=float, default=1.0, metavar="PERCENT",
                         help="a cluster of candidate pixels is a lesion when it covers more than this %% of the "
                              "analysed plate (default 1)")
    lesions.add_argument("--lesion-min-increase-ms", type=float, default=None, metavar="MS",
                         help="a candidate pixel's T2 must also have risen by at least this many ms; 0 = off "
                              "(default 4, or 0 with --lesion-published)")
    lesions.add_argument("--lesion-cell-statistic", choices=("mid-depth-median", "median", "mean"), default=None,
                         help="how the unrolled map's T2 in one cell (one slice x one arc step) is taken from the "
                              "cartilage voxels in it: mid-depth-median (default: the median of the voxels away "
                              "from both cartilage surfaces), median, or mean (with --lesion-published)")
    lesions.add_argument("--lesion-depth-margin", type=float, default=0.15, metavar="FRACTION",
                         help="for mid-depth-median: the fraction of the cartilage depth left out next to the "
                              "bone and next to the joint surface (default 0.15)")
    lesions.add_argument("--lesion-connectivity", type=int, choices=(4, 8), default=8,
                         help="candidate pixels that touch join one cluster: 8 = also at a corner (default, "
                              "the published rule), 4 = only along an edge")
    lesions.add_argument("--lesion-cluster-sd-factor", type=float, default=None, metavar="K",
                         help="a cluster is a lesion only when its mean T2 change reaches the plate's mean change "
                              "+ K x its SD; 0 = off (default 2, or 0 with --lesion-published)")
    lesions.add_argument("--lesion-interpolation", choices=("nearest", "linear"), default=None,
                         help="how the unrolled maps are resampled onto the common grid: nearest (default: each "
                              "pixel takes its cell's value) or linear (with --lesion-published)")
    lesions.add_argument("--lesion-coverage-percentile", type=float, default=75.0, metavar="PERCENTILE",
                         help="a lesion's coverage area counts a pixel whose rise reaches this percentile of the "
                              "cluster's rises as wholly covered, smaller rises in part (default 75)")
    lesions.add_argument("--lesion-coverage-rim-mm", type=float, default=None, metavar="MM",
                         help="width of the rim around a cluster whose partly raised pixels also count towards "
                              "its coverage area (mm; default one cell in each direction: the slice spacing "
                              "across slices, one arc step along the arc)")
    lesions.add_argument("--lesion-min-z", type=float, default=None, metavar="Z",
                         help="a candidate pixel's rise must also reach Z times the sampling error of its two "
                              "cells' difference (each cell's T2 spread over the square root of its voxel count), "
                              "so that a cell that gains or loses a few voxels is no lesion; 0 = off (default 2, "
                              "or 0 with --lesion-published)")
    lesions.add_argument("--lesion-published", action="store_true",
                         help="the published method (Monu et al. 2017): mean cells, linear resampling, no "
                              "minimum increase, no cluster-mean or sampling-error test (options given "
                              "explicitly still apply)")
    parser.set_defaults(handler=run)


def _lesion_parameters(args):
    from ..lesions import LesionParameters

    values = dict(
        pixel_mm=args.lesion_pixel_mm, erosion_radius_px=args.lesion_erosion_px, sd_factor=args.lesion_sd_factor,
        min_cluster_fraction=args.lesion_min_area_percent / 100.0, connectivity=args.lesion_connectivity,
        coverage_core_percentile=args.lesion_coverage_percentile, coverage_rim_mm=args.lesion_coverage_rim_mm,
        depth_margin=args.lesion_depth_margin,
    )
    optional = {"min_increase_ms": args.lesion_min_increase_ms, "cell_statistic": args.lesion_cell_statistic,
                "cluster_sd_factor": args.lesion_cluster_sd_factor, "interpolation": args.lesion_interpolation,
                "min_cell_z": args.lesion_min_z}
    values.update({key: value for key, value in optional.items() if value is not None})
    return LesionParameters.published(**values) if args.lesion_published else LesionParameters(**values)


def load_visit(args, name: str, out_dir: Path):
    """The VisitData of one positional input (analysis folder or exam)."""
    from ..errors import InputError
    from ..longitudinal_io import analyse_visit_exam, is_analysis_folder, load_visit_folder
    from ..volume_io import read_label_volume

    path = Path(getattr(args, name))
    side = getattr(args, "%s_laterality" % name)
    segmentation = getattr(args, "%s_seg" % name)
    series = getattr(args, "%s_series" % name, None)
    if is_analysis_folder(path):
        for option, value in (("seg", segmentation), ("series", series)):
            if value:
                raise InputError("--%s-%s cannot be used with an analysis folder (%s was analysed already)."
                                 % (name, option, path))
        return load_visit_folder(path, side)
    exam = load_visit_exam(path, args.echo_times, series, name)
    # The side given goes in the options only ("unknown": the side the data gives, as for an analysis folder):
    # as for `analyse --laterality`, the visit's provenance.json keeps the exam's own side ("laterality") apart
    # from the user's (options.laterality, regions laterality_source "user").
    options = analysis_options(args, laterality=side)
    label = read_label_volume(segmentation, "--%s-seg" % name) if segmentation else None
    visit_folder = None if args.no_visit_folders else out_dir / name
    progress = ProgressPrinter(name)
    visit = analyse_visit_exam(exam, label, options, visit_folder, progress, args.record_full_paths)
    progress.end()
    return visit


def load_visit_exam(path: Path, echo_times, series, name: str):
    """The exam of one visit; the loader's messages about choosing a series name this visit's option
    (``--baseline-series`` / ``--followup-series``), not ``analyse``'s ``--series``."""
    from ..errors import InputError
    from ..exam_loader import load_exam

    try:
        return load_exam(path, echo_times_ms=echo_times, series=series)
    except InputError as error:
        text = str(error)
        if "--series" not in text:
            raise
        visit = "follow-up" if name == "followup" else name
        raise InputError("The %s exam: %s" % (visit, text.replace("--series", "--%s-series" % name))) from error


def remove_stale_visit_folder(args, name: str, out_dir: Path) -> None:
    """Remove ``OUTDIR/<name>`` (``name``: baseline or followup) left by an earlier run when this run
    writes no visit folder there (an analysis folder given, or --no-visit-folders): it would describe an
    exam this run did not compare. Kept when it holds one of this run's inputs, or is no knee-t2 analysis (a label
    and a T2 map put together by hand are someone's own, as for :func:`pipeline.refuse_foreign_folder`)."""
    from ..atomic_files import remove_path
    from ..longitudinal_io import is_analysis_folder
    from ..pipeline import holds_analysis

    folder = out_dir / name
    if not holds_analysis(folder):
        return
    if not args.no_visit_folders and not is_analysis_folder(Path(getattr(args, name))):
        return  # rewritten by this run (pipeline.write_analysis clears what it does not rewrite)
    held = folder.resolve()
    for given in (args.baseline, args.followup, args.baseline_seg, args.followup_seg):
        if given and (Path(given).resolve() == held or held in Path(given).resolve().parents):
            return
    remove_path(folder)


def run(args) -> int:
    from ..longitudinal import ChangeOptions, compute_change
    from ..longitudinal_io import change_inputs, is_analysis_folder, write_change_outputs
    from ..pair_similarity import check_same_knee

    out_dir = Path(args.output)
    check_output_folder(out_dir)
    for name in ("baseline", "followup"):
        if not is_analysis_folder(getattr(args, name)):  # an exam: its folder must not receive the report
            refuse_output_in_input(getattr(args, name), out_dir, "the %s exam folder" % name)
    refuse_unknown_model_or_device(args)
    thresholds = {key: value for key, value in (("min_same_knee_correlation", args.same_knee_correlation),
                                                 ("min_same_knee_dice", args.same_knee_dice)) if value is not None}
    options = ChangeOptions(region_mode=args.region_mode, register=not args.no_registration,
                            registration_metric=args.metric, lesions=_lesion_parameters(args), **thresholds)
    check_same_knee(None, options.min_same_knee_correlation, options.min_same_knee_dice)  # thresholds, before the work
    for name in ("baseline", "followup"):
        remove_stale_visit_folder(args, name, out_dir)
    baseline = load_visit(args, "baseline", out_dir)
    followup = load_visit(args, "followup", out_dir)
    progress = ProgressPrinter("change")
    result = compute_change(baseline, followup, options, progress=progress)
    progress.end()
    inputs = {"baseline": args.baseline, "followup": args.followup, "baseline_seg": args.baseline_seg,
              "followup_seg": args.followup_seg}
    write_change_outputs(result, out_dir, change_inputs(inputs, baseline, followup, args.record_full_paths))
    _print_summary(result, out_dir)
    return 0


def refuse_unknown_model_or_device(args) -> None:
    """Refuse a mistyped --device (and, when an exam is to be segmented here, an unknown --model or a device this
    machine lacks) before the first visit is read and fitted, as ``analyse`` does: a visit's T2 fit takes minutes."""
    from ..devices import check_device_name, select_device
    from ..longitudinal_io import is_analysis_folder
    from ..model_registry import describe_model

    args.device = check_device_name(args.device)
    if any(not is_analysis_folder(getattr(args, name)) and not getattr(args, name + "_seg")
           for name in ("baseline", "followup")):
        describe_model(args.model)
        select_device(args.device)


def _print_summary(result, out_dir: Path) -> None:
    for warning in result.warnings:
        different = result.same_knee is not None and warning == result.same_knee.warning()
        print(("WARNING: " if different else "  note: ") + warning)
    if result.side is not None:
        print("Knee side: both visits measured as a %s knee; the baseline is %s, the follow-up %s"
              % (result.laterality, result.side.baseline.describe(), result.side.followup.describe()))
    if result.registration is not None:
        reg = result.registration
        if reg.kept_scanner_frame:
            print("Registration: scanner coordinates kept (no transform aligned the visits better; correlation "
                  "%.3f)" % reg.ncc_before)
        else:
            print("Registration: rotation %.2f deg, translation %.2f mm, correlation %.3f -> %.3f"
                  % (reg.rotation_deg, reg.translation_mm, reg.ncc_before, reg.ncc_after))
    print("Whole-plate T2 change (follow-up - baseline): %+.2f ms%s" % (
        result.delta("all"), "" if result.same_knee is None or result.same_knee.looks_same
        else " (the visits may be different knees: see the WARNING above)"))
    if result.lesions is not None:
        print("Focal lesions: %d covering %.1f%% of the analysed plate"
              % (len(result.lesions.clusters), result.lesions.percent_plate_covered))
    print("Report written to %s" % out_dir)
