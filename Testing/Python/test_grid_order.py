"""Exact re-indexing between grids that list the same voxels in another order (grid_order)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from KneeCartilageT2Lib.geometry import make_ijk_to_ras
from KneeCartilageT2Lib.grid_order import index_reordering, reorder_onto, right_handed

SHAPE_KJI = (5, 7, 9)


def _oblique_grid():
    angle = np.radians(11.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    sagittal = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    return make_ijk_to_ras((0.6, 0.5, 3.0), rotation @ sagittal, (12.5, -31.0, 7.25))


def _renumbered(matrix, shape_kji, sources, reversed_axes):
    """The grid that numbers ``matrix``'s voxels with to-axis a = source axis sources[a], reversed or not."""
    sizes = list(shape_kji)[::-1]
    to_in_from = np.zeros((4, 4))
    to_in_from[3, 3] = 1.0
    for axis, (source, reverse) in enumerate(zip(sources, reversed_axes)):
        to_in_from[source, axis] = -1.0 if reverse else 1.0
        to_in_from[source, 3] = sizes[source] - 1 if reverse else 0.0
    to_shape = tuple(sizes[source] for source in sources)[::-1]
    return matrix @ to_in_from, to_shape


@pytest.mark.parametrize("sources", list(itertools.permutations(range(3))))
def test_every_axis_order_and_direction_is_re_indexed_voxel_for_voxel(sources):
    source_grid = _oblique_grid()
    array = np.random.default_rng(1).random(SHAPE_KJI)
    for reversed_axes in itertools.product((False, True), repeat=3):
        target_grid, target_shape = _renumbered(source_grid, SHAPE_KJI, sources, reversed_axes)
        moved = reorder_onto(array, source_grid, target_grid)
        assert moved is not None and moved.shape == target_shape
        assert index_reordering(source_grid, SHAPE_KJI, target_grid, target_shape) == (sources, reversed_axes)
        for k, j, i in itertools.product(*(range(n) for n in target_shape)):
            ras = target_grid @ [i, j, k, 1.0]
            si, sj, sk = np.round(np.linalg.inv(source_grid) @ ras)[:3].astype(int)
            assert moved[k, j, i] == array[sk, sj, si]


def test_echo_stacks_move_with_their_last_three_axes():
    source_grid = _oblique_grid()
    echoes = np.random.default_rng(2).random((4,) + SHAPE_KJI)
    target_grid, _ = _renumbered(source_grid, SHAPE_KJI, (0, 1, 2), (False, False, True))
    moved = reorder_onto(echoes, source_grid, target_grid)
    assert np.array_equal(moved, echoes[:, ::-1])
    assert reorder_onto(echoes, source_grid, source_grid) is echoes


def test_grids_that_are_not_the_same_voxels_are_refused():
    source_grid = _oblique_grid()
    array = np.zeros(SHAPE_KJI)
    shifted = source_grid.copy()
    shifted[:3, 3] += source_grid[:3, 0] * 0.5  # half a voxel along i
    finer = source_grid.copy()
    finer[:3, 0] *= 0.5
    turned = source_grid.copy()
    angle = np.radians(10.0)
    turned[:3, :3] = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]) @ turned[:3, :3]
    slightly_turned = source_grid.copy()
    small = np.radians(0.5)  # small in the matrix, yet the far corners move by voxels
    slightly_turned[:3, :3] = np.array([[np.cos(small), -np.sin(small), 0], [np.sin(small), np.cos(small), 0],
                                        [0, 0, 1]]) @ slightly_turned[:3, :3]
    big = np.zeros((5, 300, 300))
    assert reorder_onto(big, source_grid, slightly_turned) is None
    noisy = source_grid + np.random.default_rng(4).normal(0.0, 1e-6, (4, 4))
    noisy[3] = [0, 0, 0, 1]  # float noise of headers (1e-6 mm): still the same voxels
    assert reorder_onto(big, source_grid, noisy) is big
    for other in (shifted, finer, turned):
        assert reorder_onto(array, source_grid, other) is None
    reversed_grid, _ = _renumbered(source_grid, SHAPE_KJI, (0, 1, 2), (False, False, True))
    assert reorder_onto(array, source_grid, reversed_grid, (6, 7, 9)) is None  # another extent


def test_a_left_handed_grid_becomes_right_handed_by_reversing_its_slices():
    left = _oblique_grid()
    assert np.linalg.det(left[:3, :3]) < 0
    right, reversed_slices = right_handed(left, SHAPE_KJI)
    assert reversed_slices and np.linalg.det(right[:3, :3]) > 0
    array = np.random.default_rng(3).random(SHAPE_KJI)
    assert np.array_equal(reorder_onto(array, left, right), array[::-1])
    assert right_handed(right, SHAPE_KJI) == (pytest.approx(right), False)
