"""Write a :class:`MeseExam` as a real MR DICOM series (MR Image Storage).

Used by the phantom generator (simulated exams that go through the same
loader as scanner data) and by tests that build broken inputs (a dropped
file, one echo, a repeated echo time, other geometry per echo). Files are
classic single-frame MR images with every attribute the loader and common
viewers rely on: UIDs, ImagePositionPatient / ImageOrientationPatient from
``ijk_to_ras``, PixelSpacing, SliceThickness, SpacingBetweenSlices,
EchoTime, EchoNumbers, Laterality, and uint16 pixels with one
RescaleSlope / RescaleIntercept for the whole exam (so echo ratios, hence T2,
are unchanged). Identifying values go into the headers only, never into file
names.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from .errors import InputError
from .exam import MeseExam
from .geometry import ijk_to_ras_to_itk_geometry

UINT16_MAX = 65535
_SIDE_CODES = {"right": "R", "left": "L"}


def write_dicom_series(
    exam: MeseExam,
    folder,
    one_series_per_echo: bool = False,
    big_endian: bool = False,
    patient_name: str = "PHANTOM^KNEE",
    patient_id: str = "KNEE-T2-PHANTOM",
    study_date: str = "20000101",
    study_description: str = "Knee MESE T2",
    series_description: str = "MESE T2 map",
    series_number: int = 1,
    manufacturer: str = "KneeCartilageT2",
    repetition_time_ms: float = 2000.0,
    slice_thickness_mm: Optional[float] = None,
    study_instance_uid: Optional[str] = None,
) -> List[Path]:
    """Write every echo and slice as one DICOM file each; return the paths.

    Args:
        exam: echoes ``(echo, slice, row, col)``, echo times (ms), ``ijk_to_ras`` (mm).
        folder: output folder (created); existing files of the same names are replaced.
        one_series_per_echo: one SeriesInstanceUID per echo (series numbers
            ``series_number + echo index``) instead of one series holding all echoes.
        big_endian: Explicit VR Big Endian (retired, as some GE exports) instead
            of Explicit VR Little Endian.
        slice_thickness_mm: SliceThickness; defaults to the slice step of ``ijk_to_ras``.

    Returns:
        Paths in echo-major order: ``paths[echo * n_slices + slice]``.
    """
    import pydicom
    from pydicom.uid import generate_uid

    echoes = np.asarray(exam.echoes, dtype=np.float64)
    if echoes.ndim != 4:
        raise InputError("write_dicom_series needs echoes (echo, slice, row, col); got shape %s" % (echoes.shape,))
    stored, slope, intercept = _to_uint16(echoes)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    geometry = _SliceGeometry(exam.ijk_to_ras)
    study_uid = study_instance_uid or generate_uid()
    frame_uid = generate_uid()
    series_uids = [generate_uid() for _ in range(exam.n_echoes if one_series_per_echo else 1)]
    n_echoes, n_slices = echoes.shape[:2]
    now = datetime.datetime.now().strftime("%H%M%S")
    paths = []
    for echo in range(n_echoes):
        series_index = echo if one_series_per_echo else 0
        for slice_index in range(n_slices):
            dataset = _base_dataset(pydicom, big_endian)
            _set_patient_study(dataset, patient_name, patient_id, study_date, now, study_description, study_uid)
            _set_series(dataset, series_uids[series_index], series_number + series_index, manufacturer,
                        series_description + (" TE=%g" % exam.echo_times_ms[echo] if one_series_per_echo else ""),
                        exam.laterality, frame_uid)
            instance = slice_index + 1 if one_series_per_echo else slice_index * n_echoes + echo + 1
            dataset.InstanceNumber = instance
            _set_mr(dataset, float(exam.echo_times_ms[echo]), echo + 1, repetition_time_ms)
            geometry.apply(dataset, slice_index, slice_thickness_mm)
            _set_pixels(dataset, stored[echo, slice_index], slope, intercept, big_endian)
            path = folder / ("echo%02d_slice%03d.dcm" % (echo + 1, slice_index + 1))
            dataset.save_as(str(path), **_save_arguments(pydicom))
            paths.append(path)
    return paths


def _to_uint16(echoes: np.ndarray) -> Tuple[np.ndarray, float, float]:
    """(stored uint16, slope, intercept) with value = stored x slope + intercept.

    Integral data inside 0..65535 is stored as is (slope 1); anything else is
    scaled to the full uint16 range with one slope for all echoes.
    """
    from pydicom.valuerep import format_number_as_ds

    if not np.all(np.isfinite(echoes)):
        raise InputError("Echo images contain NaN or infinite values; they cannot be written as DICOM.")
    low, high = float(echoes.min()), float(echoes.max())
    if low >= 0 and high <= UINT16_MAX and np.array_equal(echoes, np.round(echoes)):
        return echoes.astype(np.uint16), 1.0, 0.0
    intercept = float(format_number_as_ds(min(low, 0.0)))
    slope = float(format_number_as_ds((high - intercept) / UINT16_MAX if high > intercept else 1.0))
    stored = np.clip(np.round((echoes - intercept) / slope), 0, UINT16_MAX)
    return stored.astype(np.uint16), slope, intercept


class _SliceGeometry:
    """ImageOrientationPatient / ImagePositionPatient of each slice from ``ijk_to_ras`` (via LPS)."""

    def __init__(self, ijk_to_ras) -> None:
        origin, spacing, direction = ijk_to_ras_to_itk_geometry(ijk_to_ras)
        self.origin = np.asarray(origin)
        self.spacing = np.asarray(spacing)
        self.direction = np.asarray(direction).reshape(3, 3)
        self.normal = np.cross(self.direction[:, 0], self.direction[:, 1])

    def apply(self, dataset, slice_index: int, slice_thickness_mm: Optional[float]) -> None:
        position = self.origin + slice_index * self.spacing[2] * self.direction[:, 2]
        dataset.ImageOrientationPatient = _ds_list(list(self.direction[:, 0]) + list(self.direction[:, 1]))
        dataset.ImagePositionPatient = _ds_list(position)
        dataset.SliceLocation = _ds(float(position @ self.normal))
        dataset.PixelSpacing = _ds_list([self.spacing[1], self.spacing[0]])
        thickness = self.spacing[2] if slice_thickness_mm is None else slice_thickness_mm
        dataset.SliceThickness = _ds(thickness)
        dataset.SpacingBetweenSlices = _ds(self.spacing[2])


def _base_dataset(pydicom, big_endian: bool):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, MRImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRBigEndian if big_endian else ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.preamble = b"\x00" * 128
    if int(pydicom.__version__.split(".")[0]) < 3:  # pydicom 2 encodes from these flags
        dataset.is_little_endian = not big_endian
        dataset.is_implicit_VR = False
    dataset.SpecificCharacterSet = "ISO_IR 100"
    dataset.SOPClassUID = MRImageStorage
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.ImageType = ["DERIVED", "PRIMARY", "OTHER"]
    dataset.Modality = "MR"
    return dataset


def _set_patient_study(dataset, name, patient_id, date, time, description, study_uid) -> None:
    dataset.PatientName = name
    dataset.PatientID = patient_id
    dataset.PatientBirthDate = ""
    dataset.PatientSex = ""
    dataset.StudyDate = date
    dataset.StudyTime = time
    dataset.StudyDescription = description
    dataset.StudyInstanceUID = study_uid
    dataset.StudyID = "1"
    dataset.AccessionNumber = ""
    dataset.ReferringPhysicianName = ""


def _set_series(dataset, series_uid, number, manufacturer, description, laterality, frame_uid) -> None:
    dataset.SeriesInstanceUID = series_uid
    dataset.SeriesNumber = number
    dataset.SeriesDescription = description
    dataset.SeriesDate = dataset.StudyDate
    dataset.SeriesTime = dataset.StudyTime
    dataset.Manufacturer = manufacturer
    dataset.BodyPartExamined = "KNEE"
    dataset.Laterality = _SIDE_CODES.get(laterality, "")  # type 2C: the knee is a paired structure
    dataset.PatientPosition = ""  # type 2C for MR; the position is not known for a written exam
    dataset.FrameOfReferenceUID = frame_uid
    dataset.PositionReferenceIndicator = ""


def _set_mr(dataset, echo_time_ms: float, echo_number: int, repetition_time_ms: float) -> None:
    dataset.ScanningSequence = "SE"
    dataset.SequenceVariant = "NONE"
    dataset.ScanOptions = ""
    dataset.MRAcquisitionType = "2D"
    dataset.RepetitionTime = _ds(repetition_time_ms)
    dataset.EchoTime = _ds(echo_time_ms)
    dataset.EchoNumbers = echo_number
    dataset.EchoTrainLength = 1


def _set_pixels(dataset, pixels: np.ndarray, slope: float, intercept: float, big_endian: bool) -> None:
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.Rows, dataset.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    dataset.BitsAllocated = 16
    dataset.BitsStored = 16
    dataset.HighBit = 15
    dataset.PixelRepresentation = 0
    dataset.RescaleSlope = _ds(slope)
    dataset.RescaleIntercept = _ds(intercept)
    # pydicom writes pixel bytes as given: put them in the transfer syntax's byte order.
    dataset.PixelData = np.ascontiguousarray(pixels, dtype=">u2" if big_endian else "<u2").tobytes()


def _save_arguments(pydicom) -> dict:
    if int(pydicom.__version__.split(".")[0]) >= 3:
        return {"enforce_file_format": True}
    return {"write_like_original": False}


def _ds(value: float) -> str:
    """A DICOM decimal string of at most 16 characters."""
    from pydicom.valuerep import format_number_as_ds

    return format_number_as_ds(float(value))


def _ds_list(values) -> List[str]:
    return [_ds(value) for value in values]
