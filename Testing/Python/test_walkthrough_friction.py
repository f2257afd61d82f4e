"""What a new user met walking through the README with one exam: each fix keeps its finding away.

The walk: analyse -> report.html -> to-dicom -> change -> export -> next-case -> batch, review,
report -> agreement -> inspect. Found there: `next-case` ranking with a candidate threshold of 2
(every case scored 0, the first by name proposed as the least certain) and `--top -1` (silently one
case fewer); two analysis folders given to `agreement`, as the README's command table suggested
(refused because the folder's anatomy.nrrd "holds fractional values"); `report` on a mistyped path
("holds no analysis"); messages naming `demo` but not `analyse` as the source of analysis
folders; reStructuredText marks (``:mod:`X```, double backquotes) in `--help`; `next-case` and
`finetune` missing from the README's command table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from KneeCartilageT2Lib import cli
from KneeCartilageT2Lib.geometry import Volume
from KneeCartilageT2Lib.volume_io import write_volume

README = Path(__file__).resolve().parents[2] / "README.md"


def _one_line_error(capsys, argv) -> str:
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = [line for line in captured.err.splitlines() if line.strip() and not line.startswith("[")]
    assert len(lines) == 1, captured.err
    return lines[0]


def _argparse_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 2
    return capsys.readouterr().err


@pytest.fixture
def analyses(tmp_path):
    """A folder of two analyses with saved network probabilities (as a batch's scans/)."""
    for name, value in (("knee_a", 0.6), ("knee_b", 0.9)):
        probabilities = np.full((3, 8, 8), 0.001, np.float32)
        probabilities[1, 2:6, 2:6] = value
        write_volume(Volume(probabilities), tmp_path / "scans" / name / "probabilities.nrrd")
    return tmp_path / "scans"


@pytest.mark.parametrize("threshold", ["2", "1", "0", "-0.1", "abc"])
def test_next_case_refuses_a_candidate_threshold_that_is_no_probability(analyses, capsys, threshold):
    error = _argparse_error(capsys, ["next-case", str(analyses), "--candidate-threshold", threshold])
    assert "between 0 and 1" in error and repr(threshold) in error


@pytest.mark.parametrize("top", ["0", "-1"])
def test_next_case_refuses_a_count_below_one(analyses, capsys, top):
    error = _argparse_error(capsys, ["next-case", str(analyses), "--top", top])
    assert "1 or more" in error


def test_next_case_still_ranks_with_valid_values(analyses, capsys):
    assert cli.main(["next-case", str(analyses), "--top", "1", "--candidate-threshold", "0.05"]) == 0
    output = capsys.readouterr().out
    assert "Next case to correct: knee_a" in output and "knee_b" not in output.split("Next case")[0].split("rank")[1]


def _analysis_folder(folder: Path) -> Path:
    """The files of an analysis folder that matter here: a label, a fractional image, provenance.json."""
    label = np.zeros((3, 8, 8), np.uint8)
    label[1, 2:6, 2:6] = 1
    write_volume(Volume(label), folder / "label.nrrd")
    write_volume(Volume(np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)), folder / "anatomy.nrrd")
    (folder / "provenance.json").write_text(json.dumps({"tool": "knee-t2"}))
    (folder / "DONE.json").write_text("{}")
    return folder


def test_agreement_names_an_analysis_folder_given_as_a_set(tmp_path, capsys):
    first, second = _analysis_folder(tmp_path / "run1"), _analysis_folder(tmp_path / "run2")
    error = _one_line_error(capsys, ["agreement", str(first), str(second), "-o", str(tmp_path / "out")])
    assert "is one analysis folder, not a set of scans" in error and "A/knee1/ and B/knee1/" in error
    assert not (tmp_path / "out").exists()


