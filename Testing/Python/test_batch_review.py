"""Segmentation quality indicators and the cohort review order (review.csv / review.html)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from KneeCartilageT2Lib.batch_review import MIN_GROUP, build_review, protocol_key, robust_z
from KneeCartilageT2Lib.cli import main
from KneeCartilageT2Lib.csv_tables import read_csv
from KneeCartilageT2Lib.review_page import review_html, write_review
from KneeCartilageT2Lib.segmentation_quality import segmentation_quality

SPACING = np.diag([0.5, 0.4, 3.0, 1.0])  # i (col) 0.5 mm, j (row) 0.4 mm, k (slice) 3 mm
GE_TIMES = [6.3 * (n + 1) for n in range(8)]
OAI_TIMES = [10.0 * (n + 1) for n in range(7)]


def test_quality_counts_pieces_gaps_and_size():
    label = np.zeros((8, 20, 20), np.uint8)
    label[1:3, 5:10, 5:10] = 1  # slices 1-2: one piece
    label[5, 5:10, 5:10] = 1  # slices 3-4 empty inside the plate, then a second piece
    label[5, 15:17, 15:17] = 1  # a third piece in the same slice, not touching
    quality = segmentation_quality(label, SPACING)
    assert quality["n_voxels"] == 50 + 25 + 4
    assert quality["volume_mm3"] == pytest.approx(79 * 0.5 * 0.4 * 3.0)
    assert (quality["n_slices"], quality["gap_slices"], quality["n_components"]) == (3, 2, 3)
    assert quality["detached_slices"] == 0  # both parts hold over 15 % of the plate
    assert quality["largest_component_fraction"] == pytest.approx(50 / 79, abs=1e-4)
    assert quality["uncertainty_bits"] is None and quality["mean_probability_in_mask"] is None
    diagonal = np.zeros((3, 4, 4), np.uint8)
    diagonal[0, 0, 0] = diagonal[1, 1, 1] = 1  # corners touch: one piece
    assert segmentation_quality(diagonal, SPACING)["n_components"] == 1
    empty = segmentation_quality(np.zeros((3, 4, 4)), SPACING)
    assert (empty["n_voxels"], empty["gap_slices"], empty["largest_component_fraction"]) == (0, 0, None)


def test_quality_uncertainty_follows_the_probabilities():
    label = np.zeros((4, 10, 10), np.uint8)
    label[1:3, 2:6, 2:6] = 1
    sure = np.where(label > 0, 0.99, 0.0).astype(np.float32)
    unsure = np.where(label > 0, 0.6, 0.3).astype(np.float32)
    confident = segmentation_quality(label, SPACING, sure)
    doubtful = segmentation_quality(label, SPACING, unsure)
    assert confident["uncertainty_bits"] == pytest.approx(0.0808, abs=1e-3)  # H(0.99) on 32 candidates
    assert confident["n_candidates"] == 32 and confident["mean_probability_in_mask"] == pytest.approx(0.99)
    assert doubtful["uncertainty_bits"] > 0.85 and doubtful["n_candidates"] == 400
    with pytest.raises(ValueError, match="differ in shape"):
        segmentation_quality(label, SPACING, sure[:2])


def test_robust_z_is_insensitive_to_the_outlier_it_flags():
    values = [10.0, 11.0, 9.0, 10.5, 9.5, 10.0, 100.0, None]
    z = robust_z(values)
    assert z[-1] is None and z[6] > 50 and all(abs(score) < 2 for score in z[:6])
    assert robust_z([5.0, 5.0, 5.0, 5.0]) == [None] * 4  # no spread: nothing to compare
    mostly_equal = robust_z([1.0, 1.0, 1.0, 1.0, 1.0, 3.0])  # MAD 0: mean absolute deviation instead
    assert mostly_equal[-1] > 3 and mostly_equal[0] == 0


def write_scan(out, scan_id, volume, t2=40.0, thickness=2.0, uncertainty=0.2, gaps=0, times=GE_TIMES,
               preview=True, abrupt_ends=0, edge_ends=0, rule_emptied_ends=0, single_slice_plate=False):
    folder = out / "scans" / scan_id
    (folder / "regions").mkdir(parents=True)
    quality = {"n_voxels": int(volume), "volume_mm3": float(volume), "n_slices": 14, "gap_slices": gaps,
               "abrupt_ends": abrupt_ends, "edge_ends": edge_ends, "rule_emptied_ends": rule_emptied_ends,
               "single_slice_plate": single_slice_plate,
               "n_components": 2, "largest_component_fraction": 0.7, "uncertainty_bits": uncertainty}
    (folder / "provenance.json").write_text(json.dumps({"echo_times_ms": times, "quality": quality}))
    if volume:
        (folder / "regions" / "regions.json").write_text(json.dumps({"regions": [
            {"region": "all", "n_voxels": int(volume), "volume_mm3": float(volume), "t2_mean_ms": t2,
             "thickness_mean_mm": thickness}]}))
    if preview:
        (folder / "preview.png").write_bytes(b"\x89PNG")
    (folder / "DONE.json").write_text("{}")
    return {"kind": "scan", "id": scan_id, "subject": scan_id[:3], "visit": "base", "side": "right",
            "status": "done", "error": None, "notes": "Slice rule: emptied 1 slice(s)"}


def make_cohort(out):
    rng = np.random.default_rng(5)
    statuses = [write_scan(out, "S%02d_base" % n, 3000 + rng.normal(0, 150), 40 + rng.normal(0, 1.0),
                           uncertainty=0.2 + rng.normal(0, 0.01)) for n in range(10)]
    statuses.append(write_scan(out, "BIG_base", 9000))  # a plate three times the usual size
    statuses.append(write_scan(out, "GAP_base", 3000, gaps=2))
    statuses.append(write_scan(out, "HOT_base", 3050, t2=52.0))
    statuses.append(write_scan(out, "NONE_base", 0))
    statuses.append(write_scan(out, "OAI_base", 3000, times=OAI_TIMES))  # alone with its protocol
    statuses.append({"kind": "scan", "id": "BAD_base", "subject": "BAD", "visit": "base", "side": "",
                     "status": "failed", "error": "InputError: no MESE series"})
    statuses.append({"kind": "scan", "id": "OLD_base", "subject": "OLD", "visit": "base", "side": "",
                     "status": "skipped", "error": None})  # finished earlier, but its folder was deleted
    statuses.append({"kind": "change", "id": "S00_right_base_m12", "status": "done"})
    return statuses


def test_review_orders_failures_then_outliers_then_routine(tmp_path):
    rows = build_review(tmp_path, make_cohort(tmp_path))
    order = [row["id"] for row in rows]
    by_id = {row["id"]: row for row in rows}
    assert len(rows) == 17 and "S00_right_base_m12" not in order  # scans only
    assert set(order[:3]) == {"BAD_base", "NONE_base", "OLD_base"}
    assert all(by_id[name]["priority"] == "check first" for name in order[:3])
    assert "InputError: no MESE series" in by_id["BAD_base"]["reasons"]
    assert by_id["NONE_base"]["reasons"] == "no cartilage found"
    assert by_id["OLD_base"]["status"] == "missing"  # no DONE.json in its folder: not read as finished
    assert "scans/OLD_base has no DONE.json" in by_id["OLD_base"]["reasons"]
    assert [by_id[name]["priority"] for name in ("BIG_base", "HOT_base", "GAP_base")] == ["check"] * 3
    assert order.index("BIG_base") < order.index("HOT_base") < order.index("GAP_base")  # larger deviation first
    assert "plate volume 9e+03 mm3 (higher than usual" in by_id["BIG_base"]["reasons"]
    assert "plate mean T2 52 ms (higher" in by_id["HOT_base"]["reasons"]
    assert by_id["GAP_base"]["reasons"] == "2 empty slice(s) inside the plate"
    assert "only 1 finished scan(s) with this protocol" in by_id["OAI_base"]["reasons"]
    assert by_id["OAI_base"]["priority"] == "routine" and by_id["OAI_base"].get("z_volume_mm3") is None
    routine = [row for row in rows if row["priority"] == "routine" and row["id"].startswith("S")]
    assert len(routine) == 10 and all(row["reasons"] == "" for row in routine)
    uncertainties = [row["uncertainty_bits"] for row in routine]
    assert uncertainties == sorted(uncertainties, reverse=True)  # least certain first
    assert [row["rank"] for row in rows] == list(range(1, 18))
    assert by_id["S00_base"]["protocol"] == protocol_key(GE_TIMES) == "8 echoes 6.3-50.4 ms"
    assert by_id["S00_base"]["preview"] == "scans/S00_base/preview.png"


def test_small_cohorts_are_not_compared(tmp_path):
    statuses = [write_scan(tmp_path, "S%d" % n, 3000 + 10 * n) for n in range(MIN_GROUP - 2)]
    statuses.append(write_scan(tmp_path, "HUGE", 30000))  # one short of a comparable group
    rows = build_review(tmp_path, statuses)
    assert all(row["priority"] == "routine" for row in rows)
    assert all("not compared" in row["reasons"] for row in rows)


def test_review_files_and_page(tmp_path):
    statuses = make_cohort(tmp_path)
    statuses[0]["notes"] = "a <script>alert(1)</script> note"
    paths = write_review(tmp_path, build_review(tmp_path, statuses), title="Knee & cohort")
    assert [path.name for path in paths] == ["review.csv", "review.html"]
    table = read_csv(tmp_path / "review.csv")
    assert [row["rank"] for row in table[:3]] == ["1", "2", "3"] and table[0]["priority"] == "check first"
    page = (tmp_path / "review.html").read_text()
    assert page.count('<div class="card ') == 17 and page.count('loading="lazy"') == 15
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<title>Knee &amp; cohort</title>" in page
    assert "3 check first, 3 check, 11 routine" in page
    assert page.index("BAD_base") < page.index("BIG_base") < page.index("S00_base")
    assert review_html([]).count('<div class="card ') == 0


def test_review_command_rebuilds_from_a_batch_folder(tmp_path, capsys):
    from KneeCartilageT2Lib.csv_tables import write_csv

    statuses = make_cohort(tmp_path)
    write_csv(tmp_path / "status.csv", statuses, ["kind", "id", "subject", "visit", "side", "status", "error",
                                                   "seconds", "worker", "result", "notes"])
    assert main(["review", str(tmp_path), "--show", "4"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 5 and printed[0].split()[:2] == ["1", "check"] and "review.html" in printed[-1]
    assert (tmp_path / "review.html").is_file()
    assert main(["review", str(tmp_path / "nowhere")]) == 2
    assert "has no status.csv" in capsys.readouterr().err


def test_tiny_differences_are_not_flagged_however_alike_the_others_are():
    shares = [1.0] * 9 + [0.98, 0.80]
    z = robust_z(shares, min_spread=0.02)
    assert -1.0 <= z[9] < 0 and z[10] < -3.5  # 0.98 of the plate in one piece is usual; 0.80 is not
    assert robust_z([100.0, 100.0, 100.0, 104.0], min_relative_spread=0.05)[-1] == pytest.approx(0.8)


def test_a_very_certain_network_is_no_reason_to_check(tmp_path):
    statuses = [write_scan(tmp_path, "S%d" % n, 3000 + 10 * n, uncertainty=0.2 + 0.002 * n) for n in range(10)]
    statuses.append(write_scan(tmp_path, "SURE", 3020, uncertainty=0.01))
    statuses.append(write_scan(tmp_path, "UNSURE", 3020, uncertainty=0.6))
    rows = {row["id"]: row for row in build_review(tmp_path, statuses)}
    assert rows["SURE"]["priority"] == "routine" and rows["SURE"]["reasons"] == ""
    assert rows["UNSURE"]["priority"] == "check" and "network uncertainty 0.6 bits (higher" in rows["UNSURE"]["reasons"]
    assert rows["UNSURE"]["rank"] == 1 and rows["SURE"]["rank"] == 12


def test_quality_reports_the_plate_ends():
    label = np.zeros((9, 30, 30), np.uint8)
    for k, rows in enumerate([0, 2, 10, 20, 20, 18, 0, 0, 0]):  # slice k: rows x 30 voxels
        label[k, :rows] = 1
    quality = segmentation_quality(label, SPACING)
    assert quality["end_area_shares"] == [0.1, 0.9]
    assert (quality["abrupt_ends"], quality["edge_ends"]) == (1, 0)  # slice 5 ends at 90 % of the fullest
    label[0] = label[1] = 1  # the plate now fills the series' first slice
    edge = segmentation_quality(label, SPACING)
    assert (edge["abrupt_ends"], edge["edge_ends"]) == (1, 1)


def test_abrupt_and_edge_plate_ends_are_checked_with_their_slice_picture(tmp_path):
    statuses = [write_scan(tmp_path, "S%d" % n, 3000 + 10 * n) for n in range(9)]
    statuses.append(write_scan(tmp_path, "CUT", 3000, abrupt_ends=1))
    statuses.append(write_scan(tmp_path, "EDGE", 3000, edge_ends=1))
    (tmp_path / "scans" / "CUT" / "preview_check.png").write_bytes(b"\x89PNG")
    (tmp_path / "scans" / "CUT" / "report.html").write_text("<html></html>")
    rows = {row["id"]: row for row in build_review(tmp_path, statuses)}
    assert rows["CUT"]["reasons"] == "the plate ends abruptly at 1 end(s): a margin slice may be missed"
    assert rows["EDGE"]["reasons"] == ("the plate reaches the series' first or last slice at 1 end(s): it may go on "
                                       "outside the scan")
    assert rows["CUT"]["priority"] == rows["EDGE"]["priority"] == "check" and rows["S0"]["priority"] == "routine"
    assert rows["CUT"]["check_preview"] == "scans/CUT/preview_check.png" and "check_preview" not in rows["S0"]
    page = review_html(sorted(rows.values(), key=lambda row: row["rank"]))
    assert page.count('alt="slice to check in') == 1 and 'src="scans/CUT/preview_check.png"' in page
    assert rows["CUT"]["report"] == "scans/CUT/report.html" and "report" not in rows["S0"]
    assert page.count(">full report</a>") == 1 and 'href="scans/CUT/report.html"' in page


def test_an_end_finding_shared_by_most_scans_is_told_once_not_flagged_scan_by_scan(tmp_path, capsys):
    from KneeCartilageT2Lib.batch_review import cohort_notes
    from KneeCartilageT2Lib.csv_tables import write_csv

    statuses = [write_scan(tmp_path, "S%d" % n, 3000 + 10 * n, abrupt_ends=int(n < 6)) for n in range(10)]
    statuses.append(write_scan(tmp_path, "BIG", 9000, abrupt_ends=1))
    rows = {row["id"]: row for row in build_review(tmp_path, statuses)}
    assert rows["S0"]["priority"] == "routine"  # 7 of 11 end abruptly: the model's habit on this cohort
    assert rows["S0"]["reasons"] == ("the plate ends abruptly at 1 end(s): a margin slice may be missed (as in many "
                                     "scans of this protocol: see the cohort notes)")
    assert rows["BIG"]["priority"] == "check" and rows["BIG"]["reasons"].startswith("plate volume 9e+03 mm3")
    notes = cohort_notes(list(rows.values()))
    assert len(notes) == 1 and notes[0].startswith("8 echoes 6.3-50.4 ms: the plate ends abruptly in 7 of 11 scans")
    assert "Cohort notes" in review_html(list(rows.values())) and "7 of 11 scans" in review_html(list(rows.values()))
    write_csv(tmp_path / "status.csv", statuses, ["kind", "id", "subject", "visit", "side", "status", "error"])
    assert main(["review", str(tmp_path), "--show", "0"]) == 0
    assert "cohort note: 8 echoes 6.3-50.4 ms: the plate ends abruptly in 7 of 11" in capsys.readouterr().out
    few = [write_scan(tmp_path / "few", "F%d" % n, 3000, abrupt_ends=1) for n in range(MIN_GROUP - 1)]
    assert cohort_notes(build_review(tmp_path / "few", few)) == []  # too few to call it a habit
    assert all(row["priority"] == "check" for row in build_review(tmp_path / "few", few))


def test_empty_slices_common_to_a_cohort_are_one_note_too(tmp_path):
    from KneeCartilageT2Lib.batch_review import cohort_notes

    statuses = [write_scan(tmp_path, "S%d" % n, 3000 + 10 * n, gaps=2 if n < 4 else 0) for n in range(10)]
    rows = build_review(tmp_path, statuses)
    assert all(row["priority"] == "routine" for row in rows)  # 4 of 10 miss the same slices: the model's habit
    assert cohort_notes(rows) == [
        "8 echoes 6.3-50.4 ms: empty slices inside the plate in 4 of 10 scans: the model probably misses the same "
        "part of the plate (often the trochlea or the notch margins) in this cohort; check a few (their "
        "preview_check.png shows the first slice), correct them and fine-tune the model on them."]


def test_a_nan_uncertainty_does_not_scramble_the_routine_order():
    from KneeCartilageT2Lib import batch_review

    routine = batch_review.PRIORITIES[-1]
    values = [0.1, float("nan"), 0.3, 0.05, 0.5, 0.2]
    rows = [{"id": "s%d" % n, "priority": routine, "uncertainty_bits": value} for n, value in enumerate(values)]
    order = [row["id"] for row in sorted(rows, key=batch_review._order)]
    assert order == ["s4", "s2", "s5", "s0", "s3", "s1"]  # least certain first; the unreadable value last


def test_quality_counts_an_end_the_slice_rule_emptied_apart_from_a_missed_slice():
    from KneeCartilageT2Lib.slice_rule import SliceRule

    label = np.zeros((9, 30, 30), np.uint8)
    for k, rows in enumerate([0, 2, 10, 20, 20, 18, 0, 0, 0]):  # slice 5 ends at 90 % of the fullest
        label[k, :rows] = 1
    plain = segmentation_quality(label, SPACING)
    assert (plain["abrupt_ends"], plain["rule_emptied_ends"], plain["single_slice_plate"]) == (1, 0, False)
    emptied = segmentation_quality(label, SPACING, slice_rule=SliceRule(60.0, {6: 45}))  # 7.5 % of the fullest
    assert (emptied["abrupt_ends"], emptied["rule_emptied_ends"], emptied["edge_ends"]) == (0, 1, 0)
    assert emptied["end_area_shares"] == plain["end_area_shares"] == [0.1, 0.9]
    elsewhere = segmentation_quality(label, SPACING, slice_rule=SliceRule(60.0, {0: 45}))  # beyond the thin end
    assert (elsewhere["abrupt_ends"], elsewhere["rule_emptied_ends"]) == (1, 0)
    speck = segmentation_quality(label, SPACING, slice_rule=SliceRule(60.0, {6: 8}))  # 1.3 %: a slice missed
    assert (speck["abrupt_ends"], speck["rule_emptied_ends"]) == (1, 0)


def test_quality_of_a_single_slice_plate_counts_both_its_sides():
    label = np.zeros((5, 10, 10), np.uint8)
    label[2, :6] = 1
    quality = segmentation_quality(label, SPACING)
    assert quality["single_slice_plate"] and quality["end_area_shares"] == [1.0, 1.0]
    assert (quality["abrupt_ends"], quality["edge_ends"]) == (2, 0)
    label[:] = 0
    label[0, :6] = 1  # in the series' first slice: one side is the series' edge
    edge = segmentation_quality(label, SPACING)
    assert edge["single_slice_plate"] and (edge["abrupt_ends"], edge["edge_ends"]) == (1, 1)


def test_an_end_the_slice_rule_emptied_is_flagged_as_such_and_never_called_a_model_habit(tmp_path):
    from KneeCartilageT2Lib.batch_review import cohort_notes

    statuses = [write_scan(tmp_path, "S%d" % n, 3000 + 10 * n, rule_emptied_ends=int(n < 4)) for n in range(10)]
    statuses.append(write_scan(tmp_path, "CUT", 3000, abrupt_ends=1))
    rows = {row["id"]: row for row in build_review(tmp_path, statuses)}
    assert rows["CUT"]["priority"] == "check"  # 1 of 11 misses a slice: a fault of this scan
    assert rows["CUT"]["reasons"] == "the plate ends abruptly at 1 end(s): a margin slice may be missed"
    assert rows["S0"]["priority"] == "routine" and rows["S0"]["reasons"] == (
        "the plate ends abruptly at 1 end(s) because the minimum-area slice rule removed the network's cartilage "
        "in the next slice: restore it if it is real (as in many scans of this protocol: see the cohort notes)")
    notes = cohort_notes(list(rows.values()))
    assert notes == [
        "8 echoes 6.3-50.4 ms: in 4 of 11 scans the minimum-area slice rule removed the network's cartilage in the "
        "slice beyond an abrupt plate end: the model found these margin slices, but the rule's minimum may be too "
        "high for them with this protocol; check a few (their preview_check.png shows the slice) and restore the "
        "cartilage where it is real."]
    assert not any("misses" in note or "fine-tune" in note for note in notes)
    page = tmp_path / "review.csv"
    write_review(tmp_path, sorted(rows.values(), key=lambda row: row["rank"]))
    assert "rule_emptied_ends" in page.read_text().splitlines()[0]


def test_a_single_slice_plate_is_checked_first_and_its_ends_are_no_cohort_habit(tmp_path):
    from KneeCartilageT2Lib.batch_review import SINGLE_SLICE_REASON, cohort_notes

    statuses = [write_scan(tmp_path, "S%d" % n, 3000 + 10 * n, abrupt_ends=int(n < 2)) for n in range(9)]
    statuses.append(write_scan(tmp_path, "ONE", 3000, abrupt_ends=2, single_slice_plate=True))
    rows = {row["id"]: row for row in build_review(tmp_path, statuses)}
    assert rows["ONE"]["priority"] == "check first" and rows["ONE"]["rank"] == 1
    assert rows["ONE"]["reasons"] == SINGLE_SLICE_REASON  # its two ends are its two sides: not told again
    assert cohort_notes(list(rows.values())) == []  # 2 of 10 plates end abruptly: no habit
    assert rows["S0"]["priority"] == "check" and rows["S5"]["priority"] == "routine"


def test_figures_that_are_not_numbers_count_as_missing(tmp_path):
    """NaN in a scan's files (written by another tool) stopped the review (KeyError for a scan alone with its
    protocol) or the page ('%d' of NaN); now it is a missing value."""
    statuses = [write_scan(tmp_path, "S%d" % n, 3000 + 10 * n) for n in range(9)]
    statuses.append(write_scan(tmp_path, "ODD", 3000, times=OAI_TIMES))
    statuses.append(write_scan(tmp_path, "NAN", 3000, thickness=float("nan")))
    for scan_id, key in (("ODD", "n_voxels"), ("NAN", "n_slices")):
        path = tmp_path / "scans" / scan_id / "provenance.json"
        provenance = json.loads(path.read_text())
        provenance["quality"][key] = float("nan")
        path.write_text(json.dumps(provenance))
    (tmp_path / "scans" / "ODD" / "regions" / "regions.json").unlink()
    rows = {row["id"]: row for row in build_review(tmp_path, statuses)}
    assert rows["ODD"]["n_voxels"] is None and rows["ODD"]["priority"] == "check"
    assert rows["ODD"]["reasons"].startswith("finished, but without figures to compare")
    assert rows["NAN"]["n_slices"] is None and rows["NAN"]["thickness_mean_mm"] is None
    assert rows["NAN"]["priority"] == "routine"
    page = review_html(sorted(rows.values(), key=lambda row: row["rank"]))
    assert ">nan" not in page
