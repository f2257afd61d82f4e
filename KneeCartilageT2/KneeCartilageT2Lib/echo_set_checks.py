"""Checks that the files of a per-echo set (:mod:`echo_set_io`) are the echoes of one series.

A set is recognised by its file names alone (``_echo-N_``, ``_eN``), so a
file of another series, a resampled copy, a 4D stack or a stray sidecar can
sit among its echoes. Each is refused (or, for echo numbers that do not follow
the echo times, reported) naming the file that differs and how:

* every echo is one 3D scalar volume (not 4D, not several components per voxel);
* every echo shares echo 1's grid: size, spacing (mm), origin (mm, RAS) and
  axis directions, within :data:`GEOMETRY_TOLERANCE_MM` of its voxel-to-RAS
  matrix;
* the sidecars' echo times differ, and rise with the echo numbers of the names
  (else a warning: the echoes are ordered by their own sidecar's time);
* echo times given by the user rise with the echo numbers, as they are matched
  to the files in that order.

Images are SimpleITK images, sizes in ITK's (x, y, z) axis order.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .errors import InputError
from .geometry import itk_geometry_to_ijk_to_ras

GEOMETRY_TOLERANCE_MM = 1e-3
Echo = Tuple[int, Path]  # (echo number in the file name, file)


def refuse_non_echo_file(image, echo: Echo) -> None:
    """InputError unless ``image`` (the file of ``echo``) is one 3D scalar volume, as every per-echo file is."""
    number, file = echo
    dimension, components = image.GetDimension(), image.GetNumberOfComponentsPerPixel()
    if dimension == 3 and components == 1:
        return
    if dimension == 4 and components == 1:
        what = "a 4D image of %d volumes (a stack of echoes?)" % image.GetSize()[3]
    elif components > 1:
        what = "a %dD image with %d components per voxel" % (dimension, components)
    else:
        what = "a %dD image" % dimension
    raise InputError(
        "Echo %d of the per-echo set (%s) holds %s; each file of a per-echo set holds one 3D echo. Remove or rename "
        "the file that does not belong to the set (a 4D file of all echoes is read on its own under a name without "
        "_echo-N or _eN)." % (number, file, what))


def grid_of(image) -> Tuple[Tuple[int, ...], np.ndarray]:
    """(size in voxels (x, y, z), 4x4 voxel-to-RAS matrix in mm) of a 3D SimpleITK image."""
    matrix = itk_geometry_to_ijk_to_ras(image.GetOrigin(), image.GetSpacing(), image.GetDirection())
    return tuple(int(size) for size in image.GetSize()), matrix


def refuse_other_grid(image, echo: Echo, first_image, first: Echo) -> None:
    """InputError when echo ``echo``'s ``image`` is not on the grid of the set's first echo ``first``
    (``first_image``), naming both files and what differs: size, spacing, origin, directions."""
    size, matrix = grid_of(image)
    first_size, first_matrix = grid_of(first_image)
    if size == first_size and np.max(np.abs(matrix - first_matrix)) <= GEOMETRY_TOLERANCE_MM:
        return
    differences = _grid_differences(size, matrix, first_size, first_matrix)
    raise InputError(
        "Echo %d (%s) has another grid than echo %d (%s): %s. All echoes of a per-echo set share one grid; this file "
        "is likely of another series or a resampled copy. Remove or rename it, or give the series' own files."
        % (echo[0], echo[1].name, first[0], first[1].name, "; ".join(differences)))


def _grid_differences(size, matrix, first_size, first_matrix) -> List[str]:
    """What differs between two grids, in words ("spacing 0.5 x 0.5 x 4 mm, not 0.5 x 0.5 x 3 mm")."""
    found = []
    if size != first_size:
        found.append("size %s voxels, not %s" % (_by(size, "%d"), _by(first_size, "%d")))
    spacing, first_spacing = np.linalg.norm(matrix[:3, :3], axis=0), np.linalg.norm(first_matrix[:3, :3], axis=0)
    if np.max(np.abs(spacing - first_spacing)) > GEOMETRY_TOLERANCE_MM:
        found.append("spacing %s mm, not %s mm" % (_by(spacing, "%.4g"), _by(first_spacing, "%.4g")))
    origin, first_origin = matrix[:3, 3], first_matrix[:3, 3]
    if np.max(np.abs(origin - first_origin)) > GEOMETRY_TOLERANCE_MM:
        found.append("origin (%s) mm RAS, not (%s)" % (_by(origin, "%.4g", ", "), _by(first_origin, "%.4g", ", ")))
    axes, first_axes = matrix[:3, :3] / spacing, first_matrix[:3, :3] / first_spacing
    if np.max(np.abs((axes - first_axes) * first_spacing)) > GEOMETRY_TOLERANCE_MM:
        cosines = np.clip(np.sum(axes * first_axes, axis=0), -1.0, 1.0)
        found.append("axis directions turned by up to %.3g degrees" % np.degrees(np.max(np.arccos(cosines))))
    if not found:  # each part within the tolerance, their combination not
        found.append("voxel-to-RAS matrix differs by up to %.3g mm" % np.max(np.abs(matrix - first_matrix)))
    return found


def _by(values, pattern: str, separator: str = " x ") -> str:
    return separator.join(pattern % value for value in values)


def refuse_repeated_times(times_ms: np.ndarray, echoes: Sequence[Echo], source: str) -> None:
    """InputError when two echoes of the set have the same echo time (ms, one per echo in echo-number order)."""
    for index, time in enumerate(times_ms):
        same = [other for other in range(index + 1, len(times_ms)) if times_ms[other] == time]
        if same:
            other = same[0]
            raise InputError(
                "Echoes %d (%s) and %d (%s) have the same echo time %g ms (from %s); each echo of a series has its "
                "own. Is one a copy, or of another series? Fix or remove the file or its sidecar, or give the echo "
                "times with --echo-times TE1,TE2,... (ms)." % (echoes[index][0], echoes[index][1].name,
                                                              echoes[other][0], echoes[other][1].name, time, source))


def refuse_given_times_out_of_order(times_ms: np.ndarray, echoes: Sequence[Echo]) -> None:
    """InputError when echo times given by the user (ms, matched to the files in echo-number order) do not rise."""
    falls = np.flatnonzero(np.diff(times_ms) <= 0)
    if falls.size:
        index = int(falls[0])
        raise InputError(
            "The echo times given (%s ms) are matched to the per-echo files in the order of their echo numbers (%s) "
            "but do not rise: %g ms for echo %d (%s) after %g ms for echo %d. Give one time per file, increasing."
            % (", ".join("%g" % time for time in times_ms), ", ".join(file.name for _, file in echoes),
               times_ms[index + 1], echoes[index + 1][0], echoes[index + 1][1].name, times_ms[index],
               echoes[index][0]))


def order_warning(times_ms: np.ndarray, echoes: Sequence[Echo]) -> Optional[str]:
    """A warning when the sidecars' echo times (ms, in echo-number order) do not rise with the echo numbers of the
    file names; None when they do. The echoes are then ordered by their own sidecar's time."""
    if np.all(np.diff(times_ms) > 0):
        return None
    return ("The echo numbers in the file names do not follow their sidecars' EchoTime (%s); the echoes were ordered "
            "by EchoTime. Check that each sidecar belongs to its image (renamed files?)."
            % ", ".join("echo %d %g ms" % (number, time) for (number, _), time in zip(echoes, times_ms)))


def stack_among_echoes_warning(path: Path, members: Sequence[Echo], n_echoes: int) -> Optional[str]:
    """A warning when the echo stack ``path`` (all ``n_echoes`` echoes in one file) is named like one echo of the
    per-echo set ``members`` (:func:`echo_set_io.echo_set_files` of ``path``): it is read on its own, and the files
    named like its other echoes are left out. None when no such files lie beside it."""
    others = [file.name for _, file in members if file != path]
    if not others:
        return None
    number = next((number for number, file in members if file == path), 1)
    return ("%s is named like echo %d of a per-echo set (beside %s) but holds all %d echoes; it was read on its own "
            "and those files were not used." % (path.name, number, ", ".join(others), n_echoes))
