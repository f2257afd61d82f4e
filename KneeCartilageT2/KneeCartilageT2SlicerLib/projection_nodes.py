"""2D projection maps of the unrolled cartilage as volumes a slice view can show.

A ``ProjectionMap`` (from :mod:`KneeCartilageT2Lib.projection`) is a 2D
array ``(ml_rows, arc_cols)`` with physical axes: row positions (mm,
medial-lateral, 0 at the notch, lateral positive) and column positions (mm
of arc, 0 inferior, anterior negative). It becomes a one-slice volume lying
in the z = 0 plane whose x/y coordinates ARE those unrolled-surface
millimetres (not patient space): shown in an axial slice view, anterior is on
the left, posterior on the right, lateral at the top and medial at the
bottom, for left and right knees alike. Empty cells (NaN) are 0 and
transparent. T2 maps use the T2 colour scale, thickness maps a heat scale,
the compartment map a labelmap with the compartment colours. A re-measurement
of the same analysis (``keep_display=True``) changes only the maps' values: the
window/level, colour table and visibility the reader set stay.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from KneeCartilageT2Lib.geometry import Volume

from .label_colors import label_color_table
from .t2_colors import DEFAULT_WINDOW_MS, show_as_t2_map
from .volume_nodes import LABELMAP_VOLUME, SCALAR_VOLUME, result_volume

ROLE_PREFIX = "Projection."
THICKNESS_WINDOW_MM = (0.0, 4.0)
THICKNESS_COLOR_NODE_ID = "vtkMRMLColorTableNodeIron"
COMPARTMENT_TAG = "KneeCartilageT2.Compartments"


def _axis_step(positions: np.ndarray, fallback: float = 1.0) -> float:
    positions = np.asarray(positions, dtype=np.float64)
    return float(np.median(np.diff(positions))) if positions.size > 1 else fallback


def projection_geometry(row_positions_mm: np.ndarray, col_positions_mm: np.ndarray) -> np.ndarray:
    """``ijk_to_ras`` of a map: i = arc column -> x = -arc (anterior left on screen), j = M-L row -> y."""
    column_step = _axis_step(col_positions_mm)
    row_step = _axis_step(row_positions_mm)
    matrix = np.eye(4)
    matrix[0, 0] = -column_step
    matrix[1, 1] = row_step
    matrix[0, 3] = -float(np.asarray(col_positions_mm)[0]) if len(col_positions_mm) else 0.0
    matrix[1, 3] = float(np.asarray(row_positions_mm)[0]) if len(row_positions_mm) else 0.0
    return matrix


def projection_volume(projection) -> Volume:
    """The map as a one-slice :class:`Volume` (NaN -> 0)."""
    array = np.nan_to_num(np.asarray(projection.array, dtype=np.float32), nan=0.0)[np.newaxis]
    return Volume(array, projection_geometry(projection.row_positions_mm, projection.col_positions_mm))


def projection_node(projection, source_node, name: Optional[str] = None, compartment_table=None,
                    t2_window_ms=DEFAULT_WINDOW_MS, keep_display: bool = False):
    """Create or update the volume node of one projection map; returns it. A T2 map (ms) is shown with
    ``t2_window_ms`` (low, high), the analysis' window (:func:`t2_colors.t2_window_for_range`).
    ``keep_display``: an existing node keeps the display the reader set (only its values change)."""
    name = name or "%s %s map" % (source_node.GetName(), projection.name.replace("_", " "))
    role = ROLE_PREFIX + projection.name
    volume = projection_volume(projection)
    if projection.unit == "label":
        volume = volume.with_array(volume.array.astype(np.uint8))
        node, new_display = result_volume(volume, source_node, role, name, LABELMAP_VOLUME)
        if compartment_table is not None and (new_display or not keep_display):
            table = label_color_table(node.GetScene(), COMPARTMENT_TAG, "KneeT2 compartments", compartment_table)
            node.GetDisplayNode().SetAndObserveColorNodeID(table.GetID())
        return node
    node, new_display = result_volume(volume, source_node, role, name, SCALAR_VOLUME)
    node.SetAttribute("KneeT2.Unit", projection.unit)
    if keep_display and not new_display:
        return node
    if projection.unit == "ms":
        show_as_t2_map(node, t2_window_ms)
    else:
        _show_thickness(node)
    return node


def _show_thickness(node) -> None:
    display = node.GetDisplayNode()
    if node.GetScene().GetNodeByID(THICKNESS_COLOR_NODE_ID) is not None:
        display.SetAndObserveColorNodeID(THICKNESS_COLOR_NODE_ID)
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(*THICKNESS_WINDOW_MM)
    display.SetApplyThreshold(True)
    display.SetLowerThreshold(1e-3)
    display.SetUpperThreshold(1e6)


def projection_nodes(projections: Dict[str, object], source_node, t2_window_ms=DEFAULT_WINDOW_MS,
                     keep_display: bool = False) -> Dict[str, object]:
    """Nodes for every map of ``RegionAnalysis.projections``, by map name (T2 maps shown with ``t2_window_ms``;
    ``keep_display``: see :func:`projection_node`)."""
    try:
        from KneeCartilageT2Lib.region_definitions import COMPARTMENT_TABLE
    except ImportError:
        COMPARTMENT_TABLE = None
    return {key: projection_node(value, source_node, compartment_table=COMPARTMENT_TABLE, t2_window_ms=t2_window_ms,
                                 keep_display=keep_display)
            for key, value in projections.items()}
