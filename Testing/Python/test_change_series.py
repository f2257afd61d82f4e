"""``knee-t2 change`` on DICOM study folders holding several multi-echo series: --baseline-series and
--followup-series choose each visit's MESE series (as analyse's --series), and the loader's advice names them."""

from __future__ import annotations

import json

import numpy as np

from KneeCartilageT2Lib.cli import main
from KneeCartilageT2Lib.dicom_writer import write_dicom_series
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.volume_io import write_volume

import test_longitudinal_change
from test_longitudinal_change import _exam_from

knee_pair = test_longitudinal_change.knee_pair  # the moved shell knee pair (a module fixture)


def _study(folder, exam, mese_number):
    """A study folder: the visit's MESE as series ``mese_number`` beside a dual-echo PD/T2 series 7."""
    write_dicom_series(exam, folder / "mese", series_number=mese_number, series_description="MESE T2")
    dual = MeseExam(exam.echoes[[1, 6]] * 1.1, np.array([15.0, 90.0]), exam.ijk_to_ras, exam.laterality)
    write_dicom_series(dual, folder / "pdt2", series_number=7, series_description="PD/T2 FSE",
                       repetition_time_ms=3500.0)
    return folder


def test_each_visit_names_its_own_series(knee_pair, tmp_path, capsys):
    baseline, followup, _, _ = knee_pair
    for name, visit, seed, number in (("v0", baseline, 1, 5), ("v1", followup, 2, 9)):
        _study(tmp_path / name, _exam_from(visit, seed), number)
        write_volume(visit.label, tmp_path / ("%s_seg.nrrd" % name))
    common = ["--baseline-seg", str(tmp_path / "v0_seg.nrrd"), "--followup-seg", str(tmp_path / "v1_seg.nrrd"),
              "--no-visit-folders"]
    out = tmp_path / "out"
    assert main(["change", str(tmp_path / "v0"), str(tmp_path / "v1"), "-o", str(out)] + common) == 2
    error = capsys.readouterr().err
    assert "The baseline exam:" in error and "--baseline-series NUMBER" in error and "--series" not in \
        error.replace("--baseline-series", "")
    assert main(["change", str(tmp_path / "v0"), str(tmp_path / "v1"), "-o", str(out), "--baseline-series", "5"]
                + common) == 2
    error = capsys.readouterr().err
    assert "The follow-up exam:" in error and "--followup-series NUMBER" in error
    assert main(["change", str(tmp_path / "v0"), str(tmp_path / "v1"), "-o", str(out), "--baseline-series", "5",
                 "--followup-series", "9"] + common) == 0
    summary = json.loads((out / "change.json").read_text())
    assert abs(summary["delta_t2_all_ms"]) < 3.0  # the MESE of each visit, not the PD/T2 pair
    assert summary["side"]["baseline"]["source"] == "dicom"


def test_a_series_for_an_analysis_folder_or_an_echo_stack_is_refused_by_its_name(knee_pair, tmp_path, capsys):
    from KneeCartilageT2Lib.echo_stack_io import write_echo_stack

    baseline, followup, _, _ = knee_pair
    folder = tmp_path / "v0"
    folder.mkdir()
    write_volume(baseline.label, folder / "label.nrrd")
    write_volume(baseline.t2, folder / "t2.nrrd")
    write_echo_stack(_exam_from(followup, 2), tmp_path / "v1.nrrd")
    out = tmp_path / "out"
    assert main(["change", str(folder), str(tmp_path / "v1.nrrd"), "-o", str(out), "--baseline-series", "5"]) == 2
    assert "--baseline-series cannot be used with an analysis folder" in capsys.readouterr().err
    assert main(["change", str(folder), str(tmp_path / "v1.nrrd"), "-o", str(out), "--followup-series", "5"]) == 2
    assert "--followup-series chooses a series of a DICOM folder; v1.nrrd is a single echo stack" in \
        capsys.readouterr().err
