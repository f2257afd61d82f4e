"""The change warns when its two visits do not line up like one knee (:mod:`pair_similarity`): in the result's
warnings (Slicer's change status), change.json, the change report, the console and a batch pair's messages.

One pair of each kind on the small synthetic knee (:mod:`phantom_synthetic`, well under a second each): the
same phantom knee with new noise (``noise_seed``) moved in the scanner, and a knee 25 % larger in-plane."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from KneeCartilageT2Lib.cli import main
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.longitudinal import ChangeOptions, VisitData, compute_change
from KneeCartilageT2Lib.pair_similarity import check_same_knee
from KneeCartilageT2Lib.phantom import PhantomOptions, simulate_phantom
from KneeCartilageT2Lib.phantom_anatomy import build_anatomy
from KneeCartilageT2Lib.phantom_synthetic import TINY_PROTOCOL, synthetic_knee_labels
from KneeCartilageT2Lib.t2_fitting import fit_exam
from KneeCartilageT2Lib.volume_io import write_volume

WARNING = "Check that both visits show the same knee"


def _motion():
    angle = np.radians(3.0)
    motion = np.eye(4)
    motion[1:3, 1:3] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    motion[:3, 3] = (1.5, -1.0, 2.0)
    return motion


def _visit(anatomy, noise_seed, moved=False):
    phantom = simulate_phantom(anatomy, PhantomOptions(protocol=TINY_PROTOCOL, seed=3, noise_seed=noise_seed))
    exam = phantom.exam
    if moved:
        exam.ijk_to_ras = _motion() @ exam.ijk_to_ras
    fit = fit_exam(exam, method="mono", mask=ndimage.binary_dilation(phantom.label > 0))
    t2 = exam.volume_like(np.where(fit.valid, fit.t2_ms, 0.0).astype(np.float32))
    return VisitData(exam.volume_like(phantom.label), t2, exam.echo_volume(exam.echo_index_nearest(20.0)), "right",
                     "user", source="phantom")


@pytest.fixture(scope="module")
def visits():
    knee = build_anatomy(synthetic_knee_labels(), "synthetic")
    larger = build_anatomy(synthetic_knee_labels(spacing_kji=(1.0, 1.25, 1.25)), "larger")
    return _visit(knee, 1), _visit(knee, 2, moved=True), _visit(larger, 2, moved=True)


def test_the_same_knee_passes_and_another_knee_is_warned_about_first(visits):
    baseline, retest, other = visits
    same = compute_change(baseline, retest)
    assert same.same_knee.looks_same and same.same_knee.correlation > 0.9 and same.same_knee.cartilage_dice > 0.8
    assert not any(WARNING in text for text in same.warnings)
    different = compute_change(baseline, other)
    check = different.same_knee
    assert not check.looks_same and check.correlation < 0.7 and check.cartilage_dice < 0.5
    assert different.warnings[0].startswith(WARNING)  # first: Slicer's change status shows the warnings in order
    assert "image correlation %.2f" % check.correlation in different.warnings[0]
    assert "cartilage overlap (Dice) %.2f" % check.cartilage_dice in different.warnings[0]
    assert not any(text.startswith("Registration looks poor") for text in different.warnings)  # said once
    # the thresholds are parameters: lowered below the pair's figures, no warning
    lenient = compute_change(baseline, other, ChangeOptions(min_same_knee_correlation=check.correlation - 0.01,
                                                            min_same_knee_dice=0.0))
    assert lenient.same_knee.looks_same and not any(WARNING in text for text in lenient.warnings)
    assert compute_change(baseline, other, ChangeOptions(register=False)).same_knee is None


def test_thresholds_outside_their_range_are_refused():
    with pytest.raises(InputError, match="min_cartilage_dice must be in"):
        check_same_knee(None, 0.7, 1.5)


def _folder(folder, visit):
    folder.mkdir()
    write_volume(visit.label, folder / "label.nrrd")
    write_volume(visit.t2, folder / "t2.nrrd")
    write_volume(visit.anatomy, folder / "anatomy.nrrd")
    (folder / "provenance.json").write_text(json.dumps({"laterality": "right"}))
    return folder


def test_the_warning_reaches_change_json_the_report_the_console_and_a_batch_pair(visits, tmp_path, capsys):
    from KneeCartilageT2Lib.batch_tasks import longitudinal_change

    baseline, retest, other = visits
    folders = {name: _folder(tmp_path / name, visit) for name, visit in
               (("v0", baseline), ("same", retest), ("other", other))}
    out = tmp_path / "out"
    assert main(["change", str(folders["v0"]), str(folders["other"]), "-o", str(out)]) == 0
    console = capsys.readouterr().out
    assert "WARNING: " + WARNING in console and "may be different knees: see the WARNING above" in console
    summary = json.loads((out / "change.json").read_text())
    assert summary["same_knee"]["looks_like_same_knee"] is False and summary["warnings"][0].startswith(WARNING)
    assert summary["same_knee"]["min_correlation"] == 0.7 and summary["options"]["min_same_knee_dice"] == 0.5
    page = (out / "change_report.html").read_text(encoding="utf-8")
    assert "CHECK: the visits do not line up like one knee" in page
    assert '<li class="check">' + WARNING in page  # the notes asking for a check are red

    assert main(["change", str(folders["v0"]), str(folders["same"]), "-o", str(tmp_path / "same_out")]) == 0
    assert WARNING not in capsys.readouterr().out
    page = (tmp_path / "same_out" / "change_report.html").read_text(encoding="utf-8")
    assert "the visits line up like one knee" in page

    assert main(["change", str(folders["v0"]), str(folders["other"]), "-o", str(tmp_path / "lenient"),
                 "--same-knee-correlation", "0", "--same-knee-dice", "0"]) == 0
    assert WARNING not in capsys.readouterr().out
    assert main(["change", str(folders["v0"]), str(folders["other"]), "-o", str(tmp_path / "bad"),
                 "--same-knee-dice", "2"]) == 2
    assert "min_cartilage_dice must be in [0, 1], got 2" in capsys.readouterr().err

    pair = longitudinal_change(folders["v0"], folders["other"], tmp_path / "pair", {})
    assert pair["status"] == "ok" and pair["messages"][0].startswith(WARNING)  # the batch's status notes
