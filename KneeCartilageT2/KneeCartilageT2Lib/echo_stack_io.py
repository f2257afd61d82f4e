"""4D echo stacks: all echoes of a MESE exam in one NRRD or NIfTI file + a JSON sidecar.

File layouts written by :func:`write_echo_stack` (both read back by SimpleITK):

* ``.nrrd`` -- a 3D Slicer volume sequence (load it in Slicer as a sequence by
  naming it ``*.seq.nrrd``; SimpleITK reads it as a 3D image with one vector
  component per echo): ``dimension: 4``, ``kinds: list domain domain domain``,
  ``sizes: echoes i j k``, ``space: right-anterior-superior``, ``space directions``
  = the columns of ``ijk_to_ras`` and ``space origin`` its translation, float32
  gzip data with the echo axis fastest, and Slicer's sequence fields
  ``axis 0 index type:=numeric`` / ``axis 0 index values:=TE1 TE2 ...`` with
  ``labels: "EchoTime"`` and ``units: "ms"`` on the list axis.
* ``.nii`` / ``.nii.gz`` -- a 4D NIfTI (x, y, z, echo); NIfTI keeps geometry in
  float32, so the sidecar carries the exact matrix.

The JSON sidecar shares the image's name with ``.json`` in place of the image
suffix (``echoes.nrrd`` -> ``echoes.json``, ``echoes.nii.gz`` -> ``echoes.json``;
for ``echoes.seq.nrrd`` both ``echoes.seq.json`` and ``echoes.json`` are looked
for). It holds ``{"EchoTimes": [ms, ...], "Laterality": "right"|"left"|"unknown",
"IJKToRAS": 4x4}``; only ``EchoTimes`` is required when reading.

Reading accepts any 4D scalar NIfTI/MHA (4th axis = echo), any 3D image with
one vector component per echo (but not a colour image or a displacement field:
:mod:`vector_pixel_checks`), and a 4D NRRD whose header says which axis
holds the echoes (first, middle or last; :mod:`nrrd_echo_axis`: a ``space
directions`` entry ``none``, or a non-spatial kind such as ``list``,
``vector``, ``time``, ``none``); a 3D file of a BIDS or dcm2niix per-echo set
is read with its siblings (:mod:`echo_set_io`). Echo times come from the
``echo_times_ms`` argument, else the sidecar (``EchoTimes`` in ms, or a BIDS
``EchoTime`` list in s), else a Slicer sequence header whose echo axis is
labelled as an echo time, else the ``MultiVolume.FrameLabels`` of a Slicer
MultiVolume NRRD whose frames are told apart by EchoTime (one told apart by
another tag, such as TriggerTime, is refused). The file's geometry is
authoritative; the sidecar's ``IJKToRAS`` replaces it only when the two agree
within :data:`SIDECAR_MATRIX_TOLERANCE_MM` (it restores the precision NIfTI
and direction normalisation lose, so round trips are exact).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from .atomic_files import atomic_output, atomic_write_json, file_suffix
from .echo_set_checks import stack_among_echoes_warning
from .echo_set_io import echo_set_files, is_non_magnitude_name, read_echo_set
from .errors import InputError
from .exam import MeseExam, validate_exam
from .geometry import ijk_to_ras_to_itk_geometry, itk_geometry_to_ijk_to_ras
from .nrrd_echo_axis import echo_axis, read_echo_stack_image
from .nrrd_echo_times import MULTIVOLUME_LABELS_KEY, header_echo_times, multivolume_echo_times
from .nrrd_header import read_nrrd_header
from .vector_pixel_checks import refuse_non_echo_pixels
from .volume_io import read_image, refuse_sheared_nifti

ECHO_STACK_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")
WRITABLE_SUFFIXES = (".nrrd", ".nii", ".nii.gz")
SIDECAR_MATRIX_TOLERANCE_MM = 1e-3
SEQUENCE_INFIX = ".seq"
_SIDECAR_METADATA_KEYS = ("Manufacturer", "ManufacturerModelName", "MagneticFieldStrength", "RepetitionTime",
                          "SliceThickness", "SpacingBetweenSlices", "source_format", "intensity_scaling")


def is_echo_stack_path(path) -> bool:
    return str(path).lower().endswith(ECHO_STACK_SUFFIXES)


def sidecar_path(path) -> Path:
    """The JSON sidecar written next to ``path`` (image suffix replaced by ``.json``)."""
    path = Path(path)
    return path.with_name(path.name[: len(path.name) - len(file_suffix(path))] + ".json")


def _sidecar_candidates(path: Path) -> List[Path]:
    """``x.json`` for ``x.nrrd``; for a Slicer sequence ``x.seq.nrrd`` also ``x.json``.

    Only the ``.seq`` infix is dropped: ``knee.v1.nrrd`` must not pick up the
    sidecar ``knee.json`` of another file.
    """
    first = sidecar_path(path)
    stem = first.name[: -len(".json")]
    if not stem.lower().endswith(SEQUENCE_INFIX):
        return [first]
    return [first, path.with_name(stem[: -len(SEQUENCE_INFIX)] + ".json")]


# --- reading ----------------------------------------------------------------------------------


def read_echo_stack(path, echo_times_ms=None) -> MeseExam:
    """Read a 4D echo stack; returns a validated :class:`MeseExam` (echo, slice, row, col).

    Echo times (ms): ``echo_times_ms`` if given, else the JSON sidecar's
    ``EchoTimes``, else a Slicer sequence header labelled as echo time, else a
    Slicer MultiVolume header's frame labels (EchoTime frames only).
    Laterality comes from the sidecar (else ``"unknown"``).
    """
    path = Path(path)
    image, header_times = _read_image(path)
    set_members = echo_set_files(path)
    if image.GetDimension() == 3 and image.GetNumberOfComponentsPerPixel() == 1 and set_members:
        return read_echo_set(path, echo_times_ms)  # one file of a BIDS / dcm2niix per-echo set
    echoes, ijk_to_ras = _echoes_and_geometry(image, path)
    sidecar, sidecar_file = _read_sidecar(path)
    times, time_source = _echo_times(echo_times_ms, sidecar, sidecar_file, header_times, echoes.shape[0], path)
    ijk_to_ras, geometry_source = _refined_geometry(ijk_to_ras, sidecar)
    metadata: Dict[str, Any] = {
        "source": str(path),
        "source_format": "nifti" if file_suffix(path).startswith(".nii") else file_suffix(path).lstrip("."),
        "echo_times_source": time_source,
        "geometry_source": geometry_source,
        "sidecar": str(sidecar_file) if sidecar_file else None,
    }
    for key in _SIDECAR_METADATA_KEYS:
        if sidecar and key in sidecar.get("Metadata", {}):
            metadata[key] = sidecar["Metadata"][key]
    beside_a_set = stack_among_echoes_warning(path, set_members, echoes.shape[0])
    if beside_a_set:
        metadata["warnings"] = [beside_a_set]
    laterality = str((sidecar or {}).get("Laterality") or "unknown")
    echoes = _without_padding_nan(echoes, metadata)
    return validate_exam(MeseExam(echoes, times, ijk_to_ras, laterality, metadata))


def _read_image(path: Path):
    """(SimpleITK image, reader of the NRRD header's echo times or None) of an echo stack file.

    A 4D NRRD is read with the echo axis its header names as the pixel
    components (:mod:`nrrd_echo_axis`), whatever SimpleITK makes of its kinds.
    The header's echo times are read only when needed (no ``--echo-times``,
    no sidecar): a multi-volume whose frame labels are no echo times is
    refused then, not when the user has given the echo times.
    """
    header = read_nrrd_header(path) if file_suffix(path) in (".nrrd", ".nhdr") else None
    if header is None or header.dimension != 4:
        return read_image(path, "Echo stack"), None
    axis = echo_axis(header)
    return read_echo_stack_image(header, axis), lambda: _header_times(header, 3 if axis is None else axis)


def _header_times(header, axis: int) -> Tuple[Optional[np.ndarray], str]:
    """(echo times in ms or None, where from) of a 4D NRRD header: a Slicer sequence's echo axis index values, else a
    Slicer MultiVolume's ``MultiVolume.FrameLabels`` (see :func:`nrrd_echo_times.multivolume_echo_times`)."""
    times = header_echo_times(header, axis)
    if times is not None:
        return times, "nrrd header"
    return multivolume_echo_times(header), "nrrd header (%s)" % MULTIVOLUME_LABELS_KEY


