"""Longitudinal change and focal lesions on digital phantom pairs (both knee sides).

Each pair is one phantom knee simulated twice (phantom.simulate_phantom, same seed):

* the follow-up's slice grid is placed differently on the anatomy (larger centre
  jitter and rotation range: new partial-volume pattern, the knee slightly rotated
  relative to the grid), then the whole follow-up is moved in the scanner by a
  rigid motion (3 degrees, ~4 mm);
* both get independent Rician noise (SNR 40 at the first echo in cartilage);
* "null" pairs have no lesion; "lesion" pairs have 3 lesions of raised T2 at
  follow-up (radius 2.5-5 mm, +8..20 ms), recorded in the phantom parameters.

The phantom's own femoral cartilage label is the segmentation (this measures the
change method, not the U-Net); T2 is fitted (mono-exponential) in it.

Printed per pair: registration (rotation, translation, NCC before/after, Dice
before/after), the spread of the 27 regional changes (should be ~0 on null
pairs), lesions found and the plate fraction they cover (null pairs: none above
1% of the plate), and for each planted lesion: planted area (pi r^2), % of the
plate, found or not, detected area / planted area.

Baseline measured in the same run: the reference code's alignment (each visit
unrolled in its own scanner frame with its own circle, no registration) with the
sign right, and the reference code's sign (baseline - follow-up) on our maps.

    python benchmarks/bench_longitudinal_phantoms.py [--seeds 1] [--anatomy LABELMAP] [--protocol ge]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from KneeCartilageT2Lib.change_maps import geometry_from_analysis, voxel_cells
from KneeCartilageT2Lib.lesions import find_lesion_clusters
from KneeCartilageT2Lib.longitudinal import VisitData, compute_change
from KneeCartilageT2Lib.phantom import PhantomOptions, simulate_phantom
from KneeCartilageT2Lib.phantom_anatomy import load_anatomy
from KneeCartilageT2Lib.region_definitions import COMPARTMENT_TABLE
from KneeCartilageT2Lib.regions import analyse_regions
from KneeCartilageT2Lib.t2_fitting import fit_exam

SNR = 40.0
MOTION_DEG, MOTION_AXIS, MOTION_MM = 3.0, (0.3, 0.8, 0.5), (2.0, -1.5, 3.0)
LABELS = Path(__file__).resolve().parents[2] / "shared" / "data" / "knee_labels" / "right_knee_example.nrrd"


def scanner_motion() -> np.ndarray:
    axis = np.asarray(MOTION_AXIS) / np.linalg.norm(MOTION_AXIS)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = np.radians(MOTION_DEG)
    motion = np.eye(4)
    motion[:3, :3] = np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross
    motion[:3, 3] = MOTION_MM
    return motion


def add_rician_noise(echoes: np.ndarray, label: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sigma = float(echoes[0][label > 0].mean()) / SNR
    real = echoes + rng.normal(0, sigma, echoes.shape)
    return np.sqrt(real ** 2 + rng.normal(0, sigma, echoes.shape) ** 2).astype(np.float32)


def visit(phantom, seed: int, motion: np.ndarray = None) -> VisitData:
    from scipy import ndimage

    exam = phantom.exam
    exam.echoes = add_rician_noise(exam.echoes, phantom.label, seed)
    if motion is not None:
        exam.ijk_to_ras = motion @ exam.ijk_to_ras
    fit = fit_exam(exam, method="mono", mask=ndimage.binary_dilation(phantom.label > 0))
    t2 = exam.volume_like(np.where(fit.valid, fit.t2_ms, 0.0).astype(np.float32))
    anatomy = exam.echo_volume(exam.echo_index_nearest(20.0))
    return VisitData(exam.volume_like(phantom.label), t2, anatomy, exam.laterality, "user", source="phantom")


def planted_positions(result, followup: VisitData, phantom) -> list:
    """Each planted lesion's (M-L mm, arc mm) centroid on the baseline map, and its parameters."""
    geometry = geometry_from_analysis(result.baseline_regions, result.followup_label_on_baseline.ijk_to_ras)
    moved = result.registration.followup_to_baseline_ras @ followup.label.ijk_to_ras
    lesions = []
    for lesion in phantom.parameters["lesions"]:
        voxels = phantom.lesion_label == lesion["number"]
        if not voxels.any():
            continue
        _, _, _, ml_mm, arc_mm = voxel_cells(geometry, voxels, moved)
        lesions.append(dict(lesion, ml_mm=float(np.mean(ml_mm)), arc_mm=float(np.mean(arc_mm))))
    return lesions


