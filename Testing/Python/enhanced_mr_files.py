"""Test helper: pack classic single-frame MR DICOM files into one enhanced multi-frame MR object.

Built from the DICOM standard's Enhanced MR Image IOD (PS3.3 A.36.2) and its
functional group macros (C.7.6.16), independently of the loader: per-frame
PlanePositionSequence, FrameContentSequence, MREchoSequence (or, for a legacy
converted object, UnassignedPerFrameConvertedAttributesSequence holding the
original EchoTime), FrameAnatomySequence; PlaneOrientationSequence and
PixelMeasuresSequence shared or per frame; PixelValueTransformationSequence
per frame. Pixel data is the frames' stored values in frame order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
LEGACY_CONVERTED_ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.4"
COPIED_TOP_LEVEL = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                    "StudyDescription", "StudyInstanceUID", "StudyID", "AccessionNumber", "ReferringPhysicianName",
                    "SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "Manufacturer",
                    "ManufacturerModelName", "FrameOfReferenceUID", "PositionReferenceIndicator",
                    "MagneticFieldStrength", "BodyPartExamined")


def _item(**values) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _one(**values) -> DicomSequence:
    return DicomSequence([_item(**values)])


def write_enhanced_mr(
    classic_paths: Sequence[Path],
    output: Path,
    frame_order: Optional[Sequence[int]] = None,
    legacy: bool = False,
    shared_geometry: bool = True,
    rescale: Optional[Callable[[int, Dataset], tuple]] = None,
    laterality_in_frames: bool = True,
) -> Path:
    """Write the images of ``classic_paths`` (one series, one geometry) as frames of one object.

    Args:
        frame_order: indices into ``classic_paths`` giving the stored frame order.
        legacy: Legacy Converted Enhanced MR (EchoTime kept in the unassigned
            converted attributes) instead of Enhanced MR (EffectiveEchoTime).
        shared_geometry: orientation and pixel measures in the shared groups
            (True) or repeated in every frame (False).
        rescale: ``f(frame_number, classic_dataset) -> (stored uint16 array,
            slope, intercept)`` to store other values per frame; default: as stored
            (signed or unsigned 16 bits, as the classic images).
        laterality_in_frames: FrameLaterality per frame from the classic
            Laterality; the top-level Laterality is never copied.
    """
    classic = [pydicom.dcmread(str(path)) for path in classic_paths]
    order = list(range(len(classic))) if frame_order is None else list(frame_order)
    first = classic[0]
    sop_class = LEGACY_CONVERTED_ENHANCED_MR if legacy else ENHANCED_MR
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.preamble = b"\x00" * 128
    dataset.SpecificCharacterSet = "ISO_IR 100"
    dataset.SOPClassUID = sop_class
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = "MR"
    dataset.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    dataset.InstanceNumber = 1
    for keyword in COPIED_TOP_LEVEL:
        if keyword in first:
            setattr(dataset, keyword, first.data_element(keyword).value)
    geometry = dict(
        orientation=_one(ImageOrientationPatient=first.ImageOrientationPatient),
        measures=_one(PixelSpacing=first.PixelSpacing, SliceThickness=first.SliceThickness,
                      SpacingBetweenSlices=first.get("SpacingBetweenSlices", first.SliceThickness)),
    )
    shared = _item(MRTimingAndRelatedParametersSequence=_one(RepetitionTime=first.RepetitionTime))
    if shared_geometry:
        shared.PlaneOrientationSequence = geometry["orientation"]
        shared.PixelMeasuresSequence = geometry["measures"]
    dataset.SharedFunctionalGroupsSequence = DicomSequence([shared])
    frames, stored = [], []
    signed = int(first.PixelRepresentation) == 1
    for number, index in enumerate(order):
        image = classic[index]
        pixels, slope, intercept = (rescale(number, image) if rescale is not None
                                    else (image.pixel_array, image.get("RescaleSlope", 1), image.get("RescaleIntercept", 0)))
        stored.append(np.asarray(pixels, dtype="<i2" if signed else "<u2"))
        frame = _item(
            PlanePositionSequence=_one(ImagePositionPatient=image.ImagePositionPatient),
            FrameContentSequence=_one(FrameAcquisitionNumber=number + 1, InStackPositionNumber=number + 1),
            PixelValueTransformationSequence=_one(RescaleSlope=slope, RescaleIntercept=intercept, RescaleType="US"),
        )
        if legacy:
            frame.UnassignedPerFrameConvertedAttributesSequence = _one(EchoTime=image.EchoTime)
        elif "EchoTime" in image:
            frame.MREchoSequence = _one(EffectiveEchoTime=float(image.EchoTime))
        if laterality_in_frames and image.get("Laterality"):
            frame.FrameAnatomySequence = _one(FrameLaterality=image.Laterality)
        if not shared_geometry:
            frame.PlaneOrientationSequence = _one(ImageOrientationPatient=image.ImageOrientationPatient)
            frame.PixelMeasuresSequence = _one(PixelSpacing=image.PixelSpacing, SliceThickness=image.SliceThickness)
        frames.append(frame)
    dataset.PerFrameFunctionalGroupsSequence = DicomSequence(frames)
    dataset.NumberOfFrames = len(frames)
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.Rows, dataset.Columns = int(first.Rows), int(first.Columns)
    dataset.BitsAllocated = 16
    dataset.BitsStored = 16
    dataset.HighBit = 15
    dataset.PixelRepresentation = 1 if signed else 0
    dataset.PixelData = np.stack(stored).tobytes()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(str(output), enforce_file_format=True)
    return output
