"""Outputs an interrupted run leaves behind (Ctrl-C while writing) are not used as if they were finished.

Found by interrupting `knee-t2 demo` while it wrote its folder: label.nrrd and t2.nrrd of the new run
lay beside r2.nrrd and anatomy.nrrd of the old one, without DONE.json, and `report`, `to-dicom`,
`change` and `export --original` all used the folder as a finished analysis. An interrupted
`change` into an earlier change folder likewise kept the earlier run's change.json beside the new
run's region table, and `knee-t2 phantom -o` into an analysis folder replaced its label.nrrd.
"""

from __future__ import annotations

import base64
import shutil

import numpy as np
import pytest

from KneeCartilageT2Lib import cli, lesion_outputs, pipeline, region_figure
from KneeCartilageT2Lib.cartilage_shell import ShellSpec, build_shell
from KneeCartilageT2Lib.echo_stack_io import write_echo_stack
from KneeCartilageT2Lib.longitudinal import ChangeOptions, VisitData, compute_change
from KneeCartilageT2Lib.longitudinal_io import write_change_outputs
from KneeCartilageT2Lib.phantom import Phantom
from KneeCartilageT2Lib.phantom_defaults import shell_exam
from KneeCartilageT2Lib.phantom_output import write_phantom


def _tiny_png(analysis, path, dpi=130):
    path.write_bytes(base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """(exam file, finished analysis folder) of the analytic shell measured on its true label (no network)."""
    exam, label, _ = shell_exam(seed=4, snr=60.0)
    root = tmp_path_factory.mktemp("unfinished")
    exam_file = write_echo_stack(exam, root / "echoes.nrrd")
    result = pipeline.measure(exam, label, options=pipeline.AnalysisOptions(laterality="right"))
    with pytest.MonkeyPatch.context() as patch:  # the full-page figure is drawn in the regions tests
        patch.setattr(region_figure, "save_region_figure", _tiny_png)
        out = pipeline.write_analysis(result, root / "analysis")
    return exam_file, out


@pytest.fixture()
def interrupted(finished, tmp_path):
    """A copy of the finished analysis as an interrupted rewrite leaves it: everything but DONE.json."""
    folder = tmp_path / "interrupted"
    shutil.copytree(str(finished[1]), str(folder))
    (folder / pipeline.DONE_MARKER).unlink()
    return folder


def _refused(capsys, argv) -> str:
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert "did not finish" in error, error
    return error


def test_report_and_to_dicom_refuse_an_analysis_that_did_not_finish(interrupted, tmp_path, capsys):
    (interrupted / "report.html").unlink()
    _refused(capsys, ["report", str(interrupted)])
    assert not (interrupted / "report.html").exists()
    _refused(capsys, ["to-dicom", str(interrupted), "-o", str(tmp_path / "dicom"), "--source", str(tmp_path)])
    assert not (tmp_path / "dicom").exists()


def test_change_and_export_refuse_an_analysis_that_did_not_finish(finished, interrupted, tmp_path, capsys):
    exam_file, done = finished
    _refused(capsys, ["change", str(done), str(interrupted), "-o", str(tmp_path / "change")])
    _refused(capsys, ["export", str(exam_file), "--segmentation", str(done / "label.nrrd"),
                      "--dataset", str(tmp_path / "dataset"), "--original", str(interrupted)])
    assert not (tmp_path / "dataset" / "labelsTr").exists()


def test_a_finished_analysis_is_still_used(finished, tmp_path, capsys):
    assert cli.main(["report", str(finished[1]), "-o", str(tmp_path / "page.html")]) == 0
    assert (tmp_path / "page.html").is_file()


def test_an_interrupted_change_rewrite_keeps_no_summary_of_the_earlier_run(tmp_path, monkeypatch, capsys):
    spec = ShellSpec(spacing_mm=(0.7, 0.7, 2.0), lateral_range_mm=(-30.0, 30.0), notch_range_mm=(-5.0, 5.0))
    mask, t2, _ = build_shell(spec, "right")
    visit = VisitData(mask, t2, t2, "right", "dicom", source="visit")
    result = compute_change(visit, visit, ChangeOptions(register=False))
    out = tmp_path / "change"
    write_change_outputs(result, out)
    assert (out / "change.json").is_file()

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lesion_outputs, "write_lesion_outputs", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_change_outputs(result, out)
    assert (out / "region_change.csv").is_file()  # the new run's table...
    assert not (out / "change.json").exists() and not (out / "change_report.html").exists()  # ...no old summary
    assert cli.main(["report", str(out)]) == 2
    assert "did not finish" in capsys.readouterr().err


def test_a_phantom_is_not_written_into_an_analysis_folder(finished, capsys):
    analysis = finished[1]
    label_before = (analysis / "label.nrrd").read_bytes()
    assert cli.main(["phantom", "-o", str(analysis), "--anatomy", str(analysis / "no_such_label_map.nrrd")]) == 2
    assert "holds a knee-t2 analysis" in capsys.readouterr().err  # refused before the anatomy is even read
    assert (analysis / "label.nrrd").read_bytes() == label_before


def test_a_phantom_rewritten_keeps_nothing_of_the_earlier_one(tmp_path):
    exam, label, t2_truth = shell_exam(seed=7, snr=60.0)
    zeros = np.zeros(exam.volume_shape, np.uint8)
    earlier = Phantom(exam, label.astype(np.uint8), label.astype(np.float32), zeros, t2_truth, label.astype(np.uint8),
                      {"seed": 1, "lesions": 1})
    write_phantom(earlier, tmp_path / "phantom")
    assert (tmp_path / "phantom" / "lesions.nrrd").is_file()
    write_phantom(Phantom(exam, label.astype(np.uint8), label.astype(np.float32), zeros, t2_truth, zeros,
                          {"seed": 2, "lesions": 0}), tmp_path / "phantom")
    assert not (tmp_path / "phantom" / "lesions.nrrd").exists()  # the earlier phantom's lesions are not this one's


def test_to_dicom_says_an_analysis_did_not_finish_before_asking_for_its_source(interrupted, tmp_path, capsys):
    """A folder names its exam by the last part of its path only (result_privacy), so to-dicom asks for --source;
    for an interrupted analysis it must not: --source given, the folder would be refused all the same."""
    error = _refused(capsys, ["to-dicom", str(interrupted), "-o", str(tmp_path / "dicom")])
    assert "--source" not in error, error
