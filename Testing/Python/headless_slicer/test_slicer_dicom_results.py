"""Saving the input's T2 map and T2 colour overlay as DICOM of its study, from the scene."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")


@pytest.fixture(scope="module")
def dicom_phantom(tmp_path_factory, phantom_analysis):
    """(DICOM folder, true cartilage mask) of the module's shell phantom written as a DICOM series."""
    from KneeCartilageT2Lib.dicom_writer import write_dicom_series

    exam, mask, _, _ = phantom_analysis
    folder = tmp_path_factory.mktemp("dicom_results") / "series"
    paths = write_dicom_series(exam, folder, patient_name="ROE^RICHARD", patient_id="P-0815",
                               series_description="T2 MAP SAG")
    return folder, mask, paths


def _headers(folder):
    import pydicom

    return [pydicom.dcmread(str(path)) for path in sorted(folder.glob("*.dcm"))]


def test_a_series_loaded_with_the_module_saves_its_t2_map_and_current_segment(dicom_phantom, slicer_scene, tmp_path):
    import SimpleITK as sitk

    from KneeCartilageT2Lib.volume_io import volume_to_sitk
    from KneeCartilageT2SlicerLib.dicom_results import results_to_dicom
    from KneeCartilageT2SlicerLib.readback import result_nodes_of
    from KneeCartilageT2SlicerLib.segmentation_nodes import read_segment, segment_id_by_name, write_segment
    from KneeCartilageT2SlicerLib.volume_nodes import node_to_volume
    from KneeCartilageT2SlicerLib.workflow import ExamInput, KneeT2Workflow, default_options

    folder, mask, _ = dicom_phantom
    workflow = KneeT2Workflow()
    proxy = workflow.load_exam(folder, scene=slicer_scene)
    nodes = workflow.measure_label(ExamInput(proxy), mask, default_options(t2_method="loglinear"))
    label = read_segment(nodes.segmentation, proxy)
    edited = np.asarray(label.array) > 0
    edited[: edited.shape[0] // 2] = False  # the reader's edit: the overlay shows the segment as it is now
    write_segment(nodes.segmentation, segment_id_by_name(nodes.segmentation, "Femoral cartilage"),
                  label.with_array(edited.astype(np.uint8)))

    written = results_to_dicom(ExamInput(proxy), tmp_path)
    source = _headers(folder)[0]
    maps = _headers(tmp_path / "T2map")
    assert {header.StudyInstanceUID for header in maps} == {source.StudyInstanceUID}
    assert {str(header.PatientName) for header in maps} == {"ROE^RICHARD"}
    assert "loglinear fit from echoes 10-70 ms" in maps[0].DerivationDescription
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path / "T2map")))
    t2_node = volume_to_sitk(node_to_volume(result_nodes_of(proxy).t2_map))
    exported = sitk.Resample(reader.Execute(), t2_node, sitk.Transform(), sitk.sitkNearestNeighbor)  # same grid
    difference = sitk.GetArrayFromImage(exported) - sitk.GetArrayFromImage(t2_node)
    assert sitk.GetArrayFromImage(t2_node).max() > 20 and np.abs(difference).max() <= 0.05 + 1e-6
    colour = np.stack([header.pixel_array for header in _headers(tmp_path / "T2colour")[:-1]])
    coloured = ~((colour[..., 0] == colour[..., 1]) & (colour[..., 1] == colour[..., 2]))
    assert coloured.sum() > 0 and coloured.sum() <= edited.sum()
    assert len(written.colour_files) == edited.shape[0] + 1


def test_a_series_from_the_dicom_module_is_found_through_the_database(dicom_phantom, slicer_scene, tmp_path,
                                                                       monkeypatch, phantom_analysis):
    import pydicom
    import slicer

    from KneeCartilageT2SlicerLib.dicom_results import source_dicom_of
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence

    folder, _, paths = dicom_phantom
    exam = phantom_analysis[0]
    sequence, browser, proxy = exam_to_sequence(exam, slicer_scene, "from DICOM module")

    from slicer_harness import StandInDicomDatabase

    database = StandInDicomDatabase()
    monkeypatch.setattr(slicer, "dicomDatabase", database, raising=False)
    n_slices = exam.echoes.shape[1]
    for echo in range(exam.n_echoes):  # as Slicer's DICOM plugins tag each volume they load
        uids = []
        for path in paths[echo * n_slices:(echo + 1) * n_slices]:
            uid = pydicom.dcmread(str(path), stop_before_pixels=True).SOPInstanceUID
            database.files[uid] = str(path)
            uids.append(uid)
        sequence.GetNthDataNode(echo).SetAttribute("DICOM.instanceUIDs", " ".join(uids))
    for node in (sequence, browser, proxy):
        assert sorted(source_dicom_of(node)) == sorted(str(path) for path in paths)


def test_inputs_that_cannot_be_saved_as_dicom_say_why(dicom_phantom, slicer_scene, tmp_path, phantom_analysis):
    import vtk

    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.dicom_results import results_to_dicom
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.results_nodes import present_analysis
    from KneeCartilageT2SlicerLib.workflow import ExamInput, KneeT2Workflow, default_options

    folder, mask, _ = dicom_phantom
    exam, _, _, result = phantom_analysis
    _, _, not_dicom = exam_to_sequence(exam, slicer_scene, "phantom from memory")
    with pytest.raises(InputError, match="Nothing to save yet"):
        results_to_dicom(ExamInput(not_dicom), tmp_path)
    present_analysis(result, not_dicom)
    with pytest.raises(InputError, match="was not loaded from DICOM files this module can find"):
        results_to_dicom(ExamInput(not_dicom), tmp_path)

    workflow = KneeT2Workflow()
    proxy = workflow.load_exam(folder, scene=slicer_scene)
    workflow.measure_label(ExamInput(proxy), mask, default_options(t2_method="loglinear"))
    transform = slicer_scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "registration")
    moved = vtk.vtkMatrix4x4()
    moved.SetElement(0, 3, 10.0)
    transform.SetMatrixTransformToParent(moved)
    proxy.SetAndObserveTransformNodeID(transform.GetID())
    with pytest.raises(InputError, match="under the transform 'registration'"):
        results_to_dicom(ExamInput(proxy), tmp_path)
    assert not list(tmp_path.glob("T2*"))
