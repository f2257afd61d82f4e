"""Finding DICOM images in a folder and reading the header facts a slice stack needs.

:func:`scan_dicom_folder` reads every file below a folder once with pydicom
(single-frame pixel data comes in the same read: reading it later would
open every file twice, about 40 % slower on the real GE exam).
Files that are not DICOM, and DICOM objects that are not images with a
patient geometry (DICOMDIR, structured reports, presentation states,
multi-frame objects without functional groups), are returned as
``(path, reason)`` pairs so the caller can say why nothing usable was
found. :class:`DicomImage` holds one image's geometry in LPS millimetres,
exactly as DICOM states it; an enhanced multi-frame object gives one per
frame (:mod:`dicom_enhanced`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .dicom_philips import is_philips, scale_slope
from .errors import InputError

MEDIA_DIRECTORY_SOP_CLASS = "1.2.840.10008.1.3.10"
DEFER_SIZE_BYTES = 2 ** 21  # elements above 2 MiB (multi-frame pixel data) are read only if used
ORTHOGONALITY_TOLERANCE = 1e-2  # |row . column| above this means a corrupt ImageOrientationPatient
_NO_PREAMBLE_SUFFIXES = ("", ".dcm", ".ima", ".dicom")


class DicomImage:
    """One single-frame DICOM image and its geometry (LPS, mm).

    Header values are read through :meth:`attribute`, which a frame of an
    enhanced multi-frame object overrides (:mod:`dicom_enhanced`).

    ``row_cosine`` is the direction of increasing column index (i), ``column_cosine``
    that of increasing row index (j), ``normal`` their cross product;
    ``pixel_spacing`` is (between rows, between columns) as in PixelSpacing.
    """

    ECHO_TIME_KEYWORDS: Tuple[str, ...] = ("EchoTime",)

    def __init__(self, path: Path, dataset: Any) -> None:
        self.path = path
        self.dataset = dataset
        orientation = np.array([float(value) for value in self._required("ImageOrientationPatient")], dtype=np.float64)
        self.row_cosine, self.column_cosine = _orthonormal_cosines(orientation[:3], orientation[3:])
        self.normal = np.cross(self.row_cosine, self.column_cosine)
        self.position_lps = np.array([float(value) for value in self._required("ImagePositionPatient")], dtype=np.float64)
        self.pixel_spacing = tuple(float(value) for value in self._required("PixelSpacing"))
        self.shape = (int(dataset.Rows), int(dataset.Columns))
        self.series_uid = str(dataset.get("SeriesInstanceUID", "") or "")
        self.sop_instance_uid = str(dataset.get("SOPInstanceUID", "") or "")
        self.echo_time_ms = next((time for time in (_optional_float(self.attribute(keyword))
                                                    for keyword in self.ECHO_TIME_KEYWORDS) if time is not None), None)
        self.echo_number = _first_int(self.attribute("EchoNumbers"))

    def attribute(self, keyword: str) -> Any:
        """The value of ``keyword`` for this image (None when absent)."""
        return self.dataset.get(keyword)

    def _required(self, keyword: str) -> Any:
        value = self.attribute(keyword)
        if value is None:
            raise ValueError("no %s" % keyword)
        return value

    @property
    def display_name(self) -> str:
        """The file name with its folder, enough to find it in messages."""
        return "%s/%s" % (self.path.parent.name, self.path.name)

    @property
    def series_label(self) -> str:
        """'series 8 "T2 map"' for messages."""
        number = self.dataset.get("SeriesNumber", "")
        description = str(self.dataset.get("SeriesDescription", "") or "")
        text = "series %s" % (number if number not in (None, "") else "?")
        return text + (' "%s"' % description if description else "")

    def stored_pixels(self) -> np.ndarray:
        """The stored pixel values (rows, cols) as pydicom decodes them."""
        pixels = decoded_pixels(self.dataset, self.path)
        if pixels.shape != self.shape:
            raise InputError("%s holds %s pixels but its header says %dx%d; the file is corrupt."
                             % (self.path, pixels.shape, self.shape[0], self.shape[1]))
        return pixels

    def philips_scale_slope(self) -> Optional[float]:
        """Philips' private MR Scale Slope of this image, or None (other vendors; absent); looked up once."""
        if not hasattr(self, "_philips_slope"):
            self._philips_slope = None
            if is_philips(self.dataset):
                found = (scale_slope(dataset, nested) for dataset, nested in self._scale_slope_sources())
                self._philips_slope = next((value for value in found if value is not None), None)
        return self._philips_slope

    def _scale_slope_sources(self) -> List[Tuple[Any, bool]]:
        """(dataset, search its private sequences) pairs where the private scale may be, in order."""
        return [(self.dataset, False)]

    def rescaled_pixels(self) -> np.ndarray:
        """float32 (rows, cols): stored value x RescaleSlope + RescaleIntercept.

        For Philips images with a private MR Scale Slope SS, that value is then
        divided by RescaleSlope x SS: the floating-point value proportional to
        the signal, the same scale for every echo (see :mod:`dicom_philips`).
        """
        slope = _optional_float(self.attribute("RescaleSlope"))
        intercept = _optional_float(self.attribute("RescaleIntercept"))
        pixels = self.stored_pixels().astype(np.float32)
        if slope is not None and slope != 1.0:
            pixels *= np.float32(slope)
        if intercept:
            pixels += np.float32(intercept)
        private_slope = self.philips_scale_slope()
        if private_slope is not None and slope != 0.0:
            pixels /= np.float32((1.0 if slope is None else slope) * private_slope)
        return pixels


