"""MESE exams <-> sequence / multi-volume nodes: echo order, echo times, geometry, side, errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")

ECHO_TIMES = np.array([10.0, 20.0, 30.0, 40.0, 50.0])


def _exam(ijk_to_ras, side="left"):
    from KneeCartilageT2Lib.exam import MeseExam

    rng = np.random.default_rng(3)
    t2 = rng.uniform(25.0, 60.0, (4, 6, 8))
    echoes = 900.0 * np.exp(-ECHO_TIMES[:, None, None, None] / t2[None])
    return MeseExam(echoes.astype(np.float32), ECHO_TIMES, ijk_to_ras, side)


def test_exam_round_trips_through_a_sequence_from_any_of_its_nodes(slicer_scene, oblique_ijk_to_ras):
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_from_node, exam_to_sequence, reference_volume_for

    exam = _exam(oblique_ijk_to_ras)
    sequence, browser, proxy = exam_to_sequence(exam, slicer_scene, "MESE")
    assert sequence.GetIndexName() == "EchoTime" and sequence.GetIndexUnit() == "ms"
    assert browser.GetSelectedItemNumber() == 1  # TE 20 ms, the network's echo
    for node in (sequence, browser, proxy):
        back = exam_from_node(node)
        assert np.array_equal(back.echoes, exam.echoes)
        assert np.allclose(back.ijk_to_ras, oblique_ijk_to_ras, atol=1e-9)
        assert np.array_equal(back.echo_times_ms, ECHO_TIMES) and back.laterality == "left"
        assert reference_volume_for(node).GetID() == proxy.GetID()


def test_dicom_like_sequence_is_sorted_by_echo_time(slicer_scene, oblique_ijk_to_ras):
    """A sequence indexed by EchoTime in seconds, items stored out of order, no KneeT2 attributes."""
    import slicer

    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_from_node
    from KneeCartilageT2SlicerLib.mrml_helpers import matrix_to_vtk

    exam = _exam(oblique_ijk_to_ras)
    sequence = slicer_scene.AddNewNodeByClass("vtkMRMLSequenceNode", "T2 MAP")
    sequence.SetIndexName("EchoTime")
    sequence.SetIndexUnit("s")
    for index in (3, 0, 4, 1, 2):
        echo = slicer.vtkMRMLScalarVolumeNode()
        echo.SetIJKToRASMatrix(matrix_to_vtk(oblique_ijk_to_ras))
        slicer.util.updateVolumeFromArray(echo, exam.echoes[index])
        sequence.SetDataNodeAtValue(echo, "%g" % (ECHO_TIMES[index] / 1000.0))
    back = exam_from_node(sequence, laterality="right")
    assert np.allclose(back.echo_times_ms, ECHO_TIMES)
    assert np.array_equal(back.echoes, exam.echoes) and back.laterality == "right"
    assert "source" not in back.metadata and back.metadata["slicer_node"] == "T2 MAP"


def test_multivolume_with_frame_labels(slicer_scene, oblique_ijk_to_ras):
    import slicer

    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_from_node

    exam = _exam(oblique_ijk_to_ras)
    order = [4, 2, 0, 1, 3]
    node = slicer.util.addVolumeFromArray(np.moveaxis(exam.echoes[order], 0, -1).copy(), oblique_ijk_to_ras,
                                          "multivolume", "vtkMRMLVectorVolumeNode")
    node.SetAttribute("MultiVolume.FrameLabels", ",".join("%g" % ECHO_TIMES[i] for i in order))
    node.SetAttribute("MultiVolume.FrameIdentifyingDICOMTagUnits", "ms")
    back = exam_from_node(node)
    assert np.array_equal(back.echo_times_ms, ECHO_TIMES) and np.array_equal(back.echoes, exam.echoes)
    assert np.allclose(back.ijk_to_ras, oblique_ijk_to_ras)
    node.SetAttribute("MultiVolume.FrameIdentifyingDICOMTagName", "EchoTime")
    assert np.array_equal(exam_from_node(node).echo_times_ms, ECHO_TIMES)
    node.SetAttribute("MultiVolume.FrameIdentifyingDICOMTagName", "FlipAngle")  # the labels are degrees
    from KneeCartilageT2Lib.errors import InputError

    with pytest.raises(InputError):
        exam_from_node(node)


def test_a_sequence_edited_in_the_sequences_module_reads_its_index_and_odd_items_are_named(slicer_scene,
                                                                                          oblique_ijk_to_ras):
    import slicer

    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_from_node, exam_to_sequence

    sequence, _, _ = exam_to_sequence(_exam(oblique_ijk_to_ras), slicer_scene, "MESE")
    sequence.RemoveDataNodeAtValue(sequence.GetNthIndexValue(0))  # the reader drops the first echo
    back = exam_from_node(sequence)
    assert np.array_equal(back.echo_times_ms, ECHO_TIMES[1:])  # the index, not the stored list of 5
    transforms = slicer_scene.AddNewNodeByClass("vtkMRMLSequenceNode", "not volumes")
    for number in range(3):
        transforms.SetDataNodeAtValue(slicer.vtkMRMLLinearTransformNode(), str(10 * (number + 1)))
    with pytest.raises(InputError, match="is not a scalar volume"):
        exam_from_node(transforms, echo_times_ms=[10, 20, 30])


def test_colour_and_vector_field_volumes_are_not_taken_for_echoes(slicer_scene, oblique_ijk_to_ras):
    import slicer

    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_from_node

    rgb = np.zeros((3, 8, 8, 3), np.uint8)
    rgb[..., 0] = 200  # a red screenshot: 3 components of 8 bits, no vector type set
    screenshot = slicer.util.addVolumeFromArray(rgb, oblique_ijk_to_ras, "screenshot", "vtkMRMLVectorVolumeNode")
    with pytest.raises(InputError, match="'screenshot' is an RGB colour image: its 3 components"):
        exam_from_node(screenshot, echo_times_ms=[10.0, 20.0, 30.0])
    floats = np.moveaxis(_exam(oblique_ijk_to_ras).echoes[:3], 0, -1).copy()
    field = slicer.util.addVolumeFromArray(floats, oblique_ijk_to_ras, "field", "vtkMRMLVectorVolumeNode")
    assert exam_from_node(field, echo_times_ms=[10.0, 20.0, 30.0]).n_echoes == 3  # undefined kind: echoes
    field.SetVoxelVectorType(field.VoxelVectorTypeSpatial)  # a registration's displacement field
    with pytest.raises(InputError, match="'field' is a vector field"):
        exam_from_node(field, echo_times_ms=[10.0, 20.0, 30.0])
    field.SetVoxelVectorType(field.VoxelVectorTypeColorRGBA)
    with pytest.raises(InputError, match="RGBA colour image"):
        exam_from_node(field, echo_times_ms=[10.0, 20.0, 30.0])


def test_a_sequence_of_colour_or_vector_volumes_is_refused_as_such(slicer_scene, oblique_ijk_to_ras):
    """Vector volume nodes are scalar volume nodes too: a sequence of them passed the echo check and ended in
    "Echo images must be 4D ... Load all echoes of the MESE series together"."""
    import slicer

    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_from_node

    for kind, voxels, message in (("colour", np.full((3, 8, 8, 3), 90, np.uint8), "'frame 1' is an RGB colour image"),
                                  ("vector", np.ones((3, 8, 8, 2), np.float32),
                                   "Echo 1 of 'vector frames' has 2 components per voxel")):
        sequence = slicer_scene.AddNewNodeByClass("vtkMRMLSequenceNode", "%s frames" % kind)
        for number in range(3):
            frame = slicer.util.addVolumeFromArray(voxels, oblique_ijk_to_ras, "frame %d" % (number + 1),
                                                   "vtkMRMLVectorVolumeNode")
            sequence.SetDataNodeAtValue(frame, str(10 * (number + 1)))
        with pytest.raises(InputError, match=message):
            exam_from_node(sequence, echo_times_ms=[10, 20, 30])


def test_missing_echo_times_and_single_volumes_say_what_to_do(slicer_scene, oblique_ijk_to_ras):
    import slicer

    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_from_node

    exam = _exam(oblique_ijk_to_ras)
    node = slicer.util.addVolumeFromArray(np.moveaxis(exam.echoes, 0, -1).copy(), oblique_ijk_to_ras, "no times",
                                          "vtkMRMLVectorVolumeNode")
    with pytest.raises(InputError, match="Echo times field"):
        exam_from_node(node)
    assert np.array_equal(exam_from_node(node, echo_times_ms=list(ECHO_TIMES)).echoes, exam.echoes)
    with pytest.raises(InputError, match="2 echo times were given for the 5 echoes"):
        exam_from_node(node, echo_times_ms=[10.0, 20.0])
    single = slicer.util.addVolumeFromArray(exam.echoes[0], oblique_ijk_to_ras, "one echo")
    with pytest.raises(InputError, match="single 3D volume.*Load MESE folder"):
        exam_from_node(single)
    with pytest.raises(InputError, match="No input"):
        exam_from_node(None)


def test_echoes_on_different_grids_are_refused(slicer_scene, oblique_ijk_to_ras):
    import slicer

    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_from_volume_nodes

    exam = _exam(oblique_ijk_to_ras)
    shifted = oblique_ijk_to_ras.copy()
    shifted[0, 3] += 1.0
    first = slicer.util.addVolumeFromArray(exam.echoes[0], oblique_ijk_to_ras, "e1")
    second = slicer.util.addVolumeFromArray(exam.echoes[1], shifted, "e2")
    with pytest.raises(InputError, match="another geometry"):
        exam_from_volume_nodes([first, second], [10.0, 20.0])


def test_two_volumes_per_echo_time_point_to_the_loader_that_sorts_them_out(slicer_scene, oblique_ijk_to_ras):
    """The DICOM module loads magnitude and phase of one MESE (or a repeat) into one sequence."""
    import slicer

    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_from_volume_nodes

    exam = _exam(oblique_ijk_to_ras)
    nodes = [slicer.util.addVolumeFromArray(exam.echoes[index % 2], oblique_ijk_to_ras, "v%d" % index)
             for index in range(4)]
    with pytest.raises(InputError, match="more than one volume per echo time .* 'Load MESE folder...'"):
        exam_from_volume_nodes(nodes, [10.0, 20.0, 10.0, 20.0], name="MESE")


def test_a_dicom_volume_is_in_the_scanner_frame_until_a_transform_moves_it(slicer_scene, oblique_ijk_to_ras):
    """The side estimate may read the knee's position only where it is the scanner's."""
    import slicer

    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_from_node
    from KneeCartilageT2SlicerLib.mrml_helpers import matrix_to_vtk

    exam = _exam(oblique_ijk_to_ras)
    node = slicer.util.addVolumeFromArray(np.moveaxis(exam.echoes, 0, -1).copy(), oblique_ijk_to_ras,
                                          "dicom multivolume", "vtkMRMLVectorVolumeNode")
    node.SetAttribute("MultiVolume.FrameLabels", ",".join("%g" % t for t in ECHO_TIMES))
    assert not exam_from_node(node).in_scanner_frame  # no series UID: origin unknown
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer_scene)
    hierarchy.SetItemUID(hierarchy.GetItemByDataNode(node), "DICOM", "1.2.826.0.1.3680043.2.1125.1")
    assert exam_from_node(node).in_scanner_frame

    transform = slicer_scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "registration")
    node.SetAndObserveTransformNodeID(transform.GetID())
    back = exam_from_node(node)
    assert back.in_scanner_frame and "moved_by_transform" not in back.metadata  # identity moves nothing
    shift = np.eye(4)
    shift[0, 3] = 85.0
    transform.SetMatrixTransformToParent(matrix_to_vtk(shift))
    back = exam_from_node(node)
    assert back.metadata["moved_by_transform"] == "registration" and not back.in_scanner_frame
    assert back.metadata["SeriesInstanceUID"] == "1.2.826.0.1.3680043.2.1125.1"  # identity of the exam kept
    assert np.allclose(back.ijk_to_ras, shift @ oblique_ijk_to_ras)


def test_a_transform_on_the_proxy_volume_moves_the_sequence_exam_with_it(slicer_scene, oblique_ijk_to_ras):
    """The echoes inside a sequence carry no transform; the proxy the views show does.

    Results are placed on the exam's grid in world space, so the exam read
    through any of the sequence's nodes must sit where the views draw it.
    """
    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_from_node, exam_to_sequence
    from KneeCartilageT2SlicerLib.mrml_helpers import matrix_to_vtk

    exam = _exam(oblique_ijk_to_ras)
    sequence, browser, proxy = exam_to_sequence(exam, slicer_scene, "MESE")
    transform = slicer_scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "registration")
    proxy.SetAndObserveTransformNodeID(transform.GetID())
    shift = np.eye(4)
    shift[:3, 3] = (12.0, -40.0, 7.5)
    transform.SetMatrixTransformToParent(matrix_to_vtk(shift))
    for node in (sequence, browser, proxy):
        back = exam_from_node(node)
        assert np.allclose(back.ijk_to_ras, shift @ oblique_ijk_to_ras, atol=1e-9)
        assert back.metadata["moved_by_transform"] == "registration"
        assert np.array_equal(back.echoes, exam.echoes)

    bending = slicer_scene.AddNewNodeByClass("vtkMRMLGridTransformNode", "bending")
    proxy.SetAndObserveTransformNodeID(bending.GetID())
    with pytest.raises(InputError, match="non-linear transform 'bending'.*harden"):
        exam_from_node(sequence)


def test_load_exam_reads_a_dicom_folder_into_a_sequence_that_keeps_its_provenance(slicer_scene, oblique_ijk_to_ras,
                                                                                   tmp_path):
    """'Load MESE folder...': the extension's own loader, then a sequence that reads back as the same exam."""
    from KneeCartilageT2Lib.dicom_writer import write_dicom_series
    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2Lib.exam_loader import load_exam
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_from_node
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import KneeT2Workflow

    write_dicom_series(_exam(oblique_ijk_to_ras), tmp_path / "dicom", series_description="Knee MESE")
    expected = load_exam(tmp_path / "dicom")
    proxy = KneeT2Workflow().load_exam(tmp_path / "dicom", scene=slicer_scene)
    back = exam_from_node(proxy)
    assert np.array_equal(back.echoes, expected.echoes) and np.array_equal(back.echo_times_ms, ECHO_TIMES)
    assert np.allclose(back.ijk_to_ras, expected.ijk_to_ras, atol=1e-9) and back.laterality == "left"
    assert back.metadata["slicer_node"] == "Knee MESE"
    assert back.metadata["SeriesInstanceUID"] == expected.metadata["SeriesInstanceUID"]
    assert back.in_scanner_frame  # from DICOM: the side estimate may use where the knee lies
    assert "Note" not in ModuleActions.describe_input(proxy)

    (tmp_path / "dicom" / "notes.txt").write_text("scanner notes")  # the loader's warning reaches the panel
    noted = KneeT2Workflow().load_exam(tmp_path / "dicom", scene=slicer_scene)
    assert exam_from_node(noted).metadata["warnings"] == load_exam(tmp_path / "dicom").metadata["warnings"]
    assert ModuleActions.describe_input(noted).endswith(
        "\nNote: 1 file(s) in the folder were not used: 1 not a DICOM file.")

    count = slicer_scene.GetNumberOfNodes()
    with pytest.raises(InputError, match="empty"):
        (tmp_path / "empty").mkdir()
        KneeT2Workflow().load_exam(tmp_path / "empty", scene=slicer_scene)
    assert slicer_scene.GetNumberOfNodes() == count  # nothing half-added


