"""``knee-t2 t2map``: voxel-wise T2 map (ms) of a MESE exam.

Writes T2 in ms (0 where the fit is invalid: outside the mask, no signal above
the noise, not converged, or T2 outside the range) on exactly the echo images' grid, and optionally the
fit's R^2 and its amplitude S0 at TE = 0. The format follows the suffix
(.nrrd, .nii.gz). Methods: mono (the reference pipeline: mono-exponential on
echoes 2..N), loglinear (weighted log-linear), noise-floor (mono-exponential
seen through Rician noise, sigma from the image background or --noise-sigma).
Voxels whose fitted echoes are not clearly above the background noise (air,
cortical bone) get no T2 unless --keep-noise-voxels is given; the rule is off
by itself when the noise cannot be measured (no air, a noise-free image).
"""

from __future__ import annotations

import argparse
from typing import List

import numpy as np

from ..errors import InputError
from ._analysis_options import add_t2_range_argument
from ._common import add_exam_argument, check_output_volumes, load_exam_from_args, print_progress


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "t2map",
        help="fit a voxel-wise T2 map",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_exam_argument(parser)
    parser.add_argument("-o", "--output", required=True, metavar="T2.nrrd", help="T2 map to write (ms, 0 = invalid)")
    parser.add_argument("--method", "--t2-method", dest="method", default="mono",
                        choices=("mono", "loglinear", "noise-floor"),
                        help="fitting method (default: mono, the reference pipeline's); --t2-method, as the "
                        "commands that analyse a whole exam spell it, is the same option")
    parser.add_argument("--mask", default=None, metavar="M.nrrd",
                        help="fit only the nonzero voxels of this volume (same grid as the echoes)")
    parser.add_argument("--r2", default=None, metavar="R2.nrrd", help="also write the fit's R^2 (0 = invalid)")
    parser.add_argument("--s0", default=None, metavar="S0.nrrd", help="also write the amplitude at TE = 0")
    add_t2_range_argument(parser)
    parser.add_argument("--include-first-echo", action="store_true",
                        help="fit the first echo too (by default it is left out: stimulated echoes)")
    parser.add_argument("--smooth-nonmonotone", action="store_true",
                        help="3-point running mean of decays that are not strictly decreasing (the reference code)")
    parser.add_argument("--coils", type=int, default=1, metavar="L",
                        help="receive channels combined by sum of squares, for noise-floor (default 1: Rician)")
    parser.add_argument("--noise-sigma", type=float, default=None, metavar="SIGMA",
                        help="noise SD per channel (image intensity units): the noise-floor model's sigma and, "
                        "for every method, the level of the no-signal rule (default: estimated from the background)")
    parser.add_argument("--keep-noise-voxels", action="store_true",
                        help="fit voxels without signal above the noise too (by default they get no T2)")
    parser.add_argument("--backend", default=None, choices=("numpy", "torch"),
                        help="numpy (CPU threads, default) or torch (GPU when available)")
    parser.add_argument("--device", default="auto", metavar="auto|cpu|cuda[:N]",
                        help="torch device (naming cpu or cuda selects the torch backend)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..t2_fitting import fit_exam
    from ..volume_io import write_volume

    check_output_volumes(args.output, args.r2, args.s0)
    exam = load_exam_from_args(args)
    mask = read_mask(args.mask, exam) if args.mask else None
    backend = args.backend or ("torch" if args.device != "auto" else "numpy")
    result = fit_exam(
        exam,
        method=args.method,
        mask=mask,
        t2_range_ms=args.t2_range,
        exclude_first_echo=not args.include_first_echo,
        smooth_nonmonotone=args.smooth_nonmonotone,
        noise_sigma=args.noise_sigma,
        n_coils=args.coils,
        backend=backend,
        device=args.device,
        progress=print_progress,
        drop_no_signal=not args.keep_noise_voxels,
    )
    print_progress.end()
    written: List[str] = [str(write_volume(exam.volume_like(result.t2_ms), args.output))]
    if args.r2:
        written.append(str(write_volume(exam.volume_like(result.r2), args.r2)))
    if args.s0:
        written.append(str(write_volume(exam.volume_like(result.s0), args.s0)))
    print(summary(result))
    for path in written:
        print("wrote %s" % path)
    return 0


def read_mask(path: str, exam) -> np.ndarray:
    """The mask as a boolean (slice, row, col) array, after checking it lies on the exam's grid."""
    from ..geometry import Volume
    from ..volume_io import read_volume

    mask = read_volume(path)
    reference = Volume(np.zeros(exam.volume_shape, np.uint8), exam.ijk_to_ras)
    if not mask.same_geometry(reference):
        raise InputError(
            "The mask %s does not lie on the echo images' grid (mask %s voxels, echoes %s; or different "
            "origin/spacing/orientation). Resample the mask onto the echo images first." % (
                path, "x".join(str(n) for n in mask.array.shape[::-1]),
                "x".join(str(n) for n in exam.volume_shape[::-1]))
        )
    return np.asarray(mask.array) != 0


def summary(result) -> str:
    """One line per fact: method, echoes, valid voxels, median T2, noise sigma."""
    valid = result.valid
    lines = [
        "method: %s (%s, %s)" % (result.method, result.parameters.get("backend"), result.parameters.get("device")),
        "echo times used (ms): %s" % ", ".join("%g" % te for te in result.echo_times_used_ms),
        "valid voxels: %d of %d fitted" % (int(valid.sum()), int(result.parameters.get("n_voxels_fitted", valid.size))),
        "without a valid T2: %d no signal, %d fits failed, %d T2 below and %d above the range" % tuple(
            int(result.parameters.get(key, 0)) for key in ("n_no_signal", "n_fits_failed", "n_t2_below_range",
                                                         "n_t2_above_range")),
        "no-signal rule: %s" % result.parameters.get("no_signal_rule"),
    ]
    if valid.any():
        lines.append("median T2 of valid voxels: %.2f ms" % float(np.median(result.t2_ms[valid])))
    else:
        lines.append("warning: no voxel gave a valid T2 (the map is all 0). Check the echo times and that the "
                     "images are the magnitude echoes of one MESE series (`knee-t2 inspect` says what it sees).")
    if result.noise_sigma is not None:
        lines.append("noise sigma: %.4g (%s)" % (result.noise_sigma, result.parameters.get("noise_sigma_source")))
    return "\n".join(lines)
