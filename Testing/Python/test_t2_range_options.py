"""``--t2-range`` (and ``--t2-method``) reach the analysis in every command that segments or analyses an exam.

Before, only ``t2map`` took a T2 range: ``segment`` always removed voxels outside the model's
(0, 100] ms, ``change`` analysed exam inputs with that range whatever the user chose elsewhere, and
``batch`` had no T2 method, range or region mode at all (the region mode of its resume record was
never handed to the scans).
"""

from __future__ import annotations

import re

import pytest

from KneeCartilageT2Lib import cli
from KneeCartilageT2Lib.errors import InputError


def _removed_by_t2_rule(printed: str):
    match = re.search(r"T2 rule: removed (\d+) voxels with T2 outside \(([\d.]+), ([\d.]+)\] ms", printed)
    assert match, printed
    return int(match.group(1)), (float(match.group(2)), float(match.group(3)))


def test_segment_fits_and_applies_its_t2_rule_with_the_given_range(shell_echo_file, certain_model, tmp_path, capsys):
    from KneeCartilageT2Lib.volume_io import read_volume

    common = [str(shell_echo_file), "--model", str(certain_model), "--device", "cpu"]
    assert cli.main(["segment"] + common + ["-o", str(tmp_path / "model_range.nrrd")]) == 0
    removed_default, range_default = _removed_by_t2_rule(capsys.readouterr().out)
    assert cli.main(["segment"] + common + ["-o", str(tmp_path / "wide.nrrd"), "--t2-range", "0,150"]) == 0
    removed_wide, range_wide = _removed_by_t2_rule(capsys.readouterr().out)
    assert (range_default, range_wide) == ((0.0, 100.0), (0.0, 150.0))
    kept_default = int(read_volume(tmp_path / "model_range.nrrd").array.sum())
    kept_wide = int(read_volume(tmp_path / "wide.nrrd").array.sum())
    assert removed_wide < removed_default and kept_wide > kept_default  # the fit kept T2 over 100 ms valid too


def test_segment_refuses_a_range_for_a_rule_it_is_told_to_skip(shell_echo_file, tmp_path, capsys):
    assert cli.main(["segment", str(shell_echo_file), "-o", str(tmp_path / "seg.nrrd"), "--no-t2-rule",
                     "--t2-range", "0,150"]) == 2
    assert "--no-t2-rule" in capsys.readouterr().err and not (tmp_path / "seg.nrrd").exists()


def test_change_analyses_exam_inputs_with_the_chosen_t2_options(shell_echo_file, tmp_path, monkeypatch, capsys):
    from KneeCartilageT2Lib import longitudinal_io

    chosen = []

    def capture(exam, label, options, *args):
        chosen.append(options)
        raise InputError("stopped after the options were chosen")

    monkeypatch.setattr(longitudinal_io, "analyse_visit_exam", capture)
    assert cli.main(["change", str(shell_echo_file), str(shell_echo_file), "-o", str(tmp_path / "change"),
                     "--t2-range", "0,150", "--t2-method", "loglinear", "--region-mode", "reference"]) == 2
    assert "stopped after the options were chosen" in capsys.readouterr().err
    options = chosen[0].as_dict()
    assert (options["t2_range_ms"], options["t2_method"], options["region_mode"]) == \
        ([0.0, 150.0], "loglinear", "reference")
    with pytest.raises(SystemExit):  # a method name is checked while parsing, as for t2map
        cli.build_parser().parse_args(["change", "a", "b", "-o", "out", "--t2-method", "biexponential"])