def _without_padding_nan(echoes: np.ndarray, metadata: Dict[str, Any]) -> np.ndarray:
    """Not-a-number voxels set to 0 (not fitted), with a warning: the padding a registration or motion-correction
    tool leaves outside the field of view. An image that is NaN everywhere is left for :func:`validate_exam`."""
    bad = ~np.isfinite(echoes)
    if not bad.any() or bad.all():
        return echoes
    voxels = int(np.any(bad, axis=0).sum())
    metadata.setdefault("warnings", []).append(
        "%d voxel(s) hold NaN or infinite values (padding from a registration or motion-correction tool?); they "
        "were set to 0 and are not fitted." % voxels)
    return np.where(bad, 0.0, echoes).astype(np.float32)


def _echoes_and_geometry(image, path: Path) -> Tuple[np.ndarray, np.ndarray]:
    """(float32 echoes (echo, slice, row, col), ijk_to_ras) from a 4D scalar or 3D vector image."""
    import SimpleITK as sitk

    dimension, components = image.GetDimension(), image.GetNumberOfComponentsPerPixel()
    if "complex" in image.GetPixelIDTypeAsString().lower():
        raise InputError("%s holds complex-valued echoes; T2 is fitted on magnitude images. Save the magnitude "
                         "(absolute value) of each echo." % path)
    refuse_non_echo_pixels(image, path)  # an RGB screenshot would otherwise be fitted as 3 echoes
    if dimension == 3 and components > 1:
        array = np.moveaxis(sitk.GetArrayFromImage(image), -1, 0)
        matrix = itk_geometry_to_ijk_to_ras(image.GetOrigin(), image.GetSpacing(), image.GetDirection())
        return np.ascontiguousarray(array, dtype=np.float32), matrix
    if dimension == 4 and components == 1:
        direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(4, 4)
        if np.max(np.abs(direction[3, :3])) > 1e-6 or np.max(np.abs(direction[:3, 3])) > 1e-6:
            raise InputError("%s mixes its 4th (echo) axis with space in its direction matrix; it is not an "
                             "echo stack. Write the echoes along a separate 4th axis." % path)
        matrix = itk_geometry_to_ijk_to_ras(image.GetOrigin()[:3], image.GetSpacing()[:3], direction[:3, :3])
        return sitk.GetArrayFromImage(image).astype(np.float32, copy=False), matrix
    if dimension == 3 and components == 1:
        if is_non_magnitude_name(path):
            raise InputError("%s is a phase, real or imaginary echo (its name says so); T2 is fitted on the "
                             "magnitude echoes: name the magnitude file of the set instead." % path)
        raise InputError("%s is a single 3D volume (one echo). Give a 4D file holding every echo (4th axis = "
                         "echo), one of a set of per-echo files named as BIDS or dcm2niix name them (..._echo-1_"
                         "MESE.nii.gz, ..._e1.nii.gz, with their JSON sidecars), or the DICOM folder of the MESE "
                         "series." % path)
    raise InputError("%s is a %dD image with %d components per voxel; an echo stack is 4D (x, y, z, echo) or 3D "
                     "with one component per echo." % (path, dimension, components))


