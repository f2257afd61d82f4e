"""Bland-Altman plots (PNG) of paired measurements, one panel per quantity.

Each panel shows, for every scan, the mean of the two measurements (x) against
their difference B - A (y), with the bias (solid) and the 95% limits of
agreement bias -/+ 1.96 SD (dashed), as in the paper's supplementary figures.
matplotlib is used through its object interface with the Agg canvas, so no
global backend state is touched (safe inside Slicer).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence, Tuple

import numpy as np


def _new_figure(n_panels: int, columns: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = max(1, math.ceil(n_panels / columns))
    height = 2.8 * rows + 0.6
    figure = Figure(figsize=(3.3 * columns, height))
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False)
    # fixed margins: constrained/tight layout cost seconds per figure with 27 panels
    figure.subplots_adjust(left=0.06, right=0.98, bottom=0.45 / height, top=1.0 - 0.75 / height,
                           wspace=0.4, hspace=0.65)
    return figure, axes


def bland_altman_panel(axis, a: np.ndarray, b: np.ndarray, title: str, unit: str) -> None:
    """Draw one Bland-Altman panel for paired arrays ``a`` and ``b`` on a matplotlib axis."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    axis.set_title(title, fontsize=9)
    axis.tick_params(labelsize=7)
    if a.size == 0:
        axis.text(0.5, 0.5, "no paired values", ha="center", va="center", transform=axis.transAxes, fontsize=8)
        return
    mean, difference = (a + b) / 2.0, b - a
    bias = float(np.mean(difference))
    axis.scatter(mean, difference, s=14, color="#1f77b4", alpha=0.8, edgecolors="none")
    axis.axhline(bias, color="#222222", linewidth=1.0)
    axis.axhline(0.0, color="#999999", linewidth=0.6, linestyle=":")
    if a.size > 1:
        sd = float(np.std(difference, ddof=1))
        for limit, colour in ((bias + 1.96 * sd, "#ff7f0e"), (bias - 1.96 * sd, "#2ca02c")):
            axis.axhline(limit, color=colour, linewidth=0.9, linestyle="--")
        axis.text(0.02, 0.97, "bias %.2f, LoA %.2f..%.2f %s" % (bias, bias - 1.96 * sd, bias + 1.96 * sd, unit),
                  transform=axis.transAxes, fontsize=6.5, va="top")
    axis.set_xlabel("mean of A and B (%s)" % unit, fontsize=7)
    axis.set_ylabel("B - A (%s)" % unit, fontsize=7)


def write_bland_altman_grid(
    path,
    panels: Mapping[str, Tuple[np.ndarray, np.ndarray]],
    order: Sequence[str],
    unit: str = "ms",
    title: str = "",
    columns: int = 5,
) -> Path:
    """Write one PNG with a Bland-Altman panel per quantity in ``order`` (``panels[q] = (a, b)``)."""
    names = [name for name in order if name in panels]
    columns = max(1, min(columns, len(names) or 1))
    figure, axes = _new_figure(len(names), columns)
    flat = axes.ravel()
    for axis, name in zip(flat, names):
        a, b = panels[name]
        bland_altman_panel(axis, a, b, name, unit)
    for axis in flat[len(names):]:
        axis.set_visible(False)
    if title:
        figure.suptitle(title, fontsize=11)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(str(path), dpi=100)
    return path
