"""Enhanced (multi-frame) MR DICOM: the same exam as its classic single-frame files, whatever the
frame order, rescale per frame, legacy conversion or file split; the real GE exam repacked."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from enhanced_mr_files import write_enhanced_mr

from KneeCartilageT2Lib.dicom_loader import load_dicom_exam
from KneeCartilageT2Lib.dicom_writer import write_dicom_series
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.geometry import make_ijk_to_ras

ECHO_TIMES = [9.0, 18.0, 27.0, 36.0, 45.0]
N_SLICES = 6
_C, _S = np.cos(np.radians(15.0)), np.sin(np.radians(15.0))
OBLIQUE = make_ijk_to_ras((0.4, 0.55, 3.5), np.array([[0.0, _S, _C], [-1.0, 0.0, 0.0], [0.0, -_C, _S]]),
                          (-70.5, 31.25, -12.0))  # sagittal, tilted 15 degrees


@pytest.fixture()
def classic(tmp_path):
    """(exam, classic file paths in echo-major order) of a small oblique right-knee exam."""
    rng = np.random.default_rng(5)
    echoes = (2 * rng.integers(0, 3000, size=(len(ECHO_TIMES), N_SLICES, 14, 11))).astype(np.float32)
    exam = MeseExam(echoes, ECHO_TIMES, OBLIQUE, "right")
    return exam, write_dicom_series(exam, tmp_path / "classic", patient_name="DOE^JANE")


def _assert_same_exam(loaded, reference):
    assert np.array_equal(loaded.echoes, reference.echoes)
    np.testing.assert_allclose(loaded.echo_times_ms, reference.echo_times_ms, atol=1e-9)
    np.testing.assert_allclose(loaded.ijk_to_ras, reference.ijk_to_ras, atol=1e-6)
    assert loaded.laterality == reference.laterality


def test_one_enhanced_file_with_frames_in_any_order_is_the_classic_exam(classic, tmp_path):
    exam, paths = classic
    order = np.random.default_rng(1).permutation(len(paths))
    write_enhanced_mr(paths, tmp_path / "enhanced" / "IM0001", frame_order=order)
    loaded = load_dicom_exam(tmp_path / "enhanced")
    _assert_same_exam(loaded, load_dicom_exam(tmp_path / "classic"))
    _assert_same_exam(loaded, exam)
    assert loaded.laterality == "right"  # from FrameLaterality: the top-level Laterality is absent
    assert loaded.metadata["n_files"] == 1 and loaded.metadata["n_images"] == len(paths)
    assert loaded.metadata["SliceThickness"] == 3.5 and loaded.metadata["RepetitionTime"] == 2000.0
    assert loaded.metadata["PatientName"] == "DOE^JANE"


def test_each_frame_is_rescaled_with_its_own_slope(classic, tmp_path):
    """Stored values halved with slope 2 on odd frames, shifted with an intercept on even ones."""
    exam, paths = classic

    def rescale(number, image):
        stored = image.pixel_array.astype(np.int64)
        if number % 2:
            return stored // 2, 2, 0
        return stored + 100, 1, -100

    write_enhanced_mr(paths, tmp_path / "enhanced" / "IM0001", rescale=rescale)
    _assert_same_exam(load_dicom_exam(tmp_path / "enhanced"), exam)


def test_legacy_converted_object_with_geometry_in_every_frame(classic, tmp_path):
    exam, paths = classic
    write_enhanced_mr(paths, tmp_path / "legacy" / "IM0001", legacy=True, shared_geometry=False,
                      frame_order=list(reversed(range(len(paths)))))
    loaded = load_dicom_exam(tmp_path / "legacy")
    _assert_same_exam(loaded, exam)
    assert pydicom.dcmread(str(tmp_path / "legacy" / "IM0001")).SOPClassUID.name == \
        "Legacy Converted Enhanced MR Image Storage"


def test_one_enhanced_file_per_echo(classic, tmp_path):
    exam, paths = classic
    for echo in range(len(ECHO_TIMES)):
        write_enhanced_mr(paths[echo * N_SLICES:(echo + 1) * N_SLICES], tmp_path / "per_echo" / ("E%d" % echo))
    _assert_same_exam(load_dicom_exam(tmp_path / "per_echo"), exam)


def test_the_same_enhanced_file_twice_is_read_once(classic, tmp_path):
    exam, paths = classic
    first = write_enhanced_mr(paths, tmp_path / "twice" / "IM0001")
    (tmp_path / "twice" / "copy").write_bytes(first.read_bytes())
    loaded = load_dicom_exam(tmp_path / "twice")
    _assert_same_exam(loaded, exam)
    assert len(loaded.metadata["duplicate_files_ignored"]) == len(paths)


def test_frames_without_echo_times_say_what_to_do(classic, tmp_path):
    _, paths = classic
    target = write_enhanced_mr(paths, tmp_path / "no_te" / "IM0001")
    dataset = pydicom.dcmread(str(target))
    for frame in dataset.PerFrameFunctionalGroupsSequence:
        del frame.MREchoSequence
    dataset.save_as(str(target))
    with pytest.raises(InputError, match="neither EchoTime nor EchoNumbers.*--echo-times"):
        load_dicom_exam(tmp_path / "no_te")


def test_missing_frame_geometry_and_truncated_pixels_are_named(classic, tmp_path):
    _, paths = classic
    target = write_enhanced_mr(paths, tmp_path / "broken" / "IM0001")
    dataset = pydicom.dcmread(str(target))
    del dataset.PerFrameFunctionalGroupsSequence[3].PlanePositionSequence
    dataset.save_as(str(target))
    with pytest.raises(InputError, match="unreadable geometry \\(no ImagePositionPatient\\)"):
        load_dicom_exam(tmp_path / "broken")

    target = write_enhanced_mr(paths, tmp_path / "short" / "IM0001")
    dataset = pydicom.dcmread(str(target))
    dataset.PixelData = dataset.PixelData[: len(dataset.PixelData) // 2]
    dataset.save_as(str(target))
    with pytest.raises(InputError, match="IM0001"):
        load_dicom_exam(tmp_path / "short")


def test_multi_frame_without_functional_groups_is_still_refused(tmp_path):
    """A multi-frame object with no per-frame geometry (here RT Dose) cannot be a MESE stack."""
    from pydicom.data import get_testdata_file

    source = get_testdata_file("rtdose.dcm")
    (tmp_path / "dose.dcm").write_bytes(open(source, "rb").read())
    with pytest.raises(InputError, match="multi-frame image without per-frame geometry"):
        load_dicom_exam(tmp_path)


def test_real_ge_exam_repacked_as_enhanced_mr_is_the_same_exam(ge_exam_dir, tmp_path):
    """The real exam's 192 files (signed 16-bit, big endian) as one Enhanced MR object, frames shuffled."""
    paths = sorted(ge_exam_dir.glob("*.dcm"))
    order = np.random.default_rng(7).permutation(len(paths))
    write_enhanced_mr(paths, tmp_path / "ge_enhanced" / "IM0001", frame_order=order)
    loaded = load_dicom_exam(tmp_path / "ge_enhanced")
    reference = load_dicom_exam(ge_exam_dir)
    _assert_same_exam(loaded, reference)
    assert loaded.echoes.shape == (8, 24, 256, 256)
    assert loaded.metadata["SliceThickness"] == reference.metadata["SliceThickness"] == 3.0


def test_the_enhanced_file_itself_is_an_exam_input(classic, tmp_path):
    """``knee-t2 t2map IM0001``: an enhanced file holds the whole series, so it may be named alone."""
    from KneeCartilageT2Lib.exam_loader import load_exam

    exam, paths = classic
    target = write_enhanced_mr(paths, tmp_path / "enhanced" / "IM0001")
    _assert_same_exam(load_exam(target), exam)
    with pytest.raises(InputError, match="single DICOM file; give the folder"):
        load_exam(paths[0])


def test_one_single_frame_enhanced_file_per_image(classic, tmp_path):
    """Some scanners write every image as its own enhanced object (NumberOfFrames 1)."""
    exam, paths = classic
    for number, path in enumerate(paths):
        write_enhanced_mr([path], tmp_path / "single" / ("IM%04d" % number))
    loaded = load_dicom_exam(tmp_path / "single")
    _assert_same_exam(loaded, exam)
    assert loaded.metadata["n_files"] == len(paths)
