"""Slice coverage of a cartilage plate: its ends (abrupt, at the series' edge) and their messages."""

from __future__ import annotations

import numpy as np

from KneeCartilageT2Lib.slice_coverage import (ABRUPT_END_SHARE, FOUND_MARGIN_SHARE, plate_ends, plate_slice_gaps,
                                                single_slice, slice_coverage_messages, slices_to_check)
from KneeCartilageT2Lib.slice_rule import SliceRule


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


def test_a_single_slice_plate_is_one_finding_with_both_its_sides_to_check():
    """Both sides of the one slice are ends (the old rule gave one end only); the words say plainly it failed."""
    mask = plate([0, 0, 500, 0, 0])
    ends = plate_ends(mask)
    assert [(end.slice_index, end.next_slice, end.abrupt, end.at_series_edge) for end in ends] == [
        (2, 1, True, False), (2, 3, True, False)]
    assert single_slice(ends) == 2 and single_slice(plate_ends(plate([0, 300, 500, 0]))) is None
    assert slice_coverage_messages(mask) == [
        "The plate is a single slice (2): femoral cartilage spans many sagittal slices, so the segmentation most "
        "likely failed. Check slice(s) 1, 3 beside it for missed cartilage."]
    assert slices_to_check(mask) == [(1, "the plate is a single slice (2): cartilage missed here?"),
                                     (3, "the plate is a single slice (2): cartilage missed here?")]
    at_edge = plate_ends(plate([500, 0]))
    assert [(end.next_slice, end.at_series_edge) for end in at_edge] == [(-1, True), (1, False)]
    assert slice_coverage_messages(plate([500, 0]))[0].endswith("Check slice(s) 1 beside it for missed cartilage.")
    assert [k for k, _ in slices_to_check(plate([500, 0]))] == [1]  # no slice to show beyond the series' edge


def test_an_empty_mask_has_no_ends_and_nothing_to_say():
    assert plate_ends(np.zeros((3, 4, 4), bool)) == [] and slice_coverage_messages(np.zeros((3, 4, 4))) == []
    assert slices_to_check(np.zeros((3, 4, 4), bool)) == []


def test_an_end_beyond_which_the_slice_rule_removed_cartilage_is_not_called_a_miss():
    mask = plate([0, 100, 600, 1000, 1000, 800, 0, 0])  # ends abruptly at slice 5 (80 %)
    rule = SliceRule(151.6, {6: 120, 0: 40})  # the rule emptied slice 6 (120 voxels) and slice 0
    ends = plate_ends(mask, slice_rule=rule)
    assert [(end.rule_emptied_voxels, end.missed_beyond, end.removed_beyond) for end in ends] == [
        (40, False, False), (120, False, True)]  # slice 1's end thins out: not abrupt, nothing to tell
    assert slice_coverage_messages(mask, rule) == [
        "The plate ends abruptly at slice 5 (80% of its fullest slice's area), but the network did find cartilage "
        "beyond it. Slice 6's cartilage, 120 voxels, was removed by the minimum-area rule of 152 voxels per slice: "
        "check whether it is real cartilage and restore it with the Segment Editor if so."]
    assert slices_to_check(mask, rule) == [
        (6, "the plate ends abruptly at slice 5; the minimum-area rule (152 voxels) removed this slice's 120 voxels "
            "of cartilage: real? restore them")]
    ordinary = ["The plate ends abruptly at slice 5 (80% of its fullest slice's area; a condyle margin usually "
                "thins out over its last slice): check slice 6 for missed cartilage."]
    assert slice_coverage_messages(mask) == ordinary  # not known: told as before
    assert slice_coverage_messages(mask, SliceRule(151.6, {7: 30})) == ordinary  # the rule emptied another slice


def test_a_speck_the_slice_rule_removed_beyond_an_abrupt_end_is_still_a_missed_slice():
    """Under FOUND_MARGIN_SHARE of the fullest slice the network missed the slice, whatever the rule removed."""
    mask = plate([0, 100, 600, 1000, 1000, 800, 0, 0])
    rule = SliceRule(35.7, {6: 8})  # 0.8 % of the fullest slice
    end = plate_ends(mask, slice_rule=rule)[1]
    assert end.missed_beyond and not end.removed_beyond and end.rule_emptied_share < FOUND_MARGIN_SHARE
    assert slice_coverage_messages(mask, rule) == [
        "The plate ends abruptly at slice 5 (80% of its fullest slice's area; a condyle margin usually thins out "
        "over its last slice): check slice 6 for missed cartilage (the network found only 8 voxels there, which the "
        "minimum-area rule of 36 voxels per slice removed)."]
    assert slices_to_check(mask, rule) == [
        (6, "the plate ends abruptly at slice 5: cartilage missed here? (the network found only 8 voxels here, which "
            "the minimum-area rule of 36 voxels per slice removed)")]
    at_share = SliceRule(35.7, {6: int(FOUND_MARGIN_SHARE * 1000)})
    assert plate_ends(mask, slice_rule=at_share)[1].removed_beyond  # the share is inclusive


def test_a_single_slice_plate_names_a_side_the_slice_rule_emptied():
    mask = plate([0, 0, 500, 0, 0])
    assert slice_coverage_messages(mask, SliceRule(100.0, {3: 60})) == [
        "The plate is a single slice (2): femoral cartilage spans many sagittal slices, so the segmentation most "
        "likely failed. Check slice(s) 1 beside it for missed cartilage. Slice 3's cartilage, 60 voxels, was "
        "removed by the minimum-area rule of 100 voxels per slice: check whether it is real cartilage and restore "
        "it with the Segment Editor if so."]


def test_the_abrupt_flag_agrees_with_the_area_share_it_reports():
    """A share just under the threshold used to be rounded up to it (0.4499 -> 0.45) yet not called abrupt."""
    ends = plate_ends(plate([0, 4499, 10000, 10000, 0], shape=(100, 100)))
    assert ends[0].area_share < ABRUPT_END_SHARE and not ends[0].abrupt
    assert all(end.abrupt == (end.area_share >= ABRUPT_END_SHARE) for end in ends)


def test_the_slice_rule_record_survives_the_trip_through_provenance_json():
    import json

    rule = SliceRule(35.68, {21: 12, 2: 21})
    parameters = json.loads(json.dumps(rule.as_parameters()))
    assert parameters["slice_rule_emptied"] == [{"slice": 2, "voxels": 21}, {"slice": 21, "voxels": 12}]
    assert SliceRule.from_parameters(parameters) == rule
    assert SliceRule.from_provenance({"segmentation": {"parameters": parameters}}) == rule
    assert rule.smallest_kept == 36 and SliceRule(425.0).smallest_kept == 425  # counts below the threshold go
    assert SliceRule.from_provenance({"segmentation": {"parameters": {"slice_voxel_threshold": 425}}}) is None
    assert SliceRule.from_provenance({}) is None and SliceRule.from_provenance(None) is None
    assert SliceRule.from_parameters({"slice_voxel_threshold": "x", "slice_rule_emptied": []}) is None


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
