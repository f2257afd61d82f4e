"""``knee-t2 regions``: subregional T2 and thickness of a femoral cartilage segmentation.

Takes the exam (for its geometry and its Laterality tag), a femoral
cartilage label map and a T2 map, both on the exam's voxel grid, and writes
regions.csv / regions.json (27 regions), subregions.nrrd (12 subregions,
values 1..12), the projection maps as NRRD and the figure regions.png.

Knee side: --laterality wins; otherwise the exam's Laterality tag; otherwise
it is estimated from the cartilage shape (and, for an exam read from DICOM,
from where the knee lies in the scanner) and reported as estimated.

regions.json names the inputs by the last part of their paths (and the exam by a hash of its
images), unless --record-full-paths is given.
"""

from __future__ import annotations

import argparse

import numpy as np

from ..errors import InputError
from ._common import (add_exam_argument, add_record_full_paths_argument, check_output_folder, load_exam_from_args,
                      print_progress)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "regions",
        help="subregional T2 and thickness of a femoral cartilage segmentation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_exam_argument(parser)
    parser.add_argument("--segmentation", required=True, metavar="SEG.nrrd",
                        help="femoral cartilage label map on the exam's grid (model output or corrected)")
    parser.add_argument("--t2", required=True, metavar="T2.nrrd", help="T2 map in ms on the exam's grid")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for the outputs")
    parser.add_argument("--mode", "--region-mode", dest="mode", choices=("improved", "reference"),
                        default="improved",
                        help="improved (default: notch split, per-condyle sectors, normal thickness) or "
                        "reference (the primary paper's subregions); --region-mode, as the commands that "
                        "analyse a whole exam spell it, is the same option")
    parser.add_argument("--cartilage-label", type=int, default=None, metavar="N",
                        help="label value of femoral cartilage when the segmentation holds several labels")
    parser.add_argument("--no-figure", action="store_true", help="do not draw regions.png")
    add_record_full_paths_argument(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..region_maps import refuse_foreign_region_folder
    from ..regions import analyse_regions, write_region_outputs
    from ..result_privacy import exam_fingerprint, paths_record
    from ..volume_io import read_label_volume, read_t2_map

    check_output_folder(args.output)
    refuse_foreign_region_folder(args.output)
    exam = load_exam_from_args(args)
    segmentation = read_label_volume(args.segmentation, "segmentation")
    t2 = read_t2_map(args.t2)
    check_on_exam_grid(exam, segmentation, "segmentation", args.segmentation)
    check_on_exam_grid(exam, t2, "T2 map", args.t2)
    side, source = side_and_source(exam.laterality, args.laterality, exam.laterality_source)
    analysis = analyse_regions(segmentation, t2.with_array(t2.array.astype(np.float32)), side, mode=args.mode,
                               laterality_source=source, cartilage_label=args.cartilage_label,
                               progress=print_progress, scanner_frame=exam.in_scanner_frame)
    print_progress.end()
    metadata = dict(paths_record({"exam": args.input, "segmentation": args.segmentation, "t2": args.t2},
                                 args.record_full_paths), exam_sha256=exam_fingerprint(exam))
    paths = write_region_outputs(analysis, args.output, metadata=metadata, figure=not args.no_figure)
    print_summary(analysis)
    print("Outputs in %s: %s" % (args.output, ", ".join(sorted(path.name for path in paths.values()))))
    return 0


def side_and_source(exam_laterality: str, user_laterality, exam_source: str = "dicom"):
    """(side, source): the user's side wins, then the exam's (its DICOM tag or sidecar field: ``exam_source``),
    else 'unknown' (estimated)."""
    if user_laterality and user_laterality != "unknown":
        return user_laterality, "user"
    if exam_laterality != "unknown":
        return exam_laterality, exam_source
    return "unknown", "estimated"


def check_on_exam_grid(exam, volume, what: str, path) -> None:
    """Raise InputError unless ``volume`` has the exam's voxel grid and geometry."""
    if tuple(np.shape(volume.array)) != tuple(exam.volume_shape):
        raise InputError(
            "The %s %s has %s voxels (slice, row, col) but the exam has %s: it was not made on this exam. "
            "Use a %s computed on this exam or resample it onto the exam's grid."
            % (what, path, tuple(np.shape(volume.array)), tuple(exam.volume_shape), what)
        )
    if not np.allclose(volume.ijk_to_ras, exam.ijk_to_ras, atol=1e-2):
        raise InputError(
            "The %s %s has the exam's size but another position/orientation (its geometry differs from the "
            "exam's by up to %.2f mm). Use a %s made on this exam, or resample it onto the exam's grid."
            % (what, path, float(np.max(np.abs(volume.ijk_to_ras - exam.ijk_to_ras))), what)
        )


def print_summary(analysis) -> None:
    from ..region_stats import t2_voxel_count, t2_voxels_differ
    from ..side_words import side_source_phrase

    orientation = analysis.orientation
    print("%s knee (side %s), %s regions" % (
        orientation.laterality.capitalize(), side_source_phrase(orientation.side_source, orientation.side_confidence),
        analysis.mode))

    with_t2_count = t2_voxels_differ(analysis.rows)  # a "T2 voxels" column only when some voxels have no valid T2
    extra = " %9s" % "T2 voxels" if with_t2_count else ""
    print("%-5s %9s%s %11s %9s %9s" % ("region", "voxels", extra, "volume mm3", "T2 ms", "thick mm"))
    for row in analysis.rows:
        extra = " %9d" % t2_voxel_count(row) if with_t2_count else ""
        print("%-5s %9d%s %11.0f %9.1f %9.2f" % (row["region"], row["n_voxels"], extra, row["volume_mm3"],
                                                row["t2_mean_ms"], row["thickness_mean_mm"]))
    for warning in analysis.warnings:
        print("Note: " + warning)

