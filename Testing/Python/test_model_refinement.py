"""Reference refinement rules: thresholds, T2 range, slice counts scaled by pixel area, components."""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib.errors import NoCartilageFoundError
from KneeCartilageT2Lib.refinement import RefinementParams, refine_segmentation

OAI_PIXEL_MM2 = 0.3125 * 0.446


def _probabilities(per_slice_counts, shape=(40, 40)):
    """Slice k has its first per_slice_counts[k] pixels (row-major) at p = 0.9, the rest at 0.2."""
    volume = np.full((len(per_slice_counts),) + shape, 0.2, np.float32)
    for k, count in enumerate(per_slice_counts):
        volume[k].reshape(-1)[:count] = 0.9
    return volume


def test_thresholds_are_the_reference_values_and_strict():
    probabilities = np.array([[[0.005, 0.01, 0.011, 0.501, 0.5011, 0.9]]], np.float32)
    params = RefinementParams(min_slice_voxels=0, min_total_voxels=0)
    result = refine_segmentation(probabilities, None, OAI_PIXEL_MM2, params)
    assert result.candidates.tolist() == [[[False, False, True, True, True, True]]]
    assert result.label.tolist() == [[[0, 0, 0, 0, 1, 1]]]
    assert result.label.dtype == np.uint8


def test_slices_with_too_few_voxels_are_emptied_at_oai_pixel_size():
    result = refine_segmentation(_probabilities([424, 425, 1200, 0]), None, OAI_PIXEL_MM2)
    assert result.label.reshape(4, -1).sum(axis=1).tolist() == [0, 425, 1200, 0]
    assert result.slice_voxel_threshold == pytest.approx(425.0)
    assert any("emptied 1 slice" in message for message in result.messages)


def test_slice_count_scales_with_pixel_area():
    ge_pixel = 0.625 * 0.625  # 2.8 x the OAI pixel area: 425 -> 151.7 voxels
    result = refine_segmentation(_probabilities([151, 152, 900]), None, ge_pixel)
    assert result.slice_voxel_threshold == pytest.approx(425 * OAI_PIXEL_MM2 / ge_pixel)
    assert result.label.reshape(3, -1).sum(axis=1).tolist() == [0, 152, 900]
    assert result.total_voxel_threshold == pytest.approx(1000 * OAI_PIXEL_MM2 / ge_pixel)


def test_voxels_with_implausible_or_missing_t2_are_removed_before_counting():
    probabilities = _probabilities([700, 600, 1500])
    t2 = np.full(probabilities.shape, 40.0, np.float32)
    t2[0].reshape(-1)[:200] = 0.0  # not > 0
    t2[0].reshape(-1)[200:250] = 100.0  # 100 is allowed
    t2[1].reshape(-1)[:300] = 150.0  # > 100: leaves 300 < 425, slice emptied
    t2[2].reshape(-1)[:10] = np.nan
    result = refine_segmentation(probabilities, t2, OAI_PIXEL_MM2)
    assert result.label.reshape(3, -1).sum(axis=1).tolist() == [500, 0, 1490]
    assert result.label[0].reshape(-1)[:200].sum() == 0
    assert result.label[0].reshape(-1)[200:250].sum() == 50
    assert "removed 510 voxels" in result.messages[0]


def test_largest_component_option_keeps_one_3d_blob():
    probabilities = np.zeros((3, 30, 30), np.float32)
    probabilities[:, 2:12, 2:12] = 0.9  # 300 voxels
    probabilities[1, 20:25, 20:25] = 0.9  # 25-voxel island
    params = RefinementParams(min_slice_voxels=0, min_total_voxels=0, largest_component=True)
    result = refine_segmentation(probabilities, None, OAI_PIXEL_MM2, params)
    assert result.label.sum() == 300 and result.label[1, 22, 22] == 0
    plain = refine_segmentation(probabilities, None, OAI_PIXEL_MM2, RefinementParams(min_slice_voxels=0, min_total_voxels=0))
    assert plain.label.sum() == 325


def test_too_little_cartilage_is_flagged_or_raised():
    probabilities = _probabilities([500, 0, 0])  # 500 < 1000 voxels
    result = refine_segmentation(probabilities, None, OAI_PIXEL_MM2)
    assert not result.cartilage_found and result.label.sum() == 0
    assert "No cartilage found" in result.messages[-1]
    with pytest.raises(NoCartilageFoundError, match="at least 1000"):
        refine_segmentation(probabilities, None, OAI_PIXEL_MM2, raise_if_empty=True)
    assert refine_segmentation(_probabilities([500, 500, 0]), None, OAI_PIXEL_MM2).cartilage_found


def test_params_come_from_model_metadata_dicts():
    params = RefinementParams.from_dict({"probability_threshold": 0.7, "t2_range_ms": [10, 60], "unknown": 1})
    assert params.probability_threshold == 0.7 and params.t2_range_ms == (10.0, 60.0)
    assert params.candidate_threshold == 0.01 and params.min_total_voxels == 1000


