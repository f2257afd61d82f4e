"""Per-echo NIfTI files with BIDS sidecars (EchoTime in s), as BIDS datasets and dcm2niix hold a MESE."""

from __future__ import annotations

import json

import numpy as np
import pytest

from KneeCartilageT2Lib.echo_set_io import echo_set_files
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.exam_loader import load_exam

TIMES_S = [0.01, 0.02, 0.03, 0.04]
SHAPE = (3, 9, 7)  # slice, row, col


def _echo_image(index, value=None, spacing=(0.5, 0.5, 3.0)):
    import SimpleITK as sitk

    array = value if value is not None else 1000.0 * np.exp(-TIMES_S[index] * 1000.0 / 35.0)  # T2 35 ms
    image = sitk.GetImageFromArray(np.full(SHAPE, array, np.float32))
    image.SetSpacing(spacing)
    image.SetOrigin((4.0, -2.0, 11.0))
    return image


def _write_set(folder, name_of, sidecar=True, echo_time=lambda i: TIMES_S[i], value=None, skip=()):
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    for index in range(len(TIMES_S)):
        if index in skip:
            continue
        stem = name_of(index + 1)
        sitk.WriteImage(_echo_image(index, value), str(folder / (stem + ".nii.gz")))
        if sidecar:
            (folder / (stem + ".json")).write_text(json.dumps({"EchoTime": echo_time(index), "RepetitionTime": 2.0}))


def test_a_bids_mese_set_loads_from_any_of_its_echoes_and_leaves_phase_parts_out(tmp_path):
    _write_set(tmp_path, lambda n: "sub-01_echo-%d_part-mag_MESE" % n)
    _write_set(tmp_path, lambda n: "sub-01_echo-%d_part-phase_MESE" % n, value=3.0)
    exam = load_exam(tmp_path / "sub-01_echo-3_part-mag_MESE.nii.gz")
    np.testing.assert_allclose(exam.echo_times_ms, [10.0, 20.0, 30.0, 40.0])
    assert exam.echoes.shape == (4,) + SHAPE and exam.metadata["source_format"] == "per-echo files"
    np.testing.assert_allclose(exam.echoes[:, 0, 0, 0], 1000.0 * np.exp(-np.array(TIMES_S) * 1000.0 / 35.0),
                               rtol=1e-6)
    assert all("part-mag" in name for name in exam.metadata["files"])
    with pytest.raises(InputError, match="is a phase, real or imaginary part.*Give .*sub-01_echo-2_part-mag_MESE"):
        load_exam(tmp_path / "sub-01_echo-2_part-phase_MESE.nii.gz")  # never fitted on phase images


def test_a_dcm2niix_set_loads_and_its_phase_files_stay_out(tmp_path):
    _write_set(tmp_path, lambda n: "T2map_8_e%d" % n)
    _write_set(tmp_path, lambda n: "T2map_8_e%d_ph" % n, sidecar=False, value=3.0)
    assert [number for number, _ in echo_set_files(tmp_path / "T2map_8_e2.nii.gz")] == [1, 2, 3, 4]
    assert echo_set_files(tmp_path / "T2map_8_e2_ph.nii.gz") == []
    exam = load_exam(tmp_path / "T2map_8_e2.nii.gz")
    np.testing.assert_allclose(exam.echo_times_ms, [10.0, 20.0, 30.0, 40.0])


def test_echo_times_come_from_the_argument_when_the_sidecars_are_missing(tmp_path):
    _write_set(tmp_path, lambda n: "knee_e%d" % n, sidecar=False)
    with pytest.raises(InputError, match="sidecar knee_e1.json is missing"):
        load_exam(tmp_path / "knee_e1.nii.gz")
    exam = load_exam(tmp_path / "knee_e1.nii.gz", echo_times_ms=[11, 22, 33, 44])
    np.testing.assert_allclose(exam.echo_times_ms, [11, 22, 33, 44])


def test_a_sidecar_echo_time_written_in_ms_is_refused(tmp_path):
    _write_set(tmp_path, lambda n: "sub-01_echo-%d_MESE" % n, echo_time=lambda i: 1000.0 * TIMES_S[i])
    with pytest.raises(InputError, match="not a time in seconds"):
        load_exam(tmp_path / "sub-01_echo-1_MESE.nii.gz")


def test_a_missing_echo_is_named_and_the_others_are_fitted(tmp_path):
    _write_set(tmp_path, lambda n: "sub-01_echo-%d_MESE" % n, skip=(1,))
    exam = load_exam(tmp_path / "sub-01_echo-1_MESE.nii.gz")
    np.testing.assert_allclose(exam.echo_times_ms, [10.0, 30.0, 40.0])
    assert exam.metadata["warnings"] == ["Echo file(s) 2 of the set are missing; the fit uses the 3 echoes found."]


