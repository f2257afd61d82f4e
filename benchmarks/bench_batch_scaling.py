"""Batch throughput: scans per hour with 1 and 2 Dask workers, printed side by side.

Each scan is a synthetic MESE exam (4D NRRD + JSON) analysed by the light
runner of :mod:`batch_synthetic` (real exam loading, real T2 fit inside a
threshold mask, region table, DONE.json), or by the full pipeline with
``--real`` (needs the model weights). Cluster start-up is timed separately
and left out of the throughput; the 1-worker run is the baseline.

    python benchmarks/bench_batch_scaling.py [--scans 8] [--shape 12 128 128] [--method mono] [--real]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from KneeCartilageT2Lib.batch import BatchSettings, run_batch
from KneeCartilageT2Lib.batch_manifest import read_manifest
from KneeCartilageT2Lib.batch_synthetic import light_change, light_runner, write_synthetic_exam
from KneeCartilageT2Lib.batch_tasks import longitudinal_change, pipeline_runner


def make_cohort(folder: Path, n_scans: int, shape) -> Path:
    rows = ["subject,visit,side,input"]
    for n in range(n_scans):
        subject, visit = "S%02d" % (n // 2), "v%d" % (n % 2)
        write_synthetic_exam(folder / ("%s_%s.nrrd" % (subject, visit)), 30.0 + n % 7, shape=tuple(shape), seed=n)
        rows.append("%s,%s,right,%s_%s.nrrd" % (subject, visit, subject, visit))
    (folder / "cohort.csv").write_text("\n".join(rows) + "\n")
    return folder / "cohort.csv"


def time_batch(manifest: Path, out_dir: Path, workers: int, args) -> dict:
    from distributed import Client, LocalCluster

    started = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           env={"OMP_NUM_THREADS": "1", "KNEE_T2_THREADS": "1"})
    client = Client(cluster)
    client.wait_for_workers(workers)
    startup = time.perf_counter() - started
    runner, change = (pipeline_runner, longitudinal_change) if args.real else (light_runner, light_change)
    settings = BatchSettings(workers=workers, progress=False, device="cpu", extra_options={"t2_method": args.method})
    started = time.perf_counter()
    report = run_batch(read_manifest(manifest), out_dir, runner, change, settings, client=client)
    elapsed = time.perf_counter() - started
    client.close()
    cluster.close()
    return {"workers": workers, "startup_s": startup, "elapsed_s": elapsed, "done": report.count("done"),
            "failed": report.count("failed"), "scans_per_hour": report.count("done") / elapsed * 3600.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=8)
    parser.add_argument("--shape", type=int, nargs=3, default=(12, 128, 128), metavar=("SLICES", "ROWS", "COLS"))
    parser.add_argument("--method", default="mono", help="T2 method of the light runner (mono, loglinear)")
    parser.add_argument("--real", action="store_true", help="run the full pipeline instead of the light runner")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        manifest = make_cohort(folder, args.scans, args.shape)
        results = [time_batch(manifest, folder / ("out%d" % workers), workers, args) for workers in (1, 2)]
    print("batch scaling: %d scans of %s, %s runner, T2 %s" % (args.scans, "x".join(map(str, args.shape)),
                                                              "full" if args.real else "light", args.method))
    print("%-8s %12s %12s %10s %8s %14s" % ("workers", "startup s", "elapsed s", "done", "failed", "scans/hour"))
    for row in results:
        print("%-8d %12.1f %12.1f %10d %8d %14.0f" % (row["workers"], row["startup_s"], row["elapsed_s"], row["done"],
                                                      row["failed"], row["scans_per_hour"]))
    print("speed-up 2 vs 1 worker: %.2fx (ideal 2.00x; the machine's cores are shared)"
          % (results[1]["scans_per_hour"] / results[0]["scans_per_hour"]))


if __name__ == "__main__":
    main()
