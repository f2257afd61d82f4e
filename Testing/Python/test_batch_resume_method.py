"""A resumed cohort never mixes two measurement methods, nor keeps full paths it was asked not to.

Found in review: the resume record named the manifest row and settings but not the method, so after
an upgrade that changed thickness the scans skipped as done kept their old figures beside new ones
in the cohort tables; and a batch resumed with or without ``--record-full-paths`` kept the scans
written under the other choice.
"""

from __future__ import annotations

import json

import pytest

from KneeCartilageT2Lib.batch_manifest import read_manifest
from KneeCartilageT2Lib.batch_synthetic import light_change, light_runner, write_synthetic_exam
from KneeCartilageT2Lib.measurement_method import MEASUREMENT_METHOD


def _statuses(report):
    return {row["id"]: row["status"] for row in report.statuses if row["kind"] == "scan"}


def test_scans_measured_with_an_earlier_method_or_other_path_setting_run_again(tmp_path):
    distributed = pytest.importorskip("distributed")
    from KneeCartilageT2Lib.batch import BatchSettings, run_batch

    rows = ["subject,visit,side,input"]
    for subject, t2 in (("s1", 30.0), ("s2", 33.0), ("s3", 36.0)):
        write_synthetic_exam(tmp_path / ("%s.nrrd" % subject), t2, shape=(3, 32, 40), seed=int(t2))
        rows.append("%s,v1,right,%s.nrrd" % (subject, subject))
    (tmp_path / "cohort.csv").write_text("\n".join(rows) + "\n")
    jobs, out = read_manifest(tmp_path / "cohort.csv"), tmp_path / "out"
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        first = run_batch(jobs, out, light_runner, light_change, BatchSettings(progress=False), client=client)
        assert set(_statuses(first).values()) == {"done"}
        done = {scan: out / "scans" / scan / "DONE.json" for scan in ("s1_v1", "s2_v1", "s3_v1")}
        assert json.loads(done["s1_v1"].read_text())["job"]["method"] == MEASUREMENT_METHOD
        earlier = json.loads(done["s1_v1"].read_text())
        earlier["job"]["method"] = "2000-01-01"
        done["s1_v1"].write_text(json.dumps(earlier))
        unmarked = json.loads(done["s2_v1"].read_text())
        del unmarked["job"]  # a folder finished before resume records were kept
        done["s2_v1"].write_text(json.dumps(unmarked))

        again = run_batch(jobs, out, light_runner, light_change, BatchSettings(progress=False), client=client)
        assert _statuses(again) == {"s1_v1": "done", "s2_v1": "done", "s3_v1": "skipped"}
        assert any("2 finished scan(s) were measured with an earlier method" in note and "s1_v1, s2_v1" in note
                   for note in again.notes), again.notes

        settled = run_batch(jobs, out, light_runner, light_change, BatchSettings(progress=False), client=client)
        assert set(_statuses(settled).values()) == {"skipped"}
        assert not any("earlier method" in note for note in settled.notes)

        with_paths = run_batch(jobs, out, light_runner, light_change,
                               BatchSettings(progress=False, extra_options={"record_full_paths": True}), client=client)
        assert set(_statuses(with_paths).values()) == {"done"}
    finally:
        client.close()
        cluster.close()
