"""The real GE knee MESE exam in Slicer's Sample Data module.

The exam is public (MIT licence) and published inside the source
distribution of the ``mskt`` package on PyPI. Slicer's Sample Data logic
downloads that archive from PyPI on first use into its cache and verifies the
pinned SHA-256; the core then extracts only the 192 DICOM files
(:func:`KneeCartilageT2Lib.sample_data.extract_sample_archive`), loads them as
a MESE exam and puts it into the scene as an echo-time sequence.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

SAMPLE_CATEGORY = "Knee Cartilage T2"
SAMPLE_NAME = "KneeMESE_GE"
SAMPLE_DESCRIPTION = "Knee MESE (GE 3T, 8 echoes)"
SDIST_URL = "https://files.pythonhosted.org/packages/source/m/mskt/mskt-0.1.22.tar.gz"


def sample_checksum() -> str:
    """The pinned checksum in Slicer's ``ALGO:digest`` form."""
    from KneeCartilageT2Lib.sample_data import SDIST_SHA256

    return "SHA256:" + SDIST_SHA256


def register_sample_data(sample_data_module=None, thumbnail: Optional[str] = None) -> bool:
    """Register the GE exam with Sample Data; returns False when that module is absent (headless)."""
    if sample_data_module is None:
        try:
            import SampleData as sample_data_module
        except ImportError:
            return False
    from KneeCartilageT2Lib.sample_data import SDIST_FILE_NAME

    sample_data_module.SampleDataLogic.registerCustomSampleDataSource(
        category=SAMPLE_CATEGORY,
        sampleName=SAMPLE_NAME,
        uris=[SDIST_URL],
        fileNames=[SDIST_FILE_NAME],
        nodeNames=[None],
        thumbnailFileName=thumbnail,
        loadFileType=[None],
        checksums=[sample_checksum()],
        customDownloader=lambda source: load_sample(source, sample_data_module),
    )
    return True


def load_sample(source, sample_data_module, scene=None):
    """Download (checksum verified by Sample Data), extract and load the exam; returns the proxy volume."""
    import slicer
    from KneeCartilageT2Lib.exam_loader import load_exam
    from KneeCartilageT2Lib.sample_data import GE_EXAM_FOLDER, extract_sample_archive

    from .exam_from_nodes import exam_to_sequence

    logic = sample_data_module.SampleDataLogic()
    archive = logic.downloadFileIntoCache(source.uris[0], source.fileNames[0], source.checksums[0])
    data_dir = Path(os.path.dirname(str(archive))) / "KneeCartilageT2"
    folders = extract_sample_archive(archive, data_dir)
    exam = load_exam(folders[GE_EXAM_FOLDER])
    _, _, proxy = exam_to_sequence(exam, scene or slicer.mrmlScene, name=SAMPLE_NAME)
    return proxy
