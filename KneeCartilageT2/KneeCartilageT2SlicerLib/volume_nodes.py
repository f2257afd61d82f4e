"""Core ``Volume`` <-> Slicer volume nodes, with exact geometry.

A :class:`KneeCartilageT2Lib.geometry.Volume` holds ``array[k, j, i]`` and the
4x4 ``ijk_to_ras`` (mm), the same convention as Slicer's volume nodes, so the
conversion is a copy of the voxels and of the matrix; nothing is flipped.
Result volumes (T2 map, r^2, probabilities) are found again by role, so that
running the analysis again updates them in place. A re-measurement of the same
analysis (``keep_display=True``) updates only their voxels: the window/level,
colour table and visibility the reader set stay; a node made now, or a new
analysis, gets the defaults.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import slicer

from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.geometry import Volume

from .mrml_helpers import get_or_create_result_node, ijk_to_ras_of, matrix_to_vtk, place_beside
from .t2_colors import DEFAULT_WINDOW_MS, show_as_t2_map
from .translation import tr as _

SCALAR_VOLUME = "vtkMRMLScalarVolumeNode"
LABELMAP_VOLUME = "vtkMRMLLabelMapVolumeNode"
ROLE_T2_MAP = "T2Map"
ROLE_R2_MAP = "R2Map"
ROLE_T2_STATUS = "T2FitStatus"  # hidden labelmap: why each voxel has a T2 or not (KneeCartilageT2Lib.t2_status)
ROLE_PROBABILITY = "CartilageProbability"
ROLE_ANATOMY = "Anatomy"


def _storable_array(array: np.ndarray) -> np.ndarray:
    """VTK cannot display 64-bit integers and has no bool: map them to int32 / uint8."""
    array = np.ascontiguousarray(array)
    if array.dtype == np.bool_:
        return array.astype(np.uint8)
    if array.dtype in (np.int64, np.uint64):
        return array.astype(np.int32)
    return array


def update_node_from_volume(node, volume: Volume) -> None:
    """Replace the node's voxels and geometry by the volume's (deep copy)."""
    node.SetAndObserveTransformNodeID(None)
    node.SetIJKToRASMatrix(matrix_to_vtk(volume.ijk_to_ras))
    slicer.util.updateVolumeFromArray(node, _storable_array(volume.array))
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()


def volume_to_node(volume: Volume, scene, name: str = "Volume", node=None, class_name: str = SCALAR_VOLUME):
    """Add a volume node holding ``volume`` (or update ``node``); returns the node."""
    if node is None:
        node = scene.AddNewNodeByClass(class_name, scene.GenerateUniqueName(name))
    update_node_from_volume(node, volume)
    return node


def labelmap_to_node(volume: Volume, scene, name: str = "Label", node=None):
    """A labelmap volume node (integer labels) holding ``volume``."""
    return volume_to_node(volume, scene, name, node, LABELMAP_VOLUME)


def node_to_volume(node) -> Volume:
    """A :class:`Volume` copy of a scalar volume node, in world (RAS) space.

    A linear parent transform is folded into ``ijk_to_ras``; see
    :func:`mrml_helpers.ijk_to_ras_of`.
    """
    if node is None or node.GetImageData() is None:
        raise InputError(_("No image: select a volume that has voxel data."))
    if node.GetImageData().GetNumberOfScalarComponents() != 1:
        raise InputError(_("'{name}' has {components} components per voxel; select a scalar volume (one echo) "
                           "here.").format(name=node.GetName(),
                                           components=node.GetImageData().GetNumberOfScalarComponents()))
    return Volume(np.array(slicer.util.arrayFromVolume(node)), ijk_to_ras_of(node))


def result_volume_node(volume: Volume, source_node, role: str, name: str, class_name: str = SCALAR_VOLUME):
    """Create or update the result volume of ``role`` computed from ``source_node``, beside it."""
    return result_volume(volume, source_node, role, name, class_name)[0]


def result_volume(volume: Volume, source_node, role: str, name: str,
                  class_name: str = SCALAR_VOLUME) -> Tuple[object, bool]:
    """:func:`result_volume_node` and whether its display is new: True for a node made now (or one that had no
    display node), which needs the default display whatever the reader set elsewhere."""
    scene = source_node.GetScene()
    node = get_or_create_result_node(scene, class_name, role, source_node, name)
    new_display = node.GetDisplayNode() is None
    update_node_from_volume(node, volume)
    place_beside(node, source_node)
    return node, new_display


def t2_map_node(t2_ms: Volume, source_node, name: Optional[str] = None, window_ms=DEFAULT_WINDOW_MS,
                keep_display: bool = False):
    """The T2 map (ms; 0 where no valid fit) as a volume with the T2 colour scale and ``window_ms`` (low, high).

    ``keep_display`` (a re-measurement of the same analysis): an existing node keeps the window/level, colour
    table and visibility the reader set (a T2 preset, a window dragged in a slice view); only its voxels change.
    """
    name = name or "%s T2 map" % source_node.GetName()
    node, new_display = result_volume(t2_ms.with_array(np.asarray(t2_ms.array, dtype=np.float32)), source_node,
                                      ROLE_T2_MAP, name)
    if new_display or not keep_display:
        show_as_t2_map(node, window_ms)
    return node


def r2_map_node(r2: Volume, source_node, name: Optional[str] = None, keep_display: bool = False):
    """Goodness of fit r^2 (0..1) of the T2 fit, grey scale, window 0..1 (``keep_display``: as
    :func:`t2_map_node`)."""
    name = name or "%s T2 fit r2" % source_node.GetName()
    node, new_display = result_volume(r2.with_array(np.asarray(r2.array, dtype=np.float32)), source_node,
                                      ROLE_R2_MAP, name)
    if new_display or not keep_display:
        set_fixed_window(node, 0.0, 1.0)
    return node


def set_fixed_window(node, low: float, high: float) -> None:
    """Fix the display window to [low, high] (turns automatic window/level off)."""
    display = node.GetDisplayNode()
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(float(low), float(high))
