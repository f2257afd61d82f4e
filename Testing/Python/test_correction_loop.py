"""Correction loop: edit statistics, export round trip with versions, next-case uncertainty ranking."""

from __future__ import annotations

import json

import numpy as np
import pytest

from KneeCartilageT2Lib import correction
from KneeCartilageT2Lib.dataset_format import list_cases, read_case, read_label_version
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.geometry import Volume, make_ijk_to_ras


def small_exam(seed=0):
    rng = np.random.default_rng(seed)
    return MeseExam((rng.random((3, 4, 10, 8)) * 100).astype(np.float32), [10.0, 20.0, 30.0],
                    make_ijk_to_ras((0.5, 0.5, 2.0)), "right", {"PatientID": "P0042XYZ"})


def test_edit_statistics_known_numbers():
    original = np.zeros((4, 10, 8), np.uint8)
    original[1, 2:6, 2:6] = 1  # 16 voxels on slice 1
    approved = original.copy()
    approved[1, 2:4, 2:6] = 0  # 8 removed
    approved[2, 0:3, 0:4] = 1  # 12 added on slice 2
    stats = correction.edit_statistics(original, approved, voxel_volume_mm3=0.5)
    assert stats.voxels_added == 12 and stats.voxels_removed == 8
    assert stats.dice == pytest.approx(2 * 8 / (16 + 20))
    assert stats.original_volume_mm3 == pytest.approx(8.0) and stats.approved_volume_mm3 == pytest.approx(10.0)
    assert stats.volume_change_mm3 == pytest.approx(2.0)
    assert stats.slices_edited == 2
    empty = np.zeros_like(original)
    assert correction.edit_statistics(empty, empty, 1.0).dice == 1.0
    volume = Volume(original, make_ijk_to_ras((0.5, 0.5, 2.0)))
    assert correction.edit_statistics(volume, volume).approved_volume_mm3 == pytest.approx(16 * 0.5)


def test_export_round_trip_and_reexport_versions(tmp_path):
    exam = small_exam()
    model_label = np.zeros(exam.volume_shape, np.uint8)
    model_label[:, 3:7, 2:6] = 1
    approved = model_label.copy()
    approved[0] = 0
    record = correction.export_corrected_case(tmp_path / "ds", exam, approved, model_label, reader="RB",
                                              model_name="thomas2020", model_version="1.0")
    exam_back, label_back, record_back = read_case(tmp_path / "ds", record.case_id)
    np.testing.assert_array_equal(label_back.array, approved)
    np.testing.assert_array_equal(exam_back.echoes, exam.echoes)
    version = record_back.current_label
    assert version.info["edit"]["voxels_removed"] == 16 and version.info["edit"]["voxels_added"] == 0
    assert version.model_name == "thomas2020" and version.reader == "RB"
    np.testing.assert_array_equal(read_label_version(tmp_path / "ds", version, original=True).array, model_label)

    second = approved.copy()
    second[3] = 0
    again = correction.export_corrected_case(tmp_path / "ds", exam, second, model_label, reader="RB")
    assert again.case_id == record.case_id and [v.version for v in again.label_versions] == [1, 2]
    assert again.current_label.info["edit"]["voxels_removed"] == 32
    np.testing.assert_array_equal(read_case(tmp_path / "ds", record.case_id)[1].array, second)
    np.testing.assert_array_equal(read_label_version(tmp_path / "ds", again.label_versions[0]).array, approved)
    assert len(list_cases(tmp_path / "ds")) == 1


def test_exams_of_protocols_with_fewer_echoes_join_a_dataset_started_by_a_longer_one(tmp_path):
    """An 8-echo (GE-like) exam first, then a 7-echo (OAI-like) and a 4-echo one: all go into one dataset,
    every echo of each comes back, and nnU-Net sees the same 4 channels for all; 3 echoes are refused clearly."""
    rng = np.random.default_rng(3)
    geometry = make_ijk_to_ras((0.5, 0.5, 2.0))
    exams = [MeseExam((rng.random((n, 4, 10, 8)) * 100).astype(np.float32), list(np.arange(1, n + 1) * 8.0),
                      geometry, "right", {}) for n in (8, 7, 4, 3)]
    label = np.zeros(exams[0].volume_shape, np.uint8)
    label[:, 3:7, 2:6] = 1
    ids = [correction.export_corrected_case(tmp_path / "ds", exam, label, label).case_id for exam in exams[:3]]
    settings = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert len(set(ids)) == 3 and len(settings["channel_names"]) == correction.CORRECTION_CHANNELS == 4
    for case_id, exam in zip(ids, exams):
        back, _, record = read_case(tmp_path / "ds", case_id)
        np.testing.assert_array_equal(back.echoes, exam.echoes)
        assert record.n_channels == 4
    with pytest.raises(InputError, match="stores 4 echoes per case .* the exam has 3"):
        correction.export_corrected_case(tmp_path / "ds", exams[3], label, label)


