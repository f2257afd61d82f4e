"""Speed and memory of T2 fitting on an OAI-size volume, against per-voxel curve_fit in the same run.

Volume: 27 x 384 x 269 voxels (2.79 million, the OAI MESE matrix), 7 echoes TE
10..70 ms, a synthetic knee-like object in air: an elliptical thigh/leg of
muscle (T2 35 ms), a marrow-fat core (T2 120 ms, bright), a cartilage shell
(T2 30..55 ms), some fluid (T2 250 ms); about 45 % of the field is air.
Rician noise with sigma = 2 % of the muscle's S0 at TE = 0.

Every method fits the WHOLE volume (no mask, first echo excluded). The baseline
is the reference pipeline's way: scipy.optimize.curve_fit per voxel (same
model, same echoes, float64), timed on a random sample of voxels of the same
volume and extrapolated. Peak memory is the tracemalloc peak of numpy/Python
allocations during the fit (a second, untimed run, since tracing slows
allocation), next to the growth of the process's maximum resident set size
(ru_maxrss) over the whole run, which also counts interpreter and library
pages.

Run: python benchmarks/bench_t2_speed.py [--sample 500] [--threads N] [--torch [--device cuda|cpu]]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc

import numpy as np

from KneeCartilageT2Lib.t2_blocks import default_thread_count
from KneeCartilageT2Lib.t2_fitting import METHODS, fit_t2

SHAPE = (27, 384, 269)
TE_MS = 10.0 * np.arange(1, 8)
TISSUES = {"air": (0.0, 1.0), "muscle": (1000.0, 35.0), "fat": (1600.0, 120.0), "cartilage": (900.0, 42.0),
           "fluid": (700.0, 250.0)}
SIGMA = 20.0


def knee_volume(seed: int = 0) -> np.ndarray:
    """Echo stack (echo, slice, row, col) float32 of the synthetic knee described above."""
    rng = np.random.default_rng(seed)
    _, rows, cols = np.indices(SHAPE, dtype=np.float32)
    radius = np.sqrt(((rows - 192) / 170.0) ** 2 + ((cols - 134) / 125.0) ** 2)
    s0 = np.zeros(SHAPE, np.float32)
    t2 = np.ones(SHAPE, np.float32)
    for name, limit in (("muscle", 1.0), ("cartilage", 0.55), ("fat", 0.5), ("fluid", 0.15)):
        inside = radius < limit
        s0[inside], t2[inside] = TISSUES[name]
    cartilage = (radius > 0.5) & (radius < 0.55)
    t2[cartilage] = 30.0 + 25.0 * rng.random(int(cartilage.sum()), dtype=np.float32)
    echoes = np.empty((TE_MS.size,) + SHAPE, np.float32)
    for index, te in enumerate(TE_MS):
        clean = s0 * np.exp(-te / t2)
        real = clean + rng.normal(0, SIGMA, SHAPE).astype(np.float32)
        echoes[index] = np.hypot(real, rng.normal(0, SIGMA, SHAPE).astype(np.float32))
    return echoes


def curve_fit_rate(echoes: np.ndarray, sample: int, seed: int = 1) -> float:
    """Voxels per second of per-voxel scipy curve_fit (mono model, echoes 2..N) on a random sample."""
    from scipy.optimize import curve_fit

    flat = echoes.reshape(echoes.shape[0], -1)
    picks = np.random.default_rng(seed).choice(flat.shape[1], sample, replace=False)
    times = TE_MS[1:] - TE_MS[1]

    def model(t, amplitude, t2):
        return amplitude * np.exp(-t / t2)

    start = time.perf_counter()
    for voxel in picks:
        signal = flat[1:, voxel].astype(np.float64)
        try:
            curve_fit(model, times, signal, p0=(signal[0], 30.0))
        except (RuntimeError, ValueError):
            pass
    return sample / (time.perf_counter() - start)


def timed_fit(echoes, method, **kwargs):
    start = time.perf_counter()
    result = fit_t2(echoes, TE_MS, method=method, **kwargs)
    return time.perf_counter() - start, result


def traced_peak_mb(echoes, method, **kwargs) -> float:
    tracemalloc.start()
    fit_t2(echoes, TE_MS, method=method, **kwargs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2 ** 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=500, help="voxels fitted with curve_fit for the baseline")
    parser.add_argument("--threads", type=int, default=None, help="numpy threads (default: CPU count, at most 8)")
    parser.add_argument("--torch", action="store_true", help="also time the torch backend")
    parser.add_argument("--device", default="cuda", help="torch device for --torch (default cuda; cpu to time torch on the CPU)")
    args = parser.parse_args()
    rss_start_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    echoes = knee_volume()
    voxels = int(np.prod(SHAPE))
    threads = args.threads or default_thread_count()
    print("volume %s = %d voxels, %d echoes (TE %g..%g ms); echo stack %.0f MB; CPUs %d; numpy threads %d"
          % ("x".join(map(str, SHAPE)), voxels, TE_MS.size, TE_MS[0], TE_MS[-1], echoes.nbytes / 2 ** 20,
             os.cpu_count() or 1, threads))
    baseline = curve_fit_rate(echoes, args.sample)
    print("baseline: scipy curve_fit per voxel: %.0f voxels/s (%d sampled voxels) -> %.0f s for the volume"
          % (baseline, args.sample, voxels / baseline))
    print("\n%-12s %-12s %9s %14s %10s %10s %12s" % ("method", "backend", "time s", "voxels/s", "x curve_fit",
                                                      "valid %", "peak MB"))
    runs = [(method, dict(backend="numpy", n_threads=threads)) for method in METHODS]
    runs.append(("mono", dict(backend="numpy", n_threads=1)))
    if args.torch:
        runs += [(method, dict(backend="torch", device=args.device)) for method in METHODS]
    for method, options in runs:
        seconds, result = timed_fit(echoes, method, **options)
        label = options["backend"] + ("" if options["backend"] == "torch" else " x%d" % options["n_threads"])
        if result.parameters["backend"] == "torch":
            label = "torch " + result.parameters["device"]
            peak = float("nan")
        else:
            peak = traced_peak_mb(echoes, method, **options)
        print("%-12s %-12s %9.2f %14.0f %10.0f %10.1f %12.0f" % (method, label, seconds, voxels / seconds,
                                                                  voxels / seconds / baseline,
                                                                  100.0 * result.valid.mean(), peak))
        if result.noise_sigma is not None:
            print("%-12s noise sigma estimated %.2f (true %.1f)" % ("", result.noise_sigma, SIGMA))
    rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_start_kb) / 1024.0
    print("\npeak MB = tracemalloc peak during one fit (numpy + Python allocations, echo stack excluded: it exists "
          "before the fit)")
    print("ru_maxrss growth over the whole run (echo stack, curve_fit, all fits): %.0f MB" % rss_growth_mb)


if __name__ == "__main__":
    main()
