"""load_exam dispatch (DICOM folder vs 4D file), its errors, and the CLI's --echo-times path."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from KneeCartilageT2Lib.commands._common import add_exam_argument, load_exam_from_args
from KneeCartilageT2Lib.dicom_writer import write_dicom_series
from KneeCartilageT2Lib.echo_stack_io import sidecar_path, write_echo_stack
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.exam_loader import load_exam
from KneeCartilageT2Lib.geometry import make_ijk_to_ras

TIMES = [10.0, 20.0, 30.0]


def make_exam():
    echoes = np.arange(3 * 4 * 5 * 6, dtype=np.float32).reshape(3, 4, 5, 6)
    return MeseExam(echoes, TIMES, make_ijk_to_ras((0.5, 0.5, 3.0), origin_ras=(1.0, 2.0, 3.0)), "left")


def test_directory_is_read_as_dicom(tmp_path):
    written = make_exam()
    write_dicom_series(written, tmp_path / "dicom")
    exam = load_exam(tmp_path / "dicom")
    assert exam.metadata["source_format"] == "dicom" and exam.laterality == "left"
    np.testing.assert_array_equal(exam.echoes, written.echoes)  # integral values are stored exactly
    np.testing.assert_allclose(exam.echo_times_ms, TIMES)
    np.testing.assert_allclose(exam.ijk_to_ras, written.ijk_to_ras, atol=1e-6)


@pytest.mark.parametrize("name", ["echoes.nrrd", "echoes.nii.gz"])
def test_file_is_read_as_echo_stack(tmp_path, name):
    path = write_echo_stack(make_exam(), tmp_path / name)
    exam = load_exam(str(path))
    assert np.array_equal(exam.echoes, make_exam().echoes) and exam.laterality == "left"


def test_missing_path(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_exam(tmp_path / "nowhere")


def test_empty_folder(tmp_path):
    with pytest.raises(InputError, match="is empty"):
        load_exam(tmp_path)


def test_unknown_file_type(tmp_path):
    path = tmp_path / "echoes.png"
    path.write_bytes(b"\x89PNG")
    with pytest.raises(InputError, match="Unknown exam type"):
        load_exam(path)


def test_single_dicom_file_asks_for_its_folder(tmp_path):
    paths = write_dicom_series(make_exam(), tmp_path)
    with pytest.raises(InputError, match="single DICOM file; give the folder"):
        load_exam(paths[0])


def test_result_is_validated(tmp_path):
    path = write_echo_stack(make_exam(), tmp_path / "echoes.nrrd")
    with pytest.raises(InputError, match="not increasing"):
        load_exam(path, echo_times_ms=[30, 20, 10])


def test_echo_times_option_through_the_cli_arguments(tmp_path):
    path = write_echo_stack(make_exam(), tmp_path / "echoes.nii.gz")
    sidecar_path(path).unlink()
    parser = argparse.ArgumentParser()
    add_exam_argument(parser)
    exam = load_exam_from_args(parser.parse_args([str(path), "--echo-times", "11,22.5,33", "--laterality", "right"]))
    assert np.array_equal(exam.echo_times_ms, [11.0, 22.5, 33.0])
    assert exam.laterality == "right"
    with pytest.raises(InputError, match="No echo times"):
        load_exam_from_args(parser.parse_args([str(path)]))