def match(clusters, planted) -> list:
    rows = []
    for lesion in planted:
        reach = lesion["radius_mm"] + 3.0
        near = [c for c in clusters if np.hypot(c.centroid_row_mm - lesion["ml_mm"],
                                                c.centroid_col_mm - lesion["arc_mm"]) <= reach]
        area = sum(c.area_mm2 for c in near)
        rows.append((lesion, bool(near), area / lesion["nominal_area_mm2"] if near else float("nan")))
    return rows


def reference_alignment_lesions(baseline: VisitData, followup: VisitData, result):
    """Reference behaviour (sign fixed): each visit unrolled in its own frame, no registration."""
    t2 = followup.t2.with_array(np.asarray(followup.t2.array))
    own = analyse_regions(followup.label, t2, result.laterality, mode=result.options.region_mode)
    names = {value: name for value, name, _ in COMPARTMENT_TABLE}
    return find_lesion_clusters(result.baseline_regions.projections["t2"], own.projections["t2"],
                                region_map=result.baseline_regions.projections["regions"], region_names=names)


def run_pair(anatomy, seed: int, side: str, lesions: int, protocol: str) -> dict:
    started = time.perf_counter()
    base_options = PhantomOptions(protocol=protocol, seed=seed, laterality=side, snr=0.0, lesions=0)
    follow_options = PhantomOptions(protocol=protocol, seed=seed, laterality=side, snr=0.0, lesions=lesions,
                                    centre_jitter_mm=6.0, max_rotation_deg=9.0)
    baseline_phantom = simulate_phantom(anatomy, base_options)
    followup_phantom = simulate_phantom(anatomy, follow_options)
    baseline = visit(baseline_phantom, 1000 + seed)
    followup = visit(followup_phantom, 2000 + seed, scanner_motion())
    result = compute_change(baseline, followup)
    deltas = np.array([row["delta_t2_ms"] for row in result.rows], dtype=np.float64)
    reference = reference_alignment_lesions(baseline, followup, result)
    reversed_sign = find_lesion_clusters(result.followup_map, result.baseline_map)
    planted = planted_positions(result, followup, followup_phantom) if lesions else []
    return {
        "side": side, "seed": seed, "lesions": lesions, "result": result, "deltas": deltas,
        "reference": reference, "reversed": reversed_sign, "planted": planted,
        "seconds": time.perf_counter() - started,
    }


