"""Slice coverage of a cartilage plate: its ends (abrupt, at the series' edge) and their messages."""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib.slice_coverage import ABRUPT_END_SHARE, plate_ends, plate_slice_gaps, slice_coverage_messages


def plate(per_slice_counts, shape=(40, 40)):
    """A (slice, row, col) mask whose slice k holds its first per_slice_counts[k] pixels."""
    mask = np.zeros((len(per_slice_counts),) + shape, bool)
    for k, count in enumerate(per_slice_counts):
        mask[k].reshape(-1)[:count] = True
    return mask


def test_a_plate_that_thins_out_has_no_abrupt_end():
    ends = plate_ends(plate([0, 100, 600, 1000, 1000, 600, 150, 0]))
    assert [(end.slice_index, end.next_slice, end.area_share) for end in ends] == [(1, 0, 0.1), (6, 7, 0.15)]
    assert not any(end.abrupt or end.at_series_edge for end in ends)
    assert slice_coverage_messages(plate([0, 100, 600, 1000, 1000, 600, 150, 0])) == []


def test_the_share_threshold_is_inclusive():
    at_threshold = int(ABRUPT_END_SHARE * 1000)
    just_below = at_threshold - 1
    assert [end.abrupt for end in plate_ends(plate([0, at_threshold, 1000, just_below, 0]))] == [True, False]


def test_an_abrupt_end_names_the_next_slice_and_the_series_edge_is_told_apart():
    messages = slice_coverage_messages(plate([900, 1000, 600, 100, 0, 0]))
    assert messages == ["The plate reaches the series' first slice (0) with 90% of its fullest slice's area: it may "
                        "go on outside the scanned slices, and the summaries leave that part out."]
    ends = plate_ends(plate([0, 0, 100, 1000, 700]))
    assert (ends[1].slice_index, ends[1].next_slice, ends[1].at_series_edge, ends[1].abrupt) == (4, 5, True, True)
    low = slice_coverage_messages(plate([0, 0, 600, 1000, 1000, 100, 0]))
    assert low == ["The plate ends abruptly at slice 2 (60% of its fullest slice's area; a condyle margin usually "
                   "thins out over its last slice): check slice 1 for missed cartilage."]


def test_a_detached_false_positive_is_not_the_plate_end():
    mask = plate([0, 300, 0, 0, 200, 1000, 1000, 1000, 1000, 300, 0])  # slice 1: 300 of 4100 voxels, cut off
    ends = plate_ends(mask)
    assert [end.slice_index for end in ends] == [4, 9] and not any(end.abrupt for end in ends)
    assert slice_coverage_messages(mask) == [
        "Slice(s) 1 hold cartilage apart from the rest of the plate, with empty slices between: check for a false "
        "positive there, or for a missed slice between them and the plate (a condyle margin beyond a missed slice "
        "looks the same)."]


def test_a_single_slice_plate_has_one_end_and_an_empty_mask_none():
    ends = plate_ends(plate([0, 0, 500, 0]))
    assert len(ends) == 1 and ends[0].area_share == pytest.approx(1.0) and ends[0].next_slice == 1
    assert plate_ends(plate([500, 0]))[0].next_slice == 1  # the side that has a neighbour
    assert plate_ends(np.zeros((3, 4, 4), bool)) == [] and slice_coverage_messages(np.zeros((3, 4, 4))) == []


def test_the_nearest_filled_slice_is_the_plate_next_to_an_empty_one():
    from KneeCartilageT2Lib.slice_coverage import nearest_filled_slice

    mask = plate([0, 500, 0, 0, 600, 700, 0])
    assert nearest_filled_slice(mask, 6) == 5 and nearest_filled_slice(mask, 0) == 1
    assert nearest_filled_slice(mask, 2) == 1 and nearest_filled_slice(mask, 3) == 4
    assert nearest_filled_slice(mask, 5) is None and nearest_filled_slice(np.zeros((3, 2, 2)), 1) is None


def test_a_plate_broken_into_many_small_runs_is_still_flagged():
    """Every other slice filled: no run holds 15 % of the voxels, which used to leave no flag at all."""
    areas = [0, 0] + [300, 0] * 8 + [0, 0]
    missed, detached = plate_slice_gaps(plate(areas))
    assert list(missed) == list(range(3, 17, 2)) and detached.size == 0
    assert any("hold no cartilage although slices on both sides do" in text
               for text in slice_coverage_messages(plate(areas)))
