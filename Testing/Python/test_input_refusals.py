"""Inputs that look valid to a loader but would give a silent wrong result: each is refused or named.

Found by running every command over a set of damaged inputs: echo times in
seconds, a blank series, a phase series, too few echoes for the T2 rule (found
only after the network had run), and labels exported although empty or drawn
on another exam.
"""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib import correction
from KneeCartilageT2Lib.acquisition_checks import protocol_notes
from KneeCartilageT2Lib.cli import main
from KneeCartilageT2Lib.dataset_format import list_cases
from KneeCartilageT2Lib.echo_stack_io import write_echo_stack
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.exam import MeseExam, validate_exam
from KneeCartilageT2Lib.geometry import Volume, make_ijk_to_ras
from KneeCartilageT2Lib.t2_fitting import fitted_echo_rows

SAGITTAL = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _exam(times=(10.0, 20.0, 30.0, 40.0), echoes=None):
    rng = np.random.default_rng(3)
    if echoes is None:
        decay = np.exp(-np.asarray(times)[:, None, None, None] / 40.0)
        echoes = (1000.0 * decay * (1.0 + 0.05 * rng.random((1, 3, 12, 10)))).astype(np.float32)
    return MeseExam(echoes, list(times), make_ijk_to_ras((0.5, 0.5, 3.0), SAGITTAL, (5.0, -2.0, 1.0)), "right")


def test_echo_times_in_seconds_are_refused_with_the_unit_named():
    with pytest.raises(InputError, match="look like seconds") as refused:
        validate_exam(_exam(times=(0.01, 0.02, 0.03, 0.04)))
    assert "in ms" in str(refused.value)
    validate_exam(_exam(times=(1.5, 3.0, 4.5, 6.0)))  # short, but possible: only a protocol note


def test_a_blank_series_is_refused():
    with pytest.raises(InputError, match="zero everywhere"):
        validate_exam(_exam(echoes=np.zeros((4, 3, 12, 10), np.float32)))


def test_a_series_with_negative_signal_is_named_as_not_magnitude():
    phase = _exam()
    phase.echoes[:, :, :6] *= -1.0
    assert any("negative" in note and "magnitude" in note for note in protocol_notes(phase))
    slightly = _exam()
    slightly.echoes[0, 0, 0, 0] = -1.0  # one voxel below 0 (a reconstruction offset) is no reason to warn
    assert not any("negative" in note for note in protocol_notes(slightly))


def test_too_few_echoes_for_the_fit_names_the_cli_option():
    assert fitted_echo_rows(3) == slice(1, 3)
    assert fitted_echo_rows(2, exclude_first_echo=False) == slice(0, 2)
    with pytest.raises(InputError, match="Only 1 echo") as refused:
        fitted_echo_rows(2)
    assert "--include-first-echo" in str(refused.value)
    with pytest.raises(InputError) as refused:
        fitted_echo_rows(1, exclude_first_echo=False)
    assert "--include-first-echo" not in str(refused.value)


def _never_load(*args, **kwargs):
    raise AssertionError("the model was loaded for a series that cannot be analysed")


def test_segment_refuses_two_echoes_before_the_network_runs(tmp_path, capsys, monkeypatch):
    from KneeCartilageT2Lib import model_registry

    monkeypatch.setattr(model_registry, "load_model", _never_load)
    path = write_echo_stack(_exam(times=(10.0, 20.0), echoes=_exam().echoes[:2].copy()), tmp_path / "echoes.nrrd")
    assert main(["segment", str(path), "-o", str(tmp_path / "seg.nrrd")]) == 2
    assert "Only 1 echo(es) remain" in capsys.readouterr().err
    assert not (tmp_path / "seg.nrrd").exists()


def test_the_network_stage_of_a_batch_refuses_two_echoes_before_loading_the_model(monkeypatch):
    from KneeCartilageT2Lib import model_registry
    from KneeCartilageT2Lib.pipeline import predict_stage

    monkeypatch.setattr(model_registry, "load_model", _never_load)
    with pytest.raises(InputError, match="Only 1 echo"):
        predict_stage(_exam(times=(10.0, 20.0), echoes=_exam().echoes[:2].copy()))


