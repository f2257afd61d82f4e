"""``knee-t2 phantom``: simulated sagittal MESE exams of a real knee anatomy with known T2.

From a real knee label map (bones and cartilage; e.g. the OAI 3D DESS label
maps that `knee-t2 fetch-sample` provides) it simulates a 2D multi-echo spin
echo exam on a real protocol (oai: 7 echoes 10-70 ms, 384 x 269, 3 mm slices
with 0.5 mm gap; ge: 8 echoes 6.3-50.5 ms, 256 x 256, 3 mm slices at 4 mm),
with partial volume, a random smooth deformation, coil inhomogeneity and
Rician noise, all determined by --seed. --noise-seed draws the noise alone from
another seed: the same knee, slice grid and tissues with new noise, i.e. a
test-retest pair for `knee-t2 change` (default: the noise of --seed, so a seed
always gives the same phantom).

One case (default) writes into DIR: echoes.nrrd + echoes.json, label.nrrd
(femoral cartilage), tissues.nrrd, t2_truth.nrrd (ms), cartilage_fraction.nrrd,
phantom.json (every parameter) and, with --dicom, a DICOM series in DIR/dicom.
--cases N writes a training dataset (nnU-Net v2 layout + case index) of N
phantoms with seeds SEED..SEED+N-1, alternating protocols and sides.
"""

from __future__ import annotations

import argparse
import sys

from ._common import check_output_folder, print_progress


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "phantom",
        help="simulate MESE knee exams with known T2 from a real knee label map",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--anatomy", required=True, metavar="LABELMAP",
                        help="knee label map (.nrrd/.nii.gz): 1 femoral cartilage, 2/3 medial/lateral tibial "
                        "cartilage, 4 patellar cartilage, 5 femur, 6 tibia, 7 patella (8-10 fibula/menisci optional)")
    parser.add_argument("--protocol", default=None, choices=("oai", "ge"),
                        help="acquisition protocol (default ge; with --cases, both alternate unless given)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same phantom")
    parser.add_argument("--noise-seed", type=int, default=None, metavar="N",
                        help="seed of the noise alone (single case): the --seed phantom with new noise, for a "
                        "test-retest pair (default: the noise of --seed)")
    parser.add_argument("--laterality", default=None, choices=("right", "left"),
                        help="knee side (default right; with --cases, both alternate unless given)")
    parser.add_argument("--snr", type=float, default=None,
                        help="first-echo cartilage SNR (default 40; with --cases drawn in 20-80); 0 = no noise")
    parser.add_argument("--lesions", type=int, default=None,
                        help="focal lesions of raised T2 in the femoral cartilage (default 0; with --cases 0-2)")
    parser.add_argument("--dicom", action="store_true", help="also write a DICOM series (single case only)")
    parser.add_argument("--cases", type=int, default=None, metavar="N",
                        help="write a training dataset of N phantoms instead of one case")
    defaults = _default_options()
    parser.add_argument("--deformation-mm", type=float, default=defaults.deformation_mm,
                        help="amplitude (mm) of the smooth random deformation of the anatomy, per axis "
                        "(default %(default)s); larger values give a training set more anatomical variety")
    parser.add_argument("--scale-jitter", type=float, default=defaults.scale_jitter,
                        help="anatomy size varies within 1 +- this fraction (default %(default)s)")
    parser.add_argument("--max-rotation", type=float, default=defaults.max_rotation_deg, metavar="DEGREES",
                        help="in-plane rotation range +- (out-of-plane a third of it; default %(default)s)")
    parser.add_argument("--thickness-variation-mm", type=float, default=defaults.thickness_variation_mm,
                        metavar="MM", help="femoral cartilage grows or thins by a smooth random field within +- "
                        "this many mm (default %(default)s: the anatomy's own thickness)")
    parser.set_defaults(handler=run)


def _default_options():
    from ..phantom import PhantomOptions

    return PhantomOptions()


