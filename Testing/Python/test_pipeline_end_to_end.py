"""The end-to-end pipeline: T2 map -> segmentation -> regions -> result folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from KneeCartilageT2Lib.measurement_method import MEASUREMENT_METHOD
from KneeCartilageT2Lib import cli, pipeline, unet  # noqa: E402
from KneeCartilageT2Lib.model_files import save_model_safetensors  # noqa: E402
from KneeCartilageT2Lib.phantom_defaults import shell_exam  # noqa: E402
from KneeCartilageT2Lib.volume_io import read_volume  # noqa: E402


@pytest.fixture(scope="module")
def shell():
    return shell_exam(seed=1, snr=60.0)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    spec = {"name": "tiny-test", "version": "0",
            "preprocessing": {"mode": "spacing", "pixel_spacing_mm": [0.625, 0.625], "size": [64, 64]},
            "refinement": {"min_slice_voxels": 0, "min_total_voxels": 0, "probability_threshold": 0.3}}
    return save_model_safetensors(unet.build_unet(levels=2, base_filters=2), path, spec)


def test_measure_with_the_true_label_recovers_the_true_t2(shell):
    exam, label, t2_truth = shell
    result = pipeline.measure(exam, label, options=pipeline.AnalysisOptions(laterality="right"))
    assert result.label_source == "corrected" and result.regions is not None
    whole = result.regions.row("all")
    truth = t2_truth[(label > 0) & result.t2.valid].mean()
    assert abs(whole["t2_mean_ms"] - truth) < 1.0
    assert whole["n_voxels"] == int(label.sum())


def test_analysis_folder_has_every_output_and_done_last(shell, tiny_model, tmp_path):
    exam, _, _ = shell
    options = pipeline.AnalysisOptions(model=str(tiny_model), device="cpu")
    stages = []
    result = pipeline.analyse_exam(exam, options, progress=lambda f, s: stages.append((f, s)))
    fractions = [f for f, _ in stages]
    assert all(b >= a - 1e-9 for a, b in zip(fractions, fractions[1:])) and fractions[-1] == 1.0
    out = pipeline.write_analysis(result, tmp_path / "analysis", figures=False)
    for name in ("label.nrrd", "t2.nrrd", "r2.nrrd", "anatomy.nrrd", "probabilities.nrrd", "provenance.json",
                 "preview.png", pipeline.DONE_MARKER):
        assert (out / name).is_file(), name
    files = sorted(out.iterdir(), key=lambda p: p.stat().st_mtime_ns)
    assert files[-1].name == pipeline.DONE_MARKER
    label = read_volume(out / "label.nrrd")
    np.testing.assert_allclose(label.ijk_to_ras, exam.ijk_to_ras, atol=1e-6)
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["segmentation"]["model_name"] == "tiny-test"
    assert provenance["options"]["t2_method"] == "mono"
    assert provenance["measurement_method"] == MEASUREMENT_METHOD  # which method measured these figures
    assert provenance["quality"]["n_voxels"] == int(label.array.sum()) and provenance["quality"]["n_candidates"] > 0
    assert json.loads((out / pipeline.DONE_MARKER).read_text())["status"] == result.status

    _, true_label, _ = shell  # a reader's correction re-measured into the same folder, without previews
    corrected = pipeline.measure(exam, true_label, t2=result.t2, options=pipeline.AnalysisOptions(laterality="right"))
    pipeline.write_analysis(corrected, out, preview=False, figures=False)
    assert not (out / "probabilities.nrrd").exists() and not (out / "preview.png").exists()
    assert not (out / "regions" / "regions.png").exists() and (out / "regions" / "regions.csv").is_file()
    np.testing.assert_array_equal(read_volume(out / "label.nrrd").array, true_label)
    corrected_provenance = json.loads((out / "provenance.json").read_text())
    assert corrected_provenance["label_source"] == "corrected"
    assert corrected_provenance["quality"]["n_voxels"] == int(true_label.sum())
    assert corrected_provenance["quality"]["uncertainty_bits"] is None  # no network output behind a correction


def test_split_stages_give_the_same_result_as_one_call(shell, tiny_model):
    exam, _, _ = shell
    options = pipeline.AnalysisOptions(model=str(tiny_model), device="cpu")
    whole = pipeline.analyse_exam(exam, options)
    probabilities, device = pipeline.predict_stage(exam, options)
    split = pipeline.finish_stage(exam, probabilities, device, options)
    np.testing.assert_array_equal(whole.label.array, split.label.array)
    np.testing.assert_allclose(whole.probabilities.array, split.probabilities.array, atol=1e-6)


FINISH_WITHOUT_TORCH = """
import sys
import numpy as np
from KneeCartilageT2Lib import pipeline
from KneeCartilageT2Lib.phantom_defaults import shell_exam
exam = shell_exam()[0]
probabilities = np.zeros(exam.volume_shape, np.float32)
result = pipeline.finish_stage(exam, probabilities, "a GPU worker", pipeline.AnalysisOptions(laterality="right"))
print("torch" in sys.modules, int(result.label.array.sum()))
"""


def test_the_cpu_half_needs_neither_torch_nor_the_weights():
    """A batch's CPU workers refine probabilities computed elsewhere: the model's spec is all they read."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    package_root = Path(pipeline.__file__).resolve().parents[1]
    environment = dict(os.environ, PYTHONPATH=str(package_root))
    output = subprocess.run([sys.executable, "-c", FINISH_WITHOUT_TORCH], capture_output=True, text=True,
                            env=environment, timeout=120, check=True).stdout.split()
    assert output == ["False", "0"]