def sidecar_file_of(path) -> Optional[Path]:
    """The JSON sidecar an echo stack is read with (see :func:`_sidecar_candidates`), or None."""
    return next((candidate for candidate in _sidecar_candidates(Path(path)) if candidate.is_file()), None)


def _read_sidecar(path: Path) -> Tuple[Optional[Dict[str, Any]], Optional[Path]]:
    candidate = sidecar_file_of(path)
    if candidate is None:
        return None, None
    try:
        data = json.loads(candidate.read_text(encoding="utf-8"))
    except ValueError as error:
        raise InputError("The sidecar %s is not valid JSON (%s); fix or delete it." % (candidate, error))
    if not isinstance(data, dict):
        raise InputError("The sidecar %s must hold a JSON object like {\"EchoTimes\": [10, 20, 30]}." % candidate)
    return data, candidate


def _echo_times(given, sidecar, sidecar_file, header_times: Optional[Callable[[], Tuple[Optional[np.ndarray], str]]],
                n_echoes: int, path: Path) -> Tuple[np.ndarray, str]:
    """(echo times in ms, their source): the argument, else the sidecar, else the NRRD header (``header_times``
    reads it on demand), each checked for one time per echo."""
    if given is not None:
        times, source = _as_times(given, "--echo-times"), "argument"
    elif sidecar is not None and "EchoTimes" in sidecar:
        times, source = _as_times(sidecar["EchoTimes"], str(sidecar_file)), "sidecar"
    elif sidecar is not None and isinstance(sidecar.get("EchoTime"), list):  # a BIDS-style list, in seconds
        times, source = 1000.0 * _as_times(sidecar["EchoTime"], str(sidecar_file)), "sidecar EchoTime (s)"
    elif header_times is not None:
        times, source = header_times()
    else:
        times, source = None, "nrrd header"
    if times is None:
        raise InputError(
            "No echo times for %s: give them with --echo-times TE1,TE2,... (ms) or write a JSON sidecar %s "
            "holding {\"EchoTimes\": [TE1, TE2, ...]} in ms." % (path, sidecar_path(path).name))
    if times.size != n_echoes:
        raise InputError("%d echo times (from %s) were given for the %d echoes in %s; give one echo time (ms) per "
                         "echo." % (times.size, source, n_echoes, path))
    return times, source