def print_pair(pair: dict) -> None:
    result, registration = pair["result"], pair["result"].registration
    kind = "lesion" if pair["lesions"] else "null"
    print("\n== %s knee, seed %d, %s pair (%.0f s)" % (pair["side"], pair["seed"], kind, pair["seconds"]))
    print("registration: rotation %.2f deg, translation %.2f mm (applied scanner motion %.1f deg, %.1f mm, plus "
          "the grid change); NCC %.3f -> %.3f; cartilage Dice %.3f -> %.3f" % (
              registration.rotation_deg, registration.translation_mm, MOTION_DEG, np.linalg.norm(MOTION_MM),
              registration.ncc_before, registration.ncc_after, registration.dice_before, registration.dice_after))
    deltas = pair["deltas"]
    print("regional change (27 regions): mean %+.2f ms, SD %.2f ms, max |delta| %.2f ms (%s); all %+.2f ms" % (
        np.nanmean(deltas), np.nanstd(deltas), np.nanmax(np.abs(deltas)),
        result.rows[int(np.nanargmax(np.abs(deltas)))]["region"], result.delta("all")))
    for name, lesions in (("ours (registered, baseline geometry)", result.lesions),
                          ("reference alignment (own frames)", pair["reference"]),
                          ("reference sign (baseline - follow-up)", pair["reversed"])):
        areas = ", ".join("%.0f mm2 %s %+.1f ms" % (c.area_mm2, c.region, c.mean_delta_t2_ms) for c in lesions.clusters)
        print("  %-40s %d clusters, %.2f%% of %.0f mm2 plate%s" % (
            name, len(lesions.clusters), lesions.percent_plate_covered, lesions.plate_area_mm2,
            (": " + areas) if areas else ""))
    plate = result.lesions.plate_area_mm2
    for name, lesions in (("ours", result.lesions), ("reference alignment", pair["reference"]),
                          ("reference sign", pair["reversed"])):
        for lesion, found, ratio in match(lesions.clusters, pair["planted"]):
            print("  planted #%d (%s): r %.1f mm, %+.1f ms, area %.0f mm2 = %.2f%% of plate -> found %s, "
                  "detected/planted area %.2f" % (lesion["number"], name, lesion["radius_mm"], lesion["delta_t2_ms"],
                                                  lesion["nominal_area_mm2"], 100 * lesion["nominal_area_mm2"] / plate,
                                                  found, ratio))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=1, help="phantom seeds per side (default 1)")
    parser.add_argument("--first-seed", type=int, default=3)
    parser.add_argument("--anatomy", default=str(LABELS))
    parser.add_argument("--protocol", default="ge", choices=("ge", "oai"))
    args = parser.parse_args(argv)
    if not Path(args.anatomy).is_file():
        print("anatomy label map not found: %s (see Testing/Python/conftest.py for how to get it)" % args.anatomy)
        return 1
    started = time.perf_counter()
    anatomy = load_anatomy(args.anatomy)
    print("anatomy loaded in %.0f s" % (time.perf_counter() - started))
    pairs = []
    for side in ("right", "left"):
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for lesions in (0, 3):
                pairs.append(run_pair(anatomy, seed, side, lesions, args.protocol))
                print_pair(pairs[-1])
                sys.stdout.flush()
    summarise(pairs)
    return 0


def summarise(pairs) -> None:
    null = [p for p in pairs if not p["lesions"]]
    spreads = np.concatenate([p["deltas"] for p in null])
    print("\n== summary")
    print("null pairs: regional change mean %+.2f ms, SD %.2f ms, max |delta| %.2f ms over %d region values" % (
        np.nanmean(spreads), np.nanstd(spreads), np.nanmax(np.abs(spreads)), np.isfinite(spreads).sum()))
    for name, key in (("ours", "result"), ("reference alignment", "reference"), ("reference sign", "reversed")):
        covered = [(p[key].lesions if key == "result" else p[key]).percent_plate_covered for p in null]
        print("null pairs, %-20s false lesion area: mean %.2f%% of plate (max %.2f%%)" % (
            name, float(np.mean(covered)), float(np.max(covered))))
    for name, key in (("ours", "result"), ("reference alignment", "reference"), ("reference sign", "reversed")):
        found, ratios, detectable = 0, [], 0
        for pair in pairs:
            lesions = pair[key].lesions if key == "result" else pair[key]
            plate = pair["result"].lesions.plate_area_mm2
            for lesion, hit, ratio in match(lesions.clusters, pair["planted"]):
                if lesion["nominal_area_mm2"] > 0.015 * plate:  # clearly above the 1% size threshold
                    detectable += 1
                    found += int(hit)
                    if hit:
                        ratios.append(ratio)
        print("lesion pairs, %-20s found %d of %d planted lesions > 1.5%% of the plate; detected/planted area "
              "%s" % (name, found, detectable, ", ".join("%.2f" % r for r in ratios) or "-"))


if __name__ == "__main__":
    sys.exit(main())
