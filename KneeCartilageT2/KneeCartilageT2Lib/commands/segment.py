"""``knee-t2 segment``: femoral cartilage label map from a MESE exam with the U-Net.

Writes a label volume (1 = femoral cartilage) on exactly the exam's grid, and
optionally the probability map. T2 is fitted (mono-exponential) in the
network's candidate voxels so that the reference T2 rule can remove
voxels whose T2 is outside --t2-range (ms; default: the model's range, 0,100
for the listed models, as `analyse` uses); ``--no-t2-rule`` skips that fit.
Exit status 3 means the outputs were written but no cartilage was found.
"""

from __future__ import annotations

import argparse

from ..errors import InputError
from ._analysis_options import LABEL_RULE_TEXT, add_model_arguments, add_t2_range_argument
from ._common import add_exam_argument, check_output_volumes, load_exam_from_args, print_progress

NO_CARTILAGE_STATUS = 3


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="segment femoral cartilage with the U-Net",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_exam_argument(parser)
    parser.add_argument("-o", "--output", required=True, metavar="SEG.nrrd",
                        help="label map to write (.nrrd or .nii.gz); 1 = femoral cartilage")
    add_model_arguments(parser)
    parser.add_argument("--probabilities", default=None, metavar="P.nrrd",
                        help="also write the network's probability map (float, 0..1)")
    parser.add_argument("--batch-size", type=int, default=None, help="slices per forward pass")
    parser.add_argument("--no-t2-rule", action="store_true",
                        help="do not fit T2 to remove voxels with T2 outside the range")
    add_t2_range_argument(parser, LABEL_RULE_TEXT, default=None,
                          default_text="the model's range, 0,100 for the listed models")
    parser.set_defaults(handler=run)


def _t2_in_candidates(exam, t2_range_ms):
    """A function mask -> T2 map (ms, 0 outside ``t2_range_ms``), fitting the mono-exponential model only
    inside the mask. A given range is the T2 rule's too, so a voxel the fit calls valid is never removed by it;
    None fits with the fit's default range (0, 100] ms and leaves the rule the model's own."""

    def fit(candidates):
        from ..t2_fitting import fit_exam

        extra = {} if t2_range_ms is None else {"t2_range_ms": t2_range_ms}
        return fit_exam(exam, method="mono", mask=candidates, **extra).t2_ms

    return fit


def run(args) -> int:
    import numpy as np

    from ..devices import select_device
    from ..inference import segment_exam
    from ..model_registry import describe_model, load_model
    from ..t2_fitting import fitted_echo_rows
    from ..volume_io import write_volume

    if args.no_t2_rule and args.t2_range is not None:
        raise InputError("--t2-range sets the T2 rule's range, and --no-t2-rule skips that rule: give one of them.")
    check_output_volumes(args.output, args.probabilities)
    describe_model(args.model)  # an unknown model or device is refused before the exam is read, as analyse does
    select_device(args.device)
    exam = load_exam_from_args(args)
    if not args.no_t2_rule:
        fitted_echo_rows(exam.n_echoes)  # refuse a series the T2 rule cannot fit before the network runs
    model = load_model(args.model, device="cpu", progress=print_progress)
    t2_source = None if args.no_t2_rule else _t2_in_candidates(exam, args.t2_range)
    result = segment_exam(exam, model, device=args.device, t2_ms=t2_source, progress=print_progress,
                          batch_size=args.batch_size, t2_range_ms=args.t2_range)
    print_progress.end()
    write_volume(exam.volume_like(result.label.astype(np.uint8)), args.output)
    if args.probabilities:
        write_volume(exam.volume_like(result.probabilities.astype(np.float32)), args.probabilities)
    for message in result.messages:
        print("  " + message)
    print("Model %s v%s on %s (echo TE %.1f ms): %d cartilage voxels -> %s" % (
        result.model_name, result.model_version, result.device, result.parameters.get("echo_time_ms", float("nan")),
        int(result.label.sum()), args.output))
    return 0 if result.cartilage_found else NO_CARTILAGE_STATUS
