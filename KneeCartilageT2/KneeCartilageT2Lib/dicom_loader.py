"""Load a multi-echo spin-echo (MESE) exam from a folder of DICOM files.

Accepted input (any vendor): one series that holds every echo (as GE,
Siemens and Philips export a MESE "T2 map"), or one series per echo (several
SeriesInstanceUIDs sharing one slice stack and differing in EchoTime), as
classic single-frame images or as enhanced multi-frame MR objects (each
frame is one image, see :mod:`dicom_enhanced`). Explicit/implicit VR,
little or big endian.

How the 4D array is assembled, and why:

* Files are found recursively. DICOMDIR, structured reports, presentation
  states and other objects without pixels are skipped and listed in
  ``metadata["skipped_files"]``; a folder with no image is an error.
* A folder holding a whole study: the multi-echo acquisition is chosen
  (:mod:`dicom_series`) and the other series are named in a warning.
* Images are grouped by EchoTime (0018,0081; EffectiveEchoTime (0018,9082)
  for enhanced frames); EchoNumbers (0018,0086) is used
  only when no image carries an EchoTime (then ``echo_times_ms`` must be given).
* Slices are ordered by ImagePositionPatient projected on the slice normal
  (row cosine x column cosine), never by SliceLocation (its sign is vendor
  dependent) or InstanceNumber (GE numbers echo-fastest).
* RescaleSlope / RescaleIntercept are applied, so every echo is in the same
  units and echo ratios (hence T2) are right; for Philips, the private MR
  Scale Slope too (:mod:`dicom_philips`), on every image or on none.
* ``ijk_to_ras`` maps (i=column, j=row, k=slice) to RAS mm: columns of the
  LPS matrix are row cosine x column spacing, column cosine x row spacing and
  normal x slice step (mean step between ordered positions); the origin is the
  position of slice 0. LPS -> RAS happens in :mod:`geometry` only.

Every inconsistency (one echo, a repeated echo time holding different
images, echoes with other geometry, missing slices) raises
:class:`~KneeCartilageT2Lib.errors.InputError` saying what is wrong and what
to do; slice numbers in these messages count from 0 along the slice normal (as
the slice checks and Slicer's K do), echo numbers from 1. Identifying values
(PatientID, PatientName, StudyDate) are kept in ``metadata`` only, for a later
pseudonymisation step; they never reach file names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .dicom_files import DicomImage, describe_images, scan_dicom_folder
from .dicom_repeats import choose_magnitude_and_repeat
from .dicom_series import select_acquisition
from .errors import InputError
from .exam import MeseExam, normalize_laterality
from .geometry import itk_geometry_to_ijk_to_ras

ECHO_TIME_DECIMALS = 3  # echo times are grouped after rounding to 1 microsecond
ORIENTATION_TOLERANCE = 1e-3  # direction cosines of one stack may differ this much
ECHO_TIME_TOLERANCE_MS = 0.01  # given echo times must match the headers this closely
# Slice numbers in messages are 0-based indices along the slice normal, as the slice checks
# (slice_coverage, slice_rule) and Slicer's Data Probe (K) count them; echoes are counted from 1.
SLICE_NUMBERING = "slices counted from 0, as Slicer shows K"


def load_dicom_exam(folder, echo_times_ms: Optional[Sequence[float]] = None, series: Optional[str] = None) -> MeseExam:
    """Load the MESE exam in ``folder`` (searched recursively).

    Args:
        folder: a directory holding one MESE series, or one series per echo;
            or one enhanced multi-frame MR file holding the series.
        echo_times_ms: echo times (ms, increasing) for data whose headers lack
            EchoTime; when the headers have them, the two must agree.
        series: SeriesNumber or SeriesInstanceUID of the MESE series, when the
            folder holds several multi-echo acquisitions (see :mod:`dicom_series`;
            with one, it is found and the other series are named in a warning).

    Returns:
        A :class:`MeseExam`: echoes float32 ``(echo, slice, row, col)`` in
        increasing TE, ``ijk_to_ras`` (mm), laterality from the Laterality /
        ImageLaterality tags, and provenance in ``metadata``.
    """
    folder = Path(folder)
    images, skipped, n_files = scan_dicom_folder(folder)
    if not images:
        raise InputError(_no_image_message(folder, skipped, n_files))
    images, selection_warnings = select_acquisition(images, folder, series)
    images, repeat_warnings = choose_magnitude_and_repeat(images, folder, series)
    selection_warnings += repeat_warnings
    echo_groups, echo_times = _group_by_echo(images, echo_times_ms, folder)
    stacks, removed = _ordered_stacks(echo_groups, echo_times)
    reference = _check_same_stack(stacks)
    step_mm = _check_slice_spacing(reference.positions, reference)
    _check_stack_alignment(reference)
    scaling = _check_philips_scaling(stacks)
    echoes = np.stack([_stack_pixels(stack) for stack in stacks])
    ijk_to_ras = _ijk_to_ras(reference, step_mm)
    used = [image for stack in stacks for image in stack.images]
    laterality, side_warning = _laterality(used)
    metadata = _metadata(folder, stacks, skipped, removed, n_files, step_mm)
    metadata["warnings"].extend(selection_warnings)
    if scaling:
        metadata["intensity_scaling"] = scaling
    if skipped:
        metadata["warnings"].append(_skipped_summary(skipped))
    if side_warning:
        metadata["warnings"].append(side_warning)
    return MeseExam(echoes, echo_times, ijk_to_ras, laterality, metadata)


class _Stack:
    """The images of one echo, ordered along the slice normal, with their positions (mm)."""

    def __init__(self, echo_time_ms: float, images: List[DicomImage], positions: np.ndarray) -> None:
        self.echo_time_ms = echo_time_ms
        self.images = images
        self.positions = positions

    @property
    def first(self) -> DicomImage:
        return self.images[0]

    def label(self, index: int) -> str:
        series = sorted({image.series_label for image in self.images})
        return "echo %d (TE %g ms, %s)" % (index + 1, self.echo_time_ms, ", ".join(series))


def _no_image_message(folder: Path, skipped: List[Tuple[str, str]], n_files: int) -> str:
    if n_files == 0:
        return "The folder %s is empty (no files in it or below it). Select the folder that holds the " \
               "MESE DICOM series." % folder
    reasons = sorted({reason for _, reason in skipped})
    return ("No DICOM image was found in %s (%d files: %s). Select the folder that holds the MESE image "
            "series; DICOMDIR, reports and other non-image files cannot be analysed."
            % (folder, n_files, "; ".join(reasons[:4])))


def _skipped_summary(skipped: List[Tuple[str, str]]) -> str:
    counts: Dict[str, int] = {}
    for _, reason in skipped:
        counts[reason] = counts.get(reason, 0) + 1
    return "%d file(s) in the folder were not used: %s." % (
        len(skipped), "; ".join("%d %s" % (count, reason) for reason, count in sorted(counts.items())))


def _group_by_echo(images: List[DicomImage], echo_times_ms, folder: Path):
    """(images of each echo, echo times in ms), both in increasing echo time."""
    with_time = [image for image in images if image.echo_time_ms is not None]
    if with_time and len(with_time) != len(images):
        raise InputError(
            "%d of %d images in %s have no EchoTime (0018,0081); the folder mixes series. Keep only the "
            "MESE series in the folder." % (len(images) - len(with_time), len(images), folder))
    if with_time:
        groups: Dict[float, List[DicomImage]] = {}
        for image in images:
            groups.setdefault(round(image.echo_time_ms, ECHO_TIME_DECIMALS), []).append(image)
        keys = sorted(groups)
        _require_several_echoes(keys, images, folder)
        times = np.array(keys, dtype=np.float64)
        if echo_times_ms is not None:
            _check_given_times(echo_times_ms, times)
        return [groups[key] for key in keys], times
    return _group_by_echo_number(images, echo_times_ms, folder)


def _group_by_echo_number(images: List[DicomImage], echo_times_ms, folder: Path):
    if any(image.echo_number is None for image in images):
        raise InputError(
            "The images in %s have neither EchoTime nor EchoNumbers, so the echoes cannot be told apart. "
            "Convert them to a 4D NRRD/NIfTI and give the echo times with --echo-times." % folder)
    groups: Dict[int, List[DicomImage]] = {}
    for image in images:
        groups.setdefault(image.echo_number, []).append(image)
    keys = sorted(groups)
    _require_several_echoes(keys, images, folder)
    if echo_times_ms is None:
        raise InputError(
            "The images in %s have no EchoTime (0018,0081) but %d echo numbers; give the echo times in ms "
            "(--echo-times TE1,TE2,...)." % (folder, len(keys)))
    times = np.asarray(echo_times_ms, dtype=np.float64).reshape(-1)
    if times.size != len(keys):
        raise InputError("%d echo times were given but the DICOM images hold %d echoes (EchoNumbers %s)."
                         % (times.size, len(keys), keys))
    return [groups[key] for key in keys], times


def _require_several_echoes(keys, images: List[DicomImage], folder: Path) -> None:
    if len(keys) >= 2:
        return
    raise InputError(
        "Only one echo (TE %s ms) was found in %d images in %s: T2 mapping needs every echo of a multi-echo "
        "spin-echo series. Select the whole MESE series (or put all its per-echo series in one folder)."
        % ("%g" % keys[0] if keys else "?", len(images), folder))


def _check_given_times(given, header_times: np.ndarray) -> None:
    given = np.asarray(given, dtype=np.float64).reshape(-1)
    if given.size != header_times.size or np.max(np.abs(given - header_times)) > ECHO_TIME_TOLERANCE_MS:
        raise InputError(
            "The echo times given (%s ms) disagree with the DICOM headers (%s ms). DICOM echo times are used "
            "as recorded; leave --echo-times out for DICOM input."
            % (", ".join("%g" % t for t in given), ", ".join("%g" % t for t in header_times)))


def _ordered_stacks(echo_groups: List[List[DicomImage]], echo_times: np.ndarray):
    """One ordered :class:`_Stack` per echo, after dropping exact duplicate files."""
    reference = echo_groups[0][0]
    normal = reference.normal
    stacks, removed = [], []
    for index, (group, time_ms) in enumerate(zip(echo_groups, echo_times)):
        for image in group:
            _check_orientation(image, reference, "echo %d (TE %g ms)" % (index + 1, time_ms))
        projected = np.array([float(image.position_lps @ normal) for image in group])
        order = np.argsort(projected, kind="stable")
        kept, positions = [], []
        for position, image in zip(projected[order], [group[i] for i in order]):
            if positions and abs(position - positions[-1]) < _position_tolerance(image):
                _reject_conflicting_duplicate(kept[-1], image, time_ms)
                removed.append(str(image.path))
                continue
            kept.append(image)
            positions.append(position)
        stacks.append(_Stack(float(time_ms), kept, np.array(positions)))
    return stacks, removed


def _position_tolerance(image: DicomImage) -> float:
    """Positions closer than a tenth of a pixel (at least 0.01 mm) are the same position."""
    return max(0.01, 0.1 * min(image.pixel_spacing))


def _check_orientation(image: DicomImage, reference: DicomImage, owner: str) -> None:
    difference = max(np.max(np.abs(image.row_cosine - reference.row_cosine)),
                     np.max(np.abs(image.column_cosine - reference.column_cosine)))
    if difference > ORIENTATION_TOLERANCE:
        raise InputError(
            "The echoes do not share one geometry: an image of %s (%s) is oriented differently from %s "
            "(ImageOrientationPatient differs by %.3g). All echoes must be one stack of parallel slices; keep "
            "only the MESE series in the folder." % (owner, image.display_name, reference.display_name, difference))


def _reject_conflicting_duplicate(kept: DicomImage, other: DicomImage, time_ms: float) -> None:
    if kept.sop_instance_uid and kept.sop_instance_uid == other.sop_instance_uid:
        return
    if kept.shape == other.shape and np.array_equal(kept.stored_pixels(), other.stored_pixels()):
        return
    raise InputError(
        "Duplicate echo time %g ms: two different images share it at the same slice position (%s [%s] and "
        "%s [%s]). Each echo needs its own echo time; the folder probably holds a repeated series. Keep only "
        "one MESE series (or one series per echo) in the folder."
        % (time_ms, kept.display_name, kept.series_label, other.display_name, other.series_label))


def _check_same_stack(stacks: List[_Stack]) -> _Stack:
    """The reference stack (most slices); raise when any echo differs from it."""
    reference_index = int(np.argmax([len(stack.images) for stack in stacks]))
    reference = stacks[reference_index]
    label = reference.label(reference_index)
    for index, stack in enumerate(stacks):
        _check_plane(stack, reference, stack.label(index), label)
        if len(stack.images) != len(reference.images):
            raise InputError(_missing_slices_message(stack, reference, stack.label(index), label))
        tolerance = _position_tolerance(reference.first)
        offset = float(np.max(np.abs(stack.positions - reference.positions)))
        if offset > tolerance:
            raise InputError(
                "The echoes do not share one geometry: the slices of %s lie up to %.3g mm away from those of "
                "%s. All echoes must cover the same slice positions; keep only the MESE series in the folder."
                % (stack.label(index), offset, label))
    return reference


def _check_plane(stack: _Stack, reference: _Stack, name: str, reference_name: str) -> None:
    for image in stack.images:
        if image.shape != reference.first.shape or not np.allclose(
                image.pixel_spacing, reference.first.pixel_spacing, rtol=1e-4, atol=1e-5):
            raise InputError(
                "The echoes do not share one geometry: %s has %dx%d pixels of %s mm but %s has %dx%d pixels of "
                "%s mm. All echoes must have the same matrix and pixel spacing; keep only the MESE series."
                % (name, image.shape[0], image.shape[1], _format_spacing(image.pixel_spacing), reference_name,
                   reference.first.shape[0], reference.first.shape[1],
                   _format_spacing(reference.first.pixel_spacing)))


def _format_spacing(spacing) -> str:
    return "x".join("%g" % value for value in spacing)


def _missing_slices_message(stack: _Stack, reference: _Stack, name: str, reference_name: str) -> str:
    tolerance = _position_tolerance(reference.first)
    missing = [index for index, position in enumerate(reference.positions)
               if np.min(np.abs(stack.positions - position)) > tolerance] if len(stack.positions) else []
    where = ", ".join("slice %d at %.2f mm along the normal" % (index, reference.positions[index])
                      for index in missing[:5])
    return ("Missing slices: %s has %d slices but %s has %d%s. A file is missing from the folder or the "
            "echoes have different geometry; copy the complete series again."
            % (name, len(stack.images), reference_name, len(reference.images),
               ("; no image at %s (%s)" % (where, SLICE_NUMBERING)) if where else ""))


def _check_slice_spacing(positions: np.ndarray, reference: _Stack) -> float:
    """Mean slice step (mm); raise when steps are uneven (a gap means missing slices)."""
    if positions.size < 2:
        header = reference.first.attribute("SpacingBetweenSlices") or reference.first.attribute("SliceThickness")
        return float(header) if header else 1.0
    steps = np.diff(positions)
    typical = float(np.median(steps))
    tolerance = max(0.01, 0.05 * typical)
    uneven = np.flatnonzero(np.abs(steps - typical) > tolerance)
    if uneven.size:
        index = int(uneven[0])
        raise InputError(
            "Missing slices: the slice spacing is uneven, %.3g mm between slices %d and %d (at %.2f and %.2f mm "
            "along the normal; %s) but %.3g mm elsewhere (%d uneven step(s)), which means slices are missing from "
            "every echo. Copy the complete series again; a loader cannot fill the gap."
            % (steps[index], index, index + 1, positions[index], positions[index + 1], SLICE_NUMBERING, typical,
               uneven.size))
    return float((positions[-1] - positions[0]) / (positions.size - 1))


def _check_stack_alignment(reference: _Stack) -> None:
    """Slices must follow each other along the normal (no in-plane shift between slices)."""
    first = reference.first
    expected = np.array([first.position_lps + (position - reference.positions[0]) * first.normal
                         for position in reference.positions])
    actual = np.array([image.position_lps for image in reference.images])
    shift = float(np.max(np.linalg.norm(actual - expected, axis=1)))
    if shift > _position_tolerance(first):
        raise InputError(
            "The slices are shifted in-plane relative to each other by up to %.3g mm (a sheared stack), which "
            "this loader does not resample. Reconstruct the series without shear, or resample it to a 4D "
            "NRRD first." % shift)


def _check_philips_scaling(stacks: List[_Stack]) -> Optional[str]:
    """Philips' private scale slope on every image (a description for the metadata) or none (None).

    Some images with it and some without would put the echoes on different
    scales, so that is refused.
    """
    images = [image for stack in stacks for image in stack.images]
    slopes = [image.philips_scale_slope() for image in images]
    missing = [image for image, slope in zip(images, slopes) if slope is None]
    if len(missing) == len(images):
        return None
    if missing:
        raise InputError(
            "%d of %d Philips images lack the private MR Scale Slope (2005,xx0E) that the others carry (first: %s), "
            "so the echoes cannot be put on one intensity scale. Export the series again from the scanner, "
            "without removing private tags." % (len(missing), len(images), missing[0].display_name))
    low, high = min(slopes), max(slopes)
    return ("Philips floating-point values: stored x RescaleSlope + RescaleIntercept, divided by RescaleSlope x "
            "private MR Scale Slope (%.6g%s)" % (low, "" if high == low else " to %.6g" % high))


def _stack_pixels(stack: _Stack) -> np.ndarray:
    """float32 (slice, row, col) of one echo with the modality rescale applied."""
    return np.stack([image.rescaled_pixels() for image in stack.images])


def _ijk_to_ras(reference: _Stack, step_mm: float) -> np.ndarray:
    first = reference.first
    directions_lps = np.column_stack([first.row_cosine, first.column_cosine, first.normal])
    row_spacing, column_spacing = first.pixel_spacing
    return itk_geometry_to_ijk_to_ras(first.position_lps, (column_spacing, row_spacing, step_mm), directions_lps)


def _laterality(images: List[DicomImage]) -> Tuple[str, Optional[str]]:
    """('right'|'left'|'unknown', warning or None) from (0020,0060) / (0020,0062) / (0020,9072)."""
    sides = set()
    for image in images:
        for keyword in ("Laterality", "ImageLaterality", "FrameLaterality"):
            value = str(image.attribute(keyword) or "").strip()
            try:
                side = normalize_laterality(value)
            except InputError:
                side = "unknown"
            if side != "unknown":
                sides.add(side)
    if len(sides) == 1:
        return sides.pop(), None
    if len(sides) > 1:
        return "unknown", "Images disagree on laterality (both R and L); the side is treated as unknown."
    return "unknown", None


def _metadata(folder: Path, stacks: List[_Stack], skipped, removed, n_files: int, step_mm: float) -> Dict[str, Any]:
    first = stacks[0].first
    dataset = first.dataset
    series_uids = []
    for stack in stacks:
        for image in stack.images:
            if image.series_uid not in series_uids:
                series_uids.append(image.series_uid)
    metadata: Dict[str, Any] = {
        "source": str(folder),
        "source_format": "dicom",
        "n_files": n_files,
        "n_images": sum(len(stack.images) for stack in stacks),
        "Manufacturer": _text(dataset, "Manufacturer"),
        "ManufacturerModelName": _text(dataset, "ManufacturerModelName"),
        "SeriesDescription": _text(dataset, "SeriesDescription"),
        "SeriesNumber": _text(dataset, "SeriesNumber"),
        "StudyInstanceUID": _text(dataset, "StudyInstanceUID"),
        "SeriesInstanceUID": "\\".join(series_uids),
        "SeriesInstanceUIDs": series_uids,
        "PatientID": _text(dataset, "PatientID"),
        "PatientName": _text(dataset, "PatientName"),
        "StudyDate": _text(dataset, "StudyDate"),
        "RepetitionTime": _number(first, "RepetitionTime"),
        "SliceThickness": _number(first, "SliceThickness"),
        "SpacingBetweenSlices": _number(first, "SpacingBetweenSlices"),
        "MagneticFieldStrength": _number(first, "MagneticFieldStrength"),
        "slice_step_mm": step_mm,
        "TransferSyntaxUID": str(getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", "") or ""),
        "series": describe_images([image for stack in stacks for image in stack.images]),
        "skipped_files": [list(item) for item in skipped],
        "duplicate_files_ignored": list(removed),
        "warnings": [],
    }
    return metadata


def _text(dataset, keyword: str) -> str:
    value = dataset.get(keyword, "")
    return "" if value is None else str(value)


def _number(image: DicomImage, keyword: str) -> Optional[float]:
    value = image.attribute(keyword)
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None
