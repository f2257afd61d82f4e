"""The partial-coverage area of a lesion: edge cells that hold part of a lesion count in part."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from KneeCartilageT2Lib.lesion_area import coverage_area_mm2
from KneeCartilageT2Lib.lesions import LesionParameters, find_lesion_clusters

SHAPE = (40, 60)


def _rectangle_lesion():
    """(difference ms, plate, other clusters, cluster): a 10 x 20 pixel cluster raised by 10 ms, nothing else."""
    difference, plate, others = np.zeros(SHAPE), np.ones(SHAPE, bool), np.zeros(SHAPE, bool)
    cluster = np.zeros(SHAPE, bool)
    cluster[10:20, 10:30] = True
    difference[cluster] = 10.0
    return difference, plate, others, cluster


def test_a_uniform_lesion_with_sharp_edges_covers_its_footprint():
    difference, plate, others, cluster = _rectangle_lesion()
    assert coverage_area_mm2(cluster, difference, plate, others, 1.0) == pytest.approx(200.0)


def test_partly_raised_cells_inside_and_around_count_by_their_share_of_the_increase():
    difference, plate, others, cluster = _rectangle_lesion()
    difference[10:20, 10:14] = 5.0  # a column of cells half covered, inside the cluster (40 px)
    difference[20:22, 10:30] = 2.5  # a rim below the threshold, a quarter covered (40 px, within 2 mm)
    difference[30:32, 10:30] = 10.0  # raised but farther than the rim: another lesion's business
    expected = 160.0 + 40 * 0.5 + 40 * 0.25
    assert coverage_area_mm2(cluster, difference, plate, others, 1.0) == pytest.approx(expected)


def test_rim_pixels_outside_the_plate_or_in_another_cluster_are_not_counted():
    difference, plate, others, cluster = _rectangle_lesion()
    difference[:] = 10.0
    plate[:, 30:] = False  # beyond the analysed plate
    others[8:10, :] = True  # a neighbouring cluster
    # the rim left is rows 20-21 (columns 8-29) and columns 8-9 (rows 10-19)
    expected = 200.0 + 2 * 22 + 10 * 2
    assert coverage_area_mm2(cluster, difference, plate, others, 1.0) == pytest.approx(expected)


def test_pixel_size_scales_the_area_and_the_rim_width():
    difference, plate, others, cluster = _rectangle_lesion()
    difference[20, 10:30] = 5.0  # one 2 mm pixel row beside it: inside a 2 mm rim
    assert coverage_area_mm2(cluster, difference, plate, others, 2.0) == pytest.approx(4.0 * (200 + 10))


def test_clusters_report_both_the_footprint_and_the_coverage_area():
    rows, cols = np.meshgrid(np.arange(60.0), np.arange(120.0), indexing="ij")
    rng = np.random.default_rng(3)
    baseline = 40.0 + rng.normal(0, 0.3, rows.shape)
    followup = 40.0 + rng.normal(0, 0.3, rows.shape)
    # a disk of +10 ms with a soft edge: 2 mm of half-raised cells around a 6 mm core
    distance = np.hypot(rows - 30.0, cols - 60.0)
    followup += np.where(distance <= 6.0, 10.0, np.where(distance <= 8.0, 5.0, 0.0))
    maps = [SimpleNamespace(array=a, row_positions_mm=np.arange(60.0), col_positions_mm=np.arange(120.0))
            for a in (baseline, followup)]
    result = find_lesion_clusters(*maps, LesionParameters(min_increase_ms=4.0))
    assert len(result.clusters) == 1
    cluster = result.clusters[0]
    core_area, soft_area = np.pi * 36.0, np.pi * (64.0 - 36.0)
    assert cluster.area_mm2 == pytest.approx(core_area + soft_area, rel=0.1)  # every raised pixel, whole
    assert cluster.coverage_area_mm2 == pytest.approx(core_area + 0.5 * soft_area, rel=0.1)
    assert result.summary()["clusters"][0]["coverage_area_mm2"] == pytest.approx(cluster.coverage_area_mm2, abs=1e-3)


def test_coverage_parameters_are_checked():
    maps = [SimpleNamespace(array=np.full((20, 20), 40.0), row_positions_mm=np.arange(20.0),
                            col_positions_mm=np.arange(20.0))] * 2
    from KneeCartilageT2Lib.errors import InputError

    with pytest.raises(InputError, match="coverage core percentile"):
        find_lesion_clusters(*maps, LesionParameters(coverage_core_percentile=0.0))


def test_the_rim_can_be_wider_across_slices_than_along_the_arc():
    difference, plate, others, cluster = _rectangle_lesion()  # rows 10-19, columns 10-29
    difference[20:24, 10:30] = 5.0  # a neighbouring 4 mm slice cell row, half covered (80 px)
    difference[10:20, 30:34] = 5.0  # 4 columns beside it along the arc: only 3 lie within a 3 mm rim
    expected = 200.0 + 80 * 0.5 + 30 * 0.5
    assert coverage_area_mm2(cluster, difference, plate, others, 1.0, rim_mm=(4.0, 3.0)) == pytest.approx(expected)


def test_cell_size_is_the_larger_median_step_of_either_map():
    from KneeCartilageT2Lib.lesion_grid import cell_size_mm

    a = SimpleNamespace(row_positions_mm=np.arange(0.0, 40.0, 4.0), col_positions_mm=np.arange(0.0, 50.0, 2.5))
    b = SimpleNamespace(row_positions_mm=np.arange(0.0, 40.0, 3.5)[::-1], col_positions_mm=np.arange(0.0, 50.0, 2.8))
    assert cell_size_mm(a, b) == pytest.approx((4.0, 2.8))
    single = SimpleNamespace(row_positions_mm=np.array([5.0]), col_positions_mm=np.array([1.0]))
    assert cell_size_mm(single, single) == (0.0, 0.0)


def _slice_cell_maps():
    """Baseline and follow-up maps on cells of 4 mm (slices) x 2.5 mm (arc): a lesion of 3 x 6 cells raised
    12 ms, and the slice beside it raised 3 ms over the same arc (a slice that holds a quarter of the lesion)."""
    rows, cols = np.arange(20) * 4.0 + 0.3, np.arange(30) * 2.5 + 0.1
    baseline = np.full((rows.size, cols.size), 40.0)
    followup = baseline.copy()
    followup[8:11, 12:18] += 12.0
    followup[11, 12:18] += 3.0
    return [SimpleNamespace(array=array, row_positions_mm=rows, col_positions_mm=cols) for array in (baseline, followup)]


def test_by_default_the_rim_reaches_the_whole_neighbouring_slice_cell():
    maps = _slice_cell_maps()
    result = find_lesion_clusters(*maps, LesionParameters(min_cell_z=0.0))
    assert len(result.clusters) == 1 and result.coverage_rim_mm == pytest.approx((4.0, 2.5))
    cluster = result.clusters[0]
    quarter = np.isclose(result.difference_ms, 3.0) & result.mask
    assert quarter.sum() >= 3 * 15  # the neighbouring slice's cells: about 4 pixel rows along the lesion's arc
    assert cluster.coverage_area_mm2 == pytest.approx(cluster.area_mm2 + 0.25 * quarter.sum())
    two_mm = find_lesion_clusters(*maps, LesionParameters(min_cell_z=0.0, coverage_rim_mm=2.0)).clusters[0]
    assert two_mm.coverage_area_mm2 < cluster.coverage_area_mm2 - 0.25 * quarter.sum() / 3  # half a slice at most
    assert result.summary()["coverage_rim_mm"] == [4.0, 2.5]