def test_an_echo_on_another_grid_is_refused(tmp_path):
    import SimpleITK as sitk

    _write_set(tmp_path, lambda n: "sub-01_echo-%d_MESE" % n)
    sitk.WriteImage(_echo_image(2, spacing=(0.5, 0.5, 4.0)), str(tmp_path / "sub-01_echo-3_MESE.nii.gz"))
    with pytest.raises(InputError, match="Echo 3 .* has another grid"):
        load_exam(tmp_path / "sub-01_echo-1_MESE.nii.gz")


def test_a_4d_file_with_a_bids_echo_time_list_in_seconds(tmp_path):
    import SimpleITK as sitk

    stack = sitk.JoinSeries([_echo_image(index) for index in range(len(TIMES_S))])
    sitk.WriteImage(stack, str(tmp_path / "mese.nii.gz"))
    (tmp_path / "mese.json").write_text(json.dumps({"EchoTime": TIMES_S}))
    exam = load_exam(tmp_path / "mese.nii.gz")
    np.testing.assert_allclose(exam.echo_times_ms, [10.0, 20.0, 30.0, 40.0])
    assert exam.metadata["echo_times_source"] == "sidecar EchoTime (s)"


def test_a_lone_3d_file_still_says_what_an_echo_set_looks_like(tmp_path):
    import SimpleITK as sitk

    sitk.WriteImage(_echo_image(0), str(tmp_path / "one_echo.nii.gz"))
    with pytest.raises(InputError, match="single 3D volume .* per-echo files"):
        load_exam(tmp_path / "one_echo.nii.gz")


def test_a_folder_of_exams_lists_a_per_echo_set_once(tmp_path):
    from KneeCartilageT2Lib.correction import exam_folder_candidates

    _write_set(tmp_path, lambda n: "sub-01_echo-%d_MESE" % n)
    candidates = exam_folder_candidates(tmp_path, lambda exam: exam.n_echoes)
    assert list(candidates) == ["sub-01_echo-1_MESE.nii.gz"] and candidates["sub-01_echo-1_MESE.nii.gz"]() == 4


def test_a_folder_holding_one_echo_image_exam_loads_it(tmp_path):
    """Slicer's Load MESE folder... chooses folders only: a BIDS anat folder or a phantom folder loads too."""
    import SimpleITK as sitk

    bids = tmp_path / "anat"
    _write_set(bids, lambda n: "sub-01_echo-%d_part-mag_MESE" % n)
    _write_set(bids, lambda n: "sub-01_echo-%d_part-phase_MESE" % n, value=3.0)
    assert load_exam(bids).metadata["files"][0].endswith("sub-01_echo-1_part-mag_MESE.nii.gz")
    phantom = tmp_path / "phantom"
    phantom.mkdir()
    stack = sitk.JoinSeries([_echo_image(index) for index in range(len(TIMES_S))])
    sitk.WriteImage(stack, str(phantom / "echoes.nii.gz"))
    (phantom / "echoes.json").write_text(json.dumps({"EchoTimes": [10, 20, 30, 40]}))
    sitk.WriteImage(_echo_image(0), str(phantom / "label.nrrd"))  # beside it, no echo times: not an exam
    assert load_exam(phantom).n_echoes == 4
    _write_set(phantom, lambda n: "other_e%d" % n)
    with pytest.raises(InputError, match="holds 2 echo-image exams"):
        load_exam(phantom)


def test_a_dcm2niix_phase_echo_is_named_as_such(tmp_path):
    _write_set(tmp_path, lambda n: "T2map_8_e%d_ph" % n, sidecar=False, value=3.0)
    with pytest.raises(InputError, match="is a phase, real or imaginary echo"):
        load_exam(tmp_path / "T2map_8_e1_ph.nii.gz")


def test_a_dcm2niix_first_echo_written_without_its_suffix_is_echo_1(tmp_path):
    """Some dcm2niix versions write the first echo as T2map.nii.gz beside T2map_e2.nii.gz, T2map_e3.nii.gz..."""
    from KneeCartilageT2Lib.correction import exam_folder_candidates

    _write_set(tmp_path, lambda n: "T2map_8" if n == 1 else "T2map_8_e%d" % n)
    _write_set(tmp_path, lambda n: "T2map_8_ph" if n == 1 else "T2map_8_e%d_ph" % n, sidecar=False, value=3.0)
    for named in ("T2map_8.nii.gz", "T2map_8_e3.nii.gz"):
        assert [file.name for _, file in echo_set_files(tmp_path / named)] == [
            "T2map_8.nii.gz", "T2map_8_e2.nii.gz", "T2map_8_e3.nii.gz", "T2map_8_e4.nii.gz"]
        exam = load_exam(tmp_path / named)
        np.testing.assert_allclose(exam.echo_times_ms, [10.0, 20.0, 30.0, 40.0])
        assert not exam.metadata["warnings"]
    assert list(exam_folder_candidates(tmp_path, lambda exam: exam.n_echoes)) == ["T2map_8.nii.gz"]
