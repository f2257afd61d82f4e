"""Write an analysis result back as DICOM series of the source study, for PACS.

Two new series are added to the study the MESE exam came from, so a reader
sees them beside the echoes in any DICOM viewer:

* **T2 map**: classic MR images (one per slice, same geometry as the source),
  ``ImageType DERIVED\\SECONDARY\\T2_MAP``; pixel value x 0.1 (RescaleSlope)
  is T2 in ms, 0 where no fit was possible; a Real World Value Mapping with
  UCUM unit ``ms`` says so for viewers that read it; window 0-100 ms. Each
  image lists the source images of its slice (all echoes) in
  ``SourceImageSequence`` (for an enhanced multi-frame source: the object,
  with the frames of its slice in ReferencedFrameNumber).
* **T2 colour** (optional): secondary-capture RGB images, the echo nearest
  20 ms in grey with the cartilage coloured by T2 (0-100 ms, the colours of
  the previews), plus one last image showing the colour scale.

Patient and study identifiers, the frame of reference and the side are
copied from the source files, found by position
(:func:`result_dicom_source.find_source_study`); when they do not match,
nothing is written and the error says what did not match. The files carry
the patient's identifiers: they are for the patient's record, not for sharing.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from . import __version__
from .dicom_writer import _base_dataset, _ds, _save_arguments, _SliceGeometry
from .errors import InputError
from .geometry import Volume
from .dicom_source_images import ImageReference
from .result_dicom_source import SourceStudy, find_source_study

T2_STEP_MS = 0.1  # RescaleSlope: the stored integer counts tenths of a millisecond
T2_WINDOW_MS = (0.0, 100.0)
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
T2_MAP_FOLDER, COLOUR_FOLDER = "T2map", "T2colour"


@dataclass
class ResultDicom:
    """The series written: folder and file paths of each, and the new series UIDs."""

    t2_map_files: List[Path]
    colour_files: List[Path]
    series_uids: Dict[str, str]


def write_result_dicom(result_dir, source_folder, out_dir, colour: bool = True) -> ResultDicom:
    """Write the T2 map (and the colour overlay) of an analysis folder as DICOM series of its source study.

    ``result_dir`` is a folder written by :func:`pipeline.write_analysis`
    (``t2.nrrd``, ``label.nrrd``, ``anatomy.nrrd``, ``provenance.json``);
    ``source_folder`` the DICOM folder that was analysed. See :func:`write_t2_dicom`.
    """
    from .volume_io import read_volume

    result_dir = Path(result_dir)
    for name in ("t2.nrrd", "label.nrrd", "anatomy.nrrd"):
        if not (result_dir / name).is_file():
            raise InputError("%s is not an analysis folder (no %s): give the folder of an analysis (knee-t2 "
                             "analyse or demo, one batch scan, a change's baseline/ or followup/, or Slicer's Save "
                             "results folder)." % (result_dir, name))
    t2 = read_volume(result_dir / "t2.nrrd")
    label, anatomy = read_volume(result_dir / "label.nrrd"), read_volume(result_dir / "anatomy.nrrd")
    return write_t2_dicom(t2, label, anatomy, read_provenance(result_dir), source_folder, out_dir, colour)


def write_t2_dicom(t2: Volume, label: Volume, anatomy: Volume, provenance: dict, source, out_dir,
                   colour: bool = True) -> ResultDicom:
    """Write a T2 map (ms, 0 = no fit), and the cartilage coloured by it, as DICOM series of the source study.

    ``t2``, ``label`` (non-zero = cartilage) and ``anatomy`` (the grey image
    under the colours) share the exam's grid; ``provenance`` gives the echo
    times and the T2 method (as in ``provenance.json``); ``source`` is the
    analysed DICOM folder, a list of its files, or the enhanced multi-frame
    file the exam was read from. Files go to
    ``out_dir/T2map/`` and ``out_dir/T2colour/`` (one file per image); an
    earlier export in ``out_dir`` is replaced only once both series are complete.
    """
    from pydicom.uid import generate_uid

    source = find_source_study(source, t2.ijk_to_ras, t2.array.shape[0], provenance.get("echo_times_ms"))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    created = datetime.datetime.now()
    series_uids = {"t2_map": generate_uid(), "colour": generate_uid()}
    with tempfile.TemporaryDirectory(prefix=".knee-t2-dicom-", dir=str(out_dir)) as scratch:
        # Both series are written aside first, so a failure leaves no half series for PACS to pick up.
        t2_files = _write_t2_map(t2, source, provenance, Path(scratch) / T2_MAP_FOLDER, series_uids["t2_map"], created)
        colour_files: List[Path] = []
        if colour:
            colour_files = _write_colour(t2, label, anatomy, source, Path(scratch) / COLOUR_FOLDER,
                                         series_uids["colour"], created)
        else:
            del series_uids["colour"]
        for name in (T2_MAP_FOLDER, COLOUR_FOLDER):
            shutil.rmtree(out_dir / name, ignore_errors=True)  # an earlier export of this folder is replaced
            if (Path(scratch) / name).is_dir():
                os.replace(Path(scratch) / name, out_dir / name)
    moved = [out_dir / path.relative_to(scratch) for path in t2_files + colour_files]
    return ResultDicom([p for p in moved if p.parent.name == T2_MAP_FOLDER],
                       [p for p in moved if p.parent.name == COLOUR_FOLDER], series_uids)


def stored_t2(t2_ms: np.ndarray) -> np.ndarray:
    """T2 (ms, 0 = no fit) as the uint16 the T2 map series stores (tenths of ms, clipped to 0..6553.5 ms)."""
    values = np.nan_to_num(np.asarray(t2_ms, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(np.round(values / T2_STEP_MS), 0, 65535).astype(np.uint16)


def t2_colour_slices(t2: Volume, label: Volume, anatomy: Volume) -> np.ndarray:
    """RGB uint8 images ``(slice, row, col, 3)``: anatomy in grey, cartilage coloured by T2 (0-100 ms)."""
    from matplotlib import colormaps

    grey = np.asarray(anatomy.array, dtype=np.float64)
    low, high = np.percentile(grey, [1.0, 99.5]) if grey.size else (0.0, 1.0)
    grey = np.clip((grey - low) / max(high - low, 1e-9), 0.0, 1.0)
    rgb = np.repeat(grey[..., np.newaxis], 3, axis=-1)
    t2_ms = np.asarray(t2.array, dtype=np.float64)
    inside = (np.asarray(label.array) > 0) & (t2_ms > 0)
    scaled = (t2_ms[inside] - T2_WINDOW_MS[0]) / (T2_WINDOW_MS[1] - T2_WINDOW_MS[0])
    rgb[inside] = colormaps["inferno"](np.clip(scaled, 0.0, 1.0))[:, :3]
    return np.round(rgb * 255.0).astype(np.uint8)


def colour_scale_image(size: int = 256) -> np.ndarray:
    """An RGB uint8 picture of the colour scale (T2 0-100 ms, labelled), for the last image of the colour series."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size / 100.0, size / 100.0), dpi=100, facecolor="black")
    axis = figure.add_axes((0.35, 0.08, 0.2, 0.84))
    ramp = np.linspace(T2_WINDOW_MS[1], T2_WINDOW_MS[0], 256)[:, np.newaxis]
    axis.imshow(ramp, cmap=colormaps["inferno"], aspect="auto",
                extent=(0, 1, T2_WINDOW_MS[0], T2_WINDOW_MS[1]))
    axis.set_xticks([])
    axis.tick_params(colors="white", labelsize=9)
    axis.set_ylabel("T2 (ms)", color="white", fontsize=10)
    for spine in axis.spines.values():
        spine.set_color("white")
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


