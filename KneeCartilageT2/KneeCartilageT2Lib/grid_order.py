"""The same voxels listed in another axis order: exact re-indexing between such grids, and right-handed grids.

Two grids can cover exactly the same voxel centres yet number them
differently: the slices in reverse order, or the axes swapped. Slicer makes
every volume it reads right-handed (it reverses the slice axis of a grid whose
``ijk_to_ras`` has a negative determinant), so a left-handed exam put into a
scene comes back with its slices reversed once the scene is saved and opened
again. Labels, drafts and dataset cases made on one numbering must then be
re-indexed, not resampled, onto the other: :func:`reorder_onto` does that
exactly (no interpolation), and refuses grids that are not the same voxels.

Arrays are indexed ``[..., k, j, i]`` (slice, row, col last, so a 4D echo
stack ``[echo, k, j, i]`` works too); ``ijk_to_ras`` maps ``(i, j, k, 1)`` to
RAS mm as everywhere in this package.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

INDEX_TOLERANCE = 0.01  # voxels: grids closer than this are the same voxels (float noise of headers, not a shift)


def index_reordering(from_ijk_to_ras: np.ndarray, from_shape_kji: Sequence[int], to_ijk_to_ras: np.ndarray,
                     to_shape_kji: Optional[Sequence[int]] = None
                     ) -> Optional[Tuple[Tuple[int, int, int], Tuple[bool, bool, bool]]]:
    """How grid ``to`` numbers the voxels of grid ``from``: ``(source axis, reversed)`` per ``to`` axis (i, j, k).

    None when the grids are not the same voxel centres in another order (other
    spacing, position, extent, or a rotation that is not an axis swap).
    ``to_shape_kji`` None takes the extent the axis order implies.
    """
    to_index_in_from = np.linalg.inv(np.asarray(from_ijk_to_ras, float)) @ np.asarray(to_ijk_to_ras, float)
    rounded = np.round(to_index_in_from[:3, :3])
    if not np.array_equal(np.abs(rounded).sum(axis=0), np.ones(3)) or not np.array_equal(
            np.abs(rounded).sum(axis=1), np.ones(3)):
        return None
    from_sizes = list(from_shape_kji)[::-1]  # i, j, k
    to_sizes = (list(to_shape_kji)[::-1] if to_shape_kji is not None
                else [from_sizes[int(np.argmax(np.abs(rounded[:, axis])))] for axis in range(3)])
    sources, reversed_axes, offset = [], [], np.zeros(3)
    for to_axis in range(3):
        source = int(np.argmax(np.abs(rounded[:, to_axis])))
        reverse = bool(rounded[source, to_axis] < 0)
        if to_sizes[to_axis] != from_sizes[source]:
            return None
        offset[source] = from_sizes[source] - 1 if reverse else 0
        sources.append(source)
        reversed_axes.append(reverse)
    # every corner of one grid must fall on the matching voxel centre of the other (a slight turn or shift,
    # small in the matrix, moves the far corners by whole voxels)
    corners = np.array([[i, j, k, 1.0] for i in (0, to_sizes[0] - 1) for j in (0, to_sizes[1] - 1)
                        for k in (0, to_sizes[2] - 1)]).T
    exact = rounded @ corners[:3] + offset[:, None]
    if np.abs((to_index_in_from @ corners)[:3] - exact).max() > INDEX_TOLERANCE:
        return None
    return tuple(sources), tuple(reversed_axes)


def reorder_onto(array: np.ndarray, from_ijk_to_ras: np.ndarray, to_ijk_to_ras: np.ndarray,
                 to_shape_kji: Optional[Sequence[int]] = None) -> Optional[np.ndarray]:
    """``array`` (``[..., k, j, i]`` on grid ``from``) numbered as grid ``to``; None when not the same voxels.

    ``to_shape_kji`` defaults to the shape the reordering implies (the axes of
    ``from`` in ``to``'s order). Returns the input itself when nothing moves.
    """
    array = np.asarray(array)
    found = index_reordering(from_ijk_to_ras, array.shape[-3:], to_ijk_to_ras, to_shape_kji)
    if found is None:
        return None
    sources, reversed_axes = found
    if sources == (0, 1, 2) and not any(reversed_axes):
        return array
    lead = array.ndim - 3
    kji_of = [lead + 2 - source for source in sources]  # the array axis of each source index axis
    order = list(range(lead)) + [kji_of[2], kji_of[1], kji_of[0]]  # new k, j, i
    result = np.transpose(array, order)
    for to_axis, reverse in enumerate(reversed_axes):
        if reverse:
            result = np.flip(result, axis=lead + 2 - to_axis)
    return np.ascontiguousarray(result)


def right_handed(ijk_to_ras: np.ndarray, shape_kji: Sequence[int]) -> Tuple[np.ndarray, bool]:
    """``(ijk_to_ras, reversed)``: the same grid with its slice axis reversed when it was left-handed.

    A right-handed grid is returned as it is with ``reversed`` False; arrays on
    a reversed grid are ``array[..., ::-1, :, :]``.
    """
    matrix = np.array(ijk_to_ras, dtype=np.float64)
    if np.linalg.det(matrix[:3, :3]) >= 0:
        return matrix, False
    last_slice = int(shape_kji[0]) - 1
    matrix[:3, 3] = matrix[:3, 3] + matrix[:3, 2] * last_slice
    matrix[:3, 2] = -matrix[:3, 2]
    return matrix, True

