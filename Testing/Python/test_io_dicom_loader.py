"""DICOM loading: synthetic series written by dicom_writer read back exactly, every bad-input case
named in the error, and the real GE exam (Explicit VR Big Endian) assembled in the right order."""

from __future__ import annotations

import os
import random
import re
import shutil

import numpy as np
import pydicom
import pytest

from KneeCartilageT2Lib.dicom_loader import load_dicom_exam
from KneeCartilageT2Lib.dicom_writer import write_dicom_series
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.geometry import make_ijk_to_ras

ECHO_TIMES = [10.0, 20.0, 30.0, 40.0]
N_SLICES = 5


def rotation(angles):
    """A proper rotation (det +1) from three angles (rad) about x, y, z."""
    ax, ay, az = angles
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


OBLIQUE = make_ijk_to_ras((0.5, 0.625, 3.5), rotation((0.3, -0.2, 0.5)), (-60.25, 40.5, -20.125))


def make_exam(times=ECHO_TIMES, ijk_to_ras=OBLIQUE, shape=(N_SLICES, 12, 10), laterality="left", seed=0):
    rng = np.random.default_rng(seed)
    echoes = rng.integers(0, 4000, size=(len(times),) + tuple(shape)).astype(np.float32)
    return MeseExam(echoes, times, ijk_to_ras, laterality)


def error_of(folder, **kwargs) -> str:
    with pytest.raises(InputError) as caught:
        load_dicom_exam(folder, **kwargs)
    return str(caught.value)


@pytest.mark.parametrize("per_echo, big_endian", [(False, False), (True, True), (False, True)])
def test_synthetic_series_reads_back_equal(tmp_path, per_echo, big_endian):
    exam = make_exam()
    paths = write_dicom_series(exam, tmp_path, one_series_per_echo=per_echo, big_endian=big_endian)
    assert len(paths) == len(ECHO_TIMES) * N_SLICES
    if big_endian:
        assert pydicom.dcmread(str(paths[0])).file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRBigEndian
    loaded = load_dicom_exam(tmp_path)
    assert np.array_equal(loaded.echoes, exam.echoes)
    assert np.array_equal(loaded.echo_times_ms, ECHO_TIMES)
    np.testing.assert_allclose(loaded.ijk_to_ras, exam.ijk_to_ras, atol=1e-6)
    assert loaded.laterality == "left"
    assert len(loaded.metadata["SeriesInstanceUIDs"]) == (len(ECHO_TIMES) if per_echo else 1)
    assert loaded.metadata["PatientName"] == "PHANTOM^KNEE"


def test_shuffled_names_and_subfolders_give_the_same_exam(tmp_path):
    exam = make_exam()
    source = tmp_path / "written"
    paths = write_dicom_series(exam, source)
    shuffled = tmp_path / "shuffled"
    names = list(range(len(paths)))
    random.Random(3).shuffle(names)
    for path, number in zip(paths, names):
        target = shuffled / ("sub%d" % (number % 3)) / ("IM%04d" % number)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(str(path), str(target))
    first, second = load_dicom_exam(source), load_dicom_exam(shuffled)
    assert np.array_equal(first.echoes, second.echoes)
    assert np.array_equal(first.ijk_to_ras, second.ijk_to_ras)


def test_slices_are_ordered_along_the_normal_not_by_instance_number(tmp_path):
    """A left-handed exam (k against row x column) comes back with k reversed and the same voxels in space."""
    flipped = OBLIQUE.copy()
    flipped[:3, 2] *= -1
    exam = make_exam(ijk_to_ras=flipped)
    write_dicom_series(exam, tmp_path)
    loaded = load_dicom_exam(tmp_path)
    assert np.array_equal(loaded.echoes, exam.echoes[:, ::-1])
    last = np.array([0, 0, N_SLICES - 1, 1.0])
    np.testing.assert_allclose(loaded.ijk_to_ras @ np.array([0, 0, 0, 1.0]), flipped @ last, atol=1e-6)
    normal = np.cross(loaded.ijk_to_ras[:3, 0], loaded.ijk_to_ras[:3, 1])
    assert float(normal @ loaded.ijk_to_ras[:3, 2]) > 0