def binary_entropy(p):
    return float(-p * np.log2(p) - (1 - p) * np.log2(1 - p))


def synthetic_map(value, n_candidates=50, shape=(2, 10, 10)):
    probabilities = np.full(shape, 0.001)
    probabilities.reshape(-1)[:n_candidates] = value
    return probabilities


def test_uncertainty_values_and_ordering():
    assert correction.uncertainty(synthetic_map(0.5)).score == pytest.approx(1.0)
    assert correction.uncertainty(synthetic_map(0.9)).score == pytest.approx(binary_entropy(0.9))
    mixed = synthetic_map(0.99)
    mixed.reshape(-1)[:10] = 0.3  # 10 of 50 candidates at 0.3
    expected = (10 * binary_entropy(0.3) + 40 * binary_entropy(0.99)) / 50
    assert correction.uncertainty(mixed).score == pytest.approx(expected)
    assert correction.uncertainty(mixed, "ambiguous_fraction").score == pytest.approx(0.2)
    assert correction.uncertainty(synthetic_map(0.5), candidate_threshold=0.6).n_candidates == 0

    calls = []

    def lazily(value):
        def load():
            calls.append(value)
            return synthetic_map(value)
        return load

    candidates = {"sure": synthetic_map(0.999), "unsure": lazily(0.45), "middle": synthetic_map(0.8),
                  "nothing": np.zeros((2, 10, 10)), "broken": lambda: np.full((2, 2, 2), 7.0)}
    ranked = correction.rank_by_uncertainty(candidates)
    assert [item.case for item in ranked] == ["unsure", "middle", "sure", "nothing", "broken"]
    assert ranked[-1].error and "[0, 1]" in ranked[-1].error and calls == [0.45]
    assert correction.propose_next_case(candidates).case == "unsure"
    with pytest.raises(InputError):
        correction.uncertainty(synthetic_map(0.5), "variance")


def test_next_case_from_dataset_and_saved_maps(tmp_path):
    from KneeCartilageT2Lib.dataset_format import write_case
    from KneeCartilageT2Lib.volume_io import write_volume

    for seed in range(3):
        write_case(tmp_path / "ds", small_exam(seed), None if seed else np.zeros((4, 10, 8), np.uint8))
    certainty = {"knee_002": 0.97, "knee_003": 0.6}

    def predictor(exam):
        case_id = exam.metadata["case_id"]
        return synthetic_map(certainty[case_id], shape=exam.volume_shape)

    candidates = correction.unlabelled_dataset_candidates(tmp_path / "ds", predictor)
    assert sorted(candidates) == ["knee_002", "knee_003"]  # knee_001 is labelled
    assert correction.propose_next_case(candidates).case == "knee_003"

    for name, value in (("s1_v1", 0.7), ("s2_v1", 0.52)):
        write_volume(Volume(synthetic_map(value).astype(np.float32)), tmp_path / "scans" / name / "probabilities.nrrd")
    (tmp_path / "scans" / "no_map").mkdir()
    saved = correction.analysis_folder_candidates(tmp_path / "scans")
    assert sorted(saved) == ["s1_v1", "s2_v1"]
    ranked = correction.rank_by_uncertainty(saved)
    assert ranked[0].case == "s2_v1" and ranked[0].score == pytest.approx(binary_entropy(0.52), abs=1e-5)


def test_label_on_exam_grid_resamples_a_cropped_label():
    exam = small_exam()
    full = np.zeros(exam.volume_shape, np.uint8)
    full[1:3, 4:8, 2:5] = 1
    cropped_matrix = exam.ijk_to_ras.copy()
    cropped_matrix[:3, 3] = exam.ijk_to_ras[:3, :3] @ np.array([2.0, 4.0, 1.0]) + exam.ijk_to_ras[:3, 3]
    cropped = Volume(full[1:3, 4:8, 2:5].copy(), cropped_matrix)  # i from 2, j from 4, k from 1
    np.testing.assert_array_equal(correction.label_on_exam_grid(cropped, exam), full)