def _geometry_options(args) -> dict:
    """The anatomical-variety settings given on the command line, validated."""
    from ..errors import InputError
    from ..phantom_thickness import MAX_AMPLITUDE_MM

    values = {"deformation_mm": args.deformation_mm, "scale_jitter": args.scale_jitter,
              "max_rotation_deg": args.max_rotation, "thickness_variation_mm": args.thickness_variation_mm}
    limits = {"deformation_mm": 10.0, "scale_jitter": 0.3, "max_rotation_deg": 30.0,
              "thickness_variation_mm": MAX_AMPLITUDE_MM}
    for name, value in values.items():
        if not 0.0 <= value <= limits[name]:
            raise InputError("--%s must be in [0, %g], got %g." % (
                name.replace("_deg", "").replace("_", "-"), limits[name], value))
    return values



def run(args) -> int:
    from ..errors import InputError
    from ..phantom import PhantomOptions, simulate_phantom
    from ..phantom_anatomy import load_anatomy
    from ..phantom_output import case_plan, check_phantom_folder, write_phantom, write_phantom_dataset

    if args.cases is not None and args.dicom:
        raise InputError("--dicom writes one case; leave it out with --cases (datasets store NIfTI).")
    if args.cases is not None and args.noise_seed is not None:
        raise InputError("--noise-seed makes a second noise draw of one case; leave it out with --cases (each case "
                         "has its own seed).")
    check_output_folder(args.output)
    if args.cases is None:
        check_phantom_folder(args.output)  # before the simulation, not after
    geometry = _geometry_options(args)
    print("Building the tissue model from %s ..." % args.anatomy, file=sys.stderr)
    anatomy = load_anatomy(args.anatomy)
    if args.cases is None:
        options = PhantomOptions(protocol=args.protocol or "ge", seed=args.seed,
                                 laterality=args.laterality or "right",
                                 snr=40.0 if args.snr is None else args.snr, lesions=args.lesions or 0,
                                 noise_seed=args.noise_seed, **geometry)
        phantom = simulate_phantom(anatomy, options, print_progress)
        folder = write_phantom(phantom, args.output, dicom=args.dicom)
        print_progress.end()
        print("Wrote phantom (%s) to %s" % (phantom_summary(phantom, args.seed, args.noise_seed), folder))
        return 0
    template = PhantomOptions(**geometry)
    snr_range = (20.0, 80.0) if args.snr is None else (args.snr, args.snr)
    plan = case_plan(args.cases, args.seed, (args.protocol,) if args.protocol else ("oai", "ge"),
                     (args.laterality,) if args.laterality else ("right", "left"), snr_range,
                     2 if args.lesions is None else args.lesions, template)
    if args.lesions is not None:
        plan = [_with_lesions(options, args.lesions) for options in plan]
    case_ids = write_phantom_dataset(anatomy, args.output, plan, progress=print_progress,
                                     log=lambda line: print("\n" + line, file=sys.stderr))
    print_progress.end()
    print("Wrote %d phantom cases to dataset %s" % (len(case_ids), args.output))
    return 0


def phantom_summary(phantom, seed: int, noise_seed=None) -> str:
    """E.g. ``"ge, right knee, seed 3, noise seed 9, 41210 cartilage voxels, 2 planted lesions of raised T2
    (+12.1, +17.4 ms; lesions.nrrd)"``: what the phantom holds, its planted lesions included, so that a
    change measured on it is read against them."""
    text = "%s, %s knee, seed %d" % (phantom.exam.metadata["protocol"], phantom.exam.laterality, seed)
    if noise_seed is not None:
        text += ", noise seed %d" % noise_seed
    text += ", %d cartilage voxels" % int(phantom.label.sum())
    lesions = phantom.parameters.get("lesions") or []
    if lesions:
        text += ", %d planted lesion%s of raised T2 (%s ms; lesions.nrrd)" % (
            len(lesions), "" if len(lesions) == 1 else "s",
            ", ".join("%+.1f" % float(lesion["delta_t2_ms"]) for lesion in lesions))
    else:
        text += ", no planted lesions"
    return text


def _with_lesions(options, count: int):
    from dataclasses import replace

    return replace(options, lesions=int(count))
