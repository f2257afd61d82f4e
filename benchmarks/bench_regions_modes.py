"""Regional read-out: reference vs improved mode on phantoms (and the real GE exam when a mask exists).

1. Analytic cartilage shells (exact answers): worst subregion T2, volume and
   thickness errors per mode, for one cylinder and for two different condyles.
2. Digital knee phantoms (phantom.py: real knee anatomies, simulated MESE,
   known T2), right and mirrored-left from the same seed: regions from the
   true cartilage label; per subregion the mean of the fitted T2 vs the mean
   of the true T2 over the same voxels; right/left agreement; how far the two
   modes' subregions and T2 means differ; the side estimate's verdict.
3. The real GE exam: both modes on a cartilage mask given by --ge-seg, or by
   the default model when its weights are installed; skipped (and said so)
   otherwise.

Timings use the reference mode as the baseline (ratio improved / reference).

    python benchmarks/bench_regions_modes.py [--quick] [--protocols ge,oai] [--seeds 1 2] [--ge-seg SEG.nrrd]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from KneeCartilageT2Lib.cartilage_shell import ShellSpec, analytic_volume_mm3, build_shell
from KneeCartilageT2Lib.region_definitions import SUBREGION_NAMES
from KneeCartilageT2Lib.regions import analyse_regions

MODES = ("reference", "improved")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PURE_FRACTION = 0.99
LABEL_MAPS = ("right_knee_example.nrrd", "SAG_3D_DESS_RIGHT_bones_cart_men_fib-label.nrrd")


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def shell_section() -> None:
    print("== 1. Analytic shells (truth exact) ==")
    cases = {
        "one cylinder, 0.2x0.25x2 mm": ShellSpec(),
        "two condyles (lateral axis +3/+4 mm, radius +3 mm), 0.3x0.35x2 mm": ShellSpec(
            spacing_mm=(0.3, 0.35, 2.0), lateral_axis_shift_mm=(3.0, 4.0), lateral_radius_change_mm=3.0),
    }
    print("%-66s %-9s %9s %9s %9s %8s" % ("case", "mode", "T2 err", "vol err", "thick err", "time s"))
    for label, spec in cases.items():
        mask, t2, _ = build_shell(spec, "right", oblique_deg=8.0)
        times = {}
        for mode in MODES:
            analysis, times[mode] = timed(analyse_regions, mask, t2, "right", mode=mode)
            t2_error = max(abs(analysis.row(n)["t2_mean_ms"] - spec.region_t2_ms[n]) for n in SUBREGION_NAMES)
            volume_error = max(abs(analysis.row(n)["volume_mm3"] / analytic_volume_mm3(spec, n) - 1) for n in SUBREGION_NAMES)
            thickness_error = max(abs(analysis.row(n)["thickness_mean_mm"] - spec.thickness_mm) for n in SUBREGION_NAMES)
            print("%-66s %-9s %7.3f ms %8.2f %% %6.3f mm %8.2f" % (label, mode, t2_error, 100 * volume_error,
                                                                  thickness_error, times[mode]))
        print("%-66s time ratio improved/reference = %.2f" % ("", times["improved"] / times["reference"]))


def phantom_section(protocols, seeds) -> None:
    print("\n== 2. Digital knee phantoms (regions from the true label; fitted T2 vs true T2) ==")
    try:
        from KneeCartilageT2Lib.phantom import PhantomOptions, simulate_phantom
        from KneeCartilageT2Lib.phantom_anatomy import load_anatomy
        from KneeCartilageT2Lib.t2_fitting import fit_exam
    except ImportError as error:
        print("skipped: phantom or T2 fitting modules not importable (%s)" % error)
        return
    labels_dir = SHARED / "knee_labels"
    if not labels_dir.is_dir():
        print("skipped: %s not found (run `knee-t2 fetch-sample`)" % labels_dir)
        return
    print("MAE/bias/max: |fitted - true| subregion T2 means over all label voxels; 'pure MAE' uses only voxels")
    print("fully inside cartilage (fraction >= %.2f), so partial volume with fluid/bone is left out." % PURE_FRACTION)
    print("R-L: largest subregion T2 difference between the right phantom and its mirrored left twin.")
    print("%-22s %-5s %-9s %7s %7s %7s %9s %8s %10s %6s %7s" % ("case", "side", "mode", "MAE ms", "bias", "max ms",
                                                               "pure MAE", "R-L ms", "side est.", "conf.", "time s"))
    summary = {mode: [] for mode in MODES}
    for name in LABEL_MAPS[: 1 if len(protocols) == 1 and len(seeds) == 1 else 2]:
        anatomy, seconds = timed(load_anatomy, labels_dir / name)
        print("(anatomy %s built in %.0f s)" % (name[:24], seconds))
        for protocol in protocols:
            for seed in seeds:
                results = {}
                for side in ("right", "left"):
                    phantom = simulate_phantom(anatomy, PhantomOptions(protocol=protocol, seed=seed, laterality=side))
                    fitted = fit_exam(phantom.exam, method="mono", mask=phantom.label.astype(bool))
                    results[side] = _analyse_phantom(phantom, np.where(fitted.valid, fitted.t2_ms, 0.0))
                case = "%s/%s/seed%d" % (name[:8], protocol, seed)
                _print_phantom_case(case, results, summary)
    for mode in MODES:
        errors = np.array(summary[mode])
        if errors.size:
            print("all phantoms, %-9s: subregion T2 MAE %.2f ms (max %.2f ms) over %d subregion values"
                  % (mode, np.mean(np.abs(errors)), np.max(np.abs(errors)), errors.size))


def _analyse_phantom(phantom, fitted_t2):
    from KneeCartilageT2Lib.side_estimate import estimate_side

    exam = phantom.exam
    label = exam.volume_like(phantom.label)
    out = {"side": estimate_side(phantom.label.astype(bool), exam.ijk_to_ras), "fitted_t2": fitted_t2,
           "truth_t2": phantom.t2_truth_ms, "pure": phantom.cartilage_fraction >= PURE_FRACTION}
    for mode in MODES:
        (fit_analysis, seconds) = timed(analyse_regions, label, exam.volume_like(fitted_t2.astype(np.float32)),
                                        exam.laterality, mode=mode, laterality_source="dicom")
        truth = analyse_regions(label, exam.volume_like(phantom.t2_truth_ms), exam.laterality, mode=mode,
                                laterality_source="dicom")
        out[mode] = {"fit": fit_analysis, "truth": truth, "seconds": seconds}
    return out


def _print_phantom_case(case, results, summary):
    for side in ("right", "left"):
        result = results[side]
        for mode in MODES:
            fit, truth = result[mode]["fit"], result[mode]["truth"]
            errors = np.array([fit.row(n)["t2_mean_ms"] - truth.row(n)["t2_mean_ms"] for n in SUBREGION_NAMES])
            summary[mode].extend(errors[np.isfinite(errors)].tolist())
            pure = _pure_voxel_errors(fit.subregion_labels.array, result)
            other = results["left" if side == "right" else "right"][mode]["fit"]
            mirror = max(abs(fit.row(n)["t2_mean_ms"] - other.row(n)["t2_mean_ms"]) for n in SUBREGION_NAMES)
            estimate = result["side"]
            print("%-22s %-5s %-9s %7.2f %+7.2f %7.2f %9.2f %8.3f %10s %6.2f %7.2f" % (
                case, side, mode, np.nanmean(np.abs(errors)), np.nanmean(errors), np.nanmax(np.abs(errors)),
                np.nanmean(np.abs(pure)), mirror,
                estimate.laterality + ("" if estimate.laterality == side else " (WRONG)"), estimate.confidence,
                result[mode]["seconds"]))
        _print_mode_difference(result)
    print("  time ratio improved/reference: %.2f" % (
        results["right"]["improved"]["seconds"] / results["right"]["reference"]["seconds"]))


def _pure_voxel_errors(labels, result):
    """Per subregion: mean fitted T2 - mean true T2 over voxels fully inside cartilage with a valid fit."""
    errors = []
    for code in range(1, len(SUBREGION_NAMES) + 1):
        voxels = (labels == code) & result["pure"] & (result["fitted_t2"] > 0)
        errors.append(result["fitted_t2"][voxels].mean() - result["truth_t2"][voxels].mean() if voxels.any() else np.nan)
    return np.array(errors)


def _print_mode_difference(result):
    reference, improved = result["reference"]["truth"], result["improved"]["truth"]
    same = np.mean(reference.subregion_labels.array[reference.subregion_labels.array > 0]
                   == improved.subregion_labels.array[reference.subregion_labels.array > 0])
    differences = [improved.row(n)["t2_mean_ms"] - reference.row(n)["t2_mean_ms"] for n in SUBREGION_NAMES]
    share = {n: improved.row(n)["n_voxels"] / max(reference.row(n)["n_voxels"], 1) for n in SUBREGION_NAMES}
    largest = max(share, key=lambda n: abs(np.log(share[n])))
    print("  modes differ: %.1f %% of voxels change subregion; true-T2 means differ by %.2f ms on average "
          "(max %.2f ms); largest size change %s x%.2f; M/L boundary %.1f vs %.1f mm" % (
              100 * (1 - same), np.nanmean(np.abs(differences)), np.nanmax(np.abs(differences)), largest,
              share[largest], reference.details["ml_boundary_lateral_mm"], improved.details["ml_boundary_lateral_mm"]))


def ge_section(segmentation_path) -> None:
    print("\n== 3. Real GE exam ==")
    exam_dir = SHARED / "mese_knee_ge"
    if not exam_dir.is_dir():
        print("skipped: %s not found" % exam_dir)
        return
    from KneeCartilageT2Lib.exam_loader import load_exam
    from KneeCartilageT2Lib.t2_fitting import fit_exam

    exam = load_exam(exam_dir)
    label = _ge_label(exam, segmentation_path)
    if label is None:
        return
    fitted = fit_exam(exam, method="mono", mask=label.array > 0)
    t2 = exam.volume_like(np.where(fitted.valid, fitted.t2_ms, 0.0).astype(np.float32))
    side = exam.laterality if exam.laterality != "unknown" else "right"
    print("side: %s (the exam's Laterality tag is empty; the data README says right knee)" % side)
    analyses = {mode: timed(analyse_regions, label, t2, side, mode=mode) for mode in MODES}
    print("%-5s %12s %12s %12s %12s" % ("region", "ref T2 ms", "impr T2 ms", "ref thick", "impr thick"))
    for name in ("all", "D", "S", "L", "M") + SUBREGION_NAMES:
        rows = [analyses[mode][0].row(name) for mode in MODES]
        print("%-5s %12.1f %12.1f %12.2f %12.2f" % (name, rows[0]["t2_mean_ms"], rows[1]["t2_mean_ms"],
                                                  rows[0]["thickness_mean_mm"], rows[1]["thickness_mean_mm"]))
    for scanner_frame in sorted({False, exam.in_scanner_frame}):
        estimate = analyse_regions(label, t2, "unknown", scanner_frame=scanner_frame).orientation
        print("side estimated from the mask%s: %s (confidence %.2f)" % (
            " and the knee's position in the scanner" if scanner_frame else "", estimate.laterality,
            estimate.side_confidence))
    print("time ratio improved/reference: %.2f" % (analyses["improved"][1] / analyses["reference"][1]))


def _ge_label(exam, segmentation_path):
    from KneeCartilageT2Lib.volume_io import read_volume

    if segmentation_path:
        return read_volume(segmentation_path)
    try:
        from KneeCartilageT2Lib.inference import segment_exam
        from KneeCartilageT2Lib.model_registry import available_weights_path, default_model_name, load_model, registry_entries

        name = default_model_name()
        if available_weights_path(registry_entries()[name]) is None:
            print("skipped: no cartilage mask for the GE exam (no --ge-seg, and no model weights installed)")
            return None
        result = segment_exam(exam, load_model(name, device="cpu"), device="cpu")
    except Exception as error:  # a benchmark reports and goes on
        print("skipped: segmentation of the GE exam failed: %s" % error)
        return None
    if not result.cartilage_found:
        print("skipped: the model found no cartilage in the GE exam")
        return None
    return exam.volume_like(result.label.astype(np.uint8))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one anatomy, GE protocol, one seed")
    parser.add_argument("--protocols", default="ge,oai")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--ge-seg", default=None, help="femoral cartilage mask of the GE exam (on its grid)")
    parser.add_argument("--skip-phantoms", action="store_true")
    args = parser.parse_args(argv)
    protocols = ["ge"] if args.quick else [p.strip() for p in args.protocols.split(",") if p.strip()]
    seeds = args.seeds[:1] if args.quick else args.seeds
    shell_section()
    if not args.skip_phantoms:
        phantom_section(protocols, seeds)
    ge_section(args.ge_seg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
