"""The femoral cartilage segmentation node: name, colour, terminology, geometry, update in place,
edits through Slicer's segment array API, export by segment name, .seg.nrrd storage."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")

SHAPE = (6, 20, 24)


def _label(ijk_to_ras, slab=slice(1, 5)):
    from KneeCartilageT2Lib.geometry import Volume

    array = np.zeros(SHAPE, np.uint8)
    array[slab, 5:12, 4:20] = 1
    array[2, 7, 9] = 0  # a hole, so that a resampling error would show
    return Volume(array, ijk_to_ras)


def _reference(scene, ijk_to_ras):
    from KneeCartilageT2Lib.geometry import Volume
    from KneeCartilageT2SlicerLib.volume_nodes import volume_to_node

    return volume_to_node(Volume(np.zeros(SHAPE, np.float32), ijk_to_ras), scene, "MESE echo")


def test_cartilage_segment_name_colour_terminology_and_geometry(slicer_scene, oblique_ijk_to_ras, headless_slicer):
    from KneeCartilageT2SlicerLib import segmentation_nodes, terminology
    from KneeCartilageT2SlicerLib.mrml_helpers import ijk_to_ras_of

    reference = _reference(slicer_scene, oblique_ijk_to_ras)
    label = _label(oblique_ijk_to_ras)
    node = segmentation_nodes.cartilage_segmentation_node(label, reference, "left")
    name, color, entry = segmentation_nodes.segment_summary(node)
    assert name == "Femoral cartilage"
    assert np.allclose(color, (111 / 255, 184 / 255, 210 / 255))
    assert "SCT^309312004^Cartilage" in entry and "SCT^71341001^Femur" in entry and entry.endswith("SCT^7771000^Left")
    assert entry == terminology.femoral_cartilage_entry("left")
    assert node.GetNodeReference(node.GetReferenceImageGeometryReferenceRole()).GetID() == reference.GetID()
    back = segmentation_nodes.read_segment(node, reference)
    assert np.array_equal(back.array, label.array)
    assert np.allclose(back.ijk_to_ras, ijk_to_ras_of(reference))
    assert headless_slicer.vtk_error_count() == 0


def test_running_again_updates_the_segment_in_place(slicer_scene, oblique_ijk_to_ras):
    from KneeCartilageT2SlicerLib import segmentation_nodes

    reference = _reference(slicer_scene, oblique_ijk_to_ras)
    first = segmentation_nodes.cartilage_segmentation_node(_label(oblique_ijk_to_ras), reference, "right")
    first.GetSegmentation().AddEmptySegment("Lesion", "Lesion", [1.0, 0.0, 0.0])  # a reader's own segment
    count = slicer_scene.GetNumberOfNodes()
    smaller = _label(oblique_ijk_to_ras, slab=slice(2, 3))
    second = segmentation_nodes.cartilage_segmentation_node(smaller, reference, "right")
    assert second.GetID() == first.GetID() and slicer_scene.GetNumberOfNodes() == count
    segmentation = second.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == 2 and segmentation.GetSegmentIdBySegmentName("Lesion")
    assert np.array_equal(segmentation_nodes.read_segment(second, reference).array, smaller.array)


def test_edit_through_segment_array_api_is_read_back(slicer_scene, oblique_ijk_to_ras):
    import slicer

    from KneeCartilageT2SlicerLib import segmentation_nodes

    reference = _reference(slicer_scene, oblique_ijk_to_ras)
    node = segmentation_nodes.cartilage_segmentation_node(_label(oblique_ijk_to_ras), reference, "right")
    segment_id = node.GetSegmentation().GetSegmentIdBySegmentName("Femoral cartilage")
    array = slicer.util.arrayFromSegmentBinaryLabelmap(node, segment_id, reference)
    array[4] = 0
    array[0, 0:3, 0:3] = 1
    slicer.util.updateSegmentBinaryLabelmapFromArray(array, node, segment_id, reference)
    count = slicer_scene.GetNumberOfNodes()
    edited = segmentation_nodes.read_segment(node, reference)
    assert np.array_equal(edited.array, array)
    assert slicer_scene.GetNumberOfNodes() == count  # the temporary export nodes are gone again


def test_labels_are_exported_by_segment_name_not_order(slicer_scene, oblique_ijk_to_ras):
    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib import segmentation_nodes
    from KneeCartilageT2SlicerLib.segmentation_nodes import ensure_segment, labels_by_name, write_segment

    reference = _reference(slicer_scene, oblique_ijk_to_ras)
    node = slicer_scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    node.SetReferenceImageGeometryParameterFromVolumeNode(reference)
    top, bottom = _label(oblique_ijk_to_ras, slice(0, 2)), _label(oblique_ijk_to_ras, slice(4, 6))
    write_segment(node, ensure_segment(node, "Patellar cartilage", (1, 1, 0)), top)  # first in order
    write_segment(node, ensure_segment(node, "Femoral cartilage", (0, 1, 1)), bottom)
    labels = labels_by_name(node, reference, {"Femoral cartilage": 1, "Patellar cartilage": 4})
    assert np.array_equal(labels.array == 1, bottom.array > 0)
    assert np.array_equal(labels.array == 4, top.array > 0)
    with pytest.raises(InputError, match="has no segment named 'Tibial cartilage'.*Femoral cartilage"):
        segmentation_nodes.read_segment(node, reference, "Tibial cartilage")


def test_seg_nrrd_round_trip_keeps_segment_and_geometry(slicer_scene, oblique_ijk_to_ras, tmp_path):
    from KneeCartilageT2SlicerLib import segmentation_nodes, storage

    reference = _reference(slicer_scene, oblique_ijk_to_ras)
    label = _label(oblique_ijk_to_ras)
    node = segmentation_nodes.cartilage_segmentation_node(label, reference, "right")
    path = storage.save_node(node, tmp_path / "cartilage.seg.nrrd")
    loaded = storage.load_segmentation(path)
    assert loaded.GetName() == "cartilage"
    name, _, entry = segmentation_nodes.segment_summary(loaded)
    assert entry.endswith("SCT^24028007^Right")
    assert np.array_equal(segmentation_nodes.read_segment(loaded, reference).array, label.array)


def test_segment_round_trips_onto_a_reference_volume_under_a_transform(slicer_scene, oblique_ijk_to_ras):
    """A registered MESE (its volume under a linear transform) gets its labels where the views draw it."""
    from KneeCartilageT2SlicerLib import segmentation_nodes
    from KneeCartilageT2SlicerLib.mrml_helpers import ijk_to_ras_of, matrix_to_vtk

    reference = _reference(slicer_scene, oblique_ijk_to_ras)
    transform = slicer_scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "registration")
    shift = np.eye(4)
    shift[:3, 3] = (12.0, -40.0, 7.5)
    transform.SetMatrixTransformToParent(matrix_to_vtk(shift))
    reference.SetAndObserveTransformNodeID(transform.GetID())
    label = _label(shift @ oblique_ijk_to_ras)  # the exam read through the transform is in world space
    node = segmentation_nodes.cartilage_segmentation_node(label, reference, "left")
    back = segmentation_nodes.read_segment(node, reference)
    assert np.array_equal(back.array, label.array)
    assert np.allclose(back.ijk_to_ras, ijk_to_ras_of(reference)) and np.allclose(back.ijk_to_ras, label.ijk_to_ras)
