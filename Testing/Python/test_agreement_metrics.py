"""Segmentation agreement on masks whose Dice, Jaccard and surface distances are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib.agreement import (
    dice_jaccard,
    directed_surface_distances,
    segmentation_agreement,
    staple_consensus,
)
from KneeCartilageT2Lib.errors import InputError

SPACING_KJI = (3.0, 0.5, 0.8)  # mm along slice, row, col: strongly anisotropic like a MESE exam


def box(shape, start, size):
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(slice(s, s + n) for s, n in zip(start, size))] = True
    return mask


def test_boxes_offset_along_columns_give_exact_overlap_and_distances():
    shape = (12, 40, 50)
    size = (6, 20, 20)
    a = box(shape, (3, 10, 10), size)
    b = box(shape, (3, 10, 14), size)  # shifted 4 columns = 3.2 mm
    result = segmentation_agreement(a, b, SPACING_KJI)
    assert result.dice == pytest.approx(16 / 20)
    assert result.jaccard == pytest.approx(16 / 24)
    assert result.hausdorff_mm == pytest.approx(4 * 0.8)
    assert result.volume_a_ml == pytest.approx(6 * 20 * 20 * 3.0 * 0.5 * 0.8 / 1000)
    assert result.volume_difference_percent == pytest.approx(0.0)
    assert result.mean_surface_distance_mm < 3.2 and result.hausdorff95_mm <= 3.2
    sheared = segmentation_agreement(a, b, SPACING_KJI, voxel_volume_mm3=1.1)  # a tilted grid's true voxel volume
    assert sheared.volume_a_ml == pytest.approx(6 * 20 * 20 * 1.1 / 1000) and sheared.dice == result.dice


def test_surface_distances_match_brute_force_point_distances():
    shape = (8, 14, 16)
    a = box(shape, (2, 3, 3), (4, 7, 8))
    b = box(shape, (3, 4, 6), (4, 6, 8))
    spacing = np.asarray(SPACING_KJI)

    def surface_points(mask):
        inner = np.zeros_like(mask)
        inner[1:-1, 1:-1, 1:-1] = (mask[1:-1, 1:-1, 1:-1] & mask[:-2, 1:-1, 1:-1] & mask[2:, 1:-1, 1:-1]
                                   & mask[1:-1, :-2, 1:-1] & mask[1:-1, 2:, 1:-1]
                                   & mask[1:-1, 1:-1, :-2] & mask[1:-1, 1:-1, 2:])
        return np.argwhere(mask & ~inner) * spacing

    pa, pb = surface_points(a), surface_points(b)
    pairwise = np.linalg.norm(pa[:, None, :] - pb[None, :, :], axis=-1)
    a_to_b, b_to_a = pairwise.min(axis=1), pairwise.min(axis=0)
    result = segmentation_agreement(a, b, SPACING_KJI)
    assert np.sort(directed_surface_distances(a, b, SPACING_KJI)) == pytest.approx(np.sort(a_to_b))
    assert result.hausdorff_mm == pytest.approx(max(a_to_b.max(), b_to_a.max()))
    assert result.mean_surface_distance_mm == pytest.approx(np.concatenate([a_to_b, b_to_a]).mean())
    assert result.hausdorff95_mm == pytest.approx(max(np.percentile(a_to_b, 95), np.percentile(b_to_a, 95)))


def test_offset_across_thick_slices_uses_real_spacing():
    shape = (20, 30, 30)
    a = box(shape, (4, 5, 5), (8, 20, 20))
    b = box(shape, (6, 5, 5), (8, 20, 20))  # 2 slices = 6 mm
    result = segmentation_agreement(a, b, SPACING_KJI)
    assert result.dice == pytest.approx(6 / 8)
    assert result.hausdorff_mm == pytest.approx(6.0)
    # The end cap outside the overlap (20 x 20 voxels, over a quarter of each surface) lies exactly
    # 6 mm from the other surface, so the 95th percentile is 6 mm as well.
    assert result.hausdorff95_mm == pytest.approx(6.0)


def test_identical_and_empty_masks():
    a = box((5, 10, 10), (1, 2, 2), (3, 5, 5))
    same = segmentation_agreement(a, a, SPACING_KJI)
    assert (same.dice, same.jaccard, same.hausdorff_mm, same.mean_surface_distance_mm) == (1.0, 1.0, 0.0, 0.0)
    empty = np.zeros_like(a)
    one_empty = segmentation_agreement(a, empty, SPACING_KJI)
    assert one_empty.dice == 0.0 and np.isnan(one_empty.hausdorff_mm)
    assert dice_jaccard(empty, empty) == (1.0, 1.0)


def test_spheres_match_analytic_dice_with_anisotropic_voxels():
    spacing = np.array([1.0, 0.5, 0.5])
    shape = (60, 120, 120)
    centres = np.array([30, 60, 60]) * spacing
    grid = np.stack(np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij"), -1)
    radius, offset = 12.0, 6.0
    a = np.linalg.norm(grid - centres, axis=-1) <= radius
    b = np.linalg.norm(grid - centres - np.array([0.0, 0.0, offset]), axis=-1) <= radius
    # Two equal balls of radius R at distance d overlap in a lens of volume pi (4R + d)(2R - d)^2 / 12.
    lens = np.pi * (4 * radius + offset) * (2 * radius - offset) ** 2 / 12
    expected_dice = lens / (4 / 3 * np.pi * radius ** 3)
    result = segmentation_agreement(a, b, spacing)
    assert result.dice == pytest.approx(expected_dice, abs=0.01)
    assert result.hausdorff_mm == pytest.approx(offset, abs=0.5)


def test_mismatched_grids_are_refused():
    with pytest.raises(InputError, match="resample"):
        segmentation_agreement(np.zeros((2, 3, 4), bool), np.zeros((2, 3, 5), bool), SPACING_KJI)


def test_staple_ranks_the_bad_rater_last():
    rng = np.random.default_rng(3)
    truth = box((16, 40, 40), (4, 10, 10), (8, 20, 20))
    good = [truth.copy() for _ in range(3)]
    for mask in good:  # small independent boundary errors
        flips = rng.random(truth.shape) < 0.01
        mask ^= flips & (np.abs(np.gradient(truth.astype(float), axis=2)) > 0)
    bad = box((16, 40, 40), (4, 10, 10), (8, 12, 20))  # misses 40% of the cartilage
    result = staple_consensus(good + [bad], names=["r1", "r2", "model", "bad"])
    by_name = {rater.rater: rater for rater in result.raters}
    assert min(result.raters, key=lambda r: r.dice).rater == "bad"
    assert min(result.raters, key=lambda r: r.sensitivity).rater == "bad"
    assert min(result.raters, key=lambda r: r.staple_sensitivity).rater == "bad"
    assert by_name["bad"].sensitivity == pytest.approx(0.6, abs=0.03)
    assert by_name["r1"].dice > 0.97
    assert dice_jaccard(result.consensus, truth)[0] > 0.98


def test_staple_needs_three_raters():
    with pytest.raises(InputError, match="at least 3"):
        staple_consensus([np.ones((2, 2, 2), bool)] * 2)
