"""`knee-t2 agreement` on three small segmentation sets of the same analytic knees."""

from __future__ import annotations

import json

import numpy as np
import pytest

from KneeCartilageT2Lib.agreement import segmentation_agreement
from KneeCartilageT2Lib.agreement_io import cartilage_mask, discover_scans
from KneeCartilageT2Lib.cartilage_shell import DEFAULT_T2_MS, ShellSpec, build_shell
from KneeCartilageT2Lib.cli import main
from KneeCartilageT2Lib.csv_tables import read_csv
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.geometry import Volume
from KneeCartilageT2Lib.volume_io import write_volume

SCANS = ("s1", "s2", "s3")


def shell(scan_index):
    offsets = {name: value + 1.5 * scan_index + 0.3 * (number % 5)
               for number, (name, value) in enumerate(sorted(DEFAULT_T2_MS.items()))}
    spec = ShellSpec(spacing_mm=(0.8, 0.8, 2.0), lateral_range_mm=(-26.0, 26.0), notch_range_mm=(-5.0, 5.0),
                     region_t2_ms=offsets)
    mask, t2, _ = build_shell(spec, "right")
    return mask, t2


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("agreement")
    truth = {}
    for index, scan in enumerate(SCANS):
        mask, t2 = shell(index)
        truth[scan] = mask
        folder = root / "reader1" / scan
        folder.mkdir(parents=True)
        write_volume(mask, folder / "label.nrrd")
        write_volume(t2, folder / "t2.nrrd")
        (folder / "provenance.json").write_text(json.dumps({"laterality": "right"}))
        shifted = np.roll(mask.array, 1, axis=2) * 255  # one column (0.8 mm) off, stored as 0/255
        (root / "model").mkdir(exist_ok=True)
        write_volume(Volume(shifted.astype(np.uint8), mask.ijk_to_ras), root / "model" / ("%s.nrrd" % scan))
        poor = mask.array.copy()
        poor[::2] = 0  # misses every second slice
        write_volume(mask.with_array(poor), root / "reader2" / scan / "label.nrrd")
    (root / "pairs.csv").write_text("baseline,followup\ns1,s2\ns2,s3\n")
    out = root / "out"
    status = main(["agreement", str(root / "reader1"), str(root / "model"), str(root / "reader2"), "-o", str(out),
                   "--pairs", str(root / "pairs.csv"), "--no-plots"])
    return root, out, truth, status


def test_segmentation_table_matches_direct_computation(study):
    root, out, truth, status = study
    assert status == 0
    rows = read_csv(out / "segmentation_agreement.csv")
    assert [(r["compared"], r["scan_id"]) for r in rows] == [(s, scan) for s in ("model", "reader2") for scan in SCANS]
    mask = truth["s1"].array > 0
    direct = segmentation_agreement(mask, np.roll(mask, 1, axis=2), (2.0, 0.8, 0.8))
    model_s1 = rows[0]
    assert float(model_s1["dice"]) == pytest.approx(direct.dice, abs=1e-4)
    assert 0 < float(model_s1["hausdorff_mm"]) <= 0.8 + 1e-6  # a shift by s moves every surface point by s
    assert float(model_s1["hausdorff95_mm"]) == pytest.approx(direct.hausdorff95_mm, abs=1e-4)
    reader2_s1 = rows[3]
    assert float(reader2_s1["dice"]) < float(model_s1["dice"])
    summary = read_csv(out / "segmentation_summary.csv")
    assert [row["compared"] for row in summary] == ["model", "reader2"]


def test_regional_t2_agreement_tables_and_plots(study):
    _, out, _, _ = study
    rows = read_csv(out / "region_t2_agreement.csv")
    assert len(rows) == 2 * 27
    model_all = next(r for r in rows if r["compared"] == "model" and r["region"] == "all")
    assert int(model_all["n"]) == 3
    assert float(model_all["spearman_rho"]) == pytest.approx(1.0)  # scans differ by 1.5 ms steps
    assert float(model_all["mae_ms"]) < 1.0 and float(model_all["rms_cv_percent"]) < 2.0
    assert not list(out.glob("*.png"))  # --no-plots
    values = read_csv(out / "region_t2_values.csv")
    assert {row["set"] for row in values} == {"reader1", "model", "reader2"}


