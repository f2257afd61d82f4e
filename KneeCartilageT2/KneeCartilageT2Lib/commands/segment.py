"""``knee-t2 segment``: femoral cartilage label map from a MESE exam with the U-Net.

Writes a label volume (1 = femoral cartilage) on exactly the exam's grid, and
optionally the probability map. T2 is fitted (mono-exponential) in the
network's candidate voxels so that the reference T2 rule can remove
implausible voxels; ``--no-t2-rule`` skips that fit.
Exit status 3 means the outputs were written but no cartilage was found.
"""

from __future__ import annotations

import argparse

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
    parser.add_argument("--model", default=None, metavar="NAME|PATH",
                        help="registry model name, imported model name, or a .safetensors/.h5 file "
                        "(default: the bundled trained model, else the published reference model); "
                        "see `knee-t2 models list`")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument("--probabilities", default=None, metavar="P.nrrd",
                        help="also write the network's probability map (float, 0..1)")
    parser.add_argument("--batch-size", type=int, default=None, help="slices per forward pass")
    parser.add_argument("--no-t2-rule", action="store_true",
                        help="do not fit T2 to remove voxels with T2 outside the model's range")
    parser.set_defaults(handler=run)


def _t2_in_candidates(exam):
    """A function mask -> T2 map (ms), fitting the mono-exponential model only inside the mask."""

    def fit(candidates):
        from ..t2_fitting import fit_exam

        return fit_exam(exam, method="mono", mask=candidates).t2_ms

    return fit


def run(args) -> int:
    import numpy as np

    from ..inference import segment_exam
    from ..model_registry import load_model
    from ..t2_fitting import fitted_echo_rows
    from ..volume_io import write_volume

    check_output_volumes(args.output, args.probabilities)
    exam = load_exam_from_args(args)
    if not args.no_t2_rule:
        fitted_echo_rows(exam.n_echoes)  # refuse a series the T2 rule cannot fit before the network runs
    model = load_model(args.model, device="cpu", progress=print_progress)
    t2_source = None if args.no_t2_rule else _t2_in_candidates(exam)
    result = segment_exam(exam, model, device=args.device, t2_ms=t2_source,
                          progress=print_progress, batch_size=args.batch_size)
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
