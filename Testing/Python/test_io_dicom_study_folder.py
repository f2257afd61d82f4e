"""A DICOM folder holding a whole study: the MESE acquisition is found among the localizer and
morphological series, the others are named in a warning; several multi-echo acquisitions need
--series; a broken MESE echo is still refused, never dropped."""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib.cli import main
from KneeCartilageT2Lib.dicom_loader import load_dicom_exam
from KneeCartilageT2Lib.dicom_writer import write_dicom_series
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.geometry import make_ijk_to_ras

MESE_TIMES = [10.0, 20.0, 30.0, 40.0]
SAGITTAL = make_ijk_to_ras((0.5, 0.5, 3.5), np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]),
                           (-40.0, 60.0, 30.0))
AXIAL = make_ijk_to_ras((1.0, 1.0, 6.0), np.eye(3), (-60.0, -60.0, -20.0))


def _exam(times, ijk_to_ras, seed, shape=(5, 12, 10)):
    rng = np.random.default_rng(seed)
    return MeseExam(rng.integers(0, 4000, size=(len(times),) + shape).astype(np.float32), times, ijk_to_ras, "right")


@pytest.fixture()
def study(tmp_path):
    """MESE (series 5, TR 2000) + axial localizer (series 1, TR 8) + sagittal T1 on the MESE grid (series 3, TR 550)."""
    mese = _exam(MESE_TIMES, SAGITTAL, 1)
    write_dicom_series(mese, tmp_path / "study" / "s5", series_number=5, series_description="MESE T2",
                       repetition_time_ms=2000.0)
    write_dicom_series(_exam([3.0], AXIAL, 2, shape=(3, 16, 16)), tmp_path / "study" / "s1", series_number=1,
                       series_description="Localizer", repetition_time_ms=8.0)
    write_dicom_series(_exam([12.0], SAGITTAL, 3), tmp_path / "study" / "s3", series_number=3,
                       series_description="T1 SAG", repetition_time_ms=550.0)
    return mese, tmp_path / "study"


def test_the_mese_acquisition_is_found_in_a_study_folder(study):
    mese, folder = study
    exam = load_dicom_exam(folder)
    assert np.array_equal(exam.echoes, mese.echoes) and list(exam.echo_times_ms) == MESE_TIMES
    assert exam.metadata["warnings"][0] == \
        '2 other series in the folder were not used: series 1 "Localizer", series 3 "T1 SAG".'
    assert exam.metadata["SeriesNumber"] == "5"


def test_per_echo_series_stay_together_and_one_number_selects_them_all(tmp_path):
    mese = _exam(MESE_TIMES, SAGITTAL, 4)
    write_dicom_series(mese, tmp_path / "f" / "mese", one_series_per_echo=True, series_number=10,
                       repetition_time_ms=1800.0)
    write_dicom_series(_exam([3.0], AXIAL, 5, shape=(3, 16, 16)), tmp_path / "f" / "loc", series_number=1,
                       repetition_time_ms=8.0)
    assert np.array_equal(load_dicom_exam(tmp_path / "f").echoes, mese.echoes)
    assert np.array_equal(load_dicom_exam(tmp_path / "f", series="12").echoes, mese.echoes)  # echo 3's series


def test_several_multi_echo_acquisitions_need_a_choice(study, capsys):
    mese, folder = study
    dual = _exam([15.0, 90.0], SAGITTAL, 6)
    write_dicom_series(dual, folder / "s7", series_number=7, series_description="PD/T2 FSE", repetition_time_ms=3500.0)
    with pytest.raises(InputError) as caught:
        load_dicom_exam(folder)
    message = str(caught.value)
    assert "2 multi-echo acquisitions" in message and "--series NUMBER on the command line" in message
    assert 'series 5 "MESE T2" (4 echo times, 20 images)' in message and 'series 7 "PD/T2 FSE" (2 echo times' in message
    assert np.array_equal(load_dicom_exam(folder, series="5").echoes, mese.echoes)
    assert np.array_equal(load_dicom_exam(folder, series="7").echoes, dual.echoes)
    with pytest.raises(InputError, match='Series 3 .* has only one echo time; the multi-echo series there: series 5'):
        load_dicom_exam(folder, series="3")
    with pytest.raises(InputError, match='No series 42 in .*; it holds series 1 "Localizer" .*series 5 "MESE T2"'):
        load_dicom_exam(folder, series="42")
    assert main(["t2map", str(folder), "--series", "5", "-o", str(folder.parent / "t2.nrrd")]) == 0
    assert "warning: 3 other series in the folder were not used" in capsys.readouterr().err


def test_a_mese_echo_with_another_geometry_is_still_refused_not_dropped(tmp_path):
    mese = _exam(MESE_TIMES, SAGITTAL, 7)
    paths = write_dicom_series(mese, tmp_path / "f", one_series_per_echo=True, repetition_time_ms=2000.0)
    write_dicom_series(_exam([3.0], AXIAL, 8, shape=(3, 16, 16)), tmp_path / "f" / "loc", series_number=1,
                       repetition_time_ms=8.0)
    import pydicom

    for path in paths[2 * 5:3 * 5]:  # echo 3's series tilted
        dataset = pydicom.dcmread(str(path))
        dataset.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]  # axial instead of sagittal
        dataset.save_as(str(path))
    with pytest.raises(InputError, match="do not share one geometry"):
        load_dicom_exam(tmp_path / "f")


def test_a_scanner_t2_map_series_of_the_same_acquisition_is_left_out(study):
    """A derived series keeps the MESE's TR but has no EchoTime: named in the warning, not loaded."""
    import pydicom

    mese, folder = study
    paths = write_dicom_series(_exam([1.0, 2.0], SAGITTAL, 9), folder / "s6", series_number=6,
                               series_description="T2 map", repetition_time_ms=2000.0)
    for path in paths:
        dataset = pydicom.dcmread(str(path))
        del dataset.EchoTime
        dataset.save_as(str(path))
    exam = load_dicom_exam(folder)
    assert np.array_equal(exam.echoes, mese.echoes)
    assert 'series 6 "T2 map"' in exam.metadata["warnings"][0] and exam.metadata["warnings"][0].startswith("3 other")