def test_export_command(tmp_path):
    pytest.importorskip("KneeCartilageT2Lib.exam_loader")
    import SimpleITK as sitk

    from KneeCartilageT2Lib.cli import main
    from KneeCartilageT2Lib.volume_io import write_volume

    exam = small_exam()
    image = sitk.JoinSeries([sitk.GetImageFromArray(echo) for echo in exam.echoes])
    sitk.WriteImage(image, str(tmp_path / "echoes.nrrd"))
    (tmp_path / "echoes.json").write_text(json.dumps({"EchoTimes": [10.0, 20.0, 30.0]}))
    loaded_exam = __import__("KneeCartilageT2Lib.exam_loader", fromlist=["load_exam"]).load_exam(tmp_path / "echoes.nrrd")
    model_label = np.zeros(exam.volume_shape, np.uint8)
    model_label[:, 2:6, 2:6] = 1
    approved = model_label.copy()
    approved[:, 2, :] = 0
    write_volume(loaded_exam.volume_like(model_label), tmp_path / "analysis" / "label.nrrd")
    (tmp_path / "analysis" / "provenance.json").write_text(json.dumps({"segmentation": {"model_name": "m",
                                                                                        "model_version": "7"}}))
    write_volume(loaded_exam.volume_like(approved), tmp_path / "approved.nrrd")
    code = main(["export", str(tmp_path / "echoes.nrrd"), "--segmentation", str(tmp_path / "approved.nrrd"),
                 "--dataset", str(tmp_path / "ds"), "--original", str(tmp_path / "analysis"), "--reader", "RB"])
    assert code == 0
    _, label, record = read_case(tmp_path / "ds", "knee_001")
    np.testing.assert_array_equal(label.array, approved)
    assert record.current_label.model_name == "m" and record.current_label.model_version == "7"
    assert record.current_label.info["edit"]["voxels_removed"] == 16

    (tmp_path / "analysis" / "provenance.json").write_text("{truncated")
    code = main(["export", str(tmp_path / "echoes.nrrd"), "--segmentation", str(tmp_path / "approved.nrrd"),
                 "--dataset", str(tmp_path / "ds"), "--original", str(tmp_path / "analysis")])
    assert code == 2  # a one-line error naming the file, not a traceback


def test_exporting_the_label_a_case_already_holds_says_it_is_unchanged(tmp_path, capsys):
    """It printed "label version 1" again as if it had exported; a changed label still adds a version and a return
    to an earlier label is a new version too, every earlier one kept."""
    from KneeCartilageT2Lib.cli import main
    from KneeCartilageT2Lib.dataset_format import list_cases
    from KneeCartilageT2Lib.echo_stack_io import write_echo_stack
    from KneeCartilageT2Lib.volume_io import write_volume

    exam = small_exam()
    write_echo_stack(exam, tmp_path / "echoes.nrrd")
    first = np.zeros(exam.volume_shape, np.uint8)
    first[:, 2:6, 2:6] = 1
    second = first.copy()
    second[1] = 0
    for name, label in (("first.nrrd", first), ("second.nrrd", second)):
        write_volume(exam.volume_like(label), tmp_path / name)

    def export(name):
        assert main(["export", str(tmp_path / "echoes.nrrd"), "--segmentation", str(tmp_path / name),
                     "--dataset", str(tmp_path / "ds")]) == 0
        return capsys.readouterr().out

    assert "Exported case knee_001, label version 1" in export("first.nrrd")
    again = export("first.nrrd")
    assert "knee_001 already holds this label as its current version 1: unchanged, no new version written" in again
    assert "Exported" not in again
    assert "label version 2" in export("second.nrrd")
    assert "unchanged" in export("second.nrrd")
    assert "label version 3" in export("first.nrrd")
    versions = list_cases(tmp_path / "ds")[0].label_versions
    assert [version.version for version in versions] == [1, 2, 3]
    assert versions[0].sha256 == versions[2].sha256 != versions[1].sha256
    assert all((tmp_path / "ds" / version.file).is_file() for version in versions)