def test_a_sequence_made_from_a_moved_exam_does_not_claim_the_scanner_frame(slicer_scene, oblique_ijk_to_ras):
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_from_node, exam_to_sequence

    exam = _exam(oblique_ijk_to_ras)
    exam.metadata.update(SeriesInstanceUID="1.2.826.0.1.3680043.2.1125.7", moved_by_transform="registration")
    assert not exam.in_scanner_frame
    _, _, proxy = exam_to_sequence(exam, slicer_scene, "moved")
    back = exam_from_node(proxy)
    assert back.metadata["SeriesInstanceUID"] == "1.2.826.0.1.3680043.2.1125.7" and not back.in_scanner_frame


def test_load_exam_keeps_the_philips_scaling_it_applied(slicer_scene, oblique_ijk_to_ras, tmp_path):
    """A Philips series read by 'Load MESE folder...' is on the signal scale, and the sequence says so."""
    import pydicom

    from KneeCartilageT2Lib.dicom_philips import PHILIPS_MR_CREATOR
    from KneeCartilageT2Lib.dicom_writer import write_dicom_series
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_from_node
    from KneeCartilageT2SlicerLib.workflow import KneeT2Workflow

    exam = _exam(oblique_ijk_to_ras)
    paths = write_dicom_series(exam, tmp_path / "philips", manufacturer="Philips")
    writer_slope = float(pydicom.dcmread(str(paths[0])).RescaleSlope)  # exam = stored x writer_slope
    for path in paths:  # RescaleSlope doubled, private scale 4: signal = stored x RS / (RS x 4) = stored / 4
        dataset = pydicom.dcmread(str(path))
        dataset.RescaleSlope = "%s" % (2.0 * float(dataset.RescaleSlope))
        dataset.private_block(0x2005, PHILIPS_MR_CREATOR, create=True).add_new(0x0E, "FL", 4.0)
        dataset.save_as(str(path))
    back = exam_from_node(KneeT2Workflow().load_exam(tmp_path / "philips", scene=slicer_scene))
    np.testing.assert_allclose(back.echoes, exam.echoes / (4.0 * writer_slope), rtol=1e-3, atol=0.5)
    assert "private MR Scale Slope (4)" in back.metadata["intensity_scaling"]