# --- writing ------------------------------------------------------------------------------------


def _write_t2_map(t2: Volume, source: SourceStudy, provenance: dict, folder: Path, series_uid: str,
                  created: datetime.datetime) -> List[Path]:
    stored = stored_t2(t2.array)
    geometry = _SliceGeometry(t2.ijk_to_ras)
    folder.mkdir(parents=True, exist_ok=True)
    description = _derivation(provenance)
    paths = []
    for k in range(stored.shape[0]):
        dataset = _new_image(source, series_uid, source.series_number * 100 + 1,
                             _description(source, "T2 map (ms)"), created, k)
        dataset.ImageType = ["DERIVED", "SECONDARY", "T2_MAP"]
        dataset.DerivationDescription = description
        _set_mr_type2(dataset)
        geometry.apply(dataset, k, source.slice_thickness_mm)
        _set_source_images(dataset, source.images_by_slice[k])
        _set_grey_pixels(dataset, stored[k])
        dataset.RescaleSlope, dataset.RescaleIntercept = _ds(T2_STEP_MS), "0"
        dataset.WindowCenter = _ds(sum(T2_WINDOW_MS) / 2.0)
        dataset.WindowWidth = _ds(T2_WINDOW_MS[1] - T2_WINDOW_MS[0])
        dataset.RealWorldValueMappingSequence = [_ms_mapping()]
        paths.append(_save(dataset, folder / ("t2map_%03d.dcm" % (k + 1))))
    return paths


