"""Phase images and repeated series beside the MESE magnitude images (same acquisition, same TR)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from KneeCartilageT2Lib.dicom_loader import load_dicom_exam
from KneeCartilageT2Lib.dicom_writer import write_dicom_series
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.geometry import make_ijk_to_ras

TIMES = [10.0, 20.0, 30.0, 40.0]


def _exam(seed):
    rng = np.random.default_rng(seed)
    decay = np.exp(-np.asarray(TIMES)[:, None, None, None] / 40.0)
    echoes = np.round(1000 * decay * (1 + 0.2 * rng.random((1, 3, 8, 6)))).astype(np.float32)
    return MeseExam(echoes, TIMES, make_ijk_to_ras((0.5, 0.5, 3.0)), "right")


def _retag(paths, image_type, series_number=None, new_series=False):
    """Give written files another ImageType (and, when asked, another series)."""
    series_uid = generate_uid()
    for path in paths:
        dataset = pydicom.dcmread(path)
        dataset.ImageType = image_type
        if new_series:
            dataset.SeriesInstanceUID = series_uid
            dataset.SOPInstanceUID = generate_uid()
            dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
            dataset.SeriesNumber = series_number
        dataset.save_as(path)


def _write(exam, folder, series_number, image_type=None):
    paths = write_dicom_series(exam, folder, series_number=series_number, series_description="s%d" % series_number)
    if image_type:
        _retag(paths, image_type)
    return paths


def test_phase_images_of_another_series_are_left_out_with_a_warning(tmp_path):
    magnitude, phase = _exam(1), _exam(2)
    _write(magnitude, tmp_path / "study" / "mag", 5, ["ORIGINAL", "PRIMARY", "M", "ND"])
    _write(phase, tmp_path / "study" / "phase", 6, ["ORIGINAL", "PRIMARY", "P", "ND"])
    exam = load_dicom_exam(tmp_path / "study")
    np.testing.assert_array_equal(exam.echoes, magnitude.echoes)
    assert any('12 phase image(s) of series 6 "s6"' in warning for warning in exam.metadata["warnings"])


def test_real_images_in_the_same_series_are_left_out(tmp_path):
    magnitude = _exam(3)
    _write(magnitude, tmp_path / "mixed", 5)
    real_paths = write_dicom_series(_exam(4), tmp_path / "real", series_number=5)
    for path in real_paths:  # the same series, other instances: a Philips-style mixed series
        dataset = pydicom.dcmread(path)
        dataset.SeriesInstanceUID = pydicom.dcmread(next((tmp_path / "mixed").iterdir())).SeriesInstanceUID
        dataset.ImageType = ["ORIGINAL", "PRIMARY", "R_SE", "R", "SE"]
        dataset.save_as(tmp_path / "mixed" / ("R" + path.name))
    exam = load_dicom_exam(tmp_path / "mixed")
    np.testing.assert_array_equal(exam.echoes, magnitude.echoes)
    assert any("12 real image(s)" in warning for warning in exam.metadata["warnings"])


def test_a_folder_of_phase_images_only_is_refused(tmp_path):
    _write(_exam(5), tmp_path / "phase", 6, ["ORIGINAL", "PRIMARY", "P", "ND"])
    with pytest.raises(InputError, match="only phase images"):
        load_dicom_exam(tmp_path / "phase")


def test_a_repeated_series_is_named_and_chosen_by_number(tmp_path):
    first, repeat = _exam(6), _exam(7)
    _write(first, tmp_path / "study" / "a", 8)
    _write(repeat, tmp_path / "study" / "b", 12)
    with pytest.raises(InputError, match='series 8 "s8" and series 12 "s12" share slice positions') as refused:
        load_dicom_exam(tmp_path / "study")
    assert "--series NUMBER" in str(refused.value)
    for number, expected in ((8, first), (12, repeat)):
        exam = load_dicom_exam(tmp_path / "study", series=str(number))
        np.testing.assert_array_equal(exam.echoes, expected.echoes)
        assert any("Repeated acquisition: series %d" % number in warning for warning in exam.metadata["warnings"])


def test_one_series_per_echo_is_still_read_as_one_exam(tmp_path):
    written = _exam(8)
    write_dicom_series(written, tmp_path / "per_echo", one_series_per_echo=True)
    exam = load_dicom_exam(tmp_path / "per_echo")
    np.testing.assert_array_equal(exam.echoes, written.echoes)


def test_a_repeated_mese_stored_one_series_per_echo_is_chosen_by_naming_its_series(tmp_path):
    first, repeat = _exam(9), _exam(10)
    write_dicom_series(first, tmp_path / "study" / "a", one_series_per_echo=True, series_number=5)  # series 5-8
    write_dicom_series(repeat, tmp_path / "study" / "b", one_series_per_echo=True, series_number=15)  # 15-18
    with pytest.raises(InputError, match="stored one series per echo") as refused:
        load_dicom_exam(tmp_path / "study")
    assert "--series 5,6,7,..." in str(refused.value)
    exam = load_dicom_exam(tmp_path / "study", series="15,16,17,18")
    np.testing.assert_array_equal(exam.echoes, repeat.echoes)
    assert any("left out" in warning and "series 5" in warning for warning in exam.metadata["warnings"])
    with pytest.raises(InputError, match=r"holds one echo of a repeated MESE .* e\.g\. --series 15,16,17,18\."):
        load_dicom_exam(tmp_path / "study", series="15")
    with pytest.raises(InputError, match="overlap each other"):
        load_dicom_exam(tmp_path / "study", series="5,6,15")
    with pytest.raises(InputError, match="No series 9"):
        load_dicom_exam(tmp_path / "study", series="5,9")
    assert not any("same repeat" in warning for warning in exam.metadata["warnings"])
    with pytest.raises(InputError, match=r"hold 2 of the 4 echo times .*e\.g\. --series 15,16,17,18\."):
        load_dicom_exam(tmp_path / "study", series="15,16")  # echoes 3 and 4 would silently be missing
    mixed = load_dicom_exam(tmp_path / "study", series="15,16,17,8")  # echo 4 of the other repeat
    assert any("numbered together with most of them are 15,16,17,18" in warning for warning in mixed.metadata["warnings"])


def test_naming_a_phase_series_of_a_repeated_study_says_it_holds_no_magnitude(tmp_path):
    _write(_exam(13), tmp_path / "study" / "a", 8)
    _write(_exam(14), tmp_path / "study" / "b", 12)
    _write(_exam(15), tmp_path / "study" / "c", 14, ["ORIGINAL", "PRIMARY", "P", "ND"])
    with pytest.raises(InputError, match="Series 14 .* holds no magnitude images"):
        load_dicom_exam(tmp_path / "study", series="14")


def test_series_of_different_acquisitions_are_not_mixed(tmp_path):
    _write(_exam(11), tmp_path / "study" / "a", 3)
    other = _exam(12)
    paths = _write(other, tmp_path / "study" / "b", 4)
    for path in paths:  # another protocol (TR) in the same study
        dataset = pydicom.dcmread(path)
        dataset.RepetitionTime = 2500.0
        dataset.save_as(path)
    with pytest.raises(InputError, match="belong to different acquisitions"):
        load_dicom_exam(tmp_path / "study", series="3,4")
    exam = load_dicom_exam(tmp_path / "study", series="4")
    np.testing.assert_array_equal(exam.echoes, other.echoes)


def test_the_t2_map_export_names_only_magnitude_images_as_its_source(tmp_path):
    from KneeCartilageT2Lib.result_dicom_source import find_source_study

    magnitude = _exam(9)
    mag_paths = _write(magnitude, tmp_path / "study" / "mag", 5)
    _write(_exam(10), tmp_path / "study" / "phase", 6, ["ORIGINAL", "PRIMARY", "P", "ND"])
    source = find_source_study(tmp_path / "study", magnitude.ijk_to_ras, 3, TIMES)
    magnitude_uids = {str(pydicom.dcmread(path).SOPInstanceUID) for path in mag_paths}
    named = {image.sop_instance_uid for images in source.images_by_slice.values() for image in images}
    assert named == magnitude_uids and source.series_number == 5


def test_the_t2_map_export_refuses_a_source_folder_with_a_repeated_series(tmp_path):
    from KneeCartilageT2Lib.result_dicom_source import find_source_study

    first = _exam(11)
    _write(first, tmp_path / "study" / "a", 8)
    _write(_exam(12), tmp_path / "study" / "b", 12)
    with pytest.raises(InputError, match="repeated acquisition"):
        find_source_study(tmp_path / "study", first.ijk_to_ras, 3, TIMES)
    assert find_source_study(tmp_path / "study" / "a", first.ijk_to_ras, 3, TIMES).series_number == 8


def test_a_named_series_leaves_out_another_mese_of_the_same_tr_on_other_slices(tmp_path):
    knee, other = _exam(9), _exam(10)
    other.ijk_to_ras = other.ijk_to_ras.copy()
    other.ijk_to_ras[:3, 3] += (0.0, 0.0, 150.0)  # the same protocol on another slab (e.g. the other knee)
    _write(knee, tmp_path / "study" / "a", 5)
    _write(other, tmp_path / "study" / "b", 9)
    with pytest.raises(InputError, match=r'2 multi-echo series of the same protocol on different slices: series 5 "s5" '
                                         r'and series 9 "s9" .*--series 5,9 when'):
        load_dicom_exam(tmp_path / "study")  # not stacked into one series with a gap of 15 cm
    exam = load_dicom_exam(tmp_path / "study", series="5")
    np.testing.assert_array_equal(exam.echoes, knee.echoes)
    assert any('series 9 "s9" share the chosen mese' in warning.lower() for warning in exam.metadata["warnings"])


@pytest.mark.parametrize("series", ["", ",", " ; "])
def test_a_series_choice_naming_nothing_is_refused(tmp_path, series):
    _write(_exam(11), tmp_path / "study" / "a", 5)
    _write(_exam(12), tmp_path / "study" / "b", 6)
    with pytest.raises(InputError, match="names no series"):
        load_dicom_exam(tmp_path / "study", series=series)
