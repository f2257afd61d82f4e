"""Reading and writing 3D volumes (NRRD, NIfTI) with exact geometry.

The file format follows the suffix (``.nrrd``, ``.nhdr``, ``.nii``,
``.nii.gz``, ``.mha``). SimpleITK does the I/O; geometry crosses the LPS/RAS
boundary in :mod:`geometry` only.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Union

import numpy as np

from .atomic_files import atomic_output, file_suffix
from .errors import InputError
from .geometry import Volume, ijk_to_ras_to_itk_geometry, itk_geometry_to_ijk_to_ras
from .vector_pixel_checks import non_echo_pixels

PathLike = Union[str, os.PathLike]
VOLUME_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")
DETACHED_HEADER_SUFFIXES = (".nhdr", ".mhd")


def has_volume_suffix(path: PathLike) -> bool:
    """True for the suffixes SimpleITK reads and writes as volumes (:data:`VOLUME_SUFFIXES`, any case)."""
    return str(path).lower().endswith(VOLUME_SUFFIXES)


def refuse_sheared_nifti(ijk_to_ras: np.ndarray, path: PathLike) -> None:
    """NIfTI holds an orthogonal voxel grid only: ITK would silently straighten a sheared (gantry-tilted) grid
    and move every slice. Refused, naming NRRD, which keeps the matrix exactly."""
    if not str(path).lower().endswith((".nii", ".nii.gz")):
        return
    axes = np.asarray(ijk_to_ras, dtype=np.float64)[:3, :3]
    unit = axes / np.linalg.norm(axes, axis=0, keepdims=True)
    if np.max(np.abs(unit.T @ unit - np.eye(3))) > 1e-4:
        raise InputError("%s: the volume's grid is sheared (non-orthogonal axes, e.g. a gantry tilt), which NIfTI "
                         "cannot store without moving the slices. Write .nrrd instead." % path)


def volume_to_sitk(volume: Volume):
    """A SimpleITK image holding the volume's array and geometry."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.array))
    origin, spacing, direction = ijk_to_ras_to_itk_geometry(volume.ijk_to_ras)
    image.SetOrigin(origin)
    image.SetSpacing(spacing)
    image.SetDirection(direction)
    return image


def sitk_to_volume(image) -> Volume:
    """A :class:`Volume` from a 3D scalar SimpleITK image."""
    import SimpleITK as sitk

    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        colour = non_echo_pixels(image)  # a screenshot saved as .nii.gz named as a label or T2 map
        raise InputError(
            "Expected a 3D single-component image, got %dD with %d components per voxel%s."
            % (image.GetDimension(), image.GetNumberOfComponentsPerPixel(), ": " + colour if colour else "")
        )
    matrix = itk_geometry_to_ijk_to_ras(image.GetOrigin(), image.GetSpacing(), image.GetDirection())
    return Volume(sitk.GetArrayFromImage(image), matrix)


def read_image(path: PathLike, what: str = "Volume"):
    """The SimpleITK image in ``path``; :class:`InputError` naming the file (and ``what`` it should be) otherwise."""
    import SimpleITK as sitk

    path = Path(path)
    if path.is_dir():
        raise InputError("%s is a folder, not a %s file: give the file itself (.nrrd, .nii.gz, .mha)."
                         % (path, what.lower()))
    if not path.is_file():
        raise InputError("%s file not found: %s" % (what, path))
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as error:
        lines = str(error).strip().splitlines() or ["unknown error"]
        raise InputError("Cannot read %s as an image (%s expected): %s" % (path, what.lower(), lines[-1]))


def read_volume(path: PathLike) -> Volume:
    """Read a 3D volume; raises :class:`InputError` naming the file when it cannot."""
    image = read_image(path)
    try:
        return sitk_to_volume(image)
    except InputError as error:  # e.g. the 4D echo stack named where one volume belongs
        raise InputError("%s: %s" % (path, error))


def read_label_volume(path: PathLike, what: str = "label map") -> Volume:
    """Read a label map (cartilage = non-zero); refuse a volume of fractional values.

    A probability map or a T2 map named where the label belongs would otherwise be taken as a label in
    which every voxel above 0 is cartilage: a training case, edit statistics or regions of the whole image.
    """
    volume = read_volume(path)
    values = np.asarray(volume.array)
    if values.dtype.kind == "f":
        fractional = values[np.isfinite(values) & (values != np.round(values))]
        if fractional.size:
            raise InputError(
                "The %s %s holds fractional values (e.g. %s): it is a probability or T2 map, not a label map. Give "
                "the label file (label.nrrd of an analysis, the output of knee-t2 segment, a segmentation saved "
                "from Slicer)." % (what, path, ", ".join("%g" % value for value in np.unique(fractional)[:3])))
    return volume


