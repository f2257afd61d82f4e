"""Draw the module icon KneeCartilageT2/Resources/Icons/KneeCartilageT2.png (128 x 128).

A sagittal view of the distal femur: the shaft and the round condyle in bone
colours, the femoral cartilage as a band around the condyle coloured with the
module's own T2 colour scale (short T2 deep/anterior, longer T2 towards the
posterior surface), and the tibial plateau below. Run from the repository
root: ``python scripts/draw_module_icon.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "KneeCartilageT2"))
OUTPUT = REPO / "KneeCartilageT2" / "Resources" / "Icons" / "KneeCartilageT2.png"
SIZE_PX = 128


def _t2_colors(count: int) -> np.ndarray:
    """The T2 scale of KneeCartilageT2SlicerLib.t2_colors, loaded without importing slicer."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("t2_colors", REPO / "KneeCartilageT2" / "KneeCartilageT2SlicerLib" / "t2_colors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.t2_colors(count)


def draw(path: Path = OUTPUT) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Circle, FancyBboxPatch, Polygon

    figure = plt.figure(figsize=(1, 1), dpi=SIZE_PX)
    axes = figure.add_axes([0, 0, 1, 1])
    axes.set_xlim(0, 128)
    axes.set_ylim(0, 128)
    axes.axis("off")
    figure.patch.set_alpha(0.0)
    frame = FancyBboxPatch((4, 4), 120, 120, boxstyle="round,pad=0,rounding_size=18",
                           facecolor="#1b2233", edgecolor="#3a4660", linewidth=1.5)
    axes.add_patch(frame)
    centre, radius = np.array([66.0, 60.0]), 25.0
    bone, cortex = "#e9dcc0", "#b9a98a"
    axes.add_patch(Polygon([(50, 124), (72, 124), (80, 78), (40, 70)], closed=True, facecolor=bone, edgecolor=cortex, lw=1.2))
    axes.add_patch(Circle((47, 70), 12, facecolor=bone, edgecolor=cortex, lw=1.2))  # trochlea (anterior)
    axes.add_patch(Circle(centre, radius, facecolor=bone, edgecolor=cortex, lw=1.2))
    axes.add_patch(Polygon([(50, 123), (72, 123), (79, 79), (41, 72)], closed=True, facecolor=bone, lw=0))
    # Cartilage band: angle 0 = inferior; anterior (left in this view) negative, posterior positive.
    angles = np.radians(np.linspace(-115, 125, 120))
    inner, outer = radius + 0.5, radius + 7.0
    quads = []
    for start, end in zip(angles[:-1], angles[1:]):
        quad = [(centre[0] + r * np.sin(a), centre[1] - r * np.cos(a)) for r, a in
                ((inner, start), (outer, start), (outer, end), (inner, end))]
        quads.append(quad)
    colors = _t2_colors(len(quads))
    axes.add_collection(PolyCollection(quads, facecolors=colors, edgecolors=colors, linewidths=0.3))
    axes.add_patch(Polygon([(22, 12), (110, 12), (106, 22), (26, 22)], closed=True, facecolor=bone,
                           edgecolor=cortex, lw=1.2))  # tibial plateau
    for artist in list(axes.patches)[1:] + list(axes.collections):
        artist.set_clip_path(frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=SIZE_PX, transparent=True)
    plt.close(figure)
    return path


if __name__ == "__main__":
    print(draw())
