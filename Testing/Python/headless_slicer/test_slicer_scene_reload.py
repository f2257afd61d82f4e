"""A scene saved with an analysis and opened again (tomorrow's session) keeps what the module needs of it."""

from __future__ import annotations

import numpy as np
import pytest
from segment_edits import cartilage_mask, set_cartilage

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")


def _save_scene(scene, folder, hidden_nodes: bool = True):
    """Write the storable nodes and the scene file. ``hidden_nodes``: also those hidden from editors, as a scene
    bundle (.mrb) does; without them as Slicer's 'Save' dialog does for a scene folder (it lists, and so writes,
    no node hidden from editors: their entries stay in the scene file without their voxels)."""
    folder.mkdir()
    scene.SetRootDirectory(str(folder))
    for index in range(scene.GetNumberOfNodes()):
        node = scene.GetNthNode(index)
        if not node.IsA("vtkMRMLStorableNode") or not node.GetSaveWithScene():
            continue
        if node.GetHideFromEditors() and not hidden_nodes:
            continue
        if node.GetStorageNode() is None:
            node.AddDefaultStorageNode()
        storage = node.GetStorageNode()
        storage.SetFileName(str(folder / ("%s.%s" % (node.GetID(), storage.GetDefaultWriteFileExtension()))))
        assert storage.WriteData(node), node.GetName()
    scene.SetURL(str(folder / "scene.mrml"))
    assert scene.Commit()


def _reopen(scene, folder):
    """Close the scene and open the saved one; the proxy volume of its only sequence browser."""
    from KneeCartilageT2SlicerLib.mrml_helpers import nodes_of_class

    scene.Clear(0)
    scene.SetURL(str(folder / "scene.mrml"))
    assert scene.Import()
    browser, = list(nodes_of_class(scene, "vtkMRMLSequenceBrowserNode"))
    return browser, browser.GetProxyNode(browser.GetMasterSequenceNode())


def _left_handed(exam):
    """The same exam on a left-handed grid (slices listed the other way), as some NRRD files hold it."""
    from KneeCartilageT2Lib.exam import MeseExam

    matrix = np.array(exam.ijk_to_ras)
    matrix[:3, 3] += matrix[:3, 2] * (exam.volume_shape[0] - 1)
    matrix[:3, 2] *= -1.0
    return MeseExam(np.ascontiguousarray(exam.echoes[:, ::-1]), exam.echo_times_ms, matrix, exam.laterality,
                    dict(exam.metadata))


