"""Reading and writing 3D volumes (NRRD, NIfTI) with exact geometry.

The file format follows the suffix (``.nrrd``, ``.nhdr``, ``.nii``,
``.nii.gz``, ``.mha``). SimpleITK does the I/O; geometry crosses the LPS/RAS
boundary in :mod:`geometry` only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np

from .errors import InputError
from .geometry import Volume, ijk_to_ras_to_itk_geometry, itk_geometry_to_ijk_to_ras

PathLike = Union[str, os.PathLike]
VOLUME_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")


def has_volume_suffix(path: PathLike) -> bool:
    return str(path).lower().endswith(VOLUME_SUFFIXES)


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
        raise InputError(
            "Expected a 3D single-component image, got %dD with %d components per voxel."
            % (image.GetDimension(), image.GetNumberOfComponentsPerPixel())
        )
    matrix = itk_geometry_to_ijk_to_ras(image.GetOrigin(), image.GetSpacing(), image.GetDirection())
    return Volume(sitk.GetArrayFromImage(image), matrix)


def read_volume(path: PathLike) -> Volume:
    """Read a 3D volume; raises :class:`InputError` naming the file when it cannot."""
    import SimpleITK as sitk

    path = Path(path)
    if not path.is_file():
        raise InputError("Volume file not found: %s" % path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputError("Cannot read %s as an image volume: %s" % (path, str(error).strip().splitlines()[-1]))
    return sitk_to_volume(image)


def write_volume(volume: Volume, path: PathLike, compress: bool = True) -> Path:
    """Write a volume, format by suffix, atomically (temporary file then rename)."""
    import SimpleITK as sitk

    path = Path(path)
    if not has_volume_suffix(path):
        raise InputError("Unsupported output suffix for %s; use .nrrd or .nii.gz" % path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = ".nii.gz" if str(path).lower().endswith(".nii.gz") else path.suffix
    temporary = path.with_name(".%s.partial%s" % (path.name[: -len(suffix)], suffix))
    sitk.WriteImage(volume_to_sitk(volume), str(temporary), compress)
    os.replace(temporary, path)
    return path
