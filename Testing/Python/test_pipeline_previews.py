"""Preview orientation: superior up and anterior left, from the geometry alone."""

from __future__ import annotations

import numpy as np

from KneeCartilageT2Lib.geometry import make_ijk_to_ras
from KneeCartilageT2Lib.previews import display_transform, oriented


def _sagittal(col_direction, row_direction):
    slice_direction = np.cross(col_direction, row_direction)
    return make_ijk_to_ras([0.5, 0.5, 3.0], np.column_stack([col_direction, row_direction, slice_direction]))


def _marker_image():
    """A 4x6 (row, col) image whose voxel value encodes its own index."""
    return np.arange(24, dtype=float).reshape(4, 6)


def test_columns_posterior_rows_inferior_are_shown_as_stored():
    matrix = _sagittal([0, -1, 0], [0, 0, -1])  # col -> posterior, row -> inferior (OAI/GE storage)
    assert display_transform(matrix) == (False, False, False)


def test_columns_anterior_are_flipped_so_anterior_is_left():
    matrix = _sagittal([0, 1, 0], [0, 0, -1])
    shown = oriented(_marker_image(), display_transform(matrix))
    assert shown[0, 0] == 5  # the stored last column (most anterior) comes first


def test_columns_along_superior_are_transposed_and_flipped():
    matrix = _sagittal([0, 0, 1], [0, -1, 0])  # col -> superior, row -> posterior
    transform = display_transform(matrix)
    assert transform == (True, True, False)
    shown = oriented(_marker_image(), transform)
    # top-left of the display is the most superior (last column), most anterior (first row) voxel
    assert shown.shape == (6, 4) and shown[0, 0] == 5


def test_real_ge_geometry_needs_no_flip(ge_exam_dir):
    from KneeCartilageT2Lib.exam_loader import load_exam

    exam = load_exam(ge_exam_dir)
    assert display_transform(exam.ijk_to_ras) == (False, False, False)
