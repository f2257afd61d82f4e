"""``knee-t2 demo``: the main job on the embedded default exam.

Uses the real GE knee MESE exam (found locally or fetched once into the cache
from its public package) or, when it cannot be had, a digital knee phantom
generated on the spot. Runs the whole analysis with the default model and
writes a result folder with a PNG preview.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import KneeT2Error
from ._analysis_options import add_device_argument
from ._analysis_summary import print_analysis_summary, print_exam_line
from ._common import ProgressPrinter, add_record_full_paths_argument, check_output_folder

GE_EXAM_SIDE = "right"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole analysis on the embedded default (the real GE exam, else a phantom)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-o", "--output", default="knee-t2-output", help="output folder (default: %(default)s)")
    parser.add_argument("--phantom", action="store_true", help="use a generated phantom even if the GE exam exists")
    parser.add_argument("--no-fetch", action="store_true", help="never download the GE exam")
    add_device_argument(parser)
    add_record_full_paths_argument(parser)
    parser.set_defaults(handler=run)


def default_exam(use_phantom: bool, fetch: bool, work_dir: Path):
    """(exam, description, side to give the analysis or None): the real GE exam when available, else a phantom.

    The GE exam's Laterality tag was emptied by anonymisation; its publisher documents a right knee,
    so the side is given to the analysis as the user's (reported "given by user", not "from DICOM").
    """
    from ..exam_loader import load_exam

    if not use_phantom:
        from ..sample_data import ge_exam_dir

        try:
            folder = ge_exam_dir(fetch=fetch)
            exam = load_exam(folder)
            side = GE_EXAM_SIDE if exam.laterality == "unknown" else None
            return exam, "real GE knee MESE exam (%s; right knee as documented by its publisher)" % folder, side
        except KneeT2Error as error:
            print("GE exam not available (%s); using a generated phantom instead." % error, file=sys.stderr)
    from ..phantom_defaults import generate_default_phantom

    phantom_dir = generate_default_phantom(work_dir / "phantom_input", fetch=fetch)
    return load_exam(phantom_dir / "echoes.nrrd"), "digital knee phantom (%s)" % phantom_dir, None


def run(args: argparse.Namespace) -> int:
    from ..devices import select_device
    from ..pipeline import AnalysisOptions, analyse_exam, refuse_foreign_folder, write_analysis

    out_dir = Path(args.output)
    check_output_folder(out_dir)
    refuse_foreign_folder(out_dir)
    select_device(args.device)  # an unknown or missing device is refused before the exam is fetched and fitted
    exam, description, side = default_exam(args.phantom, not args.no_fetch, out_dir)
    print("Input: %s" % description)
    print_exam_line(exam, side)
    result = analyse_exam(exam, AnalysisOptions(device=args.device, laterality=side),
                          progress=ProgressPrinter(stream=sys.stdout))
    write_analysis(result, out_dir, record_full_paths=args.record_full_paths)
    print_analysis_summary(result, out_dir)
    return 0