def test_label_on_another_grid_is_refused_with_a_clear_message(shell):
    exam, label, _ = shell
    from KneeCartilageT2Lib.errors import InputError

    with pytest.raises(InputError, match="exam's grid"):
        pipeline.measure(exam, label[:-1])


def test_demo_runs_on_the_offline_fallback_phantom(tmp_path, tiny_model, monkeypatch, capsys):
    from KneeCartilageT2Lib import phantom_defaults, region_figure
    from KneeCartilageT2Lib.errors import InputError

    def no_anatomy(*args, **kwargs):
        raise InputError("offline")

    figures = []

    def quick_figure(analysis, path, dpi=130):  # the full-page figure is drawn in the regions tests
        figures.append(analysis.mode)
        path.write_bytes(b"png")
        return path

    monkeypatch.setattr(phantom_defaults, "_knee_phantom", no_anatomy)
    monkeypatch.setattr(region_figure, "save_region_figure", quick_figure)
    monkeypatch.setenv("KNEE_T2_DEFAULT_MODEL", str(tiny_model))
    status = cli.main(["demo", "--phantom", "--no-fetch", "-o", str(tmp_path / "demo"), "--device", "cpu"])
    assert status == 0
    assert (tmp_path / "demo" / "preview.png").read_bytes()[:4] == b"\x89PNG"
    assert "analytic shell phantom" in capsys.readouterr().err
    provenance = json.loads((tmp_path / "demo" / "provenance.json").read_text())
    assert provenance["segmentation"]["model_name"] == "tiny-test"
    assert figures == ["improved"] and (tmp_path / "demo" / "regions" / "regions.png").is_file()


def test_next_case_predictor_returns_raw_network_probabilities(shell, tiny_model):
    from KneeCartilageT2Lib.correction import model_predictor, uncertainty

    exam, _, _ = shell
    predict = model_predictor(pipeline.AnalysisOptions(model=str(tiny_model), device="cpu"))
    probabilities = predict(exam)
    expected, _ = pipeline.predict_stage(exam, pipeline.AnalysisOptions(model=str(tiny_model), device="cpu"))
    assert probabilities.shape == exam.volume_shape
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    assert uncertainty(probabilities).score >= 0.0


def test_a_plate_cut_short_gets_a_picture_of_the_slice_to_check(shell, tmp_path):
    from KneeCartilageT2Lib.slice_coverage import slices_to_check

    exam, true_label, _ = shell
    options = pipeline.AnalysisOptions(laterality="right")
    per_slice = true_label.reshape(true_label.shape[0], -1).sum(axis=1)
    fullest = int(np.argmax(per_slice))
    assert per_slice[fullest + 1] > 0  # the plate goes on past its fullest slice
    cut = true_label.copy()
    cut[fullest + 1:] = 0  # as if the network had missed every slice after the fullest
    out = tmp_path / "analysis"
    result = pipeline.measure(exam, cut, options=options)
    pipeline.write_analysis(result, out, figures=False)
    assert slices_to_check(cut)[0][0] == fullest + 1
    assert (out / pipeline.CHECK_PREVIEW).read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "provenance.json").read_text())["quality"]["abrupt_ends"] == 1
    whole = pipeline.measure(exam, true_label, t2=result.t2, options=options)
    pipeline.write_analysis(whole, out, figures=False)  # re-measured: the stale picture must go
    assert slices_to_check(true_label) == []  # the shell fills every slice: its ends are the series' edges
    assert not (out / pipeline.CHECK_PREVIEW).exists()