def _write_colour(t2: Volume, label: Volume, anatomy: Volume, source: SourceStudy, folder: Path, series_uid: str,
                  created: datetime.datetime) -> List[Path]:
    images = t2_colour_slices(t2, label, anatomy)
    geometry = _SliceGeometry(t2.ijk_to_ras)
    folder.mkdir(parents=True, exist_ok=True)
    description = _description(source, "T2 colour, cartilage 0-100 ms")
    paths = []
    for k in range(images.shape[0]):
        dataset = _new_image(source, series_uid, source.series_number * 100 + 2, description, created, k,
                             secondary_capture=True)
        geometry.apply(dataset, k, source.slice_thickness_mm)  # standard extended: lets viewers place the overlay
        _set_source_images(dataset, source.images_by_slice[k])
        _set_rgb_pixels(dataset, images[k])
        paths.append(_save(dataset, folder / ("t2colour_%03d.dcm" % (k + 1))))
    legend = _new_image(source, series_uid, source.series_number * 100 + 2, description, created, images.shape[0],
                        secondary_capture=True)
    legend.ImageComments = "Colour scale of this series: T2 0-100 ms (inferno)."
    _set_rgb_pixels(legend, colour_scale_image())
    paths.append(_save(legend, folder / ("t2colour_%03d_scale.dcm" % (images.shape[0] + 1))))
    return paths


def _new_image(source: SourceStudy, series_uid: str, series_number: int, description: str,
               created: datetime.datetime, slice_index: int, secondary_capture: bool = False):
    import pydicom

    dataset = _base_dataset(pydicom, big_endian=False)
    if secondary_capture:
        dataset.file_meta.MediaStorageSOPClassUID = SECONDARY_CAPTURE
        dataset.SOPClassUID = SECONDARY_CAPTURE
        dataset.ImageType = ["DERIVED", "SECONDARY", "T2_COLOUR"]
        dataset.ConversionType = "WSD"
        dataset.BurnedInAnnotation = "NO"
        dataset.PatientOrientation = ""  # type 2C: the SC IOD has no image plane module of its own
    for keyword, value in source.identifiers.items():
        if value or keyword not in ("Laterality", "BodyPartExamined", "PatientPosition", "SpecificCharacterSet"):
            setattr(dataset, keyword, value)
    # type 2C, empty when the source does not say: Laterality (the knee is a paired structure), and the
    # patient position of MR images (no patient orientation code sequence is written)
    if "Laterality" not in dataset:
        dataset.Laterality = ""
    if not secondary_capture and "PatientPosition" not in dataset:
        dataset.PatientPosition = ""
    dataset.SpecificCharacterSet = source.identifiers.get("SpecificCharacterSet") or "ISO_IR 100"
    dataset.PositionReferenceIndicator = ""
    dataset.SeriesInstanceUID = series_uid
    dataset.SeriesNumber = int(series_number) % 2147483647
    dataset.SeriesDescription = description[:64]
    date, time = created.strftime("%Y%m%d"), created.strftime("%H%M%S")
    dataset.SeriesDate = dataset.ContentDate = dataset.InstanceCreationDate = date
    dataset.SeriesTime = dataset.ContentTime = dataset.InstanceCreationTime = time
    dataset.Manufacturer = "KneeCartilageT2"
    dataset.SoftwareVersions = "knee-t2 %s" % __version__
    dataset.InstanceNumber = slice_index + 1
    dataset.LossyImageCompression = "00"
    return dataset


