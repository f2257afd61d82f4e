"""Registration quality of same-knee and different-knee visit pairs: the figures behind the
"do these visits show the same knee?" warning of ``knee-t2 change`` (:mod:`pair_similarity`).

Each pair is registered as :func:`longitudinal.compute_change` does (Mattes mutual information, metric mask
= baseline cartilage dilated 15 mm, echo nearest 20 ms, cartilage masks for the Dice), and the post-registration
correlation (NCC inside the metric mask) and cartilage Dice are printed.

Same knee (the follow-up is the baseline knee with new noise and a rigid scanner motion of 3 degrees / ~4 mm;
for phantoms also simulated again with the slice grid placed differently on the anatomy, as the
"new slices" pairs of bench_longitudinal_phantoms.py):

* phantom of anatomy A (right_knee_example), GE protocol; the same, OAI protocol;
* phantom of anatomy B (the 3D DESS label map), GE protocol;
* the real GE exam against itself (its cartilage from the bootstrap model, moved with it), with new noise.

Different knees:

* phantom A against phantom B (GE protocol), phantom B against phantom A (OAI protocol);
* the real GE exam against phantom A and against phantom B (GE protocol).

    python benchmarks/bench_registration_quality.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_longitudinal_phantoms import SNR, add_rician_noise, scanner_motion  # noqa: E402

from KneeCartilageT2Lib.geometry import Volume  # noqa: E402
from KneeCartilageT2Lib.phantom import PhantomOptions, simulate_phantom  # noqa: E402
from KneeCartilageT2Lib.phantom_anatomy import load_anatomy  # noqa: E402
from KneeCartilageT2Lib.registration import register_rigid  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ANATOMIES = {"A": DATA / "knee_labels" / "right_knee_example.nrrd",
             "B": DATA / "knee_labels" / "SAG_3D_DESS_RIGHT_bones_cart_men_fib-label.nrrd"}
GE_FOLDER = DATA / "mese_knee_ge"
GE_LABEL_CACHE = Path("/tmp/knee_t2_bench_ge_label.npy")


def phantom_visit(anatomy, protocol: str, seed: int, noise_seed: int, regrid: bool = False, motion=None):
    """(anatomy image = echo nearest 20 ms, cartilage mask) of a noisy phantom, optionally moved."""
    extra = dict(centre_jitter_mm=6.0, max_rotation_deg=9.0) if regrid else {}
    phantom = simulate_phantom(anatomy, PhantomOptions(protocol=protocol, seed=seed, snr=0.0, **extra))
    exam = phantom.exam
    echoes = add_rician_noise(exam.echoes, phantom.label, noise_seed)
    matrix = exam.ijk_to_ras if motion is None else motion @ exam.ijk_to_ras
    index = exam.echo_index_nearest(20.0)
    return Volume(echoes[index], matrix), phantom.label > 0


def ge_visit(noise_seed=None, motion=None):
    """(echo nearest 20 ms, bootstrap-model cartilage) of the real GE exam, optionally with new noise and moved."""
    from KneeCartilageT2Lib.exam_loader import load_exam

    exam = load_exam(GE_FOLDER)
    if GE_LABEL_CACHE.is_file():
        label = np.load(GE_LABEL_CACHE)
    else:
        from KneeCartilageT2Lib.pipeline import AnalysisOptions, analyse_exam

        label = np.asarray(analyse_exam(exam, AnalysisOptions(laterality="right")).label.array) > 0
        np.save(GE_LABEL_CACHE, label)
    index = exam.echo_index_nearest(20.0)
    image = exam.echoes[index].astype(np.float32)
    if noise_seed is not None:
        rng = np.random.default_rng(noise_seed)
        sigma = float(exam.echoes[0][label].mean()) / SNR
        image = np.sqrt((image + rng.normal(0, sigma, image.shape)) ** 2
                        + rng.normal(0, sigma, image.shape) ** 2).astype(np.float32)
    matrix = exam.ijk_to_ras if motion is None else motion @ exam.ijk_to_ras
    return Volume(image, matrix), label


def measure(name: str, kind: str, baseline, followup) -> dict:
    started = time.perf_counter()
    result = register_rigid(baseline[0], followup[0], baseline_mask=baseline[1], followup_mask=followup[1])
    row = {"name": name, "kind": kind, "ncc_before": result.ncc_before, "ncc_after": result.ncc_after,
           "dice_before": result.dice_before, "dice_after": result.dice_after, "rotation": result.rotation_deg,
           "translation": result.translation_mm, "seconds": time.perf_counter() - started}
    print("%-9s %-44s NCC %.3f -> %.3f, cartilage Dice %.3f -> %.3f, moved %.1f deg / %.1f mm (%.0f s)" % (
        kind, name, row["ncc_before"], row["ncc_after"], row["dice_before"], row["dice_after"], row["rotation"],
        row["translation"], row["seconds"]))
    sys.stdout.flush()
    return row


def main() -> int:
    missing = [str(path) for path in list(ANATOMIES.values()) + [GE_FOLDER] if not path.exists()]
    if missing:
        print("sample data not found: %s (knee-t2 fetch-sample)" % ", ".join(missing))
        return 1
    anatomies = {key: load_anatomy(path) for key, path in ANATOMIES.items()}
    motion = scanner_motion()
    rows = []
    for key, protocol in (("A", "ge"), ("A", "oai"), ("B", "ge")):
        baseline = phantom_visit(anatomies[key], protocol, 3, 1003)
        followup = phantom_visit(anatomies[key], protocol, 3, 2003, regrid=True, motion=motion)
        rows.append(measure("phantom %s %s, new slices + noise + motion" % (key, protocol), "same", baseline, followup))
    ge = ge_visit()
    rows.append(measure("GE exam vs itself, new noise + motion", "same", ge, ge_visit(7, motion)))
    for first, second, protocol in (("A", "B", "ge"), ("B", "A", "oai")):
        rows.append(measure("phantom %s vs phantom %s (%s)" % (first, second, protocol), "different",
                            phantom_visit(anatomies[first], protocol, 3, 1003),
                            phantom_visit(anatomies[second], protocol, 4, 2004)))
    for key in ("A", "B"):
        rows.append(measure("GE exam vs phantom %s (ge)" % key, "different", ge,
                            phantom_visit(anatomies[key], "ge", 3, 2003)))
    for kind in ("same", "different"):
        chosen = [row for row in rows if row["kind"] == kind]
        print("%-9s NCC after %.3f-%.3f, Dice after %.3f-%.3f" % (
            kind, min(r["ncc_after"] for r in chosen), max(r["ncc_after"] for r in chosen),
            min(r["dice_after"] for r in chosen), max(r["dice_after"] for r in chosen)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
