"""The femoral cartilage segmentation node: create, update in place, read back.

The model's label becomes the segment "Femoral cartilage" (fixed colour,
standard terminology, see :mod:`.terminology`) of one segmentation node per
input, placed beside the input in the subject hierarchy. Running again
replaces that segment's voxels; other segments a reader added are kept.
Reading back (after edits in the Segment Editor) resamples the segment onto
the input's voxel grid. Label values for export are assigned by segment
NAME through an explicit table, never by segment order.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.geometry import Volume

from .mrml_helpers import get_or_create_result_node, ijk_to_ras_of, matrix_to_vtk, nodes_of_class, place_beside
from .terminology import CARTILAGE_COLOR_RGB, femoral_cartilage_entry, set_segment_terminology
from .translation import tr as _

SEGMENTATION_CLASS = "vtkMRMLSegmentationNode"
CARTILAGE_SEGMENT_NAME = "Femoral cartilage"
CARTILAGE_SEGMENT_ID = "FemoralCartilage"
ROLE_CARTILAGE = "CartilageSegmentation"


def oriented_image_from_volume(volume: Volume) -> "slicer.vtkOrientedImageData":
    """A vtkOrientedImageData (uint8) with the volume's voxels and ``ijk_to_ras``."""
    array = np.ascontiguousarray(np.asarray(volume.array) > 0, dtype=np.uint8)
    image = slicer.vtkOrientedImageData()
    image.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())[:] = array.ravel()
    image.SetImageToWorldMatrix(matrix_to_vtk(volume.ijk_to_ras))
    return image


def ensure_segment(segmentation_node, name: str, color: Sequence[float], terminology: str = "",
                   preferred_id: str = "") -> str:
    """ID of the segment called ``name``, added (empty) when missing; colour and terminology are (re)set."""
    segmentation = segmentation_node.GetSegmentation()
    segment_id = segmentation.GetSegmentIdBySegmentName(name)
    if not segment_id:
        free_id = preferred_id if preferred_id and segmentation.GetSegment(preferred_id) is None else ""
        segment_id = segmentation.AddEmptySegment(free_id, name, list(color))
    segment = segmentation.GetSegment(segment_id)
    segment.SetColor(*[float(channel) for channel in color])
    if terminology:
        set_segment_terminology(segment, terminology)
    return segment_id


def write_segment(segmentation_node, segment_id: str, mask: Volume) -> None:
    """Replace the segment's voxels by ``mask`` (non-zero = inside), in the mask's own geometry."""
    image = oriented_image_from_volume(mask)
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    if not logic.SetBinaryLabelmapToSegment(image, segmentation_node, segment_id, logic.MODE_REPLACE, image.GetExtent()):
        raise RuntimeError(_("Could not write the segment '{segment}' of '{name}'.").format(
            segment=segment_id, name=segmentation_node.GetName()))


def cartilage_segmentation_node(label: Volume, reference_volume, laterality: Optional[str] = None,
                                segmentation_node=None, name: Optional[str] = None):
    """Create or update the femoral cartilage segmentation of ``reference_volume`` from ``label``.

    ``reference_volume`` is the volume node the label was computed on (for a
    sequence, its proxy volume): it fixes the segmentation's geometry and the
    subject-hierarchy folder. Returns the segmentation node.
    """
    scene = reference_volume.GetScene()
    if segmentation_node is None:
        segmentation_node = get_or_create_result_node(
            scene, SEGMENTATION_CLASS, ROLE_CARTILAGE, reference_volume,
            name or "%s femoral cartilage" % reference_volume.GetName())
    segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume)
    if segmentation_node.GetDisplayNode() is None:
        segmentation_node.CreateDefaultDisplayNodes()
    segment_id = ensure_segment(segmentation_node, CARTILAGE_SEGMENT_NAME, CARTILAGE_COLOR_RGB,
                                femoral_cartilage_entry(laterality), CARTILAGE_SEGMENT_ID)
    write_segment(segmentation_node, segment_id, label)
    place_beside(segmentation_node, reference_volume)
    return segmentation_node


def segment_id_by_name(segmentation_node, name: str) -> str:
    """The ID of the segment called ``name``; the error lists the segments that exist."""
    segmentation = segmentation_node.GetSegmentation()
    segment_id = segmentation.GetSegmentIdBySegmentName(name)
    if not segment_id:
        names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
        raise InputError(_("'{name}' has no segment named '{segment}' (it has: {segments}). Rename the cartilage "
                           "segment back to '{segment}'.").format(name=segmentation_node.GetName(), segment=name,
                                                                  segments=", ".join(names) or _("none")))
    return segment_id


def read_segment(segmentation_node, reference_volume, name: str = CARTILAGE_SEGMENT_NAME) -> Volume:
    """The segment called ``name`` as a uint8 0/1 volume on the reference volume's voxel grid."""
    return labels_by_name(segmentation_node, reference_volume, {name: 1})


def labels_by_name(segmentation_node, reference_volume, name_to_value: Dict[str, int]) -> Volume:
    """A label volume on the reference grid: each named segment gets its value from the table.

    Values come from ``name_to_value`` only, never from segment order; where
    segments overlap, the one later in the table wins.
    """
    if not name_to_value:
        raise InputError(_("No segment names were given to export."))
    result = None
    for name, value in name_to_value.items():
        mask = _segment_mask(segmentation_node, reference_volume, segment_id_by_name(segmentation_node, name))
        if result is None:
            result = np.zeros(mask.shape, dtype=_label_dtype(name_to_value))
        result[mask] = value
    return Volume(result, ijk_to_ras_of(reference_volume))


def _segment_mask(segmentation_node, reference_volume, segment_id: str) -> np.ndarray:
    """Boolean (slice, row, col) mask of one segment resampled onto the reference volume's grid.

    The export goes through a temporary labelmap node; it and the colour
    table the export creates for it are removed again.
    """
    scene = segmentation_node.GetScene()
    colors_before = {node.GetID() for node in nodes_of_class(scene, "vtkMRMLColorNode")}
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__KneeT2_export__")
    try:
        ids = vtk.vtkStringArray()
        ids.InsertNextValue(segment_id)
        if not slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
                segmentation_node, ids, labelmap, reference_volume, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY):
            raise RuntimeError(_("Could not export segment '{segment}' of '{name}'.").format(
                segment=segment_id, name=segmentation_node.GetName()))
        return np.array(slicer.util.arrayFromVolume(labelmap) > 0)
    finally:
        display = labelmap.GetDisplayNode()
        for node in (display.GetColorNode() if display is not None else None, display, labelmap):
            if node is not None and node.GetID() not in colors_before:
                scene.RemoveNode(node)


def _label_dtype(name_to_value: Dict[str, int]):
    return np.uint8 if max(name_to_value.values(), default=0) < 256 else np.uint16


def segment_summary(segmentation_node, name: str = CARTILAGE_SEGMENT_NAME) -> Tuple[str, Tuple[float, float, float], str]:
    """(name, colour, terminology) of a segment: what the tests and the UI show."""
    from .terminology import segment_terminology

    segment = segmentation_node.GetSegmentation().GetSegment(segment_id_by_name(segmentation_node, name))
    return segment.GetName(), tuple(segment.GetColor()), segment_terminology(segment)
