"""Focal lesion clusters on synthetic projection maps with a planted lesion of known size and sign."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.lesions import LesionParameters, disk, find_lesion_clusters

ROWS_MM = np.arange(60.0)  # medial-lateral, 1 mm
COLS_MM = np.arange(120.0)  # along the arc, 1 mm


def projection(array, rows=ROWS_MM, cols=COLS_MM):
    return SimpleNamespace(array=array, row_positions_mm=rows, col_positions_mm=cols)


def noisy_pair(seed, sd_ms=2.0):
    rng = np.random.default_rng(seed)
    shape = (ROWS_MM.size, COLS_MM.size)
    return 40.0 + rng.normal(0, sd_ms, shape), 40.0 + rng.normal(0, sd_ms, shape)


def planted_disk(radius_mm=8.0, centre=(30.0, 50.0)):
    rows, cols = np.meshgrid(ROWS_MM, COLS_MM, indexing="ij")
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius_mm ** 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_increase_is_found_with_its_area_and_sign(seed):
    baseline, followup = noisy_pair(seed)
    lesion = planted_disk()
    regions = np.where(np.arange(COLS_MM.size) < 40, 1, 2)[np.newaxis, :].repeat(ROWS_MM.size, 0)
    result = find_lesion_clusters(projection(baseline), projection(followup + 10.0 * lesion),
                                  region_map=projection(regions), region_names={1: "MA", 2: "MC"})
    assert len(result.clusters) == 1
    cluster = result.clusters[0]
    assert cluster.area_mm2 == pytest.approx(lesion.sum(), rel=0.2)
    assert cluster.mean_delta_t2_ms == pytest.approx(10.0, abs=1.5)
    assert (cluster.centroid_row_mm, cluster.centroid_col_mm) == pytest.approx((30.0, 50.0), abs=1.0)
    assert cluster.region == "MC"
    assert result.percent_plate_covered == pytest.approx(100 * cluster.area_mm2 / result.plate_area_mm2)
    assert np.array_equal(result.cluster_labels > 0, result.cluster_labels == cluster.label)


def test_a_decrease_is_not_flagged():
    baseline, followup = noisy_pair(4)
    result = find_lesion_clusters(projection(baseline), projection(followup - 10.0 * planted_disk()))
    assert result.clusters == []
    swapped = find_lesion_clusters(projection(followup - 10.0 * planted_disk()), projection(baseline))
    assert len(swapped.clusters) == 1  # the same patch seen the other way round is an increase


def test_coarse_maps_on_shifted_axes_are_aligned_in_mm():
    # baseline sampled every 4 mm x 2 mm from 0 mm; follow-up every 3 mm x 2.5 mm from -5 mm:
    # the same lesion at (30, 50) mm must be found at (30, 50) mm.
    def sampled(rows, cols, raised):
        r, c = np.meshgrid(rows, cols, indexing="ij")
        inside = (r - 30.0) ** 2 + (c - 50.0) ** 2 <= 10.0 ** 2
        return 40.0 + raised * inside

    rows_b, cols_b = np.arange(0, 64, 4.0), np.arange(0, 122, 2.0)
    rows_f, cols_f = np.arange(-5, 66, 3.0), np.arange(-5, 125, 2.5)
    result = find_lesion_clusters(projection(sampled(rows_b, cols_b, 0.0), rows_b, cols_b),
                                  projection(sampled(rows_f, cols_f, 12.0), rows_f, cols_f))
    assert len(result.clusters) == 1
    cluster = result.clusters[0]
    assert (cluster.centroid_row_mm, cluster.centroid_col_mm) == pytest.approx((30.0, 50.0), abs=1.5)
    assert cluster.area_mm2 == pytest.approx(np.pi * 10.0 ** 2, rel=0.2)


def test_mask_is_overlap_eroded_and_empty_cartilage_is_excluded():
    baseline, followup = noisy_pair(5)
    baseline[:, :30] = np.nan  # no cartilage at baseline on the first 30 mm of the arc
    published = find_lesion_clusters(projection(baseline), projection(followup), LesionParameters.published())
    overlap = np.isfinite(published.difference_ms)
    assert not overlap[:, :30].any()
    assert published.mask.sum() == (ROWS_MM.size - 8) * (COLS_MM.size - 30 - 8)
    assert not (published.mask & ~overlap).any()
    assert np.array_equal(find_lesion_clusters(projection(baseline), projection(followup)).mask, published.mask)


def test_thresholds_are_parameters():
    baseline, followup = noisy_pair(6, sd_ms=0.3)
    followup = followup + 10.0 * planted_disk(radius_mm=4.0)  # 49 px: under 1% of the plate
    default = find_lesion_clusters(projection(baseline), projection(followup))
    assert default.plate_area_mm2 == 52 * 112 and default.clusters == []
    lenient = find_lesion_clusters(projection(baseline), projection(followup),
                                   LesionParameters(min_cluster_fraction=0.005, min_increase_ms=5.0))
    assert len(lenient.clusters) == 1 and lenient.clusters[0].area_mm2 == 49
    for wrong in (LesionParameters(connectivity=6), LesionParameters(interpolation="cubic")):
        with pytest.raises(InputError):
            find_lesion_clusters(projection(baseline), projection(followup), wrong)


COARSE_ROWS_MM, COARSE_COLS_MM = np.arange(0, 80, 4.0), np.arange(0, 140, 2.0)  # 4 mm slices, 5-degree bins


def coarse(array):
    return projection(array, COARSE_ROWS_MM, COARSE_COLS_MM)


def test_noise_alone_makes_no_lesion_with_the_default_guards():
    shape = (COARSE_ROWS_MM.size, COARSE_COLS_MM.size)
    published_hits = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        baseline, followup = 40 + rng.normal(0, 2, shape), 40 + rng.normal(0, 2, shape)
        assert find_lesion_clusters(coarse(baseline), coarse(followup)).clusters == [], seed
        published = find_lesion_clusters(coarse(baseline), coarse(followup), LesionParameters.published())
        published_hits += bool(published.clusters)
    assert published_hits >= 1  # the published method finds "lesions" in pure noise on 4 mm rows


def test_lesion_area_on_coarse_cells_is_the_area_of_the_raised_cells():
    rows, cols = np.meshgrid(COARSE_ROWS_MM, COARSE_COLS_MM, indexing="ij")
    lesion = (rows - 40) ** 2 + (cols - 70) ** 2 <= 8.0 ** 2  # 25 cells of 8 mm^2 = 200 mm^2 (pi r^2 = 201)
    rng = np.random.default_rng(11)
    baseline = 40 + rng.normal(0, 1.0, rows.shape)
    followup = 40 + rng.normal(0, 1.0, rows.shape) + 10.0 * lesion
    result = find_lesion_clusters(coarse(baseline), coarse(followup))
    assert len(result.clusters) == 1
    assert result.clusters[0].area_mm2 == pytest.approx(np.pi * 8.0 ** 2, rel=0.2)
    linear = find_lesion_clusters(coarse(baseline), coarse(followup), LesionParameters(interpolation="linear"))
    assert linear.clusters[0].area_mm2 > result.clusters[0].area_mm2  # bilinear blur widens the edges


def test_disjoint_maps_are_refused():
    baseline, followup = noisy_pair(7)
    with pytest.raises(InputError, match="do not overlap"):
        find_lesion_clusters(projection(baseline), projection(followup, cols=COLS_MM + 500.0))


def test_disk_shape():
    assert disk(0).sum() == 1 and disk(1).sum() == 5 and disk(4).sum() == 49
