"""Batch manifest parsing, scan ids, change pairs, progress lines and table flattening (no cluster)."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from KneeCartilageT2Lib.batch_manifest import change_pairs, read_manifest
from KneeCartilageT2Lib.batch_progress import BatchProgress
from KneeCartilageT2Lib.batch_tables import region_records, write_table
from KneeCartilageT2Lib.errors import InputError


def test_manifest_columns_paths_and_pairs(tmp_path):
    (tmp_path / "m.csv").write_text(
        "Subject_ID,Timepoint,Laterality,Input_Path,Echo_Times,site\n"
        "P01,baseline,R,scans/p01_bl,,north\n"
        "P01,m12,right,/abs/p01_m12.nrrd,10;20;30,north\n"
        "P01,m24,R,scans/p01_m24,,north\n"
        "P02,baseline,L,scans/p02_bl_l,,south\n"
        "P02,baseline,R,scans/p02_bl_r,,south\n"
        ",,,,,\n"
        "../evil,x/../../y,,scans/e,,\n"
    )
    jobs = read_manifest(tmp_path / "m.csv")
    assert [job.scan_id for job in jobs] == ["P01_baseline", "P01_m12", "P01_m24", "P02_baseline_left",
                                             "P02_baseline_right", "evil_x_y"]
    assert jobs[0].input_path == str(tmp_path / "scans" / "p01_bl") and jobs[1].input_path == "/abs/p01_m12.nrrd"
    assert jobs[1].echo_times_ms == [10.0, 20.0, 30.0] and jobs[0].echo_times_ms is None
    assert jobs[3].side == "left" and jobs[0].extra == {"site": "north"}
    pairs = change_pairs(jobs)
    assert [(p.pair_id, p.baseline.visit, p.followup.visit) for p in pairs] == [
        ("P01_right_baseline_m12", "baseline", "m12"), ("P01_right_baseline_m24", "baseline", "m24")]


def test_rows_the_pairing_would_pass_over_silently_are_named(tmp_path):
    from KneeCartilageT2Lib.batch_manifest import pairing_notes

    (tmp_path / "m.csv").write_text("subject,visit,side,input\nA,bl,right,a_bl\nA,m12,,a_m12\n"
                                    "B,bl,left,same.nrrd\nB,m12,left,same.nrrd\nC,bl,,c_bl\nC,m12,,c_m12\n")
    jobs = read_manifest(tmp_path / "m.csv")
    assert [pair.subject for pair in change_pairs(jobs)] == ["B", "C"]  # A's visits are two knees to the pairing
    notes = pairing_notes(jobs)
    assert notes[0].startswith("Subject A: visit(s) m12 have no side") and "Fill in the side column" in notes[0]
    assert notes[1].startswith("Rows 3 and 4 name the same input") and len(notes) == 2


@pytest.mark.parametrize("content, message", [
    ("subject,visit\nA,1\n", "lacks the column"),
    ("subject,visit,input\nA,1,a\nA,1,b\n", "rows 1 and 2 both describe scan A_1"),
    ("subject,visit,input,side\nA,1,a,up\n", "row 1"),
    ("subject,visit,input\nA,,a\n", "row 1 has an empty visit"),
    ("subject,visit,input,echo_times\nA,1,a,ten\n", "echo_times"),
    ("subject,visit,input\n", "no scans"),
    ("subject,visit,side,input\nx_right,v1,,a\nx_right,v2,,b\nx,v1,R,c\nx,v2,R,d\n",
     "rows 1 and 2 .* rows 3 and 4 .* same change folder name x_right_v1_v2"),
])
def test_manifest_errors_say_what_to_fix(tmp_path, content, message):
    (tmp_path / "m.csv").write_text(content)
    with pytest.raises(InputError, match=message):
        read_manifest(tmp_path / "m.csv")


def test_plain_progress_lines_count_everything():
    stream = io.StringIO()
    progress = BatchProgress(3, stream=stream)
    progress.update({"kind": "scan", "id": "a", "status": "done", "seconds": 2.0, "result": "ok"})
    progress.update({"kind": "scan", "id": "b", "status": "failed", "error": "Exam not found"})
    progress.update({"kind": "change", "id": "p", "status": "skipped", "result": "already done"})
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[1/3] scan a done in 2.0 s: ok | done 1, failed 0, skipped 0, remaining 2"
    assert lines[2].endswith("done 1, failed 1, skipped 1, remaining 0") and progress.remaining == 0


def test_region_table_shapes_flatten_the_same(tmp_path):
    expected = [{"region": "all", "t2_mean_ms": 31.5, "n_voxels": 10}]
    assert region_records({"regions": expected}) == expected
    assert region_records({"regions": {"all": {"t2_mean_ms": 31.5, "n_voxels": 10}}}) == expected
    assert region_records([{"name": "all", "t2_mean_ms": 31.5, "n_voxels": 10}]) == expected
    assert region_records({"all": {"t2": {"mean_ms": 1.0}}}) == [{"region": "all", "t2_mean_ms": 1.0}]
    rows = [{"scan_id": "a", "value": 1.5, "note": None}, {"scan_id": "b", "value": "n/a", "note": "x"}]
    assert write_table(rows, tmp_path / "t") == []
    table = pd.read_parquet(tmp_path / "t.parquet")
    assert list(table.value) == ["1.5", "n/a"] and len(pd.read_csv(tmp_path / "t.csv")) == 2


def test_a_damaged_scan_table_is_a_note_not_the_end_of_the_batch(tmp_path):
    """Both scans are already done, so nothing is submitted; only the cohort tables are (re)written."""
    pytest.importorskip("distributed")
    from KneeCartilageT2Lib.atomic_files import atomic_write_json
    from KneeCartilageT2Lib.batch import BatchSettings, run_batch
    from KneeCartilageT2Lib.batch_tasks import scan_fingerprint

    class IdleClient:
        def scheduler_info(self):
            return {"workers": {}}

    (tmp_path / "m.csv").write_text("subject,visit,input\nA,v1,a.nrrd\nB,v1,b.nrrd\n")
    jobs, settings = read_manifest(tmp_path / "m.csv"), BatchSettings(progress=False)
    for job, content in zip(jobs, ('{"regions": [{"region": "all", "t2_mean_ms": 31.5}]}', '{"regions": [')):
        folder = tmp_path / "out" / "scans" / job.scan_id
        (folder / "regions").mkdir(parents=True)
        (folder / "regions" / "regions.json").write_text(content)
        atomic_write_json(folder / "DONE.json", {"status": "ok", "messages": ["Input: a note", "T2 rule: x"],
                                                 "job": scan_fingerprint(job, settings.task_options())})
    report = run_batch(jobs, tmp_path / "out", settings=settings, client=IdleClient())
    assert [row["status"] for row in report.statuses] == ["skipped", "skipped"]
    status = pd.read_csv(tmp_path / "out" / "status.csv")
    assert status.notes.tolist() == ["Input: a note | T2 rule: x"] * 2  # an earlier run's notes are kept
    assert any("B_v1" in note and "cannot be read" in note for note in report.notes)
    table = pd.read_csv(tmp_path / "out" / "cohort_regions.csv")
    assert table.scan_id.tolist() == ["A_v1"] and table.t2_mean_ms.tolist() == [31.5]


def test_a_series_column_reaches_the_dicom_loader(tmp_path, monkeypatch):
    """Study folders with several multi-echo series: the manifest names the MESE series per scan."""
    from KneeCartilageT2Lib import pipeline
    from KneeCartilageT2Lib.batch_tasks import pipeline_runner

    (tmp_path / "m.csv").write_text("subject,visit,input,Series_Number\nP01,bl,study01,7\nP02,bl,study02,\n")
    jobs = read_manifest(tmp_path / "m.csv")
    assert [job.series for job in jobs] == ["7", None] and jobs[0].extra == {}
    seen = []

    def fake_analysis(input_path, out_dir, options, echo_times_ms=None, figures=True, series=None,
                      record_full_paths=False):
        seen.append(series)
        return {"status": "ok", "messages": []}

    monkeypatch.setattr(pipeline, "analyse_exam_to_folder", fake_analysis)
    pipeline_runner(jobs[0], tmp_path / "out", {})
    assert seen == ["7"]


def test_a_pair_without_a_manifest_side_takes_the_side_its_change_was_measured_with(tmp_path):
    """The cohort change table's side column stayed empty for such pairs, although change.json records the side."""
    import json

    from KneeCartilageT2Lib.batch_tables import change_rows

    (tmp_path / "m.csv").write_text("subject,visit,side,input\nA,base,,a.nrrd\nA,m12,,b.nrrd\n"
                                    "B,base,left,c.nrrd\nB,m12,left,d.nrrd\n")
    unsided, sided = change_pairs(read_manifest(tmp_path / "m.csv"))
    assert unsided.side is None and sided.side == "left"
    for pair in (unsided, sided):
        (tmp_path / pair.pair_id).mkdir()
        (tmp_path / pair.pair_id / "region_change.csv").write_text("region,delta_t2_ms\nall,1.5\nD,2.0\n")
    (tmp_path / unsided.pair_id / "change.json").write_text(json.dumps(
        {"laterality": "right", "side": {"laterality": "right", "source": "estimated", "confidence": 0.9}}))
    rows = change_rows(tmp_path / unsided.pair_id, unsided)
    assert [(row["side"], row["region"], row["delta_t2_ms"]) for row in rows] == [("right", "all", 1.5),
                                                                                 ("right", "D", 2.0)]
    (tmp_path / sided.pair_id / "change.json").write_text(json.dumps({"side": {"laterality": "right"}}))
    assert {row["side"] for row in change_rows(tmp_path / sided.pair_id, sided)} == {"left"}  # the manifest's wins
    (tmp_path / unsided.pair_id / "change.json").write_text("{\"side\": ")  # damaged: the rows stay, no side
    assert [row["side"] for row in change_rows(tmp_path / unsided.pair_id, unsided)] == ["", ""]
