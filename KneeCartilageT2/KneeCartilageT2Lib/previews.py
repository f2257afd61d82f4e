"""PNG previews a reader can check at a glance: echo image, cartilage outline, T2 map.

Slices are shown in radiological sagittal orientation derived from the
geometry (superior up, anterior left), whatever the stored row/column order.
matplotlib runs with the non-interactive Agg backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from .atomic_files import atomic_output
from .geometry import orient_inplane, sagittal_display_orientation, spacing_from_matrix

T2_DISPLAY_RANGE_MS = (0.0, 100.0)


def display_transform(ijk_to_ras: np.ndarray) -> Tuple[bool, bool, bool]:
    """How to show a (row, col) slice with superior up and anterior left.

    Returns ``(transpose, flip_vertical, flip_horizontal)`` to apply in that
    order to ``slice2d[row, col]`` (see :func:`geometry.sagittal_display_orientation`,
    the same rule that orients the network's input).
    """
    return sagittal_display_orientation(ijk_to_ras)


def oriented(slice2d: np.ndarray, transform: Tuple[bool, bool, bool]) -> np.ndarray:
    """``slice2d`` (row, col) transformed by :func:`display_transform` for display."""
    return orient_inplane(slice2d, transform)


def choose_preview_slice(label: Optional[np.ndarray], n_slices: int) -> int:
    """The slice with the most cartilage, or the middle slice when there is none."""
    if label is not None and np.any(label):
        return int(np.argmax(label.reshape(label.shape[0], -1).sum(axis=1)))
    return n_slices // 2


def write_preview_png(
    path,
    anatomy: np.ndarray,
    ijk_to_ras: np.ndarray,
    t2_ms: np.ndarray,
    label: Optional[np.ndarray] = None,
    slice_index: Optional[int] = None,
    title: str = "",
    neighbour_index: Optional[int] = None,
) -> Path:
    """Three panels of one sagittal slice: anatomy + cartilage outline, T2 map, T2 in cartilage.

    ``anatomy``, ``t2_ms`` and ``label`` are (slice, row, col) arrays on one grid.
    ``neighbour_index``: also outline (dashed, yellow) the cartilage of that slice on the
    first two panels: where the plate lies next door, for a slice that may have missed it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = choose_preview_slice(label, anatomy.shape[0]) if slice_index is None else int(slice_index)
    transform = display_transform(ijk_to_ras)
    spacing = spacing_from_matrix(ijk_to_ras)
    image = oriented(anatomy[k], transform)
    t2 = oriented(t2_ms[k], transform)
    cartilage = oriented(label[k], transform) > 0 if label is not None else None
    aspect = (spacing[0] / spacing[1]) if transform[0] else (spacing[1] / spacing[0])
    low, high = np.percentile(anatomy[k], [1, 99.5])

    figure, axes = plt.subplots(1, 3, figsize=(13.5, 4.8), constrained_layout=True)
    for axis in axes:
        axis.imshow(image, cmap="gray", vmin=low, vmax=high, aspect=aspect, interpolation="nearest")
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_xlabel("anterior  \u2190  \u2192  posterior")
    axes[0].set_ylabel("inferior  \u2190  \u2192  superior")
    if cartilage is not None and cartilage.any():
        axes[0].contour(cartilage.astype(float), levels=[0.5], colors=["#00e5ff"], linewidths=0.9)
    axes[0].set_title("Echo image, cartilage outline (slice %d)" % k)
    if label is not None and neighbour_index is not None:
        beside = oriented(label[int(neighbour_index)], transform) > 0
        if beside.any():
            for axis in axes[:2]:
                axis.contour(beside.astype(float), levels=[0.5], colors=["#ffd400"], linewidths=0.8,
                             linestyles="dashed")
            axes[0].set_title("Slice %d (dashed: cartilage of slice %d)" % (k, neighbour_index))
    t2_shown = np.ma.masked_where(t2 <= 0, t2)
    mappable = axes[1].imshow(t2_shown, cmap="inferno", vmin=T2_DISPLAY_RANGE_MS[0], vmax=T2_DISPLAY_RANGE_MS[1],
                              aspect=aspect, interpolation="nearest")
    axes[1].set_title("T2 map (valid fits)")
    if cartilage is not None:
        cartilage_t2 = np.ma.masked_where(~cartilage | (t2 <= 0), t2)
        axes[2].imshow(cartilage_t2, cmap="inferno", vmin=T2_DISPLAY_RANGE_MS[0], vmax=T2_DISPLAY_RANGE_MS[1],
                       aspect=aspect, interpolation="nearest")
        inside = t2[cartilage & (t2 > 0)]
        summary = "mean %.1f ms, n=%d" % (inside.mean(), inside.size) if inside.size else "no cartilage"
        axes[2].set_title("T2 in femoral cartilage (%s)" % summary)
    else:
        axes[2].set_title("No segmentation")
    figure.colorbar(mappable, ax=axes[1:], shrink=0.85, label="T2 (ms)")
    if title:
        figure.suptitle(title)
    path = Path(path)
    try:
        with atomic_output(path) as temporary:
            figure.savefig(str(temporary), dpi=110, format="png")
    finally:
        plt.close(figure)
    return path
