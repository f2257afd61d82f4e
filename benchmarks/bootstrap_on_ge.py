"""Segment the real GE MESE exam with a model and save its overlay on three slices.

There is no manual label for this exam, so this is a visual check (and a few
numbers: cartilage voxels, slices with cartilage, mean T2 in the mask).
Usage: python benchmarks/bootstrap_on_ge.py [--model PATH] [OUT.png]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from bench_setup import DEFAULT_MODEL, REPO


def main() -> int:
    import torch

    from conftest import find_ge_exam_dir
    from KneeCartilageT2Lib.exam_loader import load_exam
    from KneeCartilageT2Lib.inference import segment_exam
    from KneeCartilageT2Lib.model_registry import load_model
    from KneeCartilageT2Lib.t2_fitting import fit_exam

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default=str(REPO / "Resources" / "Screenshots" / "bootstrap_on_ge.png"))
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    args = parser.parse_args()
    folder = find_ge_exam_dir()
    if folder is None:
        print("GE exam not found: run `knee-t2 fetch-sample`")
        return 1
    torch.set_num_threads(2)
    exam = load_exam(folder)
    model = load_model(args.model, device="cpu")
    started = time.time()
    result = segment_exam(exam, model, device="cpu",
                          t2_ms=lambda candidates: fit_exam(exam, method="mono", mask=candidates).t2_ms)
    label = result.label > 0
    t2 = fit_exam(exam, method="mono", mask=label)
    per_slice = label.sum(axis=(1, 2))
    print("segmented in %.1f s: %d voxels, %d slices with cartilage (%s), mean T2 %.1f ms; messages: %s"
          % (time.time() - started, label.sum(), np.count_nonzero(per_slice), per_slice.tolist(),
             float(t2.t2_ms[label & t2.valid].mean()) if label.any() else float("nan"), result.messages))
    _figure(exam, result.probabilities, label, Path(args.output))
    print("wrote", args.output)
    return 0


def _figure(exam, probabilities, label, output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    echo = exam.echo_index_nearest(20.0)
    slices = [6, 12, 18]
    window = np.percentile(exam.echoes[echo], 99.5)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    for axis, k in zip(axes, slices):
        axis.imshow(exam.echoes[echo, k], cmap="gray", vmin=0, vmax=window)
        overlay = np.ma.masked_where(~label[k], label[k])
        axis.imshow(overlay, cmap="autumn", alpha=0.5, vmin=0, vmax=1)
        axis.contour(probabilities[k], [0.5], colors="cyan", linewidths=0.4)
        axis.set_title("real GE, slice %d, TE %.1f ms: %d voxels" % (k + 1, exam.echo_times_ms[echo], label[k].sum()), fontsize=8)
        axis.axis("off")
    fig.suptitle("bootstrap model on the real GE exam (yellow: refined label, cyan: network p = 0.5)", fontsize=9)
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(output), dpi=70)


if __name__ == "__main__":
    sys.exit(main())