def test_change_agreement_from_visit_pairs(study):
    _, out, _, _ = study
    rows = read_csv(out / "region_change_agreement.csv")
    model_all = next(r for r in rows if r["compared"] == "model" and r["region"] == "all")
    assert int(model_all["n"]) == 2 and model_all["rms_cv_percent"] == ""
    assert float(model_all["mean_a_ms"]) == pytest.approx(1.5, abs=0.3)  # each visit 1.5 ms higher


def test_staple_ranks_the_poor_reader_last(study):
    _, out, truth, _ = study
    summary = {row["rater"]: row for row in read_csv(out / "staple_summary.csv")}
    assert float(summary["reader2"]["dice_mean"]) < float(summary["model"]["dice_mean"])
    assert float(summary["reader2"]["sensitivity_mean"]) == min(float(r["sensitivity_mean"]) for r in summary.values())
    assert (out / "staple" / "s1.nrrd").is_file()


def test_bland_altman_grid_is_written(tmp_path):
    from KneeCartilageT2Lib.agreement_plots import write_bland_altman_grid

    panels = {"all": (np.array([40.0, 42.0, 45.0]), np.array([41.0, 42.5, 44.0])), "D": (np.array([]), np.array([]))}
    path = write_bland_altman_grid(tmp_path / "ba.png", panels, ["all", "D", "missing"], "ms", "test")
    assert path.stat().st_size > 5000 and path.read_bytes()[:4] == b"\x89PNG"


def test_layout_errors_are_explained(tmp_path):
    with pytest.raises(InputError, match="No segmentations found"):
        discover_scans(tmp_path)
    labels = Volume(np.array([[[0, 2, 3]]], dtype=np.uint8))
    with pytest.raises(InputError, match="--label-value"):
        cartilage_mask(labels)
    assert cartilage_mask(labels, 3).sum() == 1
    assert main(["agreement", str(tmp_path), "-o", str(tmp_path / "o")]) == 2


def test_a_probability_map_saved_as_a_sets_t2_map_is_refused(tmp_path, capsys):
    """A set's t2.nrrd that holds probabilities gave regional "T2" of 0-1 ms, compared as if it were T2."""
    mask, _ = shell(0)
    for name in ("reader1", "model"):
        write_volume(mask, tmp_path / name / "s1" / "label.nrrd")
    write_volume(mask.with_array((np.asarray(mask.array) * 0.97).astype(np.float32)),
                 tmp_path / "reader1" / "s1" / "t2.nrrd")
    assert main(["agreement", str(tmp_path / "reader1"), str(tmp_path / "model"), "-o", str(tmp_path / "out"),
                 "--no-plots"]) == 2
    assert "t2.nrrd holds values of at most 1 (largest 0.97): it is a probability map" in capsys.readouterr().err


def test_one_scan_says_which_statistics_need_more_scans_instead_of_nan(study, tmp_path, capsys):
    """With one scan the console printed "Dice 0.9 +/- nan" and "Spearman nan", and the tables held empty cells
    without a word why."""
    import shutil

    root = study[0]
    shutil.copytree(root / "reader1" / "s1", tmp_path / "reader1" / "s1")
    (tmp_path / "model").mkdir()
    shutil.copy(root / "model" / "s1.nrrd", tmp_path / "model" / "s1.nrrd")
    capsys.readouterr()
    assert main(["agreement", str(tmp_path / "reader1"), str(tmp_path / "model"), "-o", str(tmp_path / "out"),
                 "--no-plots"]) == 0
    printed = capsys.readouterr().out
    assert "nan" not in printed.lower()
    assert "+/- n/a (1 scan)" in printed and "Spearman n/a (1 scan)" in printed and "(1 scan)\n" in printed
    summary = json.loads((tmp_path / "out" / "agreement.json").read_text())
    [segmentation] = summary["segmentation"]
    assert segmentation["dice_sd"] is None and 0.5 < segmentation["dice_mean"] < 1  # numbers or null, never text
    [plate] = [entry for entry in summary["regional_t2"] if entry["region"] == "all"]
    assert plate["n"] == 1 and plate["spearman_rho"] is None and plate["loa_lower_ms"] is None
    assert isinstance(plate["mae_ms"], float)
    notes = [note for note in summary["notes"] if "1 scan compared" in note]
    assert len(notes) == 2 and "Spearman" not in notes[0] and "SDs and limits of agreement" in notes[0]
    assert "Spearman's rho (it needs 3)" in notes[1] and "null in agreement.json" in notes[1]
    assert "note: " + notes[1] in printed
