"""`knee-t2 t2map` end to end on a 4D NRRD echo stack with a JSON sidecar (written here with SimpleITK)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from KneeCartilageT2Lib.cli import main
from KneeCartilageT2Lib.geometry import Volume, itk_geometry_to_ijk_to_ras
from KneeCartilageT2Lib.volume_io import read_volume, write_volume

TE_MS = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
SHAPE = (4, 30, 26)  # slice, row, col
ORIGIN_LPS = (12.5, -40.0, 7.25)
SPACING = (0.45, 0.31, 3.5)
ANGLE = np.deg2rad(20.0)
DIRECTION_LPS = np.array([[np.cos(ANGLE), 0.0, np.sin(ANGLE)], [0.0, 1.0, 0.0], [-np.sin(ANGLE), 0.0, np.cos(ANGLE)]])


def true_t2_map():
    t2 = np.broadcast_to(np.linspace(25.0, 85.0, SHAPE[2]), SHAPE).copy()
    t2[:, :3, :] = 150.0  # a fat-like band outside the default range
    return t2


@pytest.fixture()
def echo_stack(tmp_path):
    import SimpleITK as sitk

    clean = 1000.0 * np.exp(-np.asarray(TE_MS)[:, None, None, None] / true_t2_map())
    image = sitk.GetImageFromArray(clean.astype(np.float32), isVector=False)  # 4D: (i, j, k, echo)
    image.SetOrigin(ORIGIN_LPS + (0.0,))
    image.SetSpacing(SPACING + (1.0,))
    direction = np.eye(4)
    direction[:3, :3] = DIRECTION_LPS
    image.SetDirection(direction.ravel().tolist())
    path = tmp_path / "echoes.nrrd"
    sitk.WriteImage(image, str(path))
    (tmp_path / "echoes.json").write_text(json.dumps({"EchoTimes": TE_MS}))
    return path


def expected_ijk_to_ras():
    return itk_geometry_to_ijk_to_ras(ORIGIN_LPS, SPACING, DIRECTION_LPS.ravel())


def test_t2map_writes_maps_on_the_echo_grid(echo_stack, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["t2map", str(echo_stack), "-o", str(out / "t2.nrrd"), "--r2", str(out / "r2.nii.gz"),
                   "--s0", str(out / "s0.nrrd")])
    assert status == 0
    t2 = read_volume(out / "t2.nrrd")
    np.testing.assert_allclose(t2.ijk_to_ras, expected_ijk_to_ras(), atol=1e-6)
    assert t2.array.shape == SHAPE and t2.array.dtype == np.float32
    truth = true_t2_map()
    inside = truth <= 100
    np.testing.assert_allclose(t2.array[inside], truth[inside], atol=0.01)
    assert np.all(t2.array[~inside] == 0)
    np.testing.assert_allclose(read_volume(out / "s0.nrrd").array[inside], 1000.0, rtol=1e-4)
    r2 = read_volume(out / "r2.nii.gz")
    np.testing.assert_allclose(r2.ijk_to_ras, expected_ijk_to_ras(), atol=1e-4)
    assert r2.array[inside].min() > 0.999
    printed = capsys.readouterr().out
    assert "valid voxels: %d of %d" % (inside.sum(), inside.size) in printed


def test_t2map_with_mask_range_and_noise_floor(echo_stack, tmp_path, capsys):
    mask = np.zeros(SHAPE, np.uint8)
    mask[1:3, 10:20, :] = 1
    write_volume(Volume(mask, expected_ijk_to_ras()), tmp_path / "mask.nrrd")
    status = main(["t2map", str(echo_stack), "-o", str(tmp_path / "t2.nrrd"), "--mask", str(tmp_path / "mask.nrrd"),
                   "--t2-range", "0,60", "--method", "noise-floor", "--noise-sigma", "0"])
    assert status == 0
    t2 = read_volume(tmp_path / "t2.nrrd").array
    truth = true_t2_map()
    keep = (mask == 1) & (truth <= 60)
    np.testing.assert_allclose(t2[keep], truth[keep], atol=0.01)
    assert np.all(t2[~keep] == 0)
    assert "noise sigma: 0 (given)" in capsys.readouterr().out


def test_mask_on_another_grid_is_refused_with_advice(echo_stack, tmp_path, capsys):
    write_volume(Volume(np.ones(SHAPE, np.uint8), np.diag([1.0, 1.0, 1.0, 1.0])), tmp_path / "mask.nrrd")
    status = main(["t2map", str(echo_stack), "-o", str(tmp_path / "t2.nrrd"), "--mask", str(tmp_path / "mask.nrrd")])
    assert status == 2
    assert "Resample the mask" in capsys.readouterr().err
    assert not (tmp_path / "t2.nrrd").exists()


def test_bad_range_is_an_argument_error(echo_stack, tmp_path):
    with pytest.raises(SystemExit):
        main(["t2map", str(echo_stack), "-o", str(tmp_path / "t2.nrrd"), "--t2-range", "fast"])


def test_output_problems_are_one_line_errors(echo_stack, tmp_path, capsys, monkeypatch):
    from KneeCartilageT2Lib import t2_fitting

    fits = []
    monkeypatch.setattr(t2_fitting, "fit_t2", lambda *args, **kwargs: fits.append(1))
    assert main(["t2map", str(echo_stack), "-o", str(tmp_path / "t2.png")]) == 2
    assert "t2.png" in capsys.readouterr().err and fits == []  # refused before any fitting
    monkeypatch.undo()
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["t2map", str(echo_stack), "-o", str(blocker / "t2.nrrd")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("knee-t2 t2map: error:") and "a_file" in error


def test_what_the_dicom_loader_noticed_is_shown_not_kept_in_the_metadata(tmp_path, capsys):
    """A stray file in the DICOM folder: a warning on stderr, and the first message of an analysis."""
    from KneeCartilageT2Lib.dicom_writer import write_dicom_series
    from KneeCartilageT2Lib.exam import MeseExam
    from KneeCartilageT2Lib.exam_loader import load_exam
    from KneeCartilageT2Lib.pipeline import measure

    clean = 1000.0 * np.exp(-np.asarray(TE_MS)[:, None, None, None] / true_t2_map())
    write_dicom_series(MeseExam(clean.astype(np.float32), TE_MS, np.diag([0.5, 0.5, 3.0, 1.0]), "right"),
                       tmp_path / "dicom")
    (tmp_path / "dicom" / "notes.txt").write_text("scanner notes")
    assert main(["t2map", str(tmp_path / "dicom"), "-o", str(tmp_path / "t2.nrrd")]) == 0
    assert "warning: 1 file(s) in the folder were not used: 1 not a DICOM file." in capsys.readouterr().err
    exam = load_exam(tmp_path / "dicom")
    result = measure(exam, np.zeros(exam.volume_shape, np.uint8))
    assert result.messages[0] == "Input: 1 file(s) in the folder were not used: 1 not a DICOM file."
    assert result.provenance["messages"][0] == result.messages[0]