@pytest.mark.parametrize("handedness", ["right", "left"])
def test_a_reopened_scene_keeps_results_case_measurement_state_and_the_edits(slicer_scene, phantom_analysis,
                                                                              tmp_path, handedness):
    from KneeCartilageT2Lib.correction import label_on_exam_grid
    from KneeCartilageT2Lib.pipeline import AnalysisOptions, measure
    from KneeCartilageT2SlicerLib.case_drafts import dataset_case_of, mark_dataset_case
    from KneeCartilageT2SlicerLib.edit_tracking import CURRENT, STALE, measurement_state
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.readback import model_label_of, result_nodes_of, t2_fit_from_nodes
    from KneeCartilageT2SlicerLib.results_nodes import present_analysis
    from KneeCartilageT2SlicerLib.workflow import ExamInput, KneeT2Workflow

    exam, mask, _, _ = phantom_analysis
    assert np.linalg.det(exam.ijk_to_ras[:3, :3]) > 0
    _, _, proxy = exam_to_sequence(exam if handedness == "right" else _left_handed(exam), slicer_scene, "Knee MESE")
    shown = ExamInput(proxy).exam()  # what the module analyses: the exam as the scene holds it
    result = measure(shown, label_on_exam_grid(mask, shown), options=AnalysisOptions(t2_method="loglinear"),
                     label_source="model")
    present_analysis(result, proxy)
    mark_dataset_case(proxy, tmp_path / "dataset", "case_0003")
    model_output = cartilage_mask(proxy)
    edited = model_output.copy()
    edited[5] = False
    set_cartilage(proxy, edited)  # the reader's unsaved-to-dataset edit, saved with the scene
    _save_scene(slicer_scene, tmp_path / "scene")

    browser, proxy = _reopen(slicer_scene, tmp_path / "scene")
    results = result_nodes_of(proxy)
    assert results.segmentation is not None and results.t2_map is not None and results.region_table is not None
    rebuilt = t2_fit_from_nodes(results.t2_map, results.r2_map, results.t2_status)  # the fit's status came back
    assert rebuilt.status is not None and np.array_equal(rebuilt.status, result.t2.status)
    assert np.array_equal(cartilage_mask(proxy), edited)
    assert np.array_equal(np.asarray(model_label_of(proxy).array) > 0, model_output)
    assert KneeT2Workflow().has_unsaved_edits(ExamInput(proxy))  # a new model run would still ask first
    assert dataset_case_of(proxy) == (str(tmp_path / "dataset"), "case_0003")
    assert proxy.GetAttribute("KneeT2.Analysed") == "1"
    assert measurement_state(proxy) == STALE  # measured before the edit: still said so
    text, nodes = ModuleActions().update_after_edit(ExamInput(browser), True)
    assert text == "Measurements updated to the edited segment." and measurement_state(proxy) == CURRENT
    no_fit = nodes.region_table.GetTable().GetColumnByName("n_t2_no_fit")  # the split, not blanks
    assert no_fit.GetClassName() == "vtkIntArray"
    browser.SetSelectedItemNumber(0)  # paging through echoes in the reopened scene keeps the marks
    assert dataset_case_of(proxy) == (str(tmp_path / "dataset"), "case_0003")
    assert ExamInput(browser).exam().n_echoes == exam.n_echoes


def _status_voxels(proxy):
    import slicer

    from KneeCartilageT2SlicerLib.readback import result_nodes_of

    return np.array(slicer.util.arrayFromVolume(result_nodes_of(proxy).t2_status))


def test_a_scene_folder_keeps_the_hidden_fit_status_in_its_private_folder(slicer_scene, analysed, tmp_path):
    """Slicer's 'Save' dialog does not list nodes hidden from editors, but the scene writes them itself into
    ``<scene>_Private/``: the status comes back with its voxels, still hidden from the volume selectors."""
    from KneeCartilageT2SlicerLib.readback import result_nodes_of

    _, proxy = analysed
    assert result_nodes_of(proxy).t2_status.GetHideFromEditors()
    before = _status_voxels(proxy)
    _save_scene(slicer_scene, tmp_path / "scene", hidden_nodes=False)
    assert list((tmp_path / "scene").glob("*_Private/*T2 fit status*"))
    _, proxy = _reopen(slicer_scene, tmp_path / "scene")
    assert result_nodes_of(proxy).t2_status.GetHideFromEditors()
    assert np.array_equal(_status_voxels(proxy), before)


def test_a_bundle_keeps_the_hidden_fit_status(slicer_scene, analysed, tmp_path):
    """A scene bundle (.mrb) keeps the status too, with its voxels, still hidden."""
    from KneeCartilageT2SlicerLib.mrml_helpers import nodes_of_class
    from KneeCartilageT2SlicerLib.readback import result_nodes_of

    _, proxy = analysed
    before = _status_voxels(proxy)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    assert slicer_scene.SaveSceneToSlicerDataBundleDirectory(str(bundle))
    slicer_scene.Clear(0)
    slicer_scene.SetURL(str(bundle / "bundle.mrml"))
    assert slicer_scene.Import()
    browser, = list(nodes_of_class(slicer_scene, "vtkMRMLSequenceBrowserNode"))
    proxy = browser.GetProxyNode(browser.GetMasterSequenceNode())
    assert result_nodes_of(proxy).t2_status.GetHideFromEditors()
    assert np.array_equal(_status_voxels(proxy), before)