def decoded_pixels(dataset, path) -> np.ndarray:
    """The whole pixel data of ``dataset`` as pydicom decodes it ((frames,) rows, cols)."""
    try:
        return dataset.pixel_array
    except Exception as error:  # pydicom raises several types for undecodable data
        syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
        raise InputError(
            "Cannot decode the pixel data of %s (transfer syntax %s: %s). Install the decoder it needs (python-gdcm "
            "covers JPEG, JPEG-LS and JPEG 2000: pip install python-gdcm; inside Slicer: "
            "slicer.util.pip_install('python-gdcm')), or decompress the series first (e.g. gdcmconv --raw)."
            % (path, getattr(syntax, "name", syntax), error))


def scan_dicom_folder(folder) -> Tuple[List[DicomImage], List[Tuple[str, str]], int]:
    """(images, skipped (path, reason) pairs, number of files) for every file below ``folder``.

    ``folder`` may also be one file (an enhanced object holding the series).
    An enhanced (multi-frame) MR object gives one image per frame (:mod:`dicom_enhanced`).
    """
    from .dicom_enhanced import enhanced_frames, is_enhanced

    folder = Path(folder)
    if not folder.is_dir() and not folder.is_file():
        raise InputError("DICOM folder not found: %s" % folder)
    images: List[DicomImage] = []
    skipped: List[Tuple[str, str]] = []
    paths = _files_below(folder) if folder.is_dir() else [folder]
    for path in paths:
        dataset, reason = _read_dataset(path)
        if dataset is not None:
            reason = _not_an_image_reason(dataset)
        if reason:
            skipped.append((str(path), reason))
            continue
        try:
            images.extend(enhanced_frames(path, dataset) if is_enhanced(dataset) else [DicomImage(path, dataset)])
        except (ValueError, TypeError, AttributeError) as error:
            skipped.append((str(path), "unreadable geometry (%s)" % error))
    return images, skipped, len(paths)


def _files_below(folder: Path) -> List[Path]:
    paths = []
    for root, directories, files in os.walk(str(folder)):
        directories[:] = sorted(name for name in directories if not name.startswith("."))
        paths.extend(Path(root) / name for name in sorted(files) if not name.startswith("."))
    return paths