def test_rescale_slope_and_intercept_are_applied(tmp_path):
    exam = make_exam()
    exam.echoes = exam.echoes * 0.37 + 5.5  # not integral: the writer must scale
    write_dicom_series(exam, tmp_path)
    header = pydicom.dcmread(str(next(tmp_path.glob("*.dcm"))))
    slope = float(header.RescaleSlope)
    assert slope != 1.0
    loaded = load_dicom_exam(tmp_path)
    assert np.max(np.abs(loaded.echoes - exam.echoes)) <= slope / 2 + 1e-3


def test_identical_duplicate_file_is_ignored(tmp_path):
    paths = write_dicom_series(make_exam(), tmp_path)
    shutil.copy(str(paths[7]), str(tmp_path / "copy_of_one_file.dcm"))
    loaded = load_dicom_exam(tmp_path)
    assert loaded.echoes.shape == (4, N_SLICES, 12, 10)
    assert len(loaded.metadata["duplicate_files_ignored"]) == 1


def test_non_image_files_are_skipped_and_listed(tmp_path):
    write_dicom_series(make_exam(), tmp_path)
    write_text_report(tmp_path / "report.dcm")
    (tmp_path / "notes.txt").write_text("not DICOM")
    loaded = load_dicom_exam(tmp_path)
    reasons = dict((os.path.basename(path), reason) for path, reason in loaded.metadata["skipped_files"])
    assert "not an image" in reasons["report.dcm"] and "SR" in reasons["report.dcm"]
    assert reasons["notes.txt"] == "not a DICOM file"
    assert "2 file(s) in the folder were not used" in loaded.metadata["warnings"][0]


def test_laterality_from_image_laterality_tag(tmp_path):
    paths = write_dicom_series(make_exam(laterality="unknown"), tmp_path)
    for path in paths:
        dataset = pydicom.dcmread(str(path))
        assert dataset.Laterality == ""  # type 2C, present and empty: the side is not known
        dataset.ImageLaterality = "R"
        dataset.save_as(str(path))
    assert load_dicom_exam(tmp_path).laterality == "right"


# --- bad input ------------------------------------------------------------------------------


def test_empty_folder(tmp_path):
    assert "is empty" in error_of(tmp_path)


def test_folder_with_only_non_image_dicom(tmp_path):
    write_text_report(tmp_path / "sr.dcm")
    write_dicomdir_like(tmp_path / "DICOMDIR")
    message = error_of(tmp_path)
    assert "No DICOM image was found" in message and "2 files" in message
    assert "DICOMDIR" in message and "not an image" in message


def test_single_echo(tmp_path):
    write_dicom_series(make_exam(times=[12.0]), tmp_path)
    message = error_of(tmp_path)
    assert "Only one echo (TE 12 ms)" in message and "multi-echo" in message


def test_duplicate_echo_time_with_different_images(tmp_path):
    write_dicom_series(make_exam(times=[10.0, 20.0], seed=1), tmp_path / "a", one_series_per_echo=True)
    write_dicom_series(make_exam(times=[20.0, 30.0], seed=2), tmp_path / "b", one_series_per_echo=True)
    message = error_of(tmp_path)  # two series both hold TE 20 ms at every slice: a repeat, not one echo each
    assert "holds the same MESE acquisition more than once" in message and "share slice positions and echo times" in message


def test_duplicate_echo_time_with_different_images_in_one_series(tmp_path):
    from pydicom.uid import generate_uid

    paths = write_dicom_series(make_exam(seed=1), tmp_path)
    copy = pydicom.dcmread(paths[0])
    copy.SOPInstanceUID = generate_uid()
    copy.PixelData = bytes(len(copy.PixelData))  # another image at the same slice and echo time
    copy.save_as(tmp_path / "copy.dcm")
    message = error_of(tmp_path)
    assert "Duplicate echo time 10 ms" in message and "same slice position" in message


