"""`knee-t2 next-case`: ranking on saved probability maps and on a dataset's unlabelled cases via the model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from KneeCartilageT2Lib.cli import main
from KneeCartilageT2Lib.geometry import Volume
from KneeCartilageT2Lib.volume_io import write_volume


def binary_entropy(p):
    return float(-p * np.log2(p) - (1 - p) * np.log2(1 - p))


def saved_map(folder, name, candidate_values, shape=(3, 12, 10)):
    """probabilities.nrrd with the given candidate values and 0.001 (not a candidate) elsewhere."""
    probabilities = np.full(shape, 0.001, np.float32)
    probabilities.reshape(-1)[:len(candidate_values)] = candidate_values
    write_volume(Volume(probabilities), folder / name / "probabilities.nrrd")


@pytest.fixture
def analyses(tmp_path):
    folder = tmp_path / "scans"
    saved_map(folder, "knee_sure", [0.99] * 40)
    saved_map(folder, "knee_unsure", [0.5] * 10 + [0.95] * 30)
    saved_map(folder, "knee_middle", [0.7] * 40)
    saved_map(folder, "knee_empty", [])
    (folder / "knee_broken").mkdir()
    (folder / "knee_broken" / "probabilities.nrrd").write_text("not an image")
    (folder / "not_analysed").mkdir()
    return folder


def test_ranks_saved_maps_with_values_and_the_measure_definition(analyses, capsys):
    assert main(["next-case", str(analyses)]) == 0
    output = capsys.readouterr().out
    rows = [line.split() for line in output.splitlines() if line.strip().startswith(("1 ", "2 ", "3 ", "4 ", "- "))]
    assert [row[1] for row in rows] == ["knee_middle", "knee_unsure", "knee_sure", "knee_empty", "knee_broken"]
    unsure = (10 * binary_entropy(0.5) + 30 * binary_entropy(0.95)) / 40
    assert float(rows[0][2]) == pytest.approx(binary_entropy(0.7), abs=1e-4)
    assert float(rows[1][2]) == pytest.approx(unsure, abs=1e-4) and rows[1][3] == "40"
    assert float(rows[3][2]) == 0.0 and rows[3][3] == "0"
    assert "not scored" in output and "not_analysed" not in output
    assert "Next case to correct: knee_middle" in output
    assert "mean binary entropy" in output and "p > 0.01" in output and "saved probability maps" in output


def test_ambiguous_fraction_as_json(analyses, capsys):
    assert main(["next-case", str(analyses), "--measure", "ambiguous_fraction", "--json", "--top", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "analyses" and report["measure"] == "ambiguous_fraction"
    assert "0.2 < p < 0.8" in report["definition"]
    ranking = report["ranking"]
    assert [item["case"] for item in ranking] == ["knee_middle", "knee_unsure", "knee_empty"]
    assert [item["score"] for item in ranking] == pytest.approx([1.0, 0.25, 0.0])


def test_dataset_cases_without_labels_are_scored_by_the_model(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    from KneeCartilageT2Lib.dataset_format import write_case
    from KneeCartilageT2Lib.phantom import PhantomOptions, simulate_phantom
    from KneeCartilageT2Lib.phantom_anatomy import build_anatomy
    from KneeCartilageT2Lib.phantom_synthetic import TINY_PROTOCOL, synthetic_knee_labels
    from test_finetune_versions import save_tiny_model

    anatomy = build_anatomy(synthetic_knee_labels(), "synthetic")
    for seed in range(3):
        phantom = simulate_phantom(anatomy, PhantomOptions(protocol=TINY_PROTOCOL, seed=seed))
        write_case(tmp_path / "ds", phantom.exam, phantom.label if seed == 0 else None, source="phantom")
    model = save_tiny_model(tmp_path / "m.safetensors", name="tiny-scorer", version="3")
    assert main(["next-case", str(tmp_path / "ds"), "--model", str(model), "--device", "cpu", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "dataset" and report["scored_from"] == "model tiny-scorer v3"
    ranking = report["ranking"]
    assert sorted(item["case"] for item in ranking) == ["knee_002", "knee_003"]  # knee_001 is labelled
    assert all(item["error"] is None and 0.0 < item["score"] <= 1.0 and item["n_candidates"] > 0 for item in ranking)
    assert ranking[0]["score"] >= ranking[1]["score"]


def test_unusable_source_is_explained(tmp_path, capsys):
    assert main(["next-case", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_a_folder_with_nothing_to_rank_exits_1_but_a_fully_labelled_dataset_exits_0(tmp_path, capsys):
    """An empty folder (likely a wrong path) is a failure for a script; a dataset whose every case has an
    approved label is simply done."""
    (tmp_path / "empty").mkdir()
    assert main(["next-case", str(tmp_path / "empty")]) == 1
    assert "no exam" in capsys.readouterr().out
    assert main(["next-case", str(tmp_path / "empty"), "--kind", "analyses"]) == 1
    from KneeCartilageT2Lib.dataset_format import write_case
    from KneeCartilageT2Lib.phantom import PhantomOptions, simulate_phantom
    from KneeCartilageT2Lib.phantom_anatomy import build_anatomy
    from KneeCartilageT2Lib.phantom_synthetic import TINY_PROTOCOL, synthetic_knee_labels

    phantom = simulate_phantom(build_anatomy(synthetic_knee_labels(), "synthetic"),
                               PhantomOptions(protocol=TINY_PROTOCOL, seed=0))
    write_case(tmp_path / "ds", phantom.exam, phantom.label, source="phantom")
    capsys.readouterr()
    assert main(["next-case", str(tmp_path / "ds")]) == 0
    assert "already has an approved label" in capsys.readouterr().out
