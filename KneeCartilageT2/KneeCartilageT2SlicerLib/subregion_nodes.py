"""The 12 femoral cartilage subregions as a segmentation with distinct names and colours.

``RegionAnalysis.subregion_labels`` holds values 1..12 on the exam grid;
:data:`KneeCartilageT2Lib.region_definitions.SUBREGION_TABLE` gives each
value its code and colour (lateral greens/blues/purples, medial
oranges/reds/browns, deep darker than superficial). Each becomes one segment
named e.g. ``DLA (deep lateral anterior)`` with the femoral cartilage
terminology. The node is recomputed as a whole on every run (segments
replaced, node kept), because the subregion boundaries move with any edit; a
re-measurement of the same analysis (``keep_display=True``) puts back what the
reader set on each segment (visibility, opacity, colour; :mod:`.segment_display`).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from KneeCartilageT2Lib.geometry import Volume

from .mrml_helpers import get_or_create_result_node, place_beside
from .segment_display import restore_segment_looks, segment_looks
from .segmentation_nodes import SEGMENTATION_CLASS, ensure_segment, write_segment
from .terminology import femoral_cartilage_entry

ROLE_SUBREGIONS = "Subregions"
SubregionEntry = Tuple[int, str, Tuple[int, int, int]]


def default_subregion_table() -> Sequence[SubregionEntry]:
    from KneeCartilageT2Lib.region_definitions import SUBREGION_TABLE

    return SUBREGION_TABLE


def subregion_segment_name(code: str) -> str:
    """Segment name of a subregion: its code and its meaning, e.g. ``DLA (deep lateral anterior)``."""
    try:
        from KneeCartilageT2Lib.region_definitions import describe_region

        return "%s (%s)" % (code, describe_region(code))
    except (ImportError, KeyError):
        return code


def subregion_segmentation_node(subregion_labels: Volume, reference_volume, laterality: Optional[str] = None,
                                table: Optional[Sequence[SubregionEntry]] = None, name: Optional[str] = None,
                                keep_display: bool = False):
    """Create or update the subregion segmentation of ``reference_volume``; returns the node.

    ``keep_display`` (a re-measurement of the same analysis): each segment keeps the visibility, opacity and
    colour the reader gave it; otherwise the segments get the table's colours and the default display.
    """
    table = default_subregion_table() if table is None else table
    scene = reference_volume.GetScene()
    node = get_or_create_result_node(scene, SEGMENTATION_CLASS, ROLE_SUBREGIONS, reference_volume,
                                     name or "%s cartilage subregions" % reference_volume.GetName())
    node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume)
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    looks = segment_looks(node) if keep_display else {}
    node.GetSegmentation().RemoveAllSegments()
    labels = np.asarray(subregion_labels.array)
    entry = femoral_cartilage_entry(laterality)
    for value, code, rgb in table:
        segment_id = ensure_segment(node, subregion_segment_name(code), [channel / 255.0 for channel in rgb], entry,
                                    "Subregion" + code)
        write_segment(node, segment_id, subregion_labels.with_array(labels == value))
    node.GetSegmentation().CollapseBinaryLabelmaps(False)
    restore_segment_looks(node, looks)
    place_beside(node, reference_volume)
    return node


def subregion_name_to_value(table: Optional[Sequence[SubregionEntry]] = None):
    """Segment name -> label value table for exporting the subregions (by name, never by order)."""
    table = default_subregion_table() if table is None else table
    return {subregion_segment_name(code): int(value) for value, code, _ in table}