def test_missing_slice_in_one_echo(tmp_path):
    paths = write_dicom_series(make_exam(), tmp_path)
    paths[2 * N_SLICES + 3].unlink()  # echo 3, slice 4
    message = error_of(tmp_path)
    assert "Missing slices: echo 3 (TE 30 ms" in message
    # slice numbers count from 0, as the slice checks and Slicer's K: the file removed was the 4th slice (index 3)
    assert "has 4 slices but" in message and "no image at slice 3 at " in message
    assert "slices counted from 0, as Slicer shows K" in message


def test_gap_in_every_echo_is_reported_as_missing_slices(tmp_path):
    paths = write_dicom_series(make_exam(), tmp_path)
    for echo in range(len(ECHO_TIMES)):
        paths[echo * N_SLICES + 2].unlink()
    message = error_of(tmp_path)
    assert "Missing slices: the slice spacing is uneven" in message
    # the gap lies between the 2nd and 3rd slices left: 0-based indices 1 and 2, 7 mm apart along the normal
    found = re.search(r"7 mm between slices 1 and 2 \(at (-?[\d.]+) and (-?[\d.]+) mm along the normal; slices "
                      r"counted from 0, as Slicer shows K\) but 3.5 mm", message)
    assert found and abs(abs(float(found.group(2)) - float(found.group(1))) - 7.0) < 0.02


def test_echoes_with_different_orientation(tmp_path):
    other = make_ijk_to_ras((0.5, 0.625, 3.5), rotation((0.0, 0.0, 0.0)), (-60.25, 40.5, -20.125))
    write_dicom_series(make_exam(times=[10.0, 20.0]), tmp_path / "a", one_series_per_echo=True)
    write_dicom_series(make_exam(times=[30.0, 40.0], ijk_to_ras=other), tmp_path / "b", one_series_per_echo=True)
    message = error_of(tmp_path)
    assert "do not share one geometry" in message and "oriented differently" in message


def test_echoes_with_different_matrix(tmp_path):
    write_dicom_series(make_exam(times=[10.0, 20.0]), tmp_path / "a", one_series_per_echo=True)
    write_dicom_series(make_exam(times=[30.0], shape=(N_SLICES, 16, 10)), tmp_path / "b")
    message = error_of(tmp_path)
    assert "do not share one geometry" in message and "16x10 pixels" in message and "12x10 pixels" in message


def test_echoes_with_shifted_slices(tmp_path):
    shifted = OBLIQUE.copy()
    shifted[:3, 3] += 1.5 * OBLIQUE[:3, 2] / 3.5  # 1.5 mm along the normal
    write_dicom_series(make_exam(times=[10.0, 20.0]), tmp_path / "a", one_series_per_echo=True)
    write_dicom_series(make_exam(times=[30.0], ijk_to_ras=shifted), tmp_path / "b")
    message = error_of(tmp_path)
    assert "do not share one geometry" in message and "1.5 mm away" in message


def test_sheared_stack_is_refused(tmp_path):
    sheared = OBLIQUE.copy()
    sheared[:3, 2] += 0.8 * OBLIQUE[:3, 0]  # each slice moves 0.4 mm along the rows
    write_dicom_series(make_exam(ijk_to_ras=sheared), tmp_path)
    assert "shifted in-plane" in error_of(tmp_path)


def test_echo_numbers_without_echo_time_need_given_times(tmp_path):
    paths = write_dicom_series(make_exam(), tmp_path)
    for path in paths:
        dataset = pydicom.dcmread(str(path))
        del dataset.EchoTime
        dataset.save_as(str(path))
    assert "no EchoTime (0018,0081) but 4 echo numbers" in error_of(tmp_path)
    loaded = load_dicom_exam(tmp_path, echo_times_ms=[11, 22, 33, 44])
    assert np.array_equal(loaded.echo_times_ms, [11, 22, 33, 44])


