"""Compressed DICOM, as PACS exports it: JPEG lossless, JPEG-LS and JPEG 2000 lossless series (transcoded here
with GDCM) load to exactly the uncompressed exam; a transfer syntax nothing can decode says what to install."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from KneeCartilageT2Lib.dicom_loader import load_dicom_exam
from KneeCartilageT2Lib.dicom_writer import write_dicom_series
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.geometry import make_ijk_to_ras

gdcm = pytest.importorskip("gdcm", reason="python-gdcm is not installed (pip install python-gdcm, or the "
                                          "project's dicom-codecs extra)")

SYNTAXES = {
    "jpeg-lossless": "JPEGLosslessProcess14_1",
    "jpeg-ls-lossless": "JPEGLSLossless",
    "jpeg2000-lossless": "JPEG2000Lossless",
}


def transcode(paths, folder, syntax_name):
    """Each file of ``paths`` written into ``folder`` in the named GDCM transfer syntax."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        reader = gdcm.ImageReader()
        reader.SetFileName(str(path))
        assert reader.Read(), path
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, syntax_name)))
        change.SetInput(reader.GetImage())
        assert change.Change(), path
        writer = gdcm.ImageWriter()
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        writer.SetFileName(str(folder / path.name))
        assert writer.Write(), path
    return sorted(folder.iterdir())


@pytest.mark.parametrize("name", sorted(SYNTAXES))
def test_compressed_series_load_to_the_uncompressed_exam(tmp_path, name):
    rng = np.random.default_rng(11)
    exam = MeseExam(rng.integers(0, 4000, size=(4, 5, 14, 12)).astype(np.float32), [9.0, 18.0, 27.0, 36.0],
                    make_ijk_to_ras((0.5, 0.6, 3.5), np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]),
                                    (10.0, -20.0, 5.0)), "left")
    compressed = transcode(write_dicom_series(exam, tmp_path / "raw"), tmp_path / name, SYNTAXES[name])
    assert pydicom.dcmread(str(compressed[0])).file_meta.TransferSyntaxUID.is_compressed
    loaded = load_dicom_exam(tmp_path / name)
    assert np.array_equal(loaded.echoes, exam.echoes)
    np.testing.assert_allclose(loaded.ijk_to_ras, exam.ijk_to_ras, atol=1e-6)


def test_real_ge_exam_as_jpeg_lossless_is_the_same_exam(ge_exam_dir, tmp_path):
    """The real exam's 192 files (signed 16 bit, big endian) through JPEG lossless, the usual PACS export."""
    transcode(sorted(ge_exam_dir.glob("*.dcm")), tmp_path / "ge_jpeg", SYNTAXES["jpeg-lossless"])
    loaded = load_dicom_exam(tmp_path / "ge_jpeg")
    reference = load_dicom_exam(ge_exam_dir)
    assert np.array_equal(loaded.echoes, reference.echoes)
    assert np.array_equal(loaded.echo_times_ms, reference.echo_times_ms)
    np.testing.assert_allclose(loaded.ijk_to_ras, reference.ijk_to_ras, atol=1e-9)


def test_pixel_data_nothing_can_decode_says_what_to_install(tmp_path):
    exam = MeseExam(np.ones((2, 2, 8, 8), np.float32), [10.0, 20.0], np.eye(4), "right")
    paths = write_dicom_series(exam, tmp_path)
    dataset = pydicom.dcmread(str(paths[0]))
    dataset.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.201"  # HTJ2K lossless, with raw bytes inside
    dataset.PixelData = pydicom.encaps.encapsulate([b"\x00" * 16])
    dataset.save_as(str(paths[0]))
    expected = "(?s)Cannot decode the pixel data of .*echo01_slice001.dcm .*pip install python-gdcm"
    with pytest.raises(InputError, match=expected):
        load_dicom_exam(tmp_path)