def test_next_case_from_a_folder_of_exams(tmp_path):
    from KneeCartilageT2Lib.batch_synthetic import write_synthetic_exam

    for name, t2 in (("knee_a.nrrd", 30.0), ("knee_b.nrrd", 45.0)):
        write_synthetic_exam(tmp_path / "exams" / name, t2, shape=(2, 40, 64))
    (tmp_path / "exams" / "notes.txt").write_text("not an exam")

    def predictor(exam):  # stands in for the network: less certain where the echoes decay slowly
        decay = exam.echoes[-1] / np.maximum(exam.echoes[0], 1.0)
        return np.where(exam.echoes[0] > 300.0, np.clip(decay, 0.0, 1.0), 0.0)

    candidates = correction.exam_folder_candidates(tmp_path / "exams", predictor)
    assert sorted(candidates) == ["knee_a.nrrd", "knee_b.nrrd"]
    ranked = correction.rank_by_uncertainty(candidates)
    assert [item.case for item in ranked] == ["knee_b.nrrd", "knee_a.nrrd"]
    band_p = np.exp(-50.0 / 45.0)  # last / first echo inside the bright band (TE 60 vs 10 ms)
    assert ranked[0].score == pytest.approx(binary_entropy(band_p), abs=0.05)


def test_the_worker_ranking_reports_progress_case_by_case(tmp_path, monkeypatch, capsys):
    """The panel's progress bar follows the ranking of a large dataset case by case (it used to say nothing
    between "Scoring n cases" and the end)."""
    from KneeCartilageT2Lib import worker
    from KneeCartilageT2Lib.dataset_format import write_case

    for seed in range(4):
        write_case(tmp_path / "ds", small_exam(seed), None if seed else np.zeros((4, 10, 8), np.uint8))
    certainty = {"knee_002": 0.97, "knee_003": 0.6, "knee_004": 0.9}
    monkeypatch.setattr(correction, "model_predictor", lambda options: lambda exam: synthetic_map(
        certainty[exam.metadata["case_id"]], shape=exam.volume_shape))
    ranked, result_file = worker.task_rank_cases(tmp_path, {"dataset_dir": str(tmp_path / "ds"), "options": {}})
    assert result_file is None and [item["case"] for item in ranked] == ["knee_003", "knee_004", "knee_002"]
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    progress = [(event["fraction"], event["stage"]) for event in events if event["event"] == "progress"]
    assert progress == [(0.0, "Scoring 3 unlabelled cases"), (0.0, "Scoring case knee_002 (1 of 3)"),
                        (0.3333, "Scoring case knee_003 (2 of 3)"), (0.6667, "Scoring case knee_004 (3 of 3)")]


def test_a_second_correction_of_the_same_model_output_stores_its_original_once(tmp_path):
    """Re-exporting beside the same model label wrote an identical v2_original; the new version now names the
    stored file, and every reader (read_label_version, labelsOriginal, repair) still finds it."""
    from KneeCartilageT2Lib.dataset_format import repair_dataset

    exam = small_exam()
    model_label = np.zeros(exam.volume_shape, np.uint8)
    model_label[:, 3:7, 2:6] = 1
    first, second = model_label.copy(), model_label.copy()
    first[0] = 0
    second[0:2] = 0
    dataset = tmp_path / "ds"
    correction.export_corrected_case(dataset, exam, first, model_label, reader="RB")
    record = correction.export_corrected_case(dataset, exam, second, model_label, reader="RB")
    v1, v2 = record.label_versions
    assert v2.original_file == v1.original_file and v2.original_sha256 == v1.original_sha256
    assert sorted(path.name for path in (dataset / "labelsVersions").iterdir()) == [
        "knee_001_v1.nii.gz", "knee_001_v1_original.nii.gz", "knee_001_v2.nii.gz"]
    stored = list_cases(dataset)[0].current_label
    np.testing.assert_array_equal(read_label_version(dataset, stored, original=True).array, model_label)
    assert stored.info["edit"]["voxels_removed"] == 32
    assert repair_dataset(dataset)["removed"] == []  # the shared file is still accounted for
    np.testing.assert_array_equal(read_label_version(dataset, stored, original=True).array, model_label)
    assert (dataset / "labelsOriginal" / "knee_001.nii.gz").is_file()

    rerun = model_label.copy()
    rerun[:, 3] = 0  # a new model run gives another original: it is stored as its own file
    third = correction.export_corrected_case(dataset, exam, rerun, rerun, reader="RB").current_label
    assert third.original_file == "labelsVersions/knee_001_v3_original.nii.gz"
    np.testing.assert_array_equal(read_label_version(dataset, third, original=True).array, rerun)
