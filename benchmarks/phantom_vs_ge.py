"""Side-by-side picture of a GE-protocol phantom and the real GE MESE exam, same echo and window.

Usage: python benchmarks/phantom_vs_ge.py [OUT.png] [--anatomy LABELMAP] [--seed N]
Prints intensity percentiles (echo 2) and the per-echo decay of the body signal of both, so the
realism of contrast and decay can be judged in numbers as well as by eye.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bench_setup import REPO


def main() -> int:
    from conftest import find_ge_exam_dir, find_knee_labels_dir
    from KneeCartilageT2Lib.exam_loader import load_exam
    from KneeCartilageT2Lib.phantom import PhantomOptions, simulate_phantom
    from KneeCartilageT2Lib.phantom_anatomy import load_anatomy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default=str(REPO / "Resources" / "Screenshots" / "phantom_vs_ge.png"))
    parser.add_argument("--anatomy", default=None)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--echo", type=int, default=2, help="echo number (1-based) to show")
    args = parser.parse_args()
    ge_dir, labels_dir = find_ge_exam_dir(), find_knee_labels_dir()
    if ge_dir is None or labels_dir is None:
        print("real data not found: run `knee-t2 fetch-sample`")
        return 1
    real = load_exam(ge_dir)
    anatomy = load_anatomy(args.anatomy or labels_dir / "right_knee_example.nrrd")
    phantom = simulate_phantom(anatomy, PhantomOptions(protocol="ge", seed=args.seed, snr=40.0))
    echo = args.echo - 1
    print("echo %d: real TE %.2f ms, phantom TE %.2f ms" % (args.echo, real.echo_times_ms[echo], phantom.exam.echo_times_ms[echo]))
    for name, exam in (("real GE", real), ("phantom", phantom.exam)):
        body = exam.echoes[:, exam.echoes[0] > 0.1 * np.percentile(exam.echoes[0], 99)]
        decay = body.mean(axis=1) / body.mean(axis=1)[0]
        print("%-8s echo-%d percentiles 50/90/99: %s; body decay %s" % (
            name, args.echo, np.round(np.percentile(exam.echoes[echo], [50, 90, 99]), 0), np.round(decay, 3)))
    _figure(real, phantom, echo, Path(args.output))
    print("wrote", args.output)
    return 0


def _figure(real, phantom, echo, output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cartilage_slices = np.nonzero(phantom.label.sum(axis=(1, 2)))[0]
    phantom_slices = [cartilage_slices[len(cartilage_slices) // 4], cartilage_slices[(3 * len(cartilage_slices)) // 4]]
    real_slices = [6, 18]
    fig, axes = plt.subplots(2, 2, figsize=(8, 8))
    for row, (exam, slices, title) in enumerate(((real, real_slices, "real GE MESE"), (phantom.exam, phantom_slices, "phantom (GE protocol)"))):
        window = np.percentile(exam.echoes[echo], 99.5)
        for column, k in enumerate(slices):
            axes[row, column].imshow(exam.echoes[echo, k], cmap="gray", vmin=0, vmax=window)
            axes[row, column].set_title("%s, slice %d, TE %.1f ms" % (title, k + 1, exam.echo_times_ms[echo]), fontsize=8)
            axes[row, column].axis("off")
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(output), dpi=60)


if __name__ == "__main__":
    sys.exit(main())
