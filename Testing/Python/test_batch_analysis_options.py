"""``knee-t2 batch --t2-method/--t2-range/--region-mode``: every scan is analysed with them, and a scan
finished with other choices runs again when the batch resumes.

Before, a batch analysed every scan with the defaults: its tasks' ``region_mode`` went into the resume
record but never reached the analysis, and a T2 method or range could not be chosen at all.
"""

from __future__ import annotations

import pytest

from KneeCartilageT2Lib import cli
from KneeCartilageT2Lib.batch_manifest import read_manifest
from KneeCartilageT2Lib.batch_synthetic import write_synthetic_exam
from KneeCartilageT2Lib.batch_tasks import _analysis_options, same_scan, scan_fingerprint


@pytest.fixture
def job(tmp_path):
    write_synthetic_exam(tmp_path / "a.nrrd", 35.0, shape=(3, 32, 32), seed=1)
    (tmp_path / "m.csv").write_text("subject,visit,side,input\nS1,base,right,a.nrrd\n")
    return read_manifest(tmp_path / "m.csv")[0]


def test_the_command_hands_its_analysis_choices_to_every_scan(job, tmp_path, monkeypatch):
    from KneeCartilageT2Lib import batch

    handed = {}

    def capture(jobs, out_dir, settings=None, **kwargs):
        handed["options"] = settings.task_options()
        raise KeyboardInterrupt  # nothing to run here: the options are what this test is about

    monkeypatch.setattr(batch, "run_batch", capture)
    assert cli.main(["batch", str(tmp_path / "m.csv"), "-o", str(tmp_path / "out"), "--t2-method", "noise-floor",
                     "--t2-range", "5,150", "--region-mode", "reference"]) == 130
    chosen = _analysis_options(job, handed["options"]).as_dict()
    assert (chosen["t2_method"], chosen["t2_range_ms"], chosen["region_mode"], chosen["laterality"]) == \
        ("noise-floor", [5.0, 150.0], "reference", "right")

    assert cli.main(["batch", str(tmp_path / "m.csv"), "-o", str(tmp_path / "out")]) == 130
    defaults = _analysis_options(job, handed["options"]).as_dict()
    assert (defaults["t2_method"], defaults["t2_range_ms"], defaults["region_mode"]) == \
        ("mono", [0.0, 100.0], "improved")


@pytest.mark.parametrize("changed", [{"t2_method": "loglinear"}, {"t2_range_ms": [0.0, 150.0]},
                                     {"region_mode": "reference"}])
def test_a_scan_finished_with_other_analysis_choices_runs_again(job, changed):
    before = {"model": None, "t2_method": "mono", "t2_range_ms": [0.0, 100.0], "region_mode": "improved"}
    recorded = scan_fingerprint(job, before)
    assert same_scan(recorded, job, dict(before))
    assert not same_scan(recorded, job, dict(before, **changed))


def test_a_record_from_before_the_choices_were_recorded_counts_as_the_defaults(job):
    """Those scans were analysed with mono, (0, 100] ms and improved regions, whatever their record said
    about the region mode: a batch resumed with the defaults skips them, one with other choices does not."""
    earlier = scan_fingerprint(job, {})
    for key in ("t2_method", "t2_range_ms"):
        del earlier[key]
    earlier["region_mode"] = None
    assert same_scan(earlier, job, {"t2_method": "mono", "t2_range_ms": [0.0, 100.0], "region_mode": "improved"})
    assert same_scan(earlier, job, {})
    assert not same_scan(earlier, job, {"t2_range_ms": [0.0, 150.0]})
    assert not same_scan(dict(earlier, region_mode="reference"), job, {"region_mode": "reference"})


def test_a_resumed_batch_runs_the_scans_again_when_the_t2_range_changed(tmp_path):
    distributed = pytest.importorskip("distributed")
    from KneeCartilageT2Lib.batch import BatchSettings, run_batch
    from KneeCartilageT2Lib.batch_synthetic import light_change, light_runner

    write_synthetic_exam(tmp_path / "a.nrrd", 35.0, shape=(3, 32, 40), seed=2)
    (tmp_path / "m.csv").write_text("subject,visit,side,input\nS1,base,right,a.nrrd\n")
    jobs, out = read_manifest(tmp_path / "m.csv"), tmp_path / "out"
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None)
    client = distributed.Client(cluster)

    def statuses(extra):
        report = run_batch(jobs, out, light_runner, light_change,
                           BatchSettings(progress=False, extra_options=extra), client=client)
        return [row["status"] for row in report.statuses if row["kind"] == "scan"]

    try:
        assert statuses({"t2_range_ms": [0.0, 100.0]}) == ["done"]
        assert statuses({}) == ["skipped"]  # the default range, given or not
        assert statuses({"t2_range_ms": [0.0, 150.0]}) == ["done"]
        assert statuses({"t2_range_ms": [0.0, 150.0]}) == ["skipped"]
    finally:
        client.close()
        cluster.close()