def test_empty_slices_inside_the_plate_and_cut_off_slices_are_named():
    from KneeCartilageT2Lib.slice_coverage import plate_slice_gaps

    result = refine_segmentation(_probabilities([0, 900, 424, 0, 900, 900, 0]), None, OAI_PIXEL_MM2)
    gaps = [message for message in result.messages if "hold no cartilage although" in message]
    assert gaps == ["Slice(s) 2, 3 hold no cartilage although slices on both sides do: check whether cartilage "
                    "was missed there (often the trochlea or the notch margins)."]  # 2 emptied by the slice rule
    stray = refine_segmentation(_probabilities([500, 0, 0, 1200, 1200, 1200, 1200, 0, 0]), None, OAI_PIXEL_MM2)
    assert [message for message in stray.messages if "apart from the rest" in message] == [
        "Slice(s) 0 hold cartilage apart from the rest of the plate, with empty slices between: check for a false "
        "positive there, or for a missed slice between them and the plate (a condyle margin beyond a missed slice "
        "looks the same)."]
    assert not any("hold no cartilage although" in message for message in stray.messages)
    whole = refine_segmentation(_probabilities([0, 900, 900, 0]), None, OAI_PIXEL_MM2)
    assert not any("although" in message or "apart" in message for message in whole.messages)
    mask = np.zeros((9, 2, 2), bool)
    mask[[1, 3, 4, 7], 0, 0] = True  # one voxel each: every run holds at least 15 %
    missed, detached = plate_slice_gaps(mask)
    assert missed.tolist() == [2, 5, 6] and detached.tolist() == []
    mask[1, :, :] = True
    mask[3:5, :, :] = True  # slices 3-4: 8 voxels; 1: 4; 7: 1 (of 13: below 15 %)
    missed, detached = plate_slice_gaps(mask)
    assert missed.tolist() == [2] and detached.tolist() == [7]
    assert [part.tolist() for part in plate_slice_gaps(np.zeros((3, 2, 2), bool))] == [[], []]


def test_an_abrupt_plate_end_is_named_with_the_slice_to_check():
    big = (50, 50)  # room for a real fullest slice (2000 OAI pixels); the slice rule keeps 425 or more
    tapered = refine_segmentation(_probabilities([0, 450, 1400, 2000, 2000, 1400, 500, 0], big), None, OAI_PIXEL_MM2)
    assert not any("abruptly" in message or "reaches the series" in message for message in tapered.messages)
    cut = refine_segmentation(_probabilities([0, 430, 1400, 2000, 2000, 1600, 0, 0], big), None, OAI_PIXEL_MM2)
    assert [message for message in cut.messages if "abruptly" in message] == [
        "The plate ends abruptly at slice 5 (80% of its fullest slice's area; a condyle margin usually thins out "
        "over its last slice): check slice 6 for missed cartilage."]


def test_the_slice_rule_keeps_what_it_emptied_and_the_plate_end_before_it_is_no_miss():
    big = (50, 50)
    counts = [0, 0, 450, 1400, 2000, 2000, 1600, 300, 0]  # slice 7 (300 < 425) is emptied; slice 6 holds 80 %
    result = refine_segmentation(_probabilities(counts, big), None, OAI_PIXEL_MM2)
    assert dict(result.slice_rule.emptied) == {7: 300} and result.slice_rule.threshold_voxels == pytest.approx(425)
    assert [message for message in result.messages if "abruptly" in message] == [
        "The plate ends abruptly at slice 6 (80% of its fullest slice's area), but the network did find cartilage "
        "beyond it. Slice 7's cartilage, 300 voxels, was removed by the minimum-area rule of 425 voxels per slice: "
        "check whether it is real cartilage and restore it with the Segment Editor if so."]
    assert not any("missed cartilage" in message for message in result.messages)


def test_the_counts_in_the_messages_are_the_ones_the_rules_apply():
    """Thresholds are fractional after pixel-area scaling; voxel counts are whole. 'Fewer than N' must name the
    smallest count kept (the threshold rounded up), not the threshold rounded to the nearest (151.2 gave 151)."""
    pixel = OAI_PIXEL_MM2 * 425 / 151.2  # slice threshold 151.2 voxels
    result = refine_segmentation(_probabilities([151, 152, 900]), None, pixel)
    assert result.label.reshape(3, -1).sum(axis=1).tolist() == [0, 152, 900]
    assert "Slice rule: emptied 1 slice(s) with fewer than 152 cartilage voxels (0)." in result.messages
    pixel = OAI_PIXEL_MM2 * 1000 / 1000.3  # total threshold 1000.3 voxels: 1000 are not enough
    empty = refine_segmentation(_probabilities([1000, 0], (40, 40)), None, pixel)
    assert not empty.cartilage_found
    assert "only 1000 voxels passed the refinement (at least 1001 are needed)" in empty.messages[-1]
