"""The same option means the same thing in every command: ``--device`` and ``--t2-range``.

Before, ``batch --device`` and ``demo --device`` took only auto/cpu/cuda while ``analyse``, ``segment``
and ``change`` took cuda:N and mps too; and ``--t2-range -5,100`` was taken by argparse for an option
("expected one argument") instead of reaching the range's own message.
"""

from __future__ import annotations

import pytest

from KneeCartilageT2Lib import cli

RANGE_COMMANDS = (["analyse", "exam", "-o", "out"], ["t2map", "exam", "-o", "t2.nrrd"],
                  ["segment", "exam", "-o", "seg.nrrd"], ["batch", "m.csv", "-o", "out"],
                  ["change", "a", "b", "-o", "out"])
DEVICE_COMMANDS = (["analyse", "exam", "-o", "out"], ["segment", "exam", "-o", "seg.nrrd"],
                   ["change", "a", "b", "-o", "out"], ["batch", "m.csv", "-o", "out"], ["demo"],
                   ["next-case", "folder"])


@pytest.mark.parametrize("device", ["cuda:1", "mps", "cpu", "auto", "cuda"])
def test_every_command_that_runs_the_network_takes_the_same_devices(device):
    for command in DEVICE_COMMANDS:
        assert cli.build_parser().parse_args(command + ["--device", device]).device == device, command


@pytest.fixture
def manifest(tmp_path):
    from KneeCartilageT2Lib.batch_synthetic import write_synthetic_exam

    write_synthetic_exam(tmp_path / "a.nrrd", 35.0, shape=(3, 32, 32), seed=1)
    (tmp_path / "m.csv").write_text("subject,visit,side,input\nS1,base,right,a.nrrd\n")
    return tmp_path / "m.csv"


def test_batch_hands_a_gpu_number_to_its_workers_and_refuses_an_unknown_device_first(manifest, tmp_path,
                                                                                       monkeypatch, capsys):
    from KneeCartilageT2Lib import batch

    handed = {}

    def capture(jobs, out_dir, settings=None, **kwargs):
        handed["device"] = settings.task_options()["device"]
        raise KeyboardInterrupt  # nothing to run: the device handed on is what this test is about

    monkeypatch.setattr(batch, "run_batch", capture)
    assert cli.main(["batch", str(manifest), "-o", str(tmp_path / "out"), "--device", "CUDA:1"]) == 130
    assert handed["device"] == "cuda:1"
    handed.clear()
    assert cli.main(["batch", str(manifest), "-o", str(tmp_path / "out"), "--device", "gpu"]) == 2
    error = capsys.readouterr().err
    assert "Unknown device 'gpu'" in error and "cuda:N" in error
    assert handed == {}  # refused before any scan was handed to a worker


def test_demo_refuses_an_unknown_device_before_fetching_the_exam(tmp_path, monkeypatch, capsys):
    from KneeCartilageT2Lib.commands import demo

    def never(*args, **kwargs):
        raise AssertionError("the exam was fetched before the device was checked")

    monkeypatch.setattr(demo, "default_exam", never)
    assert cli.main(["demo", "-o", str(tmp_path / "out"), "--device", "cuda:x"]) == 2
    assert "Unknown device 'cuda:x'" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["-5,100", "-0.5;100", "-inf,100"])
def test_a_negative_t2_range_low_gets_the_ranges_own_message_in_every_command(bad, capsys):
    for command in RANGE_COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            cli.build_parser().parse_args(command + ["--t2-range", bad])
        assert exit_info.value.code == 2
        error = capsys.readouterr().err
        assert "T2 range must satisfy 0 <= LOW < HIGH" in error and "expected one argument" not in error, command


def test_a_t2_range_given_as_a_separate_word_still_parses_and_other_words_are_left_alone():
    args = cli.build_parser().parse_args(["change", "a", "b", "-o", "out", "--t2-range", "5,150", "--device", "cpu"])
    assert (args.t2_range, args.device) == ((5.0, 150.0), "cpu")
    from KneeCartilageT2Lib.commands._analysis_options import attach_t2_range_values

    assert attach_t2_range_values(["x", "--", "--t2-range", "-5,1"]) == ["x", "--", "--t2-range", "-5,1"]
    assert attach_t2_range_values(["--t2-range", "--device", "cpu"]) == ["--t2-range", "--device", "cpu"]


def test_change_refuses_a_report_folder_inside_an_exam_folder_as_analyse_does(tmp_path, capsys):
    """The report's volumes and visit folders would become files of the exam folder, named as files not used
    each time the exam is read again."""
    exams = {name: tmp_path / name for name in ("v0", "v1")}
    for folder in exams.values():
        folder.mkdir()
        (folder / "IM0001.dcm").write_bytes(b"not read: the output is refused first")
    for name, inside in (("baseline", exams["v0"] / "change"), ("followup", exams["v1"])):
        assert cli.main(["change", str(exams["v0"]), str(exams["v1"]), "-o", str(inside)]) == 2
        error = capsys.readouterr().err
        assert "is inside the %s exam folder" % name in error and "give a result folder outside it" in error
    assert sorted(path.name for path in exams["v0"].iterdir()) == ["IM0001.dcm"]


