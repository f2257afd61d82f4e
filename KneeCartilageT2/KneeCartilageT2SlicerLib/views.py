"""Show results in the slice views through MRML nodes only (no Qt).

Slice views are driven by their ``vtkMRMLSliceCompositeNode`` (which volumes
are shown) and ``vtkMRMLSliceNode`` (orientation); fitting the field of view
needs the application logic, used when Slicer provides it. In a scene
without views (headless) these functions do nothing.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import slicer

from .mrml_helpers import ijk_to_ras_of, nodes_of_class

T2_OVERLAY_OPACITY = 0.7


def show_analysis(anatomy_volume, t2_map=None, segmentation=None) -> None:
    """The echo as background, the T2 map as semi-transparent foreground, the cartilage outlined."""
    for composite in nodes_of_class(anatomy_volume.GetScene(), "vtkMRMLSliceCompositeNode"):
        composite.SetBackgroundVolumeID(anatomy_volume.GetID())
        composite.SetForegroundVolumeID(t2_map.GetID() if t2_map is not None else None)
        composite.SetForegroundOpacity(T2_OVERLAY_OPACITY if t2_map is not None else 0.0)
    if segmentation is not None and segmentation.GetDisplayNode() is not None:
        display = segmentation.GetDisplayNode()
        display.SetVisibility(True)
        display.SetVisibility2DFill(False)
        display.SetVisibility2DOutline(True)
    _fit_all_slice_views()


def show_map_in_view(map_volume, layout_name: str = "Red") -> bool:
    """Show a projection map alone in one slice view (axial: its plane); False if there is no such view."""
    scene = map_volume.GetScene()
    composite = next((node for node in nodes_of_class(scene, "vtkMRMLSliceCompositeNode")
                      if node.GetLayoutName() == layout_name), None)
    slice_node = next((node for node in nodes_of_class(scene, "vtkMRMLSliceNode")
                       if node.GetLayoutName() == layout_name), None)
    if composite is None or slice_node is None:
        return False
    composite.SetBackgroundVolumeID(map_volume.GetID())
    composite.SetForegroundVolumeID(None)
    composite.SetLabelVolumeID(None)
    slice_node.SetOrientation("Axial")
    _fit_slice_view(layout_name)
    return True


def jump_to_slice(reference_volume, slice_index: int) -> int:
    """Move every slice view to slice ``slice_index`` (axis k) of ``reference_volume``; returns the views moved.

    Each view keeps its orientation and field of view and is offset along its
    own normal to the centre of that slice (in a sagittal view: the slice
    itself), as Slicer's own "jump slices" does. The centre is taken where the
    views draw the volume, through any linear parent transform. Headless: no
    views, 0 moved.
    """
    dimensions = reference_volume.GetImageData().GetDimensions()  # (i, j, k) = (col, row, slice)
    if not 0 <= int(slice_index) < dimensions[2]:
        raise ValueError("Slice %d is outside the volume's %d slices." % (slice_index, dimensions[2]))
    centre = ijk_to_ras_of(reference_volume) @ np.array(
        [(dimensions[0] - 1) / 2.0, (dimensions[1] - 1) / 2.0, float(slice_index), 1.0])
    moved = 0
    for slice_node in nodes_of_class(reference_volume.GetScene(), "vtkMRMLSliceNode"):
        slice_node.JumpSliceByOffsetting(centre[0], centre[1], centre[2])
        moved += 1
    return moved


def _application_logic():
    app = getattr(slicer, "app", None)
    return app.applicationLogic() if app is not None else None


def _fit_all_slice_views() -> None:
    logic = _application_logic()
    if logic is not None:
        logic.FitSliceToAll()


def _fit_slice_view(layout_name: str) -> Optional[bool]:
    logic = _application_logic()
    if logic is None:
        return None
    slice_logic = logic.GetSliceLogicByLayoutName(layout_name)
    if slice_logic is not None:
        slice_logic.FitSliceToAll()
    return True
