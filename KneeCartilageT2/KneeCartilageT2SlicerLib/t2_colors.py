"""The T2 colour scale: a perceptually ordered colour table and display windows (ms).

Cartilage T2 at 3 T is about 20-60 ms (higher = more water, less collagen
order, earlier degeneration); fluid and fat lie above 100 ms. The table runs
from dark blue (short T2) through teal and green to orange and light yellow
(long T2) with lightness rising monotonically, so that a brighter colour
always means a longer T2 and the map reads correctly in grey-scale print and
for colour-blind readers (no red/green-only contrast). 256 entries span the
display window; values outside the window take the end colours, voxels with
no valid fit (T2 = 0) are transparent through the display threshold.
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

T2_COLOR_NODE_NAME = "KneeT2 T2 scale"
T2_COLOR_SINGLETON_TAG = "KneeCartilageT2.T2ColorScale"
DEFAULT_WINDOW_MS = (0.0, 100.0)
NO_FIT_THRESHOLD_MS = 0.5
T2_WINDOW_PRESETS_MS: Dict[str, Tuple[float, float]] = {
    "Cartilage 0-100 ms": (0.0, 100.0),
    "Cartilage detail 20-60 ms": (20.0, 60.0),
    "Wide 0-150 ms (fluid, fat)": (0.0, 150.0),
}
# Anchor colours (fraction of the window, R, G, B); designed for this project, lightness increasing.
_ANCHORS = np.array(
    [
        (0.00, 0.08, 0.04, 0.28),
        (0.25, 0.13, 0.27, 0.62),
        (0.45, 0.07, 0.52, 0.60),
        (0.62, 0.30, 0.70, 0.38),
        (0.80, 0.90, 0.72, 0.20),
        (1.00, 1.00, 0.96, 0.74),
    ]
)


def t2_window_for_range(t2_range_ms) -> Tuple[float, float]:
    """The display window (ms) of T2 maps fitted with the valid range ``t2_range_ms = (low, high]`` (ms).

    0-100 ms (:data:`DEFAULT_WINDOW_MS`) for the default range and any range inside it; 0 ms to the
    range's upper limit when that lies above 100 ms, so that valid long T2 values (a 'Valid T2' of
    0-150 ms, say) are told apart instead of all showing the end colour. ``None`` (not known, e.g. a
    scene saved before the range was recorded) gives the default.
    """
    if t2_range_ms is None:
        return DEFAULT_WINDOW_MS
    high = float(t2_range_ms[1])
    return (DEFAULT_WINDOW_MS[0], high) if high > DEFAULT_WINDOW_MS[1] else DEFAULT_WINDOW_MS


def t2_colors(count: int = 256) -> np.ndarray:
    """``count`` x 3 RGB values (0..1) of the T2 scale, from short to long T2."""
    positions = np.linspace(0.0, 1.0, count)
    return np.stack([np.interp(positions, _ANCHORS[:, 0], _ANCHORS[:, channel]) for channel in (1, 2, 3)], axis=1)


def relative_lightness(rgb: np.ndarray) -> np.ndarray:
    """CIE L* (0..100) of sRGB colours (0..1): used to check that the scale is perceptually ordered."""
    rgb = np.asarray(rgb, dtype=np.float64)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    luminance = linear @ np.array([0.2126, 0.7152, 0.0722])
    return np.where(luminance > 216 / 24389, 116 * np.cbrt(luminance) - 16, luminance * 24389 / 27)


def t2_color_node(scene):
    """The scene's T2 colour table (a singleton, created on first use)."""
    from .label_colors import singleton_color_table

    def fill(node) -> None:
        node.SetHideFromEditors(False)
        colors = t2_colors()
        node.SetNumberOfColors(len(colors))
        for index, (red, green, blue) in enumerate(colors):
            node.SetColor(index, "", float(red), float(green), float(blue), 1.0)
        node.SetDescription("T2 relaxation time (ms), dark blue = short, light yellow = long; KneeCartilageT2.")

    return singleton_color_table(scene, T2_COLOR_SINGLETON_TAG, T2_COLOR_NODE_NAME, fill)


def show_as_t2_map(volume_node, window_ms=DEFAULT_WINDOW_MS) -> None:
    """Give a T2 map node the T2 colour table, the window (ms), transparency where T2 = 0, a legend."""
    display = volume_node.GetDisplayNode()
    display.SetAndObserveColorNodeID(t2_color_node(volume_node.GetScene()).GetID())
    apply_t2_window(volume_node, window_ms)
    display.SetApplyThreshold(True)
    display.SetLowerThreshold(NO_FIT_THRESHOLD_MS)
    display.SetUpperThreshold(1.0e6)
    _add_color_legend(volume_node)


def apply_t2_window(volume_node, window_ms) -> None:
    """Map T2 values ``window_ms = (low, high)`` onto the colour table; values outside take the end colours."""
    low, high = (float(value) for value in window_ms)
    if not high > low:
        raise ValueError("T2 window must have high > low, got %s" % (window_ms,))
    display = volume_node.GetDisplayNode()
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(low, high)


def _add_color_legend(volume_node) -> None:
    import slicer

    colors = getattr(getattr(slicer, "modules", None), "colors", None)
    if colors is None or not hasattr(colors.logic(), "AddDefaultColorLegendDisplayNode"):
        return
    legend = colors.logic().AddDefaultColorLegendDisplayNode(volume_node)
    if legend is not None:
        legend.SetTitleText("T2 (ms)")
        legend.SetLabelFormat("%.0f")