# A T2 map is in ms, 0 where nothing was fitted: cartilage 30-60 ms, fat about 120 ms, nothing in a spin-echo
# series below a few ms. A "T2 map" whose fitted values are all at most 1 is a probability map, a binary mask or
# T2 in seconds; one holding only small whole numbers is a label map.
T2_MAP_MAX_IF_FRACTION = 1.0
LABEL_MAP_MAX_VALUE = 15  # knee label maps number their structures 1..10 or so


def read_t2_map(path: PathLike, what: str = "T2 map") -> Volume:
    """Read a T2 map (ms, 0 = not fitted); refuse a probability or label map given in its place.

    Without this a probability map or a cartilage label named as the T2 map
    is measured as T2 of 0-1 ms (or 1, 2, 3 ms per label) without a word. The
    fitted (finite, > 0) values decide: all at most
    :data:`T2_MAP_MAX_IF_FRACTION` (ms) is a probability map, mask or T2 in
    seconds; only whole numbers, none above :data:`LABEL_MAP_MAX_VALUE` (ms),
    is a label map. A real T2 map (tens of ms, any pixel type, even rounded
    to whole ms) is kept; so is one with nothing fitted.
    """
    volume = read_volume(path)
    values = np.asarray(volume.array)
    if values.dtype.kind not in "fiu":
        return volume
    fitted = values[np.isfinite(values) & (values > 0)]
    if fitted.size == 0:
        return volume
    largest = float(fitted.max())
    whole = bool(np.all(fitted == np.round(fitted)))
    if largest <= T2_MAP_MAX_IF_FRACTION:
        kind = ("a binary mask or label map (its only value is 1)" if whole else
                "a probability map (or a T2 map in seconds)")
        raise InputError(
            "The %s %s holds values of at most %g (largest %g): it is %s, not a T2 map in ms. Give the T2 map "
            "(t2.nrrd of an analysis or the output of knee-t2 t2map; cartilage T2 is 30-60 ms)."
            % (what, path, T2_MAP_MAX_IF_FRACTION, largest, kind))
    if whole and largest <= LABEL_MAP_MAX_VALUE:
        labels = np.flatnonzero(np.bincount(fitted.astype(np.int64)))
        raise InputError(
            "The %s %s holds only the whole numbers %s: it is a label map, not a T2 map in ms. Give the T2 map "
            "(t2.nrrd of an analysis or the output of knee-t2 t2map; cartilage T2 is 30-60 ms)."
            % (what, path, ", ".join(str(label) for label in labels)))
    return volume


def write_volume(volume: Volume, path: PathLike, compress: bool = True) -> Path:
    """Write a volume, format by suffix, atomically: a reader sees the old file or the whole new one.

    Single-file formats (``.nrrd``, ``.nii``, ``.nii.gz``, ``.mha``) are written
    under a temporary name and renamed. Detached-header formats (``.nhdr``,
    ``.mhd``) name their data file inside the header, so they are written with
    their final names into a temporary folder; the data file is moved into
    place first and the header, which makes the pair readable, last.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not has_volume_suffix(path):
        raise InputError("Unsupported output suffix for %s; use .nrrd or .nii.gz" % path)
    refuse_sheared_nifti(volume.ijk_to_ras, path)
    image = volume_to_sitk(volume)
    if file_suffix(path) in DETACHED_HEADER_SUFFIXES:
        _write_detached(image, path, compress)
        return path
    with atomic_output(path, keep_suffix=True) as temporary:
        sitk.WriteImage(image, str(temporary), compress)
    return path


def _write_detached(image, path: Path, compress: bool) -> None:
    """Write a header + data file pair: data files renamed into place first, the header last."""
    import SimpleITK as sitk

    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".%s." % path.name, suffix=".partial", dir=str(path.parent)))
    try:
        header = staging / path.name
        sitk.WriteImage(image, str(header), compress)
        for produced in sorted(staging.iterdir()):
            if produced != header:
                os.replace(str(produced), str(path.parent / produced.name))
        os.replace(str(header), str(path))
    finally:
        shutil.rmtree(str(staging), ignore_errors=True)