def test_agreement_points_a_batch_folder_to_its_scans(tmp_path, capsys):
    batch = tmp_path / "batch"
    _analysis_folder(batch / "scans" / "P1_v0")
    (batch / "status.csv").write_text("id,status\nP1_v0,done\n")
    other = tmp_path / "reader"
    _analysis_folder(other / "P1_v0")
    error = _one_line_error(capsys, ["agreement", str(batch), str(other), "-o", str(tmp_path / "out")])
    assert "is a batch output folder: give its scans/ folder" in error


def test_agreement_still_compares_two_sets_of_analysis_folders(tmp_path, capsys):
    _analysis_folder(tmp_path / "A" / "knee1")
    _analysis_folder(tmp_path / "B" / "knee1")
    assert cli.main(["agreement", str(tmp_path / "A"), str(tmp_path / "B"), "-o", str(tmp_path / "out"),
                     "--no-plots"]) == 0
    rows = (tmp_path / "out" / "segmentation_agreement.csv").read_text().splitlines()
    assert len(rows) == 2 and ",knee1,1.0000," in rows[1]


def test_report_on_a_missing_folder_says_not_found(tmp_path, capsys):
    error = _one_line_error(capsys, ["report", str(tmp_path / "typo")])
    assert "typo not found" in error


@pytest.mark.parametrize("command", [["report"], ["to-dicom", "-o", "OUT", "--source", "SRC"]])
def test_a_folder_without_analysis_names_analyse_as_its_source(tmp_path, capsys, command):
    empty = tmp_path / "exam"
    empty.mkdir()
    argv = [command[0], str(empty)] + [str(tmp_path / part) if part.isupper() else part for part in command[1:]]
    error = _one_line_error(capsys, argv)
    assert re.search(r"analyse\b", error), error


def _commands():
    parser = cli.build_parser()
    subparsers = next(action for action in parser._actions if action.dest == "command")
    return subparsers.choices


def test_help_texts_carry_no_restructuredtext_marks(capsys):
    for name in sorted(set(_commands())):
        with pytest.raises(SystemExit):
            cli.main([name, "--help"])
        text = capsys.readouterr().out
        assert "``" not in text and not re.search(r":(mod|func|class|data):`", text), name


def test_plain_help_keeps_names_in_single_backquotes():
    assert cli.plain_help("See :mod:`KneeCartilageT2Lib.batch_review` and ``knee-t2 batch``.") == \
        "See `KneeCartilageT2Lib.batch_review` and `knee-t2 batch`."
    assert cli.plain_help(None) is None


def test_readme_command_table_lists_every_command():
    table = [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("| `knee-t2 ")]
    listed = {re.match(r"\| `knee-t2 ([a-z0-9-]+)", line).group(1) for line in table}
    aliases = {"analyze"}
    missing = sorted(set(_commands()) - listed - aliases)
    assert not missing, "commands missing from the README's command table: %s" % missing


def test_long_notes_in_the_region_figure_end_inside_it(tmp_path):
    """On the GE exam the side estimate's note ran off the figure, cutting "if it is known."."""
    from PIL import Image

    from KneeCartilageT2Lib.cartilage_shell import ShellSpec, build_shell
    from KneeCartilageT2Lib.region_figure import save_region_figure
    from KneeCartilageT2Lib.regions import analyse_regions

    mask, t2, _ = build_shell(ShellSpec(spacing_mm=(0.5, 0.5, 2.0)), "left", oblique_deg=5.0)
    analysis = analyse_regions(mask, t2, "left")
    long_note = ("The knee side was not in the data and was estimated from the cartilage; " * 6).strip()
    analysis.warnings[:] = [long_note, long_note, long_note + " LAST WORDS."]
    pixels = np.asarray(Image.open(save_region_figure(analysis, tmp_path / "regions.png")).convert("RGB"), float)
    notes_column = pixels[:, pixels.shape[1] // 2:]
    reddish = (notes_column[..., 0] > 100) & (notes_column[..., 0] - notes_column[..., 2] > 60)
    rows_with_notes = np.nonzero(reddish.any(axis=1))[0]
    assert rows_with_notes.size and rows_with_notes[-1] < pixels.shape[0] - 2  # the last line is whole