def _set_mr_type2(dataset) -> None:
    """The MR Image module's acquisition attributes: the required ones as for the spin-echo source,
    the timing ones (type 2) left empty, since a map is not an acquisition."""
    dataset.ScanningSequence = "SE"
    dataset.SequenceVariant = "NONE"
    dataset.ScanOptions = ""
    dataset.MRAcquisitionType = "2D"
    dataset.RepetitionTime = None
    dataset.EchoTime = None
    dataset.EchoTrainLength = None


def _set_source_images(dataset, images: List[ImageReference]) -> None:
    """SourceImageSequence: one item per source SOP instance; the frames of a multi-frame one at this slice (all
    its echoes) in that item's ReferencedFrameNumber (1-based), as the Image SOP Instance Reference Macro has it."""
    from pydicom.dataset import Dataset

    frames: Dict[Tuple[str, str], List[int]] = {}
    for image in images:
        numbers = frames.setdefault((image.sop_class_uid, image.sop_instance_uid), [])
        if image.frame_number is not None:
            numbers.append(image.frame_number)
    items = []
    for (class_uid, instance_uid), numbers in frames.items():
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = class_uid, instance_uid
        if numbers:
            item.ReferencedFrameNumber = sorted(numbers) if len(numbers) > 1 else numbers[0]
        items.append(item)
    dataset.SourceImageSequence = items


def _set_grey_pixels(dataset, pixels: np.ndarray) -> None:
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.Rows, dataset.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 16, 15
    dataset.PixelRepresentation = 0
    dataset.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()


def _set_rgb_pixels(dataset, pixels: np.ndarray) -> None:
    dataset.SamplesPerPixel = 3
    dataset.PhotometricInterpretation = "RGB"
    dataset.PlanarConfiguration = 0
    dataset.Rows, dataset.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 8, 8, 7
    dataset.PixelRepresentation = 0
    dataset.PixelData = np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()


def _ms_mapping():
    from pydicom.dataset import Dataset

    unit = Dataset()
    unit.CodeValue, unit.CodingSchemeDesignator, unit.CodeMeaning = "ms", "UCUM", "millisecond"
    mapping = Dataset()
    mapping.RealWorldValueFirstValueMapped, mapping.RealWorldValueLastValueMapped = 0, 65535
    mapping.RealWorldValueIntercept, mapping.RealWorldValueSlope = 0.0, T2_STEP_MS
    mapping.LUTExplanation, mapping.LUTLabel = "T2 relaxation time", "T2"
    mapping.MeasurementUnitsCodeSequence = [unit]
    return mapping


def _save(dataset, path: Path) -> Path:
    import pydicom

    dataset.save_as(str(path), **_save_arguments(pydicom))
    return path


def read_provenance(result_dir) -> dict:
    """An analysis folder's ``provenance.json`` as a dict; {} when it is absent, unreadable or not an object."""
    try:
        provenance = json.loads((Path(result_dir) / "provenance.json").read_text())
    except (OSError, ValueError):
        return {}
    return provenance if isinstance(provenance, dict) else {}


def _derivation(provenance: dict) -> str:
    times = provenance.get("echo_times_ms") or []
    method = (provenance.get("t2") or {}).get("method", "mono")
    echoes = " from echoes %g-%g ms" % (min(times), max(times)) if times else ""
    text = "T2 (ms) = pixel x %g, 0 = no fit; %s fit%s; knee-t2 %s" % (T2_STEP_MS, method, echoes, __version__)
    return text[:1024]


def _description(source: SourceStudy, what: str) -> str:
    return ("%s %s" % (source.series_description, what)).strip() if source.series_description else what
