"""Training dataset format: nnU-Net layout, round trip, channels, versioning, traversal, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from KneeCartilageT2Lib import dataset_format as df
from KneeCartilageT2Lib.dataset_index import path_inside, safe_case_id
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.geometry import make_ijk_to_ras

IDENTIFIERS = {"PatientName": "DOE^JOHNATHAN", "PatientID": "PID778899", "StudyDate": "19870315",
               "PatientBirthDate": "19510102", "SeriesInstanceUID": "1.2.826.0.1.3680043.2.1"}


def make_exam(seed=0, n_echoes=4, shape=(3, 12, 10), metadata=None):
    rng = np.random.default_rng(seed)
    times = 10.0 * np.arange(1, n_echoes + 1)
    echoes = (rng.random((n_echoes,) + shape) * 500).astype(np.float32)
    geometry = make_ijk_to_ras((0.4, 0.45, 3.0), np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], float).T,
                               (10.0, -20.0, 5.5))
    return MeseExam(echoes, times, geometry, "left", dict(metadata or {}))


def make_label(seed=1, shape=(3, 12, 10)):
    return (np.random.default_rng(seed).random(shape) > 0.6).astype(np.uint8)


def test_round_trip_and_nnunet_layout(tmp_path):
    dataset = df.create_dataset(tmp_path / "Dataset501_Knee", name="Knee", n_channels=3)
    exam, label = make_exam(), make_label()
    record = df.write_case(dataset, exam, label, source="phantom", protocol="MESE 4 echoes",
                           original_label=1 - label, reader="AB", model=("unet", "1.2"))
    assert record.case_id == "knee_001"
    read_exam, read_label, read_record = df.read_case(dataset, record.case_id)
    np.testing.assert_array_equal(read_exam.echoes, exam.echoes)  # all 4 echoes, incl. the extra one
    np.testing.assert_allclose(read_exam.ijk_to_ras, exam.ijk_to_ras, atol=1e-5)
    np.testing.assert_array_equal(read_exam.echo_times_ms, [10, 20, 30, 40])
    assert read_exam.laterality == "left"
    np.testing.assert_array_equal(read_label.array, label)
    assert read_label.array.dtype == np.uint8
    assert read_record.model_name == "unet" and read_record.model_version == "1.2"
    assert read_record.current_label.reader == "AB"

    description = json.loads((dataset / "dataset.json").read_text())
    assert description["channel_names"] == {"0": "echo_1 (TE 10 ms)", "1": "echo_2 (TE 20 ms)",
                                            "2": "echo_3 (TE 30 ms)"}
    assert description["labels"] == {"background": 0, "femoral_cartilage": 1}
    assert description["numTraining"] == 1 and description["file_ending"] == ".nii.gz"
    assert sorted(p.name for p in (dataset / "imagesTr").iterdir()) == [
        "knee_001_0000.nii.gz", "knee_001_0001.nii.gz", "knee_001_0002.nii.gz"]
    assert [p.name for p in (dataset / "imagesExtra").iterdir()] == ["knee_001_0003.nii.gz"]
    np.testing.assert_array_equal(df.read_volume(dataset / "labelsTr" / "knee_001.nii.gz").array, label)
    np.testing.assert_array_equal(df.read_volume(dataset / "labelsOriginal" / "knee_001.nii.gz").array, 1 - label)


def test_unlabelled_case_stays_out_of_training_until_labelled(tmp_path):
    dataset = df.create_dataset(tmp_path / "ds")
    exam = make_exam(n_echoes=3)
    record = df.write_case(dataset, exam, None, case_id="pending")
    assert not record.is_labelled
    assert json.loads((dataset / "dataset.json").read_text())["numTraining"] == 0
    assert not list((dataset / "imagesTr").iterdir())
    assert len(list((dataset / "imagesUnlabelled").iterdir())) == 3
    exam_back, label_back, _ = df.read_case(dataset, "pending")
    assert label_back is None
    np.testing.assert_array_equal(exam_back.echoes, exam.echoes)

    df.write_case(dataset, exam, make_label(), case_id="pending")
    assert len(list((dataset / "imagesTr").iterdir())) == 3
    assert not list((dataset / "imagesUnlabelled").iterdir())
    assert json.loads((dataset / "dataset.json").read_text())["numTraining"] == 1


def test_channel_count_is_fixed_per_dataset(tmp_path):
    dataset = df.create_dataset(tmp_path / "ds")
    df.write_case(dataset, make_exam(n_echoes=5), make_label())  # first case fixes 5 channels
    with pytest.raises(InputError, match="5 echoes per case"):
        df.write_case(dataset, make_exam(seed=3, n_echoes=4), make_label())
    with pytest.raises(InputError, match="cannot change"):
        df.create_dataset(dataset, n_channels=3)
    other = make_exam(seed=4, n_echoes=6)
    other.echo_times_ms = other.echo_times_ms * 1.5
    df.write_case(dataset, other, make_label())
    names = json.loads((dataset / "dataset.json").read_text())["channel_names"]
    assert names["1"] == "echo_2 (TE 20-30 ms)"


def test_versions_are_kept_and_images_are_never_replaced(tmp_path):
    dataset = df.create_dataset(tmp_path / "ds")
    exam, first, second = make_exam(), make_label(1), make_label(2)
    record = df.write_case(dataset, exam, first, original_label=first, reader="AB")
    v1_bytes = (dataset / record.label_versions[0].file).read_bytes()
    record = df.write_case(dataset, exam, second, reader="CD")
    assert [v.version for v in record.label_versions] == [1, 2]
    assert (dataset / record.label_versions[0].file).read_bytes() == v1_bytes
    assert record.label_versions[1].original_file == record.label_versions[0].original_file
    np.testing.assert_array_equal(df.read_case(dataset, record.case_id)[1].array, second)
    np.testing.assert_array_equal(df.read_volume(dataset / "labelsTr" / (record.case_id + ".nii.gz")).array, second)
    unchanged = df.write_case(dataset, exam, second)
    assert len(unchanged.label_versions) == 2
    with pytest.raises(InputError, match="different echo images"):
        df.write_case(dataset, make_exam(seed=9), second, case_id=record.case_id)


@pytest.mark.parametrize("hostile", ["../../etc/x", "/tmp/abs_case", "a\x00b", "..", "sub/../../up"])
def test_case_ids_cannot_escape_the_dataset(tmp_path, hostile):
    dataset = df.create_dataset(tmp_path / "inner" / "ds")
    if not safe_case_id_or_none(hostile):
        with pytest.raises(InputError):
            df.write_case(dataset, make_exam(n_echoes=2), make_label(), case_id=hostile)
        return
    record = df.write_case(dataset, make_exam(n_echoes=2), make_label(), case_id=hostile)
    assert "/" not in record.case_id and "\x00" not in record.case_id and ".." not in record.case_id
    every_file = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(dataset.resolve() in p.resolve().parents for p in every_file)
    df.read_case(dataset, hostile)  # the same sanitising applies when reading


def safe_case_id_or_none(text):
    try:
        return safe_case_id(text)
    except InputError:
        return None


def test_path_inside_refuses_escapes(tmp_path):
    for bad in ("../x", "/etc/passwd", "a/\x00", "cases/../../x"):
        with pytest.raises(InputError):
            path_inside(tmp_path, bad)
    assert path_inside(tmp_path, "cases/a.json") == (tmp_path / "cases" / "a.json").resolve()


def test_pseudonymous_names_and_index(tmp_path):
    dataset = df.create_dataset(tmp_path / "ds")
    exam = make_exam(metadata=dict(IDENTIFIERS, source_path="/data/DOE_JOHNATHAN/mese"))
    record = df.write_case(dataset, exam, make_label(), source="clinic_dicom", protocol="MESE")
    again = df.write_case(dataset, exam, make_label(5))  # same exam found through the private map
    assert again.case_id == record.case_id and len(again.label_versions) == 2
    forbidden = ["DOE", "JOHNATHAN", "PID778899", "19870315", "1987-03-15", "19510102", "1.2.826.0.1.3680043.2.1"]
    public = [p for p in dataset.rglob("*") if ".private" not in p.parts]
    for path in public:
        assert not any(word.lower() in path.name.lower() for word in forbidden), path
        if path.suffix == ".json":
            text = path.read_text()
            assert not any(word in text for word in forbidden), path
    id_map = dataset / ".private" / "id_map.json"
    assert (id_map.stat().st_mode & 0o777) == 0o600
    assert "PID778899" in id_map.read_text()
    with pytest.raises(InputError, match="identifying"):
        other_series = dict(IDENTIFIERS, SeriesInstanceUID="1.2.3.999")
        df.write_case(dataset, make_exam(seed=7, metadata=other_series), None, source="scan of DOE^JOHNATHAN")
    assert len(df.list_cases(dataset)) == 1 and not list((dataset / "imagesUnlabelled").glob("*"))


def test_interrupted_export_leaves_a_consistent_dataset(tmp_path, monkeypatch):
    dataset = df.create_dataset(tmp_path / "ds")
    exam_a, label_a = make_exam(seed=1), make_label(1)
    first = df.write_case(dataset, exam_a, label_a)
    real_write = df.atomic_write_json

    def crash_on_index(path, data, mode=0o644):
        if Path(path).parent.name == "cases":
            raise KeyboardInterrupt("power cut after the images")
        real_write(path, data, mode)

    monkeypatch.setattr(df, "atomic_write_json", crash_on_index)
    with pytest.raises(KeyboardInterrupt):
        df.write_case(dataset, make_exam(seed=2), make_label(2))  # a new case
    with pytest.raises(KeyboardInterrupt):
        df.write_case(dataset, exam_a, make_label(3), case_id=first.case_id)  # a new version
    monkeypatch.setattr(df, "atomic_write_json", real_write)

    assert [r.case_id for r in df.list_cases(dataset)] == [first.case_id]
    _, label_back, record_back = df.read_case(dataset, first.case_id)
    np.testing.assert_array_equal(label_back.array, label_a)
    assert len(record_back.label_versions) == 1
    np.testing.assert_array_equal(df.read_volume(dataset / "labelsTr" / "knee_001.nii.gz").array, label_a)
    training_ids = {p.name[: -len("_0000.nii.gz")] for p in (dataset / "imagesTr").iterdir()}
    assert training_ids == {p.name[: -len(".nii.gz")] for p in (dataset / "labelsTr").iterdir()}
    assert json.loads((dataset / "dataset.json").read_text())["numTraining"] == 1
    assert not [p for p in dataset.rglob("*.partial*")]

    report = df.repair_dataset(dataset)
    assert "labelsVersions/knee_001_v2.nii.gz" in report["removed"]
    assert any(name.startswith("imagesUnlabelled/knee_002") for name in report["removed"])
    record = df.write_case(dataset, make_exam(seed=2), make_label(2))
    assert record.case_id == "knee_002" and len(df.list_cases(dataset)) == 2


def test_real_ge_exam_round_trip_without_identifiers(tmp_path, ge_exam_dir):
    from KneeCartilageT2Lib.exam_loader import load_exam

    exam = load_exam(ge_exam_dir)
    label = (exam.echoes[1] > np.percentile(exam.echoes[1], 97)).astype(np.uint8)
    record = df.write_case(tmp_path / "ds", exam, label, source="mese_dicom", protocol="GE MESE 8 echoes")
    exam_back, label_back, _ = df.read_case(tmp_path / "ds", record.case_id)
    np.testing.assert_array_equal(exam_back.echoes, exam.echoes)
    np.testing.assert_allclose(exam_back.ijk_to_ras, exam.ijk_to_ras, atol=1e-4)
    np.testing.assert_array_equal(label_back.array, label)
    np.testing.assert_allclose(exam_back.echo_times_ms, exam.echo_times_ms)
    uids = [exam.metadata["StudyInstanceUID"], exam.metadata["SeriesInstanceUID"], str(ge_exam_dir)]
    for path in (tmp_path / "ds").rglob("*"):
        if ".private" not in path.parts and path.suffix == ".json":
            assert not any(uid in path.read_text() for uid in uids), path


def _slices_reversed(exam, label=None):
    """The same exam (and label) with its slices listed the other way, as a Slicer scene lists a left-handed exam."""
    grid = _reverse_slices(exam.ijk_to_ras, exam.volume_shape[0])
    moved = MeseExam(np.ascontiguousarray(exam.echoes[:, ::-1]), exam.echo_times_ms, grid, exam.laterality,
                     dict(exam.metadata))
    return moved, None if label is None else np.ascontiguousarray(label[::-1])


def _reverse_slices(matrix, n_slices):
    matrix = np.array(matrix, dtype=float)
    matrix[:3, 3] += matrix[:3, 2] * (n_slices - 1)
    matrix[:3, 2] *= -1.0
    return matrix


def test_the_same_exam_with_its_slices_listed_the_other_way_is_the_same_case(tmp_path):
    dataset = tmp_path / "dataset"
    exam, label = make_exam(), make_label()
    first = df.write_case(dataset, exam, None, source="phantom")
    reversed_exam, reversed_label = _slices_reversed(exam, label)
    record = df.write_case(dataset, reversed_exam, reversed_label, source="phantom",
                           original_label=np.zeros_like(reversed_label))
    assert record.case_id == first.case_id and len(df.list_cases(dataset)) == 1
    read_exam, read_label, _ = df.read_case(dataset, first.case_id)
    np.testing.assert_array_equal(read_exam.echoes, exam.echoes)  # the case keeps its own slice order
    np.testing.assert_array_equal(read_label.array, label)  # and the label is put into it, voxel for voxel
    np.testing.assert_allclose(read_label.ijk_to_ras, exam.ijk_to_ras, atol=1e-5)
    other = MeseExam(exam.echoes[:, ::-1] * 1.5, exam.echo_times_ms, reversed_exam.ijk_to_ras, "left", {})
    assert df.write_case(dataset, other, None).case_id != first.case_id  # other images: another case
    with pytest.raises(InputError, match="already holds different echo images"):
        df.write_case(dataset, other, None, case_id=first.case_id)
