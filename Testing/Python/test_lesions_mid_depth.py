"""Mid-depth cell median: projection cells that do not depend on how many surface voxels a slice cuts."""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib.cartilage_shell import ShellSpec, build_shell
from KneeCartilageT2Lib.change_maps import MapGeometry, voxel_cells, voxel_depth
from KneeCartilageT2Lib.geometry import voxel_centers_ras
from KneeCartilageT2Lib.orientation import knee_orientation
from KneeCartilageT2Lib.projection import cell_statistic, mid_depth_cell_median

DEEP_T2_MS, SURFACE_T2_MS = 35.0, 50.0


def laminar_cell(depths, bone_side_t2_ms=None, fluid_side_t2_ms=None, n_bone_side=0, n_fluid_side=0):
    """T2 and depth of one cell's voxels: cartilage with T2 rising with depth, plus partial-volume
    voxels at the bone (depth ~0.05, low apparent T2) and at the fluid (depth ~0.95, high apparent T2)."""
    depths = np.asarray(depths, dtype=np.float64)
    t2 = DEEP_T2_MS + (SURFACE_T2_MS - DEEP_T2_MS) * depths
    extra_depth = [0.05] * n_bone_side + [0.95] * n_fluid_side
    extra_t2 = [bone_side_t2_ms] * n_bone_side + [fluid_side_t2_ms] * n_fluid_side
    return np.r_[t2, extra_t2], np.r_[depths, extra_depth]


def one_cell(values, depth):
    zeros = np.zeros(len(values), np.int64)
    return (mid_depth_cell_median(zeros, zeros, values, depth, 1, 0.15)[0, 0],
            cell_statistic(zeros, zeros, values, 1, "median")[0, 0])


def test_surface_voxels_move_the_plain_median_but_not_the_mid_depth_median():
    core = np.linspace(0.2, 0.8, 9)
    fluid_cut = laminar_cell(core, fluid_side_t2_ms=85.0, n_fluid_side=6)  # a slice grazing the articular surface
    bone_cut = laminar_cell(core, bone_side_t2_ms=25.0, n_bone_side=6)  # a slice grazing the bone
    mid_fluid, plain_fluid = one_cell(*fluid_cut)
    mid_bone, plain_bone = one_cell(*bone_cut)
    assert plain_fluid - plain_bone > 6.0  # the same cartilage, two slice placements, > 6 ms apart
    assert mid_fluid == pytest.approx(mid_bone) == pytest.approx(DEEP_T2_MS + 0.5 * (SURFACE_T2_MS - DEEP_T2_MS))


def test_a_uniform_increase_is_kept_whole():
    values, depth = laminar_cell(np.linspace(0.2, 0.8, 9), fluid_side_t2_ms=85.0, n_fluid_side=3)
    before, _ = one_cell(values, depth)
    after, _ = one_cell(values + 12.0, depth)
    assert after - before == pytest.approx(12.0)


def test_cells_without_mid_depth_voxels_fall_back_to_all_their_voxels():
    rows = np.array([0, 0, 0, 0, 0, 0], np.int64)
    cols = np.array([0, 0, 0, 1, 1, 1], np.int64)
    values = np.array([30.0, 40.0, 80.0, 41.0, 43.0, 47.0])
    depth = np.array([0.05, 0.1, 0.95, np.nan, np.nan, 0.5])  # cell 0: surface voxels only; cell 1: 1 known
    result = mid_depth_cell_median(rows, cols, values, depth, 1, 0.15)
    assert result[0, 0] == pytest.approx(40.0)  # median of all three
    assert result[0, 1] == pytest.approx(47.0)  # only the mid-depth voxel
    assert np.isnan(result[0, 2])  # empty cells stay empty
    assert np.array_equal(np.isfinite(result), np.isfinite(cell_statistic(rows, cols, values, 1, "median")))


def test_voxel_depth_of_a_cartilage_shell_follows_its_true_depth():
    spec = ShellSpec(spacing_mm=(0.6, 0.6, 2.0), lateral_range_mm=(-30.0, 30.0), notch_range_mm=(-5.0, 5.0))
    mask, _, _ = build_shell(spec, "right")
    indices = np.argwhere(mask.array > 0)
    ras = voxel_centers_ras(mask.ijk_to_ras, indices)
    true_depth = (np.hypot(ras[:, 1], ras[:, 2]) - spec.inner_radius_mm) / spec.thickness_mm
    orientation = knee_orientation(mask.ijk_to_ras, "right")
    geometry = MapGeometry(mask.ijk_to_ras, orientation, 0.0, {"lateral": (0.0, 0.0), "medial": (0.0, 0.0)},
                           spec.mid_radius_mm, np.arange(-30.0, 30.1, 2.0), 2.0)
    depth = voxel_depth(geometry, mask.array > 0)
    cells_indices = voxel_cells(geometry, mask.array > 0)[0]
    assert np.array_equal(cells_indices, indices)  # same voxel order as voxel_cells
    assert np.all((depth >= 0) & (depth <= 1))
    assert np.corrcoef(depth, true_depth)[0, 1] > 0.9
    assert np.median(np.abs(depth - true_depth)) < 0.15
