"""Volume geometry and atomic file writing: LPS/RAS on disk, round trips, detached headers, no half files."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from KneeCartilageT2Lib import atomic_files, volume_io
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.exam import MeseExam, validate_exam
from KneeCartilageT2Lib.geometry import (Volume, ijk_to_ras_to_itk_geometry, itk_geometry_to_ijk_to_ras,
                                         make_ijk_to_ras, voxel_centers_ras)


def oblique_matrix():
    """An oblique sagittal grid: i (col) -> posterior-ish, j (row) -> inferior-ish, k -> right-ish (mm)."""
    angle = np.radians(12.0)
    col = np.array([0.0, -np.cos(angle), np.sin(angle)])
    row = np.array([0.0, -np.sin(angle), -np.cos(angle)])
    return make_ijk_to_ras((0.4, 0.5, 3.0), np.column_stack([col, row, np.cross(col, row)]), (12.5, -30.0, 44.0))


def marker_volume(matrix):
    return Volume(np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5), matrix)


def nrrd_header_vectors(path):
    header = path.read_bytes().split(b"\n\n")[0].decode("ascii")
    space = re.search(r"^space: (.*)$", header, re.M).group(1)
    origin = [float(v) for v in re.search(r"^space origin: \((.*)\)$", header, re.M).group(1).split(",")]
    directions = [[float(v) for v in vector.split(",")]
                  for vector in re.findall(r"\(([^)]*)\)", re.search(r"^space directions: (.*)$", header, re.M).group(1))]
    return space, np.array(origin), np.array(directions).T


def test_nrrd_on_disk_states_the_same_point_in_lps(tmp_path):
    """Read the header as text: the file must say LPS = (-R, -A, S) of our RAS matrix, column by column."""
    matrix = oblique_matrix()
    path = volume_io.write_volume(marker_volume(matrix), tmp_path / "v.nrrd", compress=False)
    space, origin, directions = nrrd_header_vectors(path)
    flip = np.array([-1.0, -1.0, 1.0])
    assert space == "left-posterior-superior"
    np.testing.assert_allclose(origin, flip * matrix[:3, 3], atol=1e-9)
    np.testing.assert_allclose(directions, flip[:, None] * matrix[:3, :3], atol=1e-9)


@pytest.mark.parametrize("name", ["v.nrrd", "v.nii.gz", "v.nii", "v.mha", "v.mhd", "v.nhdr"])
def test_every_format_round_trips_array_and_oblique_geometry(tmp_path, name):
    volume = marker_volume(oblique_matrix())
    back = volume_io.read_volume(volume_io.write_volume(volume, tmp_path / name))
    np.testing.assert_array_equal(back.array, volume.array)
    np.testing.assert_allclose(back.ijk_to_ras, volume.ijk_to_ras, atol=1e-5)


@pytest.mark.parametrize("name, data_name", [("v.mhd", "v.zraw"), ("v.nhdr", "v.raw.gz")])
def test_detached_header_names_its_own_data_file(tmp_path, name, data_name):
    volume_io.write_volume(marker_volume(np.eye(4)), tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, data_name])
    assert data_name in (tmp_path / name).read_text(errors="replace")


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    import SimpleITK as sitk

    path = volume_io.write_volume(marker_volume(np.eye(4)), tmp_path / "v.nrrd")
    before = path.read_bytes()
    real_write = sitk.WriteImage

    def half_then_fail(image, file_name, *args):
        real_write(image, file_name, *args)
        raise RuntimeError("disk full")

    monkeypatch.setattr(sitk, "WriteImage", half_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        volume_io.write_volume(marker_volume(2 * np.eye(4)), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["v.nrrd"]


def test_itk_conversion_and_voxel_centres():
    matrix = oblique_matrix()
    origin, spacing, direction = ijk_to_ras_to_itk_geometry(matrix)
    np.testing.assert_allclose(spacing, [0.4, 0.5, 3.0])
    np.testing.assert_allclose(origin, [-12.5, 30.0, 44.0])
    np.testing.assert_allclose(itk_geometry_to_ijk_to_ras(origin, spacing, direction), matrix, atol=1e-12)
    indices_kji = np.array([[0, 0, 0], [2, 3, 4], [1, 0, 2]])
    expected = [(matrix @ np.array([i, j, k, 1.0]))[:3] for k, j, i in indices_kji]
    np.testing.assert_allclose(voxel_centers_ras(matrix, indices_kji), expected, atol=1e-12)


def test_voxel_volume_is_the_determinant_even_for_a_sheared_grid():
    sheared = make_ijk_to_ras((1.0, 1.0, 2.0))
    sheared[:3, 2] = [1.0, 0.0, 2.0]  # k step also moves 1 mm along i: parallelepiped of volume 2 mm^3
    assert Volume(np.zeros((1, 1, 1)), sheared).voxel_volume_mm3 == pytest.approx(2.0)
    assert Volume(np.zeros((1, 1, 1)), oblique_matrix()).voxel_volume_mm3 == pytest.approx(0.4 * 0.5 * 3.0)


def test_exam_with_a_non_finite_geometry_is_refused():
    matrix = np.eye(4)
    matrix[0, 3] = np.nan
    exam = MeseExam(np.ones((3, 2, 2, 2), np.float32), [10.0, 20.0, 30.0], matrix)
    with pytest.raises(InputError, match="NaN or infinite"):
        validate_exam(exam)


def test_json_is_strict_and_private_files_are_private(tmp_path):
    data = {"t2_ms": np.float32(31.5), "n": np.int64(7), "mean": float("nan"), "ok": np.bool_(True),
            "values": np.array([1.0, np.inf]), "where": tmp_path}
    path = atomic_files.atomic_write_json(tmp_path / "a.json", data, mode=0o600)
    text = path.read_text()
    assert json.loads(text) == {"t2_ms": 31.5, "n": 7, "mean": None, "ok": True, "values": [1.0, None],
                                "where": str(tmp_path)}
    assert "NaN" not in text and "Infinity" not in text
    assert (os.stat(path).st_mode & 0o777) == 0o600


def test_interrupted_text_write_keeps_the_old_content(tmp_path):
    path = atomic_files.atomic_write_text(tmp_path / "index.json", "old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_files.atomic_output(path) as temporary:
            temporary.write_text("half of the new")
            raise KeyboardInterrupt
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["index.json"]


def test_temporary_names_keep_the_type_suffix_only_when_asked(tmp_path):
    kept = atomic_files.temporary_path(tmp_path / "label.nii.gz", keep_suffix=True)
    hidden = atomic_files.temporary_path(tmp_path / "model.safetensors")
    assert kept.name.startswith(".label.") and kept.name.endswith(".partial.nii.gz")
    assert hidden.name.startswith(".model.safetensors.") and hidden.name.endswith(".partial")
    assert atomic_files.temporary_path(tmp_path / "a.nrrd") != atomic_files.temporary_path(tmp_path / "a.nrrd")