def test_t2map_says_when_no_voxel_fitted(tmp_path, capsys):
    path = write_echo_stack(_exam(echoes=-_exam().echoes), tmp_path / "echoes.nrrd")
    assert main(["t2map", str(path), "-o", str(tmp_path / "t2.nrrd")]) == 0
    assert "warning: no voxel gave a valid T2" in capsys.readouterr().out


def _label(exam):
    label = np.zeros(exam.volume_shape, np.uint8)
    label[1, 3:9, 2:8] = 1
    return label


def test_an_empty_approved_label_is_not_exported(tmp_path):
    exam = _exam()
    with pytest.raises(InputError, match="approved label is empty"):
        correction.export_corrected_case(tmp_path / "ds", exam, np.zeros(exam.volume_shape, np.uint8), _label(exam))
    assert not (tmp_path / "ds").exists()  # not even an empty dataset is left behind
    correction.export_corrected_case(tmp_path / "ds", exam, _label(exam), _label(exam))
    with pytest.raises(InputError, match="approved label is empty"):
        correction.export_corrected_case(tmp_path / "ds", exam, np.zeros(exam.volume_shape, np.uint8), None)
    assert [len(record.label_versions) for record in list_cases(tmp_path / "ds")] == [1]


def _moved(exam, shift_mm):
    matrix = exam.ijk_to_ras.copy()
    matrix[:3, 3] += shift_mm
    return matrix


def test_a_label_drawn_on_another_exam_is_refused_not_emptied():
    exam = _exam()
    far = Volume(_label(exam), _moved(exam, (0.0, 200.0, 0.0)))  # another exam's field of view
    with pytest.raises(InputError, match="0 % of the label"):
        correction.label_on_exam_grid(far, exam)
    # a label reaching 1 mm (two rows) past the exam's edge is cut, not refused
    near = Volume(_label(exam), _moved(exam, exam.ijk_to_ras[:3, 1] * 5.0))
    placed = correction.label_on_exam_grid(near, exam)
    assert placed.sum() == 4 * 6 and placed[1, 8:10, 2:8].all()
    assert correction.share_inside_exam(_label(exam), near.ijk_to_ras, exam) == pytest.approx(4 / 6)


def test_export_command_refuses_a_label_of_another_exam(tmp_path, capsys):
    from KneeCartilageT2Lib.volume_io import write_volume

    exam = _exam()
    path = write_echo_stack(exam, tmp_path / "echoes.nrrd")
    write_volume(Volume(_label(exam), _moved(exam, (0.0, 0.0, 300.0))), tmp_path / "other.nrrd")
    assert main(["export", str(path), "--segmentation", str(tmp_path / "other.nrrd"),
                 "--dataset", str(tmp_path / "ds")]) == 2
    assert "field of view" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("command", [
    ["demo", "--phantom", "--no-fetch"], ["batch", "MANIFEST"], ["change", "A", "B"], ["to-dicom", "RESULT"],
    ["agreement", "A", "B"], ["phantom", "--anatomy", "LABELS"],
    ["regions", "EXAM", "--segmentation", "SEG", "--t2", "T2"]])
def test_an_output_folder_that_is_a_file_is_refused_before_any_work(tmp_path, capsys, monkeypatch, command):
    from KneeCartilageT2Lib.commands import demo

    monkeypatch.setattr(demo, "default_exam", _never_load)  # the demo must not start its analysis
    occupied = tmp_path / "results"
    occupied.write_text("a file, not a folder")
    assert main(command + ["-o", str(occupied)]) == 2
    assert "is a file, not a folder: give a folder name" in capsys.readouterr().err
    assert main(command + ["-o", str(occupied / "inside")]) == 2
    assert "results is a file, not a folder" in capsys.readouterr().err
    assert occupied.read_text() == "a file, not a folder"


def test_a_volume_output_naming_a_folder_or_below_a_file_is_refused_before_the_fit(tmp_path, capsys):
    path = write_echo_stack(_exam(), tmp_path / "echoes.nrrd")
    (tmp_path / "t2.nrrd").mkdir()
    assert main(["t2map", str(path), "-o", str(tmp_path / "t2.nrrd")]) == 2
    assert "is a folder: give a file name in it" in capsys.readouterr().err
    assert main(["t2map", str(path), "-o", str(path / "t2.nrrd")]) == 2
    err = capsys.readouterr().err
    assert "echoes.nrrd is a file, not a folder" in err and "Fitting" not in err


