"""The GE exam registered with Slicer's Sample Data module (its logic faked; the scene is real)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest


class _FakeSampleData:
    """Records registrations and 'downloads' a prepared archive, like SampleData.SampleDataLogic."""

    registered = []
    archive = None

    class SampleDataLogic:
        @staticmethod
        def registerCustomSampleDataSource(**kwargs):
            _FakeSampleData.registered.append(kwargs)

        def downloadFileIntoCache(self, uri, name, checksum=None):
            assert checksum and checksum.startswith("SHA256:")
            return str(_FakeSampleData.archive)


def _archive_from(ge_dir: Path, path: Path) -> Path:
    with tarfile.open(str(path), "w:gz") as tar:
        for dicom in sorted(ge_dir.glob("*.dcm")):
            tar.add(str(dicom), arcname="mskt-0.1.22/data/MESE_T2_dicom_data_anon/" + dicom.name)
        for name in ("right_knee_example.nrrd", "SAG_3D_DESS_RIGHT_bones_cart_men_fib-label.nrrd"):
            info = tarfile.TarInfo("mskt-0.1.22/data/" + name)
            payload = b"not read by this test"
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def test_registration_names_pypi_origin_and_pinned_checksum():
    from KneeCartilageT2SlicerLib import sample_data_source
    from KneeCartilageT2Lib.sample_data import SDIST_SHA256

    _FakeSampleData.registered.clear()
    assert sample_data_source.register_sample_data(_FakeSampleData)
    (entry,) = _FakeSampleData.registered
    assert entry["uris"] == [sample_data_source.SDIST_URL]
    assert entry["uris"][0].startswith("https://files.pythonhosted.org/")
    assert entry["checksums"] == ["SHA256:" + SDIST_SHA256]
    assert callable(entry["customDownloader"])


def test_without_sample_data_module_registration_is_skipped():
    from KneeCartilageT2SlicerLib import sample_data_source

    assert sample_data_source.register_sample_data() is False  # slicer-core has no SampleData module


def test_custom_downloader_loads_the_exam_as_an_echo_sequence(slicer_scene, ge_exam_dir, tmp_path):
    from KneeCartilageT2SlicerLib import sample_data_source

    _FakeSampleData.registered.clear()
    _FakeSampleData.archive = _archive_from(ge_exam_dir, tmp_path / "mskt-0.1.22.tar.gz")
    sample_data_source.register_sample_data(_FakeSampleData)
    downloader = _FakeSampleData.registered[0]["customDownloader"]

    class Source:
        uris = [sample_data_source.SDIST_URL]
        fileNames = ["mskt-0.1.22.tar.gz"]
        checksums = [sample_data_source.sample_checksum()]

    proxy = downloader(Source())
    assert proxy is not None
    sequences = slicer_scene.GetNodesByClass("vtkMRMLSequenceNode")
    assert sequences.GetNumberOfItems() == 1
    sequence = sequences.GetItemAsObject(0)
    assert sequence.GetNumberOfDataNodes() == 8
    assert float(sequence.GetNthIndexValue(1)) == pytest.approx(12.624, abs=1e-3)
    assert (tmp_path / "KneeCartilageT2" / "mese_knee_ge").is_dir()
    dims = proxy.GetImageData().GetDimensions()
    assert tuple(dims) == (256, 256, 24)
    assert np.isclose(proxy.GetSpacing()[2], 4.0)
