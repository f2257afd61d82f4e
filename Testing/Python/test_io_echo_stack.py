"""4D echo stacks (NRRD Slicer sequence, NIfTI) with JSON sidecars: exact round trips and clear errors."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import SimpleITK as sitk

from KneeCartilageT2Lib.echo_stack_io import read_echo_stack, sidecar_path, write_echo_stack
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.geometry import make_ijk_to_ras

TIMES = [6.312, 12.624, 18.936, 25.248]


def oblique_matrix():
    angle_a, angle_b = 0.4, -0.25
    first = np.array([[np.cos(angle_a), -np.sin(angle_a), 0], [np.sin(angle_a), np.cos(angle_a), 0], [0, 0, 1]])
    second = np.array([[1, 0, 0], [0, np.cos(angle_b), -np.sin(angle_b)], [0, np.sin(angle_b), np.cos(angle_b)]])
    return make_ijk_to_ras((0.3125, 0.446, 3.5), first @ second, (-60.123456789, 40.5, -20.25))


def make_exam(laterality="right"):
    rng = np.random.default_rng(5)
    echoes = rng.random((len(TIMES), 6, 9, 7)).astype(np.float32) * 1000
    return MeseExam(echoes, TIMES, oblique_matrix(), laterality, {"Manufacturer": "Test", "PatientName": "DOE^J"})


@pytest.mark.parametrize("name", ["echoes.nrrd", "echoes.nii.gz", "echoes.nii"])
def test_round_trip_is_exact(tmp_path, name):
    exam = make_exam()
    path = write_echo_stack(exam, tmp_path / name)
    assert sidecar_path(path) == tmp_path / "echoes.json" and sidecar_path(path).is_file()
    loaded = read_echo_stack(path)
    assert np.array_equal(loaded.echoes, exam.echoes)
    assert np.array_equal(loaded.echo_times_ms, exam.echo_times_ms)
    assert np.array_equal(loaded.ijk_to_ras, exam.ijk_to_ras)
    assert loaded.laterality == "right"
    assert loaded.metadata["Manufacturer"] == "Test"
    assert "DOE" not in sidecar_path(path).read_text()


@pytest.mark.parametrize("name", ["echoes.nrrd", "echoes.nii.gz"])
def test_file_geometry_alone_is_accurate_without_the_sidecar_matrix(tmp_path, name):
    exam = make_exam()
    path = write_echo_stack(exam, tmp_path / name)
    sidecar = json.loads(sidecar_path(path).read_text())
    del sidecar["IJKToRAS"]
    sidecar_path(path).write_text(json.dumps(sidecar))
    loaded = read_echo_stack(path)
    assert loaded.metadata["geometry_source"] == "file"
    np.testing.assert_allclose(loaded.ijk_to_ras, exam.ijk_to_ras, atol=1e-4)


def test_nrrd_layout_is_a_slicer_sequence_read_by_simpleitk(tmp_path):
    exam = make_exam()
    path = write_echo_stack(exam, tmp_path / "echoes.seq.nrrd")
    header = path.read_bytes().split(b"\n\n", 1)[0].decode("ascii")
    assert "kinds: list domain domain domain" in header
    assert "axis 0 index values:=6.312 12.624 18.936 25.248" in header
    image = sitk.ReadImage(str(path))
    assert image.GetNumberOfComponentsPerPixel() == len(TIMES) and image.GetSize() == (7, 9, 6)
    assert np.array_equal(np.moveaxis(sitk.GetArrayFromImage(image), -1, 0), exam.echoes)
    assert read_echo_stack(path).metadata["sidecar"].endswith("echoes.seq.json")


def test_echo_times_from_the_sequence_header_when_no_sidecar(tmp_path):
    path = write_echo_stack(make_exam(), tmp_path / "echoes.nrrd")
    sidecar_path(path).unlink()
    loaded = read_echo_stack(path)
    assert np.array_equal(loaded.echo_times_ms, TIMES) and loaded.metadata["echo_times_source"] == "nrrd header"
    assert loaded.laterality == "unknown"


def test_list_axis_last_as_newer_slicer_writes(tmp_path):
    exam = make_exam()
    matrix = exam.ijk_to_ras
    directions = " ".join("(%s)" % ",".join(repr(float(v)) for v in matrix[:3, a]) for a in range(3))
    header = "\n".join([
        "NRRD0004", "type: float", "dimension: 4", "space: right-anterior-superior", "sizes: 7 9 6 4",
        "space directions: %s none" % directions,
        "kinds: domain domain domain list", 'labels: "" "" "" "EchoTime"', 'units: "" "" "" "s"',
        "endian: little", "encoding: gzip", "space origin: (%s)" % ",".join(repr(float(v)) for v in matrix[:3, 3]),
        "axis 3 index type:=numeric", "axis 3 index values:=%s" % " ".join(str(t / 1000) for t in TIMES), "", ""])
    path = tmp_path / "newer.seq.nrrd"
    path.write_bytes(header.encode("ascii") + gzip.compress(exam.echoes.astype("<f4").tobytes()))
    loaded = read_echo_stack(path)
    assert np.array_equal(loaded.echoes, exam.echoes)
    np.testing.assert_allclose(loaded.echo_times_ms, TIMES, atol=1e-9)
    np.testing.assert_allclose(loaded.ijk_to_ras, matrix, atol=1e-9)


def test_echo_times_argument_wins(tmp_path):
    path = write_echo_stack(make_exam(), tmp_path / "echoes.nii.gz")
    loaded = read_echo_stack(path, echo_times_ms=[10, 20, 30, 40])
    assert np.array_equal(loaded.echo_times_ms, [10, 20, 30, 40]) and loaded.metadata["echo_times_source"] == "argument"


def test_missing_echo_times_are_explained(tmp_path):
    path = write_echo_stack(make_exam(), tmp_path / "echoes.nii.gz")
    sidecar_path(path).unlink()
    with pytest.raises(InputError, match=r"No echo times for .*--echo-times .*echoes\.json"):
        read_echo_stack(path)


def test_echo_time_count_mismatch(tmp_path):
    path = write_echo_stack(make_exam(), tmp_path / "echoes.nrrd")
    sidecar_path(path).write_text(json.dumps({"EchoTimes": [10, 20, 30]}))
    with pytest.raises(InputError, match="3 echo times .* for the 4 echoes"):
        read_echo_stack(path)
    with pytest.raises(InputError, match="5 echo times .*argument.* for the 4 echoes"):
        read_echo_stack(path, echo_times_ms=[1, 2, 3, 4, 5])


def test_bad_sidecar_json(tmp_path):
    path = write_echo_stack(make_exam(), tmp_path / "echoes.nrrd")
    sidecar_path(path).write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_echo_stack(path)


def test_sidecar_matrix_that_disagrees_is_ignored(tmp_path):
    exam = make_exam()
    path = write_echo_stack(exam, tmp_path / "echoes.nrrd")
    sidecar = json.loads(sidecar_path(path).read_text())
    sidecar["IJKToRAS"][0][3] += 5.0
    sidecar_path(path).write_text(json.dumps(sidecar))
    loaded = read_echo_stack(path)
    np.testing.assert_allclose(loaded.ijk_to_ras, exam.ijk_to_ras, atol=1e-4)
    assert "ignored" in loaded.metadata["geometry_source"]


def test_a_3d_volume_is_not_an_echo_stack(tmp_path):
    path = tmp_path / "one_echo.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 4, 5), np.float32)), str(path))
    with pytest.raises(InputError, match="single 3D volume"):
        read_echo_stack(path, echo_times_ms=[10])


def test_cannot_write_other_formats(tmp_path):
    with pytest.raises(InputError, match="use .nrrd"):
        write_echo_stack(make_exam(), tmp_path / "echoes.png")


def test_a_dotted_name_never_borrows_another_files_sidecar(tmp_path):
    """knee.v1.nrrd without its own sidecar must not read knee.json (the sidecar of knee.nrrd)."""
    other = make_exam()
    other.echo_times_ms = np.array([10.0, 20.0, 30.0, 40.0])
    write_echo_stack(other, tmp_path / "knee.nrrd")
    path = write_echo_stack(make_exam(), tmp_path / "knee.v1.nrrd")
    sidecar_path(path).unlink()  # e.g. copied without it
    loaded = read_echo_stack(path)
    np.testing.assert_allclose(loaded.echo_times_ms, TIMES)  # from its own NRRD header
    assert loaded.metadata["echo_times_source"] == "nrrd header"
    sequence = write_echo_stack(make_exam(), tmp_path / "scan.seq.nrrd")
    sidecar_path(sequence).rename(tmp_path / "scan.json")  # Slicer's sequence naming still finds it
    assert read_echo_stack(sequence).metadata["echo_times_source"] == "sidecar"


def test_rewriting_a_stack_never_pairs_the_new_image_with_the_old_sidecar(tmp_path, monkeypatch):
    from KneeCartilageT2Lib import echo_stack_io

    path = write_echo_stack(make_exam(), tmp_path / "echoes.nii.gz")
    changed = make_exam()
    changed.echo_times_ms = np.array([10.0, 20.0, 30.0, 40.0])

    def power_cut(*args, **kwargs):
        raise KeyboardInterrupt("after the image, before the sidecar")

    monkeypatch.setattr(echo_stack_io, "atomic_write_json", power_cut)
    with pytest.raises(KeyboardInterrupt):
        write_echo_stack(changed, path)
    with pytest.raises(InputError, match="No echo times"):  # not the old sidecar's 6.3 ms spacing
        read_echo_stack(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["echoes.nii.gz"]
