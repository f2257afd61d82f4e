"""What a reader set on the segments of a segmentation that is rebuilt: kept and put back.

The subregion segmentation is rebuilt as a whole on every measurement (its
segments removed and added again, see :mod:`.subregion_nodes`), which drops
each segment's display properties and colour. A re-measurement of the same
analysis takes them before and puts them back after, by segment ID, so that
a subregion the reader hid, faded or recoloured stays so while they edit.
"""

from __future__ import annotations

from typing import Dict, Tuple

# (getter, setter) names of vtkMRMLSegmentationDisplayNode's per-segment properties; opacities are 0..1
_SEGMENT_PROPERTIES = (
    ("GetSegmentVisibility", "SetSegmentVisibility"),
    ("GetSegmentVisibility3D", "SetSegmentVisibility3D"),
    ("GetSegmentVisibility2DFill", "SetSegmentVisibility2DFill"),
    ("GetSegmentVisibility2DOutline", "SetSegmentVisibility2DOutline"),
    ("GetSegmentOpacity3D", "SetSegmentOpacity3D"),
    ("GetSegmentOpacity2DFill", "SetSegmentOpacity2DFill"),
    ("GetSegmentOpacity2DOutline", "SetSegmentOpacity2DOutline"),
)
SegmentLook = Tuple[Tuple[float, float, float], Tuple]


def segment_looks(segmentation_node) -> Dict[str, SegmentLook]:
    """Segment ID -> (colour RGB 0..1, display properties) of every segment ({} without a display node)."""
    display = segmentation_node.GetDisplayNode()
    segmentation = segmentation_node.GetSegmentation()
    if display is None:
        return {}
    looks = {}
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        color = tuple(float(channel) for channel in segmentation.GetSegment(segment_id).GetColor())
        looks[segment_id] = (color, tuple(getattr(display, getter)(segment_id) for getter, _ in _SEGMENT_PROPERTIES))
    return looks


def restore_segment_looks(segmentation_node, looks: Dict[str, SegmentLook]) -> None:
    """Put back :func:`segment_looks` on the segments that exist again under the same ID (others keep theirs)."""
    display = segmentation_node.GetDisplayNode()
    segmentation = segmentation_node.GetSegmentation()
    for segment_id, (color, values) in looks.items():
        segment = segmentation.GetSegment(segment_id)
        if segment is None or display is None:
            continue
        segment.SetColor(*color)
        for (_, setter), value in zip(_SEGMENT_PROPERTIES, values):
            getattr(display, setter)(segment_id, value)
