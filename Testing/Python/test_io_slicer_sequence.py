"""The NRRD echo stack loads in 3D Slicer as a volume sequence (Slicer's own storage node, headless)."""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib.echo_stack_io import write_echo_stack
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.geometry import make_ijk_to_ras

pytestmark = pytest.mark.slicer


def test_slicer_reads_the_echo_stack_as_an_echo_time_sequence(tmp_path):
    pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")
    import vtk
    from slicer import vtkMRMLScene, vtkMRMLVolumeSequenceStorageNode
    from vtk.util.numpy_support import vtk_to_numpy

    direction = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    matrix = make_ijk_to_ras((0.625, 0.625, 4.0), direction, (29.0, 103.4, 56.3))
    echoes = np.random.default_rng(2).random((3, 4, 6, 5)).astype(np.float32)
    exam = MeseExam(echoes, [6.312, 12.624, 18.936], matrix, "right")
    path = write_echo_stack(exam, tmp_path / "echoes.seq.nrrd")

    scene = vtkMRMLScene()
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode")
    storage = vtkMRMLVolumeSequenceStorageNode()
    scene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.ReadData(sequence) == 1
    assert sequence.GetNumberOfDataNodes() == 3
    assert (sequence.GetIndexName(), sequence.GetIndexUnit()) == ("EchoTime", "ms")
    assert [float(sequence.GetNthIndexValue(index)) for index in range(3)] == [6.312, 12.624, 18.936]
    volume = sequence.GetNthDataNode(1)
    ijk_to_ras = vtk.vtkMatrix4x4()
    volume.GetIJKToRASMatrix(ijk_to_ras)
    read_matrix = np.array([[ijk_to_ras.GetElement(row, column) for column in range(4)] for row in range(4)])
    np.testing.assert_allclose(read_matrix, matrix, atol=1e-9)
    voxels = vtk_to_numpy(volume.GetImageData().GetPointData().GetScalars()).reshape(exam.volume_shape)
    assert np.array_equal(voxels, echoes[1])