def test_batch_refuses_an_output_inside_an_exam_folder_of_the_manifest(tmp_path, monkeypatch, capsys):
    from KneeCartilageT2Lib import batch
    from KneeCartilageT2Lib.batch_synthetic import write_synthetic_exam

    def never(*args, **kwargs):
        raise AssertionError("the batch ran with its output inside an exam folder")

    monkeypatch.setattr(batch, "run_batch", never)
    write_synthetic_exam(tmp_path / "a.nrrd", 35.0, shape=(3, 32, 32), seed=1)
    (tmp_path / "dicom_b").mkdir()
    (tmp_path / "dicom_b" / "IM0001.dcm").write_bytes(b"not read")
    (tmp_path / "m.csv").write_text("subject,visit,input\nS1,base,a.nrrd\nS1,follow,dicom_b\n")
    assert cli.main(["batch", str(tmp_path / "m.csv"), "-o", str(tmp_path / "dicom_b" / "results")]) == 2
    error = capsys.readouterr().err
    assert "inside the exam folder of manifest row 2 (S1, follow)" in error and "outside it" in error
    assert not (tmp_path / "dicom_b" / "results").exists()


def test_an_abbreviated_t2_range_option_with_a_negative_low_gets_the_ranges_own_message(capsys):
    """argparse accepts ``--t2-r`` for ``--t2-range``; the value after it was still taken for an option."""
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["analyse", "exam", "-o", "out", "--t2-r", "-5,100"])
    error = capsys.readouterr().err
    assert "T2 range must satisfy 0 <= LOW < HIGH" in error and "expected one argument" not in error
    assert cli.build_parser().parse_args(["analyse", "exam", "-o", "out", "--t2-ran", "5,90"]).t2_range == (5.0, 90.0)
    from KneeCartilageT2Lib.commands._analysis_options import attach_t2_range_values

    assert attach_t2_range_values(["--t2-", "-5,1"]) == ["--t2-", "-5,1"]  # also --t2-method's: argparse says so


def test_next_case_refuses_an_unknown_device_also_where_saved_maps_need_no_network(tmp_path, capsys):
    """On a folder of analyses no network runs, so a mistyped --device was accepted without a word."""
    (tmp_path / "empty").mkdir()
    assert cli.main(["next-case", str(tmp_path / "empty"), "--kind", "analyses", "--device", "gpu"]) == 2
    assert "Unknown device 'gpu'" in capsys.readouterr().err
    assert cli.build_parser().parse_args(["next-case", "f", "--device", "CUDA:1"]).device == "CUDA:1"


def _option_help(command, option):
    parser = cli.build_parser()
    sub = next(action for action in parser._actions if hasattr(action, "choices") and isinstance(action.choices, dict))
    return next(action.help for action in sub.choices[command]._actions if option in action.option_strings)


@pytest.mark.parametrize("command", ["analyse", "segment", "t2map", "regions", "export"])
def test_laterality_help_says_that_the_given_side_wins_over_the_datas(command):
    """It said "knee side, when the data does not say it", but a given right/left replaces the DICOM tag."""
    text = _option_help(command, "--laterality")
    assert "wins over the data's" in text and "when the data does not say it" not in text
    assert ("unknown keeps the data's" in text) == (command == "analyse")  # as analyse applies it


def test_t2map_and_regions_take_the_option_names_the_analysing_commands_use():
    """``--t2-method`` and ``--region-mode`` (analyse, batch, change) were refused by t2map and regions."""
    parser = cli.build_parser()
    assert parser.parse_args(["t2map", "exam", "-o", "t2.nrrd", "--t2-method", "loglinear"]).method == "loglinear"
    assert parser.parse_args(["t2map", "exam", "-o", "t2.nrrd", "--method", "noise-floor"]).method == "noise-floor"
    regions = ["regions", "exam", "--segmentation", "s.nrrd", "--t2", "t2.nrrd", "-o", "out"]
    assert parser.parse_args(regions + ["--region-mode", "reference"]).mode == "reference"
    assert parser.parse_args(regions + ["--mode", "reference"]).mode == "reference"


@pytest.mark.parametrize("command", ["analyse", "segment", "batch", "change"])
def test_every_command_that_segments_says_the_range_also_decides_the_label(command):
    assert "leaves it out of the cartilage label" in _option_help(command, "--t2-range")