def test_the_panel_notes_slices_that_are_not_sagittal(slicer_scene):
    """A coronal series still loads, but the input description says the network expects sagittal slices."""
    from KneeCartilageT2Lib.geometry import make_ijk_to_ras
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    coronal = make_ijk_to_ras((0.5, 0.5, 3.0), np.column_stack([(1.0, 0, 0), (0, 0, -1.0), (0, -1.0, 0)]))
    _, _, proxy = exam_to_sequence(_exam(coronal), slicer_scene, "coronal MESE")
    lines = ModuleActions.describe_input(proxy).split("\n")
    assert lines[0].startswith("5 echoes") and lines[1].startswith("Note: The slices are coronal")


def test_a_philips_series_loaded_with_displayed_values_is_refused_when_its_scale_varies(
        slicer_scene, oblique_ijk_to_ras, tmp_path, monkeypatch):
    """Slicer's DICOM module applies RescaleSlope only; the files behind the echoes (through its DICOM
    database) show whether Philips' private scale changes between images, which would make T2 wrong."""
    import pydicom
    import slicer

    from KneeCartilageT2Lib.dicom_philips import PHILIPS_MR_CREATOR
    from KneeCartilageT2Lib.dicom_writer import write_dicom_series
    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib import exam_from_nodes
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_from_node, exam_to_sequence

    exam = _exam(oblique_ijk_to_ras)
    n_slices = exam.echoes.shape[1]

    from slicer_harness import StandInDicomDatabase

    database = StandInDicomDatabase()
    monkeypatch.setattr(slicer, "dicomDatabase", database, raising=False)
    monkeypatch.setattr(exam_from_nodes, "_DISPLAY_SCALE_CHECKS", {})
    for name, scale_of_echo in (("constant", lambda echo: 3.0), ("varying", lambda echo: 1.0 + echo)):
        paths = write_dicom_series(exam, tmp_path / name, manufacturer="Philips Medical Systems")
        sequence, _, proxy = exam_to_sequence(exam, slicer_scene, name)
        for index, path in enumerate(paths):
            dataset = pydicom.dcmread(str(path))
            dataset.private_block(0x2005, PHILIPS_MR_CREATOR, create=True).add_new(0x0E, "FL",
                                                                                   scale_of_echo(index // n_slices))
            dataset.save_as(str(path))
            database.files[dataset.SOPInstanceUID] = str(path)
        for echo in range(exam.n_echoes):  # as Slicer's DICOM plugins tag each volume they load
            uids = [pydicom.dcmread(str(path)).SOPInstanceUID for path in paths[echo * n_slices:(echo + 1) * n_slices]]
            sequence.GetNthDataNode(echo).SetAttribute("DICOM.instanceUIDs", " ".join(uids))
        if name == "constant":
            assert np.array_equal(exam_from_node(proxy).echoes, exam.echoes)
        else:
            with pytest.raises(InputError, match=r"Philips series .* different scale factors .*Load MESE folder"):
                exam_from_node(proxy)


def test_an_echo_stack_loaded_with_the_module_keeps_its_side_from_the_sidecar(slicer_scene, phantom_analysis,
                                                                               oblique_ijk_to_ras, tmp_path):
    """'Load MESE folder...' on an echo stack: the side read from its JSON sidecar is credited to the sidecar
    (exam, analysis), through every node of the sequence; a DICOM series loaded the same way stays "dicom"."""
    from KneeCartilageT2Lib.dicom_writer import write_dicom_series
    from KneeCartilageT2Lib.echo_stack_io import write_echo_stack
    from KneeCartilageT2Lib.exam_loader import load_exam
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_from_node
    from KneeCartilageT2SlicerLib.mrml_helpers import sequence_behind
    from KneeCartilageT2SlicerLib.results_nodes import ANALYSED_SIDE_ATTRIBUTE, ANALYSED_SIDE_SOURCE_ATTRIBUTE
    from KneeCartilageT2SlicerLib.workflow import ExamInput, KneeT2Workflow, default_options

    exam, mask, _, _ = phantom_analysis
    path = write_echo_stack(exam, tmp_path / "knee.nrrd")
    assert load_exam(path).laterality_source == "sidecar"  # what the command line says of the same file
    workflow = KneeT2Workflow()
    proxy = workflow.load_exam(path, scene=slicer_scene)
    for node in (proxy, sequence_behind(proxy)):
        back = exam_from_node(node)
        assert (back.laterality, back.laterality_source) == ("left", "sidecar")
    workflow.measure_label(ExamInput(proxy), mask, default_options(t2_method="loglinear"))
    assert proxy.GetAttribute(ANALYSED_SIDE_ATTRIBUTE) == "left"
    assert proxy.GetAttribute(ANALYSED_SIDE_SOURCE_ATTRIBUTE) == "sidecar"

    write_dicom_series(_exam(oblique_ijk_to_ras), tmp_path / "dicom", series_description="Knee MESE")
    from_dicom = exam_from_node(workflow.load_exam(tmp_path / "dicom", scene=slicer_scene))
    assert (from_dicom.laterality, from_dicom.laterality_source) == ("left", "dicom")
