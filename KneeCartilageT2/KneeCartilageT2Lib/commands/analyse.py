"""``knee-t2 analyse INPUT -o OUTDIR``: the whole analysis of one exam of your own (alias ``analyze``).

T2 map, U-Net segmentation with its refinement, 27-region T2 and thickness, and
the standard result folder: label.nrrd, t2.nrrd (ms, 0 = invalid), r2.nrrd,
anatomy.nrrd, probabilities.nrrd, regions/, preview.png, report.html,
provenance.json (every option used) and DONE.json, written last. `demo` is
the same job on the embedded default exam; the folder is what `report`,
`to-dicom`, `change`, `agreement` and `export --original` take.

Knee side: --laterality right/left wins (recorded as given by you); otherwise
the exam's Laterality tag; otherwise it is estimated from the cartilage shape (and, for DICOM, from where the knee
lies in the scanner) and reported as estimated.
An existing analysis folder is rewritten; a folder holding other files of
these names is refused. Exit status 3 means the folder was written but no
cartilage was found.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ._analysis_options import (LABEL_RULE_TEXT, add_model_arguments, add_region_mode_argument,
                                add_t2_method_argument, add_t2_range_argument, analysis_options)
from ._analysis_summary import print_analysis_summary, print_exam_line
from ._common import (ProgressPrinter, add_exam_argument, add_record_full_paths_argument, check_output_folder,
                      load_exam_from_args, refuse_output_in_input)

NO_CARTILAGE_STATUS = 3  # as `knee-t2 segment`: outputs written, but the segmentation is empty


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "analyse",
        aliases=["analyze"],
        help="the whole analysis of one exam (T2 map, segmentation, regions, report) into a result folder",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_exam_argument(parser, laterality_help="knee side; right or left wins over the data's (DICOM Laterality tag) "
                      "and is recorded as given by you, unknown keeps the data's (else it is estimated)")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                        help="result folder (created; an earlier analysis there is replaced)")
    add_model_arguments(parser)
    add_t2_method_argument(parser)
    add_t2_range_argument(parser, LABEL_RULE_TEXT)
    add_region_mode_argument(parser)
    parser.add_argument("--no-figures", action="store_true",
                        help="skip the pictures and report.html (the slowest files; `knee-t2 report OUTDIR` "
                        "writes the report later)")
    add_record_full_paths_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..devices import select_device
    from ..model_registry import describe_model
    from ..pipeline import analyse_exam, laterality_for, refuse_foreign_folder, write_analysis

    out_dir = Path(args.output)
    check_output_folder(out_dir)
    refuse_foreign_folder(out_dir)
    refuse_output_in_input(args.input, out_dir)
    refuse_result_folder_as_input(args.input)
    describe_model(args.model)  # an unknown model or device is refused before the exam is read and fitted
    select_device(args.device)
    exam = load_exam_from_args(args, apply_laterality=False)
    options = analysis_options(args, laterality=args.laterality)
    print("Input: %s" % args.input)
    print_exam_line(exam, laterality_for(exam, options)[0])
    progress = ProgressPrinter()
    result = analyse_exam(exam, options, progress=progress)
    progress.end()
    write_analysis(result, out_dir, preview=not args.no_figures, figures=not args.no_figures,
                   record_full_paths=args.record_full_paths)
    print_analysis_summary(result, out_dir)
    return 0 if result.status == "ok" else NO_CARTILAGE_STATUS


def refuse_result_folder_as_input(input_path) -> None:
    """Refuse a knee-t2 result folder given as the exam (it holds no echoes; the loader would only say
    that it found no DICOM image there)."""
    from ..pipeline import holds_analysis

    if Path(input_path).is_dir() and holds_analysis(input_path):
        raise InputError("%s is a knee-t2 result folder, not an exam: give the exam's DICOM folder or echo file "
                         "(`knee-t2 report %s` rewrites that folder's report)." % (input_path, input_path))
