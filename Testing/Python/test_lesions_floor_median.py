"""The default lesion rule's additions: median T2 per projection cell and an absolute floor (ms)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.lesions import LesionParameters, find_lesion_clusters
from KneeCartilageT2Lib.projection import N_ANGULAR_BINS, cell_statistic

ROWS_MM, COLS_MM = np.arange(0, 80, 4.0), np.arange(0, 140, 2.0)  # 4 mm slices, ~5-degree bins


def coarse(array):
    return SimpleNamespace(array=array, row_positions_mm=ROWS_MM, col_positions_mm=COLS_MM)


def pair_with_patch(increase_ms, seed=3, noise_ms=0.5, radius_mm=10.0):
    rows, cols = np.meshgrid(ROWS_MM, COLS_MM, indexing="ij")
    patch = (rows - 40) ** 2 + (cols - 70) ** 2 <= radius_mm ** 2
    rng = np.random.default_rng(seed)
    baseline = 40 + rng.normal(0, noise_ms, rows.shape)
    followup = 40 + rng.normal(0, noise_ms, rows.shape) + increase_ms * patch
    return coarse(baseline), coarse(followup), patch


def test_defaults_add_median_cells_and_a_floor_and_published_has_neither():
    default, published = LesionParameters(), LesionParameters.published()
    assert (default.cell_statistic, default.min_increase_ms, default.cluster_sd_factor) == ("mid-depth-median", 4.0, 2.0)
    assert default.depth_margin == 0.15
    assert (published.cell_statistic, published.min_increase_ms, published.cluster_sd_factor) == ("mean", 0.0, 0.0)
    assert (published.sd_factor, published.min_cluster_fraction, published.connectivity) == (1.0, 0.01, 8)
    assert LesionParameters.published(min_increase_ms=2.5).min_increase_ms == 2.5


def test_an_increase_under_the_floor_is_not_a_lesion_however_quiet_the_plate():
    # plate noise 0.5 ms: mean + 1 SD is ~1 ms and mean + 2 SD ~2 ms, so a uniform +3 ms patch passes
    # both relative tests; it stays under the 4 ms floor (a cell's repeatability)
    baseline, followup, patch = pair_with_patch(3.0)
    assert find_lesion_clusters(baseline, followup).clusters == []
    without_floor = find_lesion_clusters(baseline, followup, LesionParameters(min_increase_ms=0.0))
    assert len(without_floor.clusters) == 1
    assert without_floor.clusters[0].mean_delta_t2_ms == pytest.approx(3.0, abs=0.3)


def test_an_increase_over_the_floor_is_found_with_its_area_and_every_pixel_reaches_the_floor():
    baseline, followup, patch = pair_with_patch(6.0)
    result = find_lesion_clusters(baseline, followup)
    assert len(result.clusters) == 1
    assert result.clusters[0].area_mm2 == pytest.approx(patch.sum() * 4 * 2, rel=0.2)  # cells of 4 x 2 mm
    assert result.difference_ms[result.candidates].min() >= 4.0
    floor_high = find_lesion_clusters(baseline, followup, LesionParameters(min_increase_ms=8.0))
    assert floor_high.clusters == [] and not floor_high.candidates.any()  # 6 ms + 0.7 ms noise never reaches 8


def test_wrong_cell_statistic_or_negative_floor_is_refused():
    baseline, followup, _ = pair_with_patch(6.0)
    for wrong in (LesionParameters(cell_statistic="mode"), LesionParameters(min_increase_ms=-1.0),
                  LesionParameters(depth_margin=0.5), LesionParameters(depth_margin=-0.1)):
        with pytest.raises(InputError):
            find_lesion_clusters(baseline, followup, wrong)


def test_cell_median_matches_numpy_per_cell_and_ignores_a_partial_volume_voxel():
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 4, 600), rng.integers(0, N_ANGULAR_BINS, 600)
    values = rng.normal(40, 5, 600)
    median = cell_statistic(rows, cols, values, 4, "median")
    for row, col in [(r, c) for r in range(4) for c in range(N_ANGULAR_BINS)]:
        inside = (rows == row) & (cols == col)
        expected = np.median(values[inside]) if inside.any() else np.nan
        assert median[row, col] == pytest.approx(expected, nan_ok=True)
    # one cell: four cartilage voxels and one cartilage/fluid voxel with a long apparent T2
    cell = np.array([38.0, 40.0, 44.0, 46.0, 120.0])
    zeros = np.zeros(5, np.int64)
    assert cell_statistic(zeros, zeros, cell, 1, "median")[0, 0] == pytest.approx(44.0)
    assert cell_statistic(zeros, zeros, cell, 1, "mean")[0, 0] == pytest.approx(57.6)
    assert cell_statistic(zeros[:4], zeros[:4], cell[:4], 1, "median")[0, 0] == pytest.approx(42.0)  # even count
    assert np.isnan(cell_statistic(zeros, zeros, cell, 1, "median")[0, 1])  # empty cell