def test_a_read_only_output_folder_is_refused(tmp_path, capsys, monkeypatch):
    from KneeCartilageT2Lib.commands import _common

    locked = tmp_path / "locked"
    locked.mkdir()
    # root writes into any folder, so the permission answer is the operating system's, stood in for here
    monkeypatch.setattr(_common.os, "access", lambda path, mode: path != str(locked))
    assert main(["change", "A", "B", "-o", str(locked / "out")]) == 2
    assert "the folder %s is not writable; choose another output" % locked in capsys.readouterr().err


def test_an_output_that_is_a_dangling_link_or_below_an_unreadable_folder_is_refused(tmp_path, capsys, monkeypatch):
    from pathlib import Path

    from KneeCartilageT2Lib.commands import _common

    (tmp_path / "results").symlink_to(tmp_path / "gone")
    assert main(["change", "A", "B", "-o", str(tmp_path / "results")]) == 2
    assert "is a link to something that does not exist" in capsys.readouterr().err

    locked = tmp_path / "locked"
    locked.mkdir()
    real_exists = Path.exists

    def exists(path):  # what Python < 3.12 does below a folder one cannot enter (root enters every folder)
        if str(path).startswith(str(locked) + "/"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_exists(path)

    monkeypatch.setattr(Path, "exists", exists)
    monkeypatch.setattr(_common.os, "access", lambda path, mode: path != str(locked))
    assert main(["change", "A", "B", "-o", str(locked / "inner" / "out")]) == 2
    assert "the folder %s is not writable" % locked in capsys.readouterr().err


def test_echo_times_a_thousand_times_too_long_or_complex_echoes_are_refused(tmp_path):
    with pytest.raises(InputError, match="look like ms written where seconds were expected"):
        validate_exam(_exam(times=(10000.0, 20000.0, 30000.0, 40000.0)))  # a BIDS EchoTime list given in ms
    complex_exam = _exam()
    complex_exam.echoes = complex_exam.echoes.astype(np.complex64)
    with pytest.raises(InputError, match="complex-valued"):
        validate_exam(complex_exam)
    import SimpleITK as sitk

    from KneeCartilageT2Lib.echo_stack_io import read_echo_stack

    image = sitk.GetImageFromArray(np.ones((4, 3, 5, 6), np.complex64))
    sitk.WriteImage(image, str(tmp_path / "c4.nii.gz"))
    with pytest.raises(InputError, match="complex-valued echoes"):
        read_echo_stack(tmp_path / "c4.nii.gz", echo_times_ms=[10, 20, 30, 40])


def test_a_sheared_grid_is_not_written_as_nifti(tmp_path):
    from KneeCartilageT2Lib.volume_io import write_volume

    exam = _exam()
    exam.ijk_to_ras = np.array(exam.ijk_to_ras, dtype=float)
    exam.ijk_to_ras[1, 2] += 0.4  # a gantry tilt
    with pytest.raises(InputError, match="sheared .* Write .nrrd instead"):
        write_echo_stack(exam, tmp_path / "tilted.nii.gz")
    with pytest.raises(InputError, match="sheared"):
        write_volume(exam.echo_volume(0), tmp_path / "echo.nii.gz")
    write_echo_stack(exam, tmp_path / "tilted.nrrd")  # NRRD keeps the matrix


def test_nan_padding_in_a_file_is_set_aside_with_a_warning(tmp_path):
    import json

    import SimpleITK as sitk

    from KneeCartilageT2Lib.echo_stack_io import read_echo_stack

    echoes = _exam().echoes.copy()  # (echo, slice, row, col)
    echoes[:, :, :2, :] = np.nan  # outside a motion-corrected field of view
    sitk.WriteImage(sitk.GetImageFromArray(echoes, isVector=False), str(tmp_path / "padded.nrrd"))
    (tmp_path / "padded.json").write_text(json.dumps({"EchoTimes": [10, 20, 30, 40]}))
    exam = read_echo_stack(tmp_path / "padded.nrrd")
    assert np.isfinite(exam.echoes).all() and not exam.echoes[:, :, :2, :].any()
    assert any("60 voxel(s) hold NaN" in warning for warning in exam.metadata["warnings"])
    in_memory = _exam()
    in_memory.echoes[0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN or infinite"):
        validate_exam(in_memory)  # an exam built in memory is still refused: the caller made it