def _as_times(values, origin: str) -> np.ndarray:
    try:
        times = np.asarray([float(value) for value in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("Echo times from %s must be a list of numbers in ms, got %r." % (origin, values))
    return times


def _refined_geometry(matrix: np.ndarray, sidecar) -> Tuple[np.ndarray, str]:
    exact = (sidecar or {}).get("IJKToRAS")
    if exact is None:
        return matrix, "file"
    try:
        exact = np.asarray(exact, dtype=np.float64).reshape(4, 4)
    except (TypeError, ValueError):
        return matrix, "file"
    if np.max(np.abs(exact - matrix)) <= SIDECAR_MATRIX_TOLERANCE_MM:
        return exact, "sidecar (agrees with the file)"
    return matrix, "file (sidecar IJKToRAS disagrees and was ignored)"


# --- writing ----------------------------------------------------------------------------------


def write_echo_stack(exam: MeseExam, path, compress: bool = True) -> Path:
    """Write ``exam`` as a 4D echo stack (see the module docstring) plus its JSON sidecar.

    Both files are written to temporary names and renamed, so a reader never
    sees half a file. An old sidecar is deleted before the new image takes
    its place and the new sidecar is renamed in last, so an interruption can
    leave an image without a sidecar (its echo times are then asked for, or
    read from the NRRD header) but never an image with another exam's sidecar.
    Returns the image path; the sidecar is :func:`sidecar_path`.
    """
    path = Path(path)
    suffix = file_suffix(path)
    if suffix not in WRITABLE_SUFFIXES:
        raise InputError("Cannot write an echo stack as %s; use .nrrd (Slicer sequence) or .nii.gz." % path.name)
    refuse_sheared_nifti(exam.ijk_to_ras, path)
    validate_exam(exam)
    sidecar = sidecar_path(path)
    with atomic_output(path, keep_suffix=True) as temporary:
        if suffix == ".nrrd":
            _write_sequence_nrrd(exam, temporary, compress)
        else:
            _write_nifti(exam, temporary, compress)
        if sidecar.exists():  # an old sidecar must never describe the new image, even after a crash
            sidecar.unlink()
    atomic_write_json(sidecar, _sidecar_content(exam))
    return path


def _write_sequence_nrrd(exam: MeseExam, path: Path, compress: bool) -> None:
    n_echoes, n_slices, n_rows, n_columns = exam.echoes.shape
    matrix = exam.ijk_to_ras
    header = [
        "NRRD0004",
        "# KneeCartilageT2 MESE echo stack: axis 0 = echo (TE in ms), axes 1-3 = i (column), j (row), k (slice)",
        "type: float",
        "dimension: 4",
        "space: right-anterior-superior",
        "sizes: %d %d %d %d" % (n_echoes, n_columns, n_rows, n_slices),
        "space directions: none %s" % " ".join(_nrrd_vector(matrix[:3, axis]) for axis in range(3)),
        "kinds: list domain domain domain",
        'labels: "EchoTime" "" "" ""',
        'units: "ms" "" "" ""',
        "endian: little",
        "encoding: %s" % ("gzip" if compress else "raw"),
        "space origin: %s" % _nrrd_vector(matrix[:3, 3]),
        "DataNodeClassName:=vtkMRMLScalarVolumeNode",
        "axis 0 index type:=numeric",
        "axis 0 index values:=%s" % " ".join(repr(float(time)) for time in exam.echo_times_ms),
    ]
    data = np.ascontiguousarray(np.moveaxis(exam.echoes, 0, -1), dtype="<f4").tobytes()
    with open(str(path), "wb") as stream:
        stream.write(("\n".join(header) + "\n\n").encode("ascii"))
        stream.write(gzip.compress(data, compresslevel=1) if compress else data)


def _nrrd_vector(values) -> str:
    return "(%s)" % ",".join(repr(float(value)) for value in values)


def _write_nifti(exam: MeseExam, path: Path, compress: bool) -> None:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(exam.echoes, dtype=np.float32), isVector=False)
    origin, spacing, direction = ijk_to_ras_to_itk_geometry(exam.ijk_to_ras)
    direction_4d = np.eye(4)
    direction_4d[:3, :3] = np.asarray(direction).reshape(3, 3)
    image.SetOrigin(tuple(origin) + (0.0,))
    image.SetSpacing(tuple(spacing) + (1.0,))
    image.SetDirection(tuple(direction_4d.flatten().tolist()))
    sitk.WriteImage(image, str(path), compress)


def _sidecar_content(exam: MeseExam) -> Dict[str, Any]:
    return {
        "EchoTimes": [float(time) for time in exam.echo_times_ms],
        "EchoTimeUnits": "ms",
        "Laterality": exam.laterality,
        "IJKToRAS": [[float(value) for value in row] for row in exam.ijk_to_ras],
        "Layout": "echoes (echo, slice, row, col); NRRD: list axis 0 = echo; NIfTI: 4th axis = echo",
        "Metadata": {key: exam.metadata[key] for key in _SIDECAR_METADATA_KEYS
                     if key in exam.metadata and _is_plain(exam.metadata[key])},
    }


def _is_plain(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))