def _read_dataset(path: Path):
    """(dataset, None) or (None, reason)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(str(path), defer_size=DEFER_SIZE_BYTES), None
    except InvalidDicomError:
        if path.suffix.lower() not in _NO_PREAMBLE_SUFFIXES:
            return None, "not a DICOM file"
    except (OSError, ValueError, EOFError) as error:
        return None, "unreadable DICOM (%s)" % type(error).__name__
    try:  # old files without the 128-byte preamble and "DICM"
        dataset = pydicom.dcmread(str(path), defer_size=DEFER_SIZE_BYTES, force=True)
    except Exception:  # a forced read of a random file can fail in many ways
        return None, "not a DICOM file"
    if "SOPClassUID" not in dataset:
        return None, "not a DICOM file"
    return dataset, None


def _not_an_image_reason(dataset) -> Optional[str]:
    """Why this DICOM object cannot be a slice of the stack, or None when it can."""
    media_class = str(getattr(getattr(dataset, "file_meta", None), "MediaStorageSOPClassUID", "") or "")
    if media_class == MEDIA_DIRECTORY_SOP_CLASS or "DirectoryRecordSequence" in dataset:
        return "DICOMDIR (a media directory, not an image)"
    if "PixelData" not in dataset:
        return "not an image (%s)" % _sop_class_name(dataset)
    if int(dataset.get("SamplesPerPixel", 1) or 1) != 1:
        return "colour image (%s)" % _sop_class_name(dataset)
    if "PerFrameFunctionalGroupsSequence" in dataset:
        return None  # enhanced multi-frame: geometry per frame, checked frame by frame
    if int(dataset.get("NumberOfFrames", 1) or 1) > 1:
        return ("multi-frame image without per-frame geometry (%s), not supported: export classic single-frame "
                "or enhanced MR images, or a 4D NRRD" % _sop_class_name(dataset))
    missing = [keyword for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing")
               if keyword not in dataset]
    if missing:
        return "image without patient geometry (no %s)" % ", ".join(missing)
    return None


def _sop_class_name(dataset) -> str:
    uid = dataset.get("SOPClassUID")
    return getattr(uid, "name", None) or str(uid or "unknown SOP class")


def _orthonormal_cosines(row: np.ndarray, column: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Unit row cosine and the column cosine made exactly orthogonal to it (header values are rounded)."""
    row = row / np.linalg.norm(row)
    if abs(float(row @ column)) > ORTHOGONALITY_TOLERANCE * np.linalg.norm(column):
        raise ValueError("ImageOrientationPatient rows and columns are not orthogonal")
    column = column - (row @ column) * row
    return row, column / np.linalg.norm(column)


def describe_images(images: List[DicomImage]) -> List[Dict[str, Any]]:
    """Per series: UID, number, description, image count and echo times (ms), in first-seen order."""
    series: Dict[str, Dict[str, Any]] = {}
    for image in images:
        entry = series.setdefault(image.series_uid, {
            "SeriesInstanceUID": image.series_uid,
            "SeriesNumber": str(image.dataset.get("SeriesNumber", "") or ""),
            "SeriesDescription": str(image.dataset.get("SeriesDescription", "") or ""),
            "n_images": 0,
            "echo_times_ms": [],
        })
        entry["n_images"] += 1
        if image.echo_time_ms is not None and image.echo_time_ms not in entry["echo_times_ms"]:
            entry["echo_times_ms"].append(image.echo_time_ms)
    for entry in series.values():
        entry["echo_times_ms"].sort()
    return list(series.values())


def _first(value):
    """The first item of a multi-valued element, or the value itself."""
    if value is not None and not isinstance(value, (str, bytes)) and hasattr(value, "__len__"):
        return value[0] if len(value) else None
    return value


def _optional_float(value) -> Optional[float]:
    value = _first(value)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _first_int(value) -> Optional[int]:
    number = _optional_float(value)
    return None if number is None else int(number)
