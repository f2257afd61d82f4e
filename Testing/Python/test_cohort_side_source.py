"""Cohort tables say where each scan's knee side came from, and keep integer counts integers.

* ``cohort_regions`` gained ``side_source`` (the region table's ``laterality_source``: dicom, sidecar, user or
  estimated), after every older column, so readers of the older columns find them where they were.
* ``review.csv`` left ``side`` empty for scans without a manifest side (phantoms, NRRD echo stacks whose
  sidecar names the side); it now takes the side the scan was measured with, as ``cohort_regions`` does.
* Scans with and without ``n_t2_no_fit`` / ``n_t2_out_of_range`` in one batch made the CSV write "12.0".
"""

from __future__ import annotations

import json

from KneeCartilageT2Lib.batch import BatchReport, _write_tables
from KneeCartilageT2Lib.batch_manifest import ScanJob
from KneeCartilageT2Lib.csv_tables import read_csv
from KneeCartilageT2Lib.pipeline import DONE_MARKER


def _scan(out, scan_id, side, source, **fields):
    folder = out / "scans" / scan_id
    (folder / "regions").mkdir(parents=True)
    table = {"laterality": side, "regions": [dict(region="all", t2_mean_ms=40.0, n_voxels=1200, **fields)]}
    if source is not None:
        table["laterality_source"] = source
    (folder / "regions" / "regions.json").write_text(json.dumps(table))
    (folder / DONE_MARKER).write_text("{}")


def _status(job):
    return {"kind": "scan", "id": job.scan_id, "subject": job.subject, "visit": job.visit, "side": job.side,
            "status": "done", "error": "", "seconds": 1.0, "worker": "w"}


def _batch(tmp_path):
    out = tmp_path / "batch"
    jobs = [ScanJob("P1", "base", "a.nrrd", scan_id="P1_base"), ScanJob("P2", "base", "b", scan_id="P2_base"),
            ScanJob("P3", "base", "c", side="right", scan_id="P3_base"),
            ScanJob("P4", "base", "d", scan_id="P4_base")]
    _scan(out, "P1_base", "left", "sidecar", n_t2_no_fit=12, n_t2_out_of_range=3)
    _scan(out, "P2_base", "right", "estimated", n_t2_no_fit=0, n_t2_out_of_range=7)
    _scan(out, "P3_base", "right", "user")
    _scan(out, "P4_base", "left", None)  # written before sources were recorded, and before the counts
    report = BatchReport(out, [])
    report.statuses = [_status(job) for job in jobs]
    _write_tables(report, jobs, [])
    return out


def test_cohort_regions_ends_with_where_each_scans_side_came_from(tmp_path):
    out = _batch(tmp_path)
    with open(out / "cohort_regions.csv", encoding="utf-8") as stream:
        header = stream.readline().strip().split(",")
    assert header[:5] == ["scan_id", "subject", "visit", "side", "region"]
    assert header[-2:] == ["side_note", "side_source"]
    rows = {row["scan_id"]: row for row in read_csv(out / "cohort_regions.csv")}
    assert [(rows[scan]["side"], rows[scan]["side_source"]) for scan in ("P1_base", "P2_base", "P3_base", "P4_base")] \
        == [("left", "sidecar"), ("right", "estimated"), ("right", "user"), ("left", "")]


def test_integer_counts_stay_integers_when_some_scans_lack_them(tmp_path):
    out = _batch(tmp_path)
    text = (out / "cohort_regions.csv").read_text(encoding="utf-8")
    rows = {row["scan_id"]: row for row in read_csv(out / "cohort_regions.csv")}
    assert ".0," not in text.replace("40.0,", "")  # the T2 mean is a float; no count is written as one
    assert [rows[scan]["n_t2_no_fit"] for scan in ("P1_base", "P2_base", "P3_base", "P4_base")] == [
        "12", "0", "", ""]
    assert rows["P2_base"]["n_t2_out_of_range"] == "7" and rows["P1_base"]["n_voxels"] == "1200"


def test_review_takes_the_measured_side_where_the_manifest_gave_none(tmp_path):
    out = _batch(tmp_path)
    review = {row["id"]: row for row in read_csv(out / "review.csv")}
    assert [review[scan]["side"] for scan in ("P1_base", "P2_base", "P3_base", "P4_base")] == [
        "left", "right", "right", "left"]


def test_review_says_where_each_side_came_from_so_an_estimate_is_not_read_as_known(tmp_path):
    """review.csv showed an estimated side like a known one; it now ends with ``side_source`` (as
    ``cohort_regions``), and review.html names the source beside the side."""
    out = _batch(tmp_path)
    with open(out / "review.csv", encoding="utf-8") as stream:
        header = stream.readline().strip().split(",")
    assert header[:6] == ["rank", "priority", "id", "subject", "visit", "side"] and header[-1] == "side_source"
    review = {row["id"]: row for row in read_csv(out / "review.csv")}
    assert [(review[scan]["side"], review[scan]["side_source"]) for scan in ("P1_base", "P2_base", "P3_base",
                                                                              "P4_base")] == [
        ("left", "sidecar"), ("right", "estimated"), ("right", "user"), ("left", "")]
    page = (out / "review.html").read_text(encoding="utf-8")
    assert "P2 base right (side estimated from the cartilage)" in page
    assert "P1 base left (side from the JSON sidecar)" in page and "P3 base right (side given by the user)" in page
    assert "P4 base left</small>" in page  # no source recorded: nothing added


def test_review_credits_an_unfinished_scans_manifest_side_to_the_user(tmp_path):
    from KneeCartilageT2Lib.batch_review import build_review

    statuses = [{"kind": "scan", "id": "F1_base", "subject": "F1", "visit": "base", "side": "left",
                 "status": "failed", "error": "unreadable"},
                {"kind": "scan", "id": "F2_base", "subject": "F2", "visit": "base", "side": "", "status": "failed",
                 "error": "unreadable"}]
    rows = {row["id"]: row for row in build_review(tmp_path, statuses)}
    assert (rows["F1_base"]["side"], rows["F1_base"]["side_source"]) == ("left", "user")
    assert rows["F2_base"]["side_source"] == ""
