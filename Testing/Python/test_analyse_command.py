"""``knee-t2 analyse``: the whole analysis of one exam of the user's own, into the standard result folder.

Before it, one exam of one's own could only be analysed in three separate steps (segment, t2map,
regions) or through a batch manifest; neither writes the folder that report, to-dicom, change and
agreement take.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from KneeCartilageT2Lib import cli, pipeline  # noqa: E402
from KneeCartilageT2Lib.volume_io import read_volume  # noqa: E402


@pytest.fixture
def quick_figures(monkeypatch):
    """The full-page region figure is drawn in the regions tests: here a stand-in file, named as drawn."""
    from KneeCartilageT2Lib import region_figure

    drawn = []

    def quick_figure(analysis, path, dpi=130):
        drawn.append(analysis.mode)
        path.write_bytes(b"png")
        return path

    monkeypatch.setattr(region_figure, "save_region_figure", quick_figure)
    return drawn


def test_the_options_parse_as_every_exam_command_takes_them_and_analyze_is_the_same_command():
    parser = cli.build_parser()
    args = parser.parse_args(["analyse", "exam", "-o", "out", "--t2-range", "5,150", "--t2-method", "loglinear",
                              "--region-mode", "reference", "--series", "7", "--echo-times", "10,20,30",
                              "--laterality", "left", "--model", "m.safetensors", "--device", "cpu",
                              "--no-figures", "--record-full-paths"])
    assert (args.input, args.output, args.t2_range, args.t2_method, args.region_mode) == \
        ("exam", "out", (5.0, 150.0), "loglinear", "reference")
    assert (args.series, args.echo_times, args.laterality, args.model, args.device) == \
        ("7", [10.0, 20.0, 30.0], "left", "m.safetensors", "cpu")
    assert args.no_figures and args.record_full_paths
    american = parser.parse_args(["analyze", "exam", "-o", "out"])
    assert american.handler is args.handler
    assert (american.t2_range, american.t2_method, american.region_mode, american.model, american.device) == \
        ((0.0, 100.0), "mono", "improved", None, "auto")


@pytest.mark.parametrize("bad", ["100,50", "-5,100", "fast", "0,nan", "10"])
def test_a_t2_range_that_cannot_be_is_refused_while_parsing(bad, capsys):
    for command in (["analyse", "exam", "-o", "out"], ["t2map", "exam", "-o", "t2.nrrd"],
                    ["segment", "exam", "-o", "seg.nrrd"], ["batch", "m.csv", "-o", "out"],
                    ["change", "a", "b", "-o", "out"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.build_parser().parse_args(command + ["--t2-range=" + bad])
        assert exit_info.value.code == 2
        assert "T2 range must" in capsys.readouterr().err


def test_one_exam_gives_the_standard_result_folder_that_report_accepts(shell_echo_file, certain_model, tmp_path,
                                                                      quick_figures, capsys):
    out = tmp_path / "result"
    status = cli.main(["analyse", str(shell_echo_file), "-o", str(out), "--model", str(certain_model), "--device", "cpu",
                       "--laterality", "right", "--t2-range", "0,150", "--region-mode", "reference"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    for name in ("label.nrrd", "t2.nrrd", "r2.nrrd", "anatomy.nrrd", "probabilities.nrrd", "preview.png",
                 "report.html", "provenance.json", "regions/regions.csv", "regions/regions.png", pipeline.DONE_MARKER):
        assert (out / name).is_file(), name
    assert quick_figures == ["reference"]
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["tool"] == pipeline.TOOL_NAME and provenance["source"] == "echoes.nrrd"
    assert provenance["options"]["t2_range_ms"] == [0.0, 150.0]
    assert provenance["options"]["region_mode"] == provenance["regions"]["mode"] == "reference"
    assert provenance["regions"]["laterality_source"] == "user" and provenance["regions"]["laterality"] == "right"
    assert provenance["laterality"] == "unknown"  # what the data says, as demo and batch record it
    assert provenance["segmentation"]["model_name"] == "certain-test"
    t2 = read_volume(out / "t2.nrrd").array
    label = read_volume(out / "label.nrrd").array > 0
    assert np.any(label & (t2 > 100.0))  # the range reached the T2 map and the label's T2 rule, not only the record
    assert np.all(t2[label] > 0.0) and t2[label].max() <= 150.0
    assert "Results in %s" % out.resolve() in printed and "segmentation: model certain-test v0" in printed
    assert "T2 mean" in printed and "\n  all " in printed  # the region table demo prints
    assert "report: %s" % (out / "report.html") in printed

    (out / "report.html").unlink()
    assert cli.main(["report", str(out)]) == 0
    assert (out / "report.html").is_file()


def test_no_figures_writes_tables_and_volumes_without_pictures(shell_echo_file, certain_model, tmp_path, capsys):
    out = tmp_path / "result"
    assert cli.main(["analyze", str(shell_echo_file), "-o", str(out), "--model", str(certain_model), "--device", "cpu",
                     "--no-figures", "--t2-method", "loglinear"]) == 0
    assert (out / "regions" / "regions.csv").is_file() and (out / pipeline.DONE_MARKER).is_file()
    assert not any((out / name).exists() for name in ("preview.png", "report.html", "regions/regions.png"))
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["options"]["t2_method"] == provenance["t2"]["method"] == "loglinear"
    assert provenance["options"]["t2_range_ms"] == [0.0, 100.0]
    assert "report:" not in capsys.readouterr().out


def _refused(capsys, argv) -> str:
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


@pytest.fixture
def no_analysis(monkeypatch):
    """Refusals must come before the analysis: running it fails the test."""
    def never(*args, **kwargs):
        raise AssertionError("the analysis ran before the input was refused")

    monkeypatch.setattr(pipeline, "analyse_exam", never)


def test_a_folder_of_someone_elses_files_is_refused_and_left_as_it_was(shell_echo_file, tmp_path, capsys, no_analysis):
    foreign = tmp_path / "mine"
    (foreign / "regions").mkdir(parents=True)
    (foreign / "label.nrrd").write_bytes(b"my own label")
    error = _refused(capsys, ["analyse", str(shell_echo_file), "-o", str(foreign)])
    assert "no knee-t2 result folder" in error and "label.nrrd" in error and "regions/" in error
    assert sorted(path.name for path in foreign.iterdir()) == ["label.nrrd", "regions"]
    assert (foreign / "label.nrrd").read_bytes() == b"my own label"


def test_bad_inputs_and_outputs_get_one_clear_line(shell_echo_file, tmp_path, capsys, no_analysis):
    error = _refused(capsys, ["analyse", str(tmp_path / "absent.nrrd"), "-o", str(tmp_path / "out")])
    assert "absent.nrrd" in error
    (tmp_path / "a_file").write_text("x")
    error = _refused(capsys, ["analyse", str(shell_echo_file), "-o", str(tmp_path / "a_file")])
    assert "is a file, not a folder" in error
    error = _refused(capsys, ["analyse", str(shell_echo_file), "-o", str(tmp_path / "out"), "--model", "no-such-model"])
    assert "no-such-model" in error
    error = _refused(capsys, ["analyse", str(shell_echo_file.parent), "-o", str(shell_echo_file.parent / "results")])
    assert "inside the exam folder" in error
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "provenance.json").write_text(json.dumps({"tool": pipeline.TOOL_NAME}))
    error = _refused(capsys, ["analyse", str(earlier), "-o", str(tmp_path / "out")])
    assert "is a knee-t2 result folder, not an exam" in error
    error = _refused(capsys, ["analyse", str(shell_echo_file), "-o", str(tmp_path / "out"), "--device", "gpu"])
    assert "Unknown device" in error
    assert not (tmp_path / "out").exists()