def test_given_echo_times_must_agree_with_headers(tmp_path):
    write_dicom_series(make_exam(), tmp_path)
    assert load_dicom_exam(tmp_path, echo_times_ms=ECHO_TIMES).n_echoes == 4
    assert "disagree with the DICOM headers" in error_of(tmp_path, echo_times_ms=[10, 20, 30, 45])


# --- the real GE exam -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ge_exam(ge_exam_dir):
    return load_dicom_exam(ge_exam_dir)


def test_ge_exam_facts(ge_exam):
    assert ge_exam.echoes.shape == (8, 24, 256, 256)
    np.testing.assert_allclose(ge_exam.echo_times_ms, 6.312 * np.arange(1, 9), atol=1e-9)
    np.testing.assert_allclose(ge_exam.spacing_ijk, [0.625, 0.625, 4.0], atol=1e-3)
    assert ge_exam.laterality == "unknown"
    assert ge_exam.metadata["Manufacturer"] == "GE MEDICAL SYSTEMS"
    assert ge_exam.metadata["TransferSyntaxUID"] == pydicom.uid.ExplicitVRBigEndian
    assert ge_exam.metadata["RepetitionTime"] == 2450.0
    assert ge_exam.metadata["SliceThickness"] == 3.0
    assert ge_exam.metadata["n_images"] == 192 and ge_exam.metadata["skipped_files"] == []


def test_ge_slices_step_plus_4_mm_along_the_normal(ge_exam):
    matrix = ge_exam.ijk_to_ras
    normal = np.cross(matrix[:3, 0], matrix[:3, 1])
    normal /= np.linalg.norm(normal)
    corners = np.array([matrix @ np.array([0, 0, k, 1.0]) for k in range(24)])[:, :3]
    np.testing.assert_allclose(np.diff(corners @ normal), 4.0, atol=1e-3)


def test_ge_every_file_lands_at_its_own_position_and_echo(ge_exam, ge_exam_dir):
    """Each file's ImagePositionPatient maps to an integer slice k, and its pixels sit there."""
    ras_to_ijk = np.linalg.inv(ge_exam.ijk_to_ras)
    seen = set()
    for path in sorted(ge_exam_dir.glob("*.dcm")):
        dataset = pydicom.dcmread(str(path))
        lps = np.array([float(value) for value in dataset.ImagePositionPatient])
        ras = np.array([-lps[0], -lps[1], lps[2], 1.0])
        i, j, k = (ras_to_ijk @ ras)[:3]
        assert abs(i) < 1e-2 and abs(j) < 1e-2 and abs(k - round(k)) < 1e-3
        echo = ge_exam.echo_index_nearest(float(dataset.EchoTime))
        assert np.array_equal(ge_exam.echoes[echo, int(round(k))], dataset.pixel_array.astype(np.float32))
        seen.add((echo, int(round(k))))
    assert len(seen) == 192


# --- helpers ---------------------------------------------------------------------------------


def _bare_dataset(sop_class_uid):
    """A dataset with only the file meta of ``sop_class_uid`` (what non-image files share)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    return dataset


def write_text_report(path):
    """A minimal Basic Text SR object (no pixels)."""
    from pydicom.uid import BasicTextSRStorage

    dataset = _bare_dataset(BasicTextSRStorage)
    dataset.SOPClassUID = BasicTextSRStorage
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID
    dataset.Modality = "SR"
    dataset.save_as(str(path), enforce_file_format=True)


def write_dicomdir_like(path):
    """A file with the Media Storage Directory SOP class, as DICOMDIR files have."""
    from pydicom.uid import MediaStorageDirectoryStorage

    dataset = _bare_dataset(MediaStorageDirectoryStorage)
    dataset.FileSetID = "TEST"
    dataset.save_as(str(path), enforce_file_format=True)
