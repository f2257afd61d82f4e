"""Cohort tables mark the rows whose knee side a change pair found in doubt.

When the two visits' estimated sides disagree and neither is confident, the pair only warns and measures both
visits as one side, while each scan's rows in cohort_regions kept its own estimate with nothing to say so: read
alone, the subject seemed to have a left and a right knee. Those rows (and the pair's cohort_change rows) now get
a side_note, added after the existing columns.
"""

from __future__ import annotations

import json

from KneeCartilageT2Lib.batch import BatchReport, _write_tables
from KneeCartilageT2Lib.batch_manifest import ChangePair, ScanJob
from KneeCartilageT2Lib.csv_tables import read_csv
from KneeCartilageT2Lib.pipeline import DONE_MARKER


def _scan(out, scan_id, side, source, **fields):
    folder = out / "scans" / scan_id
    (folder / "regions").mkdir(parents=True)
    (folder / "regions" / "regions.json").write_text(json.dumps(
        {"laterality": side, "laterality_source": source, "regions": [dict(region="all", t2_mean_ms=40.0, **fields)]}))
    (folder / DONE_MARKER).write_text("{}")


def _pair(out, pair_id, side, done=True):
    folder = out / "changes" / pair_id
    folder.mkdir(parents=True)
    (folder / "region_change.csv").write_text("region,delta_t2_ms\nall,1.5\n")
    (folder / "change.json").write_text(json.dumps({"laterality": side["laterality"], "side": side}))
    if done:
        (folder / DONE_MARKER).write_text("{}")


def _side(used, baseline, followup):
    def visit(side, source, confidence):
        return {"laterality": side, "source": source, "confidence": confidence}
    return {"laterality": used, "source": "estimated", "confidence": 0.86,
            "sides_disagree": baseline[0] != followup[0], "baseline": visit(*baseline), "followup": visit(*followup)}


def test_rows_of_visits_whose_estimated_sides_disagree_get_a_side_note_after_the_existing_columns(tmp_path):
    out = tmp_path / "batch"
    jobs = [ScanJob("S1", "base", "a", scan_id="S1_base"), ScanJob("S1", "m12", "b", scan_id="S1_m12"),
            ScanJob("S2", "base", "c", scan_id="S2_base"), ScanJob("S2", "m12", "d", scan_id="S2_m12")]
    pairs = [ChangePair("S1_base_m12", "S1", None, jobs[0], jobs[1]),
             ChangePair("S2_base_m12", "S2", None, jobs[2], jobs[3])]
    _scan(out, "S1_base", "left", "estimated")
    _scan(out, "S1_m12", "right", "estimated")
    _scan(out, "S2_base", "right", "dicom")
    _scan(out, "S2_m12", "right", "estimated", thickness_mean_mm=2.1)  # a field the first scans' tables lack
    _pair(out, "S1_base_m12", _side("right", ("left", "estimated", 0.55), ("right", "estimated", 0.86)))
    _pair(out, "S2_base_m12", _side("right", ("right", "dicom", 1.0), ("right", "estimated", 0.7)))
    _write_tables(BatchReport(out, []), jobs, pairs)

    with open(out / "cohort_regions.csv", encoding="utf-8") as stream:
        header = stream.readline().strip().split(",")
    assert header == ["scan_id", "subject", "visit", "side", "region", "t2_mean_ms", "thickness_mean_mm",
                      "side_note", "side_source"]
    rows = {row["scan_id"]: row for row in read_csv(out / "cohort_regions.csv")}
    assert rows["S1_base"]["side"] == "left" and rows["S1_m12"]["side"] == "right"  # as measured
    assert rows["S1_base"]["side_note"] == (
        "side left (estimated from the cartilage, confidence 0.55), which the other visit of pair S1_base_m12 "
        "contradicts (its change measured both as a right knee); give the knee side in the manifest's side column")
    assert "side right (estimated from the cartilage, confidence 0.86)" in rows["S1_m12"]["side_note"]
    assert rows["S2_base"]["side_note"] == rows["S2_m12"]["side_note"] == ""

    change = {row["pair_id"]: row for row in read_csv(out / "cohort_change.csv")}
    assert list(read_csv(out / "cohort_change.csv")[0])[-1] == "side_note"
    assert change["S1_base_m12"]["side"] == "right"
    assert change["S1_base_m12"]["side_note"] == (
        "visit sides disagree (baseline left (estimated from the cartilage, confidence 0.55), follow-up right "
        "(estimated from the cartilage, confidence 0.86)): both measured as a right knee here; give the knee side in the manifest's side column")
    assert change["S2_base_m12"]["side_note"] == ""


def test_an_unfinished_pair_marks_nothing(tmp_path):
    out = tmp_path / "batch"
    jobs = [ScanJob("S1", "base", "a", scan_id="S1_base"), ScanJob("S1", "m12", "b", scan_id="S1_m12")]
    _scan(out, "S1_base", "left", "estimated")
    _scan(out, "S1_m12", "right", "estimated")
    _pair(out, "S1_base_m12", _side("right", ("left", "estimated", 0.55), ("right", "estimated", 0.86)), done=False)
    _write_tables(BatchReport(out, []), jobs, [ChangePair("S1_base_m12", "S1", None, jobs[0], jobs[1])])
    assert [row["side_note"] for row in read_csv(out / "cohort_regions.csv")] == ["", ""]
