"""Volumes <-> nodes: exact geometry, T2 map display, NRRD storage round trip, no node pile-up."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")


def _t2_volume(ijk_to_ras, seed=0):
    from KneeCartilageT2Lib.geometry import Volume

    values = np.random.default_rng(seed).uniform(20.0, 80.0, (5, 7, 9)).astype(np.float32)
    values[0] = 0.0  # no valid fit in the first slice
    return Volume(values, ijk_to_ras)


def _study_with(scene, node):
    from KneeCartilageT2SlicerLib.mrml_helpers import subject_hierarchy

    hierarchy = subject_hierarchy(scene)
    patient = hierarchy.CreateSubjectItem(hierarchy.GetSceneItemID(), "Patient 1")
    study = hierarchy.CreateStudyItem(patient, "Knee MRI")
    hierarchy.SetItemParent(hierarchy.GetItemByDataNode(node), study)
    return hierarchy, study


def test_t2_map_node_has_t2_colours_window_threshold_and_legend(slicer_scene, oblique_ijk_to_ras, headless_slicer):
    from KneeCartilageT2SlicerLib import t2_colors, volume_nodes

    volume = _t2_volume(oblique_ijk_to_ras)
    source = volume_nodes.volume_to_node(volume, slicer_scene, "echo 2")
    node = volume_nodes.t2_map_node(volume, source)
    display = node.GetDisplayNode()
    assert display.GetColorNode().GetName() == t2_colors.T2_COLOR_NODE_NAME
    assert display.GetColorNode().GetNumberOfColors() == 256
    assert not display.GetAutoWindowLevel()
    assert (display.GetWindowLevelMin(), display.GetWindowLevelMax()) == (0.0, 100.0)
    assert display.GetApplyThreshold() and display.GetLowerThreshold() == pytest.approx(0.5)
    legends = [slicer_scene.GetNthNodeByClass(i, "vtkMRMLColorLegendDisplayNode")
               for i in range(slicer_scene.GetNumberOfNodesByClass("vtkMRMLColorLegendDisplayNode"))]
    assert [legend.GetTitleText() for legend in legends] == ["T2 (ms)"]
    assert np.array_equal(volume_nodes.node_to_volume(node).array, volume.array)
    other = volume_nodes.t2_map_node(volume, volume_nodes.volume_to_node(volume, slicer_scene, "echo 3"))
    assert other.GetDisplayNode().GetColorNodeID() == display.GetColorNodeID()  # one colour table per scene
    assert headless_slicer.vtk_error_count() == 0


def test_t2_colour_scale_is_perceptually_ordered():
    from KneeCartilageT2SlicerLib.t2_colors import relative_lightness, t2_colors

    lightness = relative_lightness(t2_colors(256))
    assert np.all(np.diff(lightness) > 0)
    assert lightness[0] < 15 and lightness[-1] > 90


def test_t2_window_presets_and_invalid_window(slicer_scene, oblique_ijk_to_ras):
    from KneeCartilageT2SlicerLib import t2_colors, volume_nodes

    volume = _t2_volume(oblique_ijk_to_ras)
    node = volume_nodes.t2_map_node(volume, volume_nodes.volume_to_node(volume, slicer_scene, "echo"))
    t2_colors.apply_t2_window(node, t2_colors.T2_WINDOW_PRESETS_MS["Cartilage detail 20-60 ms"])
    assert (node.GetDisplayNode().GetWindowLevelMin(), node.GetDisplayNode().GetWindowLevelMax()) == (20.0, 60.0)
    with pytest.raises(ValueError):
        t2_colors.apply_t2_window(node, (60.0, 20.0))


def test_nrrd_round_trip_keeps_geometry_and_voxels(slicer_scene, oblique_ijk_to_ras, tmp_path, headless_slicer):
    from KneeCartilageT2Lib.volume_io import read_volume
    from KneeCartilageT2SlicerLib import storage, volume_nodes
    from KneeCartilageT2SlicerLib.mrml_helpers import ijk_to_ras_of

    volume = _t2_volume(oblique_ijk_to_ras)
    node = volume_nodes.volume_to_node(volume, slicer_scene, "T2")
    path = storage.save_node(node, tmp_path / "t2.nrrd")
    loaded = storage.load_volume(path)
    assert np.allclose(ijk_to_ras_of(loaded), oblique_ijk_to_ras, atol=1e-6)
    assert np.array_equal(volume_nodes.node_to_volume(loaded).array, volume.array)
    # The core reads Slicer's file with the same geometry (the LPS/RAS conversion agrees both ways).
    core = read_volume(path)
    assert np.allclose(core.ijk_to_ras, oblique_ijk_to_ras, atol=1e-6) and np.array_equal(core.array, volume.array)
    assert headless_slicer.vtk_error_count() == 0
    with pytest.raises(Exception, match="not found"):
        storage.load_volume(tmp_path / "missing.nrrd")


def test_linear_parent_transform_is_folded_into_the_geometry(slicer_scene, oblique_ijk_to_ras):
    import slicer

    from KneeCartilageT2SlicerLib import volume_nodes
    from KneeCartilageT2SlicerLib.mrml_helpers import matrix_to_vtk

    node = volume_nodes.volume_to_node(_t2_volume(oblique_ijk_to_ras), slicer_scene, "moved")
    shift = np.eye(4)
    shift[:3, 3] = (10.0, -4.0, 2.5)
    transform = slicer_scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    transform.SetMatrixTransformToParent(matrix_to_vtk(shift))
    node.SetAndObserveTransformNodeID(transform.GetID())
    moved = volume_nodes.node_to_volume(node)
    assert np.allclose(moved.ijk_to_ras, shift @ oblique_ijk_to_ras)
    assert isinstance(slicer.vtkMRMLLinearTransformNode(), slicer.vtkMRMLTransformNode)


def test_rerun_updates_result_nodes_in_place_beside_the_input(slicer_scene, oblique_ijk_to_ras):
    from KneeCartilageT2SlicerLib import volume_nodes

    volume = _t2_volume(oblique_ijk_to_ras)
    source = volume_nodes.volume_to_node(volume, slicer_scene, "echo")
    hierarchy, study = _study_with(slicer_scene, source)
    first = volume_nodes.t2_map_node(volume, source)
    r2 = volume_nodes.r2_map_node(volume.with_array(np.full(volume.array.shape, 0.9, np.float32)), source)
    count = slicer_scene.GetNumberOfNodes()
    second = volume_nodes.t2_map_node(_t2_volume(oblique_ijk_to_ras, seed=1), source)
    assert second.GetID() == first.GetID() and slicer_scene.GetNumberOfNodes() == count
    assert hierarchy.GetItemParent(hierarchy.GetItemByDataNode(first)) == study
    assert (r2.GetDisplayNode().GetWindowLevelMin(), r2.GetDisplayNode().GetWindowLevelMax()) == (0.0, 1.0)


def test_integer_and_boolean_arrays_become_displayable_types(slicer_scene, oblique_ijk_to_ras):
    from KneeCartilageT2Lib.geometry import Volume
    from KneeCartilageT2SlicerLib import volume_nodes

    labels = volume_nodes.labelmap_to_node(Volume(np.arange(60, dtype=np.int64).reshape(3, 4, 5), oblique_ijk_to_ras),
                                           slicer_scene, "labels")
    mask = volume_nodes.labelmap_to_node(Volume(np.ones((3, 4, 5), bool), oblique_ijk_to_ras), slicer_scene, "mask")
    assert labels.IsA("vtkMRMLLabelMapVolumeNode")
    assert volume_nodes.node_to_volume(labels).array.dtype == np.int32
    assert volume_nodes.node_to_volume(mask).array.dtype == np.uint8