def test_a_margin_slice_the_slice_rule_emptied_reaches_the_quality_figures_and_the_picture(shell, tmp_path,
                                                                                          monkeypatch):
    """The network finds a thin slice beyond the plate's end, the slice rule removes it: every check says so."""
    from KneeCartilageT2Lib import previews
    from KneeCartilageT2Lib.slice_rule import SliceRule

    exam, true_label, _ = shell
    model = save_model_safetensors(unet.build_unet(levels=2, base_filters=2), tmp_path / "rule.safetensors", {
        "name": "rule-test", "version": "0",
        "preprocessing": {"mode": "spacing", "pixel_spacing_mm": [0.625, 0.625], "size": [64, 64]},
        "refinement": {"min_slice_voxels": 200, "min_total_voxels": 0}})  # 71 voxels at this exam's pixels
    found = (true_label > 0).copy()
    found[8:] = False  # the plate stops at slice 6, which holds as much as the fullest slice
    margin = np.flatnonzero(found[7])
    found[7].reshape(-1)[margin[60:]] = False  # slice 7: 60 voxels found (9 % of the fullest), fewer than kept
    options = pipeline.AnalysisOptions(model=str(model), laterality="right")
    result = pipeline.finish_stage(exam, np.where(found, 0.9, 0.0).astype(np.float32), "elsewhere", options)
    rule = result.slice_rule
    assert list(rule.emptied) == [7] and 0 < rule.emptied[7] <= 60 and not result.label.array[7].any()
    assert rule.smallest_kept == int(np.ceil(200 * 0.3125 * 0.446 / 0.625 ** 2))
    told = "Slice 7's cartilage, %d voxels, was removed by the minimum-area rule of %d voxels per slice" % (
        rule.emptied[7], rule.smallest_kept)
    assert any(told in message for message in result.messages)
    assert not any("missed cartilage" in message for message in result.messages)
    quality = result.provenance["quality"]
    assert (quality["abrupt_ends"], quality["rule_emptied_ends"], quality["edge_ends"]) == (0, 1, 1)
    titles = {}

    def record(path, *args, title="", **kwargs):
        titles[path.name] = title
        path.write_bytes(b"\x89PNG")

    monkeypatch.setattr(previews, "write_preview_png", record)
    out = pipeline.write_analysis(result, tmp_path / "analysis", figures=False)
    assert titles[pipeline.CHECK_PREVIEW].startswith(
        "Slice 7 to check: the plate ends abruptly at slice 6; the minimum-area rule (%d voxels) removed this "
        "slice's %d voxels" % (rule.smallest_kept, rule.emptied[7]))
    provenance = json.loads((out / "provenance.json").read_text())
    assert SliceRule.from_provenance(provenance) == rule and provenance["quality"]["rule_emptied_ends"] == 1
    corrected = pipeline.measure(exam, result.label.array, t2=result.t2, options=options,
                                 slice_rule=SliceRule.from_provenance(provenance))  # a reader's re-measure
    assert any(told in message for message in corrected.messages)
    assert corrected.provenance["quality"]["rule_emptied_ends"] == 1


def test_the_demo_gives_the_ge_exams_documented_side_as_given_not_as_read_from_dicom(ge_exam_dir, monkeypatch, tmp_path):
    from KneeCartilageT2Lib import sample_data
    from KneeCartilageT2Lib.commands.demo import default_exam

    monkeypatch.setattr(sample_data, "ge_exam_dir", lambda fetch=True: ge_exam_dir)
    exam, description, side = default_exam(use_phantom=False, fetch=False, work_dir=tmp_path)
    assert exam.laterality == "unknown"  # the tag was emptied by anonymisation; the data do not say it
    assert side == "right" and "documented by its publisher" in description
    assert pipeline.laterality_for(exam, pipeline.AnalysisOptions(laterality=side)) == ("right", "user")


def test_the_analysis_t2_range_reaches_the_refinement_so_label_t2_map_and_regions_agree(shell):
    """A wider valid range than the model's (0, 100] ms kept the refinement's range: voxels the T2 map
    called valid (T2 just over 100 ms in the noisy 90 ms bone) were removed from the label anyway."""
    exam, _, _ = shell
    probabilities = np.ones(exam.volume_shape, np.float32)  # every voxel a candidate: the T2 rule decides
    options = pipeline.AnalysisOptions(laterality="right", t2_range_ms=(0.0, 200.0))
    result = pipeline.finish_stage(exam, probabilities, "test", options)
    valid = result.t2.valid
    assert np.any(valid & (result.t2.t2_ms > 100.0))  # the case this test is about exists in the phantom
    np.testing.assert_array_equal(result.label.array > 0, valid)
    assert result.provenance["segmentation"]["parameters"]["refinement"]["t2_range_ms"] == [0.0, 200.0]
    assert any("(0, 200] ms" in message for message in result.messages)
    whole = result.regions.row("all")
    assert whole["n_t2_voxels"] == whole["n_voxels"] == int(valid.sum())
