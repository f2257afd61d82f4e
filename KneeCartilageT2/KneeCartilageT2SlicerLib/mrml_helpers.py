"""Small MRML helpers shared by the glue: matrices, result-node bookkeeping, input attributes, subject hierarchy.

Result nodes are found again through their role attribute (``KneeT2.Role``)
and a node reference to their source (``KneeT2.Source``); node references
survive saving and re-loading a scene, unlike node IDs stored as text.
"""

from __future__ import annotations

from typing import Iterator, Optional

import numpy as np
import slicer
import vtk

from KneeCartilageT2Lib.errors import InputError

from .translation import tr as _

ROLE_ATTRIBUTE = "KneeT2.Role"
SOURCE_REFERENCE = "KneeT2.Source"
MEASURED_LABEL_ATTRIBUTE = "KneeT2.MeasuredLabel"  # on the region table and maps: digest of the label measured in


def matrix_to_vtk(matrix: np.ndarray) -> vtk.vtkMatrix4x4:
    """A vtkMatrix4x4 holding a 4x4 numpy matrix."""
    result = vtk.vtkMatrix4x4()
    values = np.asarray(matrix, dtype=np.float64).reshape(4, 4)
    for row in range(4):
        for column in range(4):
            result.SetElement(row, column, float(values[row, column]))
    return result


def matrix_from_vtk(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    """A 4x4 float64 numpy copy of a vtkMatrix4x4."""
    return np.array([[matrix.GetElement(row, column) for column in range(4)] for row in range(4)])


def ijk_to_ras_of(volume_node) -> np.ndarray:
    """The node's voxel-to-world matrix (mm), including a linear parent transform."""
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    return parent_to_world(volume_node) @ matrix_from_vtk(matrix)


def parent_to_world(node) -> np.ndarray:
    """The 4x4 matrix of the transforms above ``node`` (identity when there are none).

    A non-linear parent transform cannot be expressed as a matrix: the user is
    asked to harden it, instead of silently measuring in the wrong space.
    """
    transform = node.GetParentTransformNode()
    if transform is None:
        return np.eye(4)
    if not transform.IsTransformToWorldLinear():
        raise InputError(_(
            "'{name}' is under the non-linear transform '{transform}'; harden the transform (Data module, "
            "right-click > Harden transform) before analysing it.").format(name=node.GetName(),
                                                                             transform=transform.GetName()))
    to_world = vtk.vtkMatrix4x4()
    transform.GetMatrixTransformToWorld(to_world)
    return matrix_from_vtk(to_world)


def moving_transform_name(node) -> str:
    """Name of the transform above ``node`` that moves it away from where it was loaded; "" if none.

    An identity transform (within 1e-6) does not count; a non-linear one always does.
    """
    transform = node.GetParentTransformNode() if node.IsA("vtkMRMLTransformableNode") else None
    if transform is None:
        return ""
    if transform.IsTransformToWorldLinear() and np.allclose(parent_to_world(node), np.eye(4), atol=1e-6):
        return ""
    return transform.GetName() or transform.GetID()


def nodes_of_class(scene, class_name: str) -> Iterator:
    for index in range(scene.GetNumberOfNodesByClass(class_name)):
        yield scene.GetNthNodeByClass(index, class_name)


def sequence_behind(node):
    """The sequence node behind a sequence, browser or proxy node; None for plain volumes."""
    if node.IsA("vtkMRMLSequenceNode"):
        return node
    if node.IsA("vtkMRMLSequenceBrowserNode"):
        return node.GetMasterSequenceNode()
    for browser in nodes_of_class(node.GetScene(), "vtkMRMLSequenceBrowserNode"):
        if browser.IsProxyNode(node.GetID()):
            return browser.GetSequenceNode(node)
    return None


def echo_nodes_of(node) -> list:
    """The volume nodes holding an input's echoes: the data nodes of the sequence behind it, else the node itself
    (a multi-volume); a removed data node is left out."""
    sequence = sequence_behind(node)
    if sequence is None:
        return [node]
    echoes = (sequence.GetNthDataNode(index) for index in range(sequence.GetNumberOfDataNodes()))
    return [echo for echo in echoes if echo is not None]


def set_input_attribute(reference_volume, name: str, value: Optional[str]) -> None:
    """Set (``None``: remove) an attribute of an input's reference volume so that it lasts.

    A sequence proxy's attributes are replaced by the shown echo's whenever
    its browser updates it (another echo chosen, the browser or the sequence
    modified): the attribute is therefore written on every echo of the
    sequence too, which the browser copies into the proxy.
    """
    echoes = echo_nodes_of(reference_volume) if sequence_behind(reference_volume) is not None else []
    for node in [reference_volume] + [echo for echo in echoes if echo is not reference_volume]:
        if value is None:
            node.RemoveAttribute(name)
        else:
            node.SetAttribute(name, str(value))


def find_result_node(scene, class_name: str, role: str, source_node) -> Optional[object]:
    """The node of ``class_name`` holding result ``role`` computed from ``source_node``, if any."""
    for node in nodes_of_class(scene, class_name):
        if node.GetAttribute(ROLE_ATTRIBUTE) != role:
            continue
        if source_node is None or same_node(node.GetNodeReference(SOURCE_REFERENCE), source_node):
            return node
    return None


def same_node(first, second) -> bool:
    return first is not None and second is not None and first.GetID() == second.GetID()


def get_or_create_result_node(scene, class_name: str, role: str, source_node, name: str):
    """Find the result node for (role, source) or add a new one named ``name``; never piles up duplicates."""
    node = find_result_node(scene, class_name, role, source_node)
    if node is not None:
        return node
    node = scene.AddNewNodeByClass(class_name, scene.GenerateUniqueName(name))
    mark_result_node(node, role, source_node)
    return node


def mark_result_node(node, role: str, source_node) -> None:
    node.SetAttribute(ROLE_ATTRIBUTE, role)
    if source_node is not None and source_node.GetID():
        node.SetNodeReferenceID(SOURCE_REFERENCE, source_node.GetID())


def subject_hierarchy(scene):
    return slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)


def place_beside(node, reference_node) -> None:
    """Put ``node`` in the subject hierarchy folder/study that holds ``reference_node``.

    Slicer's subject hierarchy plugins give every data node an item when it
    is added; where none exists yet (e.g. a scene without the plugins) one is
    created here.
    """
    if node is None or reference_node is None or node.GetScene() is None:
        return
    hierarchy = subject_hierarchy(node.GetScene())
    reference_item = hierarchy.GetItemByDataNode(reference_node) if hierarchy is not None else 0
    if not reference_item:
        return
    parent = hierarchy.GetItemParent(reference_item)
    item = hierarchy.GetItemByDataNode(node)
    if not item:
        hierarchy.CreateItem(parent, node)
    elif hierarchy.GetItemParent(item) != parent:
        hierarchy.SetItemParent(item, parent)


def module_logic(module_name: str):
    """``slicer.modules.<module_name>.logic()``, with an error that says what is missing."""
    module = getattr(getattr(slicer, "modules", None), module_name, None)
    if module is None:
        raise RuntimeError(_("The Slicer module '{module}' is not available; KneeCartilageT2 needs a full Slicer "
                             "installation.").format(module=module_name))
    return module.logic()
