"""Warnings of `knee-t2 export` for a label that may not belong to the exam: an --original analysed from
other images, and an approved label that shares too little with the model's original."""

from __future__ import annotations

import json

import numpy as np
import pytest

from KneeCartilageT2Lib.export_checks import LOW_EDIT_DICE, edit_agreement_warnings

pytest.importorskip("SimpleITK")


def _exam_files(tmp_path):
    """echoes.nrrd + echoes.json of a small random exam, and that exam as the loader reads it."""
    import SimpleITK as sitk

    from KneeCartilageT2Lib.exam_loader import load_exam

    rng = np.random.default_rng(3)
    echoes = (rng.random((3, 4, 12, 10)) * 100).astype(np.float32)
    image = sitk.JoinSeries([sitk.GetImageFromArray(echo) for echo in echoes])
    sitk.WriteImage(image, str(tmp_path / "echoes.nrrd"))
    (tmp_path / "echoes.json").write_text(json.dumps({"EchoTimes": [10.0, 20.0, 30.0]}))
    return load_exam(tmp_path / "echoes.nrrd")


def _export(tmp_path, exam, approved, recorded_sha256, capsys):
    from KneeCartilageT2Lib.cli import main
    from KneeCartilageT2Lib.volume_io import write_volume

    model_label = np.zeros(exam.volume_shape, np.uint8)
    model_label[:, 2:8, 2:6] = 1
    analysis = tmp_path / "analysis"
    write_volume(exam.volume_like(model_label), analysis / "label.nrrd")
    provenance = {"segmentation": {"model_name": "m", "model_version": "1"}}
    if recorded_sha256 is not None:
        provenance["source_sha256"] = recorded_sha256
    (analysis / "provenance.json").write_text(json.dumps(provenance))
    write_volume(exam.volume_like(approved(model_label)), tmp_path / "approved.nrrd")
    capsys.readouterr()
    code = main(["export", str(tmp_path / "echoes.nrrd"), "--segmentation", str(tmp_path / "approved.nrrd"),
                 "--dataset", str(tmp_path / "ds"), "--original", str(analysis)])
    assert code == 0  # warned, still exported
    return capsys.readouterr().err


def _trimmed(label):
    approved = label.copy()
    approved[:, 2, :] = 0  # a reader's correction: one row removed
    return approved


def _shifted(label):
    return np.roll(label, 5, axis=1)  # the same shape drawn 5 rows off: 1 of its 6 rows overlaps (Dice 1/6)


def test_an_original_analysed_from_the_same_images_gives_no_warning(tmp_path, capsys):
    from KneeCartilageT2Lib.result_privacy import exam_fingerprint

    exam = _exam_files(tmp_path)
    assert "warning" not in _export(tmp_path, exam, _trimmed, exam_fingerprint(exam), capsys)


def test_an_original_analysed_from_other_images_is_named(tmp_path, capsys):
    exam = _exam_files(tmp_path)
    err = _export(tmp_path, exam, _trimmed, "0" * 64, capsys)
    assert "was analysed from other images than this exam" in err


def test_an_approved_label_sharing_too_little_with_the_original_is_named(tmp_path, capsys):
    exam = _exam_files(tmp_path)
    err = _export(tmp_path, exam, _shifted, None, capsys)
    assert "overlaps the model's original by Dice 0.17 only (80 voxels added, 80 removed)" in err


def test_the_agreement_rule_stops_at_its_threshold():
    assert edit_agreement_warnings(LOW_EDIT_DICE, 10, 10) == []
    assert edit_agreement_warnings(0.87, 100, 200) == []
    assert len(edit_agreement_warnings(LOW_EDIT_DICE - 0.01, 10, 10)) == 1


@pytest.mark.parametrize("provenance", [{"segmentation": "unet"}, ["not", "a", "record"]])
def test_an_original_whose_provenance_is_no_record_is_refused_by_name(tmp_path, capsys, provenance):
    """A hand-edited or foreign provenance.json (its "segmentation" text, or the file a list) stopped the export
    with a Python traceback (AttributeError); it is refused with the message naming the file and what to give."""
    from KneeCartilageT2Lib.cli import main
    from KneeCartilageT2Lib.volume_io import write_volume

    exam = _exam_files(tmp_path)
    label = exam.volume_like(np.ones(exam.volume_shape, np.uint8))
    write_volume(label, tmp_path / "analysis" / "label.nrrd")
    write_volume(label, tmp_path / "approved.nrrd")
    (tmp_path / "analysis" / "provenance.json").write_text(json.dumps(provenance))
    capsys.readouterr()
    code = main(["export", str(tmp_path / "echoes.nrrd"), "--segmentation", str(tmp_path / "approved.nrrd"),
                 "--dataset", str(tmp_path / "ds"), "--original", str(tmp_path / "analysis")])
    assert code != 0
    assert "is not a knee-t2 provenance file" in capsys.readouterr().err


def test_an_image_hash_that_is_no_text_is_not_compared(tmp_path, capsys):
    """A ``source_sha256`` that is not text (a foreign file) is no hash to compare: no false warning, no crash."""
    exam = _exam_files(tmp_path)
    assert "other images" not in _export(tmp_path, exam, _trimmed, 12345, capsys)
