"""Benchmark: full-size U-Net inference on an OAI-sized volume (27 slices of 384 x 384).

Prints, for the CPU (and the GPU when CUDA works):

* seconds per volume end to end (echo choice, normalisation, network, mapping
  back; :func:`inference.predict_probabilities`) and network-only seconds;
* achieved GFLOP/s of the network, from the analytic convolution count
  (:func:`unet.conv_flops`, 2 k^2 c_in c_out H W per conv, transposed convs
  at their input resolution), next to the machine's float32 matmul GFLOP/s
  (2048^3) measured in the same run, and their ratio (target >= 40 %);
* peak process memory (RSS; target < 4 GB on the CPU) and, on the GPU, peak
  allocated memory. Targets: CPU ratio >= 0.4, GPU < 0.5 s per volume.

Weights are random (timing does not depend on them). Usage:

    python benchmarks/bench_inference.py [--quick] [--device cpu|cuda|all]
        [--batch-sizes 1,2,4] [--threads N] [--slices 27]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "KneeCartilageT2"))

import torch  # noqa: E402

from KneeCartilageT2Lib import inference, unet  # noqa: E402
from KneeCartilageT2Lib.exam import MeseExam  # noqa: E402
from KneeCartilageT2Lib.geometry import make_ijk_to_ras  # noqa: E402
from KneeCartilageT2Lib.model_registry import LoadedModel  # noqa: E402


def matmul_gflops(device: torch.device, size: int = 2048, repeats: int = 5) -> float:
    """Best-of float32 matmul throughput (GFLOP/s), the machine's practical peak."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size ** 3 / best / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def oai_like_exam(n_slices: int) -> MeseExam:
    rng = np.random.default_rng(0)
    echoes = rng.gamma(2.0, 100.0, (3, n_slices, 384, 384)).astype(np.float32)
    directions = np.column_stack([(0.0, -1.0, 0.0), (0.0, 0.0, -1.0), (1.0, 0.0, 0.0)])
    return MeseExam(echoes, [10.0, 20.0, 30.0], make_ijk_to_ras((0.3125, 0.3125, 3.5), directions))


def make_model(device: torch.device, channels_last: bool) -> LoadedModel:
    spec = {"preprocessing": {"mode": "resize", "size": [384, 384]}, "refinement": {}}
    return LoadedModel(unet.build_unet().eval(), spec, "bench", "0", channels_last=channels_last).to(device)


def time_volume(exam, model, device, batch_size, repeats):
    """Best-of (end-to-end s, network-only s) for one volume."""
    network_batch = np.random.default_rng(1).standard_normal(
        (exam.volume_shape[0], 384, 384)).astype(np.float32)
    description = str(device)
    best_total = best_network = float("inf")
    inference.run_network(network_batch[:batch_size], model, device, description, batch_size)  # warm-up
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        inference.run_network(network_batch, model, device, description, batch_size)
        _sync(device)
        best_network = min(best_network, time.perf_counter() - start)
        start = time.perf_counter()
        inference.predict_probabilities(exam, model, (device, description), batch_size)
        _sync(device)
        best_total = min(best_total, time.perf_counter() - start)
    return best_total, best_network


def report(label, exam, total_s, network_s, peak_gflops, scale_to_slices):
    flops = unet.conv_flops() * exam.volume_shape[0]
    achieved = flops / network_s / 1e9
    factor = scale_to_slices / exam.volume_shape[0]
    print("  %-28s %7.2f s/volume end to end, %7.2f s network  |  %7.1f GFLOP/s = %5.1f %% of matmul"
          % (label, total_s * factor, network_s * factor, achieved, 100.0 * achieved / peak_gflops))


def bench_device(device, args, batch_sizes):
    exam = oai_like_exam(args.slices if not args.quick else 2 if device.type == "cpu" else 8)
    peak = matmul_gflops(device)
    print("%s: float32 matmul 2048^3 = %.1f GFLOP/s; network %.1f GFLOP per slice; %d slices timed%s"
          % (device, peak, unet.conv_flops() / 1e9, exam.volume_shape[0],
             " (scaled to %d)" % args.slices if exam.volume_shape[0] != args.slices else ""))
    variants = [("default", False), ("channels_last", True)]
    for label, channels_last in variants:
        model = make_model(device, channels_last)
        for batch_size in batch_sizes:
            total, network = time_volume(exam, model, device, batch_size, 1 if args.quick else 2)
            report("%s, batch %d" % (label, batch_size), exam, total, network, peak, args.slices)
        del model
    if device.type == "cuda":
        print("  peak GPU memory allocated: %.2f GB" % (torch.cuda.max_memory_allocated() / 1e9))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 CPU slices (8 on GPU), one repeat")
    parser.add_argument("--device", default="all", choices=("cpu", "cuda", "all"))
    parser.add_argument("--batch-sizes", default=None, help="comma-separated (default: 1,2,4 CPU; 4,8,16 GPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--slices", type=int, default=27, help="slices per volume to report (default 27, OAI)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print("torch %s, %d CPU threads, mkldnn %s" % (torch.__version__, torch.get_num_threads(),
                                                  torch.backends.mkldnn.is_available()))
    chosen = [int(v) for v in args.batch_sizes.split(",")] if args.batch_sizes else None
    if args.device in ("cpu", "all"):
        bench_device(torch.device("cpu"), args, chosen or ([2] if args.quick else [1, 2, 4]))
        rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        print("  peak process RSS so far: %.2f GB (target < 4 GB)" % rss_gb)
    if args.device in ("cuda", "all"):
        if torch.cuda.is_available():
            bench_device(torch.device("cuda"), args, chosen or [4, 8, 16])
        else:
            print("cuda: not available on this machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