def _readme_rows():
    """``{command: the code span of its row}`` of the README's commands table."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    return {match.group(1): match.group(0) for match in re.finditer(r"^\| `knee-t2 ([a-z0-9-]+)[^`]*`", text, re.M)}


def _option_strings(parser):
    """Every option of a command, those of its own sub-commands included (``models import --name``)."""
    import argparse

    found = set()
    for action in parser._actions:
        found.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _option_strings(sub)
    return found


def test_the_readme_commands_table_has_a_row_for_every_command_naming_only_its_options():
    """next-case and finetune had no row; a row naming an option its command does not take sends users to a
    usage error."""
    import re

    parser = cli.build_parser()
    commands = next(action for action in parser._actions if hasattr(action, "choices")
                    and isinstance(action.choices, dict)).choices
    rows = _readme_rows()
    assert sorted(set(commands) - {"analyze"} - set(rows)) == []
    for name, row in rows.items():
        unknown = set(re.findall(r"--[a-z0-9][a-z0-9-]*", row)) - _option_strings(commands[name])
        assert not unknown, "%s: %s" % (name, sorted(unknown))


def test_change_refuses_an_unknown_device_or_model_before_reading_a_visit(tmp_path, monkeypatch, capsys):
    """analyse, batch and demo check --device (and analyse --model) first; change read and fitted the baseline
    exam, minutes of work, before the network said the device or model was unknown."""
    from KneeCartilageT2Lib.commands import change

    def never(*args, **kwargs):
        raise AssertionError("a visit was read before the device and model were checked")

    monkeypatch.setattr(change, "load_visit", never)
    visits = [str(tmp_path / "v0.nrrd"), str(tmp_path / "v1.nrrd")]
    assert cli.main(["change"] + visits + ["-o", str(tmp_path / "out"), "--device", "gpu"]) == 2
    assert "Unknown device 'gpu'" in capsys.readouterr().err
    assert cli.main(["change"] + visits + ["-o", str(tmp_path / "out"), "--device", "cpu", "--model", "nosuch"]) == 2
    assert "No model or weights file named 'nosuch'" in capsys.readouterr().err
    segmented = ["--baseline-seg", "s0.nrrd", "--followup-seg", "s1.nrrd"]  # no network: the model is not needed
    with pytest.raises(AssertionError, match="a visit was read"):
        cli.main(["change"] + visits + ["-o", str(tmp_path / "out"), "--model", "nosuch"] + segmented)


def test_segment_refuses_an_unknown_device_before_reading_the_exam(tmp_path, monkeypatch, capsys):
    """segment read the exam and loaded the model before the network said the device was unknown."""
    from KneeCartilageT2Lib.commands import segment

    def never(*args, **kwargs):
        raise AssertionError("the exam was read before the device was checked")

    monkeypatch.setattr(segment, "load_exam_from_args", never)
    assert cli.main(["segment", str(tmp_path / "exam.nrrd"), "-o", str(tmp_path / "seg.nrrd"), "--device", "gpu"]) == 2
    assert "Unknown device 'gpu'" in capsys.readouterr().err


def test_segment_refuses_an_unknown_model_before_reading_the_exam(tmp_path, monkeypatch, capsys):
    """segment read the exam (and checked its echoes) before loading the model said the name was unknown."""
    from KneeCartilageT2Lib.commands import segment

    def never(*args, **kwargs):
        raise AssertionError("the exam was read before the model was checked")

    monkeypatch.setattr(segment, "load_exam_from_args", never)
    assert cli.main(["segment", str(tmp_path / "exam.nrrd"), "-o", str(tmp_path / "seg.nrrd"), "--device", "cpu",
                     "--model", "nosuch"]) == 2
    assert "No model or weights file named 'nosuch'" in capsys.readouterr().err


def test_every_unknown_device_gets_the_same_message():
    """The name check (cuda:x) and the device choice (gpu) worded the choices differently."""
    pytest.importorskip("torch")
    from KneeCartilageT2Lib.devices import cuda_index, select_device
    from KneeCartilageT2Lib.errors import InputError

    messages = []
    for call, name in ((cuda_index, "cuda:x"), (select_device, "gpu")):
        with pytest.raises(InputError) as raised:
            call(name)
        messages.append(str(raised.value).replace(repr(name), "NAME"))
    assert messages[0] == messages[1] and "cuda:N (N a GPU number)" in messages[0]


@pytest.mark.parametrize("command", ["analyse", "segment", "change", "batch", "next-case"])
def test_every_command_that_runs_the_network_words_model_alike(command):
    """batch --model said "model name or weights file" (metavar MODEL), next-case "name, NAME@VERSION or path";
    the others NAME|PATH with the registry's words."""
    parser = cli.build_parser()
    sub = next(action for action in parser._actions if hasattr(action, "choices") and isinstance(action.choices, dict))
    [model] = [action for action in sub.choices[command]._actions if "--model" in action.option_strings]
    assert model.metavar == "NAME|PATH"
    assert "registry model name, imported model name (NAME for its newest version, NAME@VERSION for one)" in model.help
    assert "knee-t2 models list" in model.help


def test_every_lesion_option_of_change_has_help_for_users():
    """--lesion-connectivity had no help, and the group pointed to the internal name lesions.LesionParameters."""
    parser = cli.build_parser()
    sub = next(action for action in parser._actions if hasattr(action, "choices") and isinstance(action.choices, dict))
    change = sub.choices["change"]
    options = [action for action in change._actions if any(name.startswith("--lesion") for name in action.option_strings)]
    assert len(options) >= 14
    for action in options:
        assert action.help and len(action.help) > 40, action.option_strings
        assert action.nargs == 0 or action.metavar or action.choices, action.option_strings  # no LESION_... names
    text = change.format_help()
    assert "LesionParameters" not in text
