"""Cohort batch on a real local Dask cluster: tables, a broken scan, resume, staged GPU/CPU split."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from KneeCartilageT2Lib.batch import BatchSettings, run_batch  # noqa: E402
from KneeCartilageT2Lib.batch_manifest import read_manifest  # noqa: E402
from KneeCartilageT2Lib.batch_synthetic import LightStagedRunner, light_change, light_runner, write_synthetic_exam  # noqa: E402

T2_MS = {("A", "base"): 30.0, ("A", "m12"): 33.0, ("B", "base"): 40.0, ("B", "m12"): 38.0,
         ("C", "base"): 35.0, ("C", "m12"): None}  # C's follow-up is broken


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


def make_cohort(folder):
    rows = ["subject,visit,side,input"]
    for (subject, visit), t2 in T2_MS.items():
        name = "exams/%s_%s.nrrd" % (subject, visit)
        if t2 is None:
            (folder / "exams").mkdir(exist_ok=True)
            (folder / name).write_text("NRRD0004\nthis is not an image\n")
        else:
            write_synthetic_exam(folder / name, t2, shape=(4, 48, 64), seed=len(rows))
        rows.append("%s,%s,%s,%s" % (subject, visit, "L" if subject == "B" else "right", name))
    (folder / "cohort.csv").write_text("\n".join(rows) + "\n")
    return folder / "cohort.csv"


def test_cohort_tables_failure_and_resume(tmp_path, client, capsys):
    jobs = read_manifest(make_cohort(tmp_path))
    out = tmp_path / "out"
    settings = BatchSettings(progress=True)
    report = run_batch(jobs, out, light_runner, light_change, settings, client=client)

    status = pd.read_parquet(out / "status.parquet")
    scans = status[status.kind == "scan"].set_index("id")
    assert scans.status.to_dict() == {"A_base": "done", "A_m12": "done", "B_base": "done", "B_m12": "done",
                                      "C_base": "done", "C_m12": "failed"}
    assert "C_m12.nrrd" in scans.loc["C_m12", "error"]
    assert "Traceback" in json.loads((out / "scans" / "C_m12" / "FAILED.json").read_text())["traceback"]
    changes = status[status.kind == "change"].set_index("id")
    assert changes.status.to_dict() == {"A_right_base_m12": "done", "B_left_base_m12": "done",
                                        "C_right_base_m12": "skipped"}
    assert changes.loc["C_right_base_m12", "error"] == "follow-up scan C_m12 failed"

    regions = pd.read_parquet(out / "cohort_regions.parquet")
    assert len(regions) == 5 * 3 and set(regions.region) == {"all", "low_i", "high_i"}
    whole = regions[regions.region == "all"].set_index("scan_id")
    for (subject, visit), t2 in T2_MS.items():
        if t2 is not None:
            assert whole.loc["%s_%s" % (subject, visit), "t2_mean_ms"] == pytest.approx(t2, abs=0.5)
    assert whole.loc["B_base", "side"] == "left"
    change = pd.read_csv(out / "cohort_change.csv")
    deltas = change[change.region == "all"].set_index("subject").delta_t2_ms
    assert deltas["A"] == pytest.approx(3.0, abs=0.5) and deltas["B"] == pytest.approx(-2.0, abs=0.5)
    assert len(change) == 2 * 3
    assert report.count("failed") == 1
    review = pd.read_csv(out / "review.csv")
    assert review.id[0] == "C_m12" and review.priority[0] == "check first" and "C_m12.nrrd" in review.reasons[0]
    assert len(review) == 6 and [path.name for path in report.review] == ["review.csv", "review.html"]
    progress_lines = capsys.readouterr().err.strip().splitlines()
    assert progress_lines[-1].startswith("[9/9]") and "done 7, failed 1, skipped 1, remaining 0" in progress_lines[-1]

    done_times = {job.scan_id: (out / "scans" / job.scan_id / "DONE.json").stat().st_mtime_ns
                  for job in jobs if job.scan_id != "C_m12"}
    write_synthetic_exam(tmp_path / "exams" / "C_m12.nrrd", 37.0, shape=(4, 48, 64), seed=99)  # the repair
    again = run_batch(jobs, out, light_runner, light_change, BatchSettings(progress=False), client=client)
    assert {row["id"]: row["status"] for row in again.statuses} == {
        "A_base": "skipped", "A_m12": "skipped", "B_base": "skipped", "B_m12": "skipped", "C_base": "skipped",
        "C_m12": "done", "A_right_base_m12": "skipped", "B_left_base_m12": "skipped", "C_right_base_m12": "done"}
    assert all((out / "scans" / scan / "DONE.json").stat().st_mtime_ns == stamp for scan, stamp in done_times.items())
    assert not (out / "scans" / "C_m12" / "FAILED.json").exists()
    assert len(pd.read_csv(out / "cohort_regions.csv")) == 6 * 3
    final_change = pd.read_parquet(out / "cohort_change.parquet")
    c_delta = final_change[(final_change.subject == "C") & (final_change.region == "all")].delta_t2_ms.item()
    assert c_delta == pytest.approx(2.0, abs=0.5)


def test_a_changed_manifest_row_runs_again_and_a_pair_never_outlives_its_scans(tmp_path, client):
    manifest = make_cohort(tmp_path)
    out = tmp_path / "out"
    run_batch(read_manifest(manifest), out, light_runner, light_change, BatchSettings(progress=False), client=client)

    write_synthetic_exam(tmp_path / "exams" / "A_other.nrrd", 50.0, shape=(4, 48, 64), seed=77)
    (tmp_path / "exams" / "B_broken.nrrd").write_text("NRRD0004\nnot an image either\n")
    text = manifest.read_text().replace("exams/A_base.nrrd", "exams/A_other.nrrd")
    manifest.write_text(text.replace("exams/B_base.nrrd", "exams/B_broken.nrrd"))  # the rows were corrected
    again = run_batch(read_manifest(manifest), out, light_runner, light_change, BatchSettings(progress=False),
                      client=client)
    statuses = {row["id"]: row["status"] for row in again.statuses}
    assert (statuses["A_base"], statuses["A_right_base_m12"]) == ("done", "done")  # the new input, not the old
    assert (statuses["B_base"], statuses["B_left_base_m12"]) == ("failed", "skipped")
    assert statuses["A_m12"] == statuses["B_m12"] == "skipped"
    change = pd.read_csv(out / "cohort_change.csv")
    whole = change[change.region == "all"].set_index("subject").delta_t2_ms
    assert whole["A"] == pytest.approx(33.0 - 50.0, abs=0.5)
    assert "B" not in whole.index and not (out / "changes" / "B_left_base_m12" / "DONE.json").exists()
    regions = pd.read_csv(out / "cohort_regions.csv").query("region == 'all'").set_index("scan_id").t2_mean_ms
    assert regions["A_base"] == pytest.approx(50.0, abs=0.5)


def test_staged_runner_sends_segmentation_to_gpu_workers(tmp_path):
    from distributed import Client, Nanny, Scheduler, SpecCluster, get_task_stream

    workers = {"gpu": {"cls": Nanny, "options": {"nthreads": 1, "resources": {"GPU": 1}}},
               "cpu": {"cls": Nanny, "options": {"nthreads": 1}}}
    cluster = SpecCluster(workers=workers, scheduler={"cls": Scheduler, "options": {"dashboard_address": ":0"}})
    client = Client(cluster)
    try:
        rows = ["subject,visit,input"]
        for n in range(4):
            write_synthetic_exam(tmp_path / ("s%d.nrrd" % n), 30.0 + n, shape=(4, 32, 32), seed=n)
            rows.append("S%d,v1,s%d.nrrd" % (n, n))
        (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
        gpu_address = [address for address, info in client.scheduler_info()["workers"].items()
                       if info.get("resources", {}).get("GPU")][0]
        with get_task_stream(client) as stream:
            report = run_batch(read_manifest(tmp_path / "m.csv"), tmp_path / "out", LightStagedRunner(),
                               light_change, BatchSettings(progress=False), client=client)
        assert [row["status"] for row in report.statuses] == ["done"] * 4
        segment_workers = {task["worker"] for task in stream.data if task["key"].startswith("segment-")}
        assert segment_workers == {gpu_address}
        assert not (tmp_path / "out" / "scans" / "S0_v1" / ".work").exists()
        t2 = pd.read_csv(tmp_path / "out" / "cohort_regions.csv").query("region == 'all'").t2_mean_ms.to_numpy()
        np.testing.assert_allclose(t2, [30.0, 31.0, 32.0, 33.0], atol=0.5)
    finally:
        client.close()
        cluster.close()


def tiny_model(path):
    """A 2-level, 2-filter U-Net with random weights: the real pipeline end to end, in seconds."""
    torch = pytest.importorskip("torch")
    from KneeCartilageT2Lib.model_files import save_model_safetensors
    from KneeCartilageT2Lib.model_registry import spec_from_entry
    from KneeCartilageT2Lib.unet import build_unet

    torch.manual_seed(0)
    module = build_unet(levels=2, base_filters=2)
    spec = spec_from_entry({"name": "tiny-test", "version": "0"})
    spec["architecture"] = dict(module.architecture)
    spec["preprocessing"] = dict(spec["preprocessing"], size=[64, 64])
    return save_model_safetensors(module, path, spec)


@pytest.fixture
def thread_client():
    """A scheduler whose two workers are threads of this process: they reuse its imported torch.

    Fresh worker processes would spend most of this test importing torch; shipping tasks to
    worker processes is covered by the tests above.
    """
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0")
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_command_runs_the_real_pipeline_on_a_running_scheduler(tmp_path, thread_client):
    """The CLI with --scheduler, the full pipeline with a tiny model and the real change analysis."""
    from KneeCartilageT2Lib.cli import main

    client = thread_client
    model = tiny_model(tmp_path / "tiny.safetensors")
    write_synthetic_exam(tmp_path / "a.nrrd", 35.0, shape=(4, 32, 32), seed=1)
    write_synthetic_exam(tmp_path / "b.nrrd", 38.0, shape=(4, 32, 32), seed=2)
    (tmp_path / "m.csv").write_text("subject,visit,input\nS1,base,a.nrrd\nS1,m12,b.nrrd\nS2,base,missing.nrrd\n")
    code = main(["batch", str(tmp_path / "m.csv"), "-o", str(tmp_path / "out"), "--device", "cpu",
                 "--model", str(model), "--scheduler", client.scheduler.address, "--no-progress", "--no-figures"])
    status = pd.read_csv(tmp_path / "out" / "status.csv").set_index("id")
    assert code == 3 and status.loc["S2_base", "status"] == "failed"
    assert "missing.nrrd" in status.loc["S2_base", "error"] and "does not exist" in status.loc["S2_base", "error"]
    assert status.loc["S1_base", "status"] == "done", status.loc["S1_base", "error"]
    assert status.loc["S1_base", "result"] in ("ok", "no_cartilage")
    scan = tmp_path / "out" / "scans" / "S1_base"
    provenance = json.loads((scan / "provenance.json").read_text())
    assert provenance["segmentation"]["model_name"] == "tiny-test"
    assert status.loc["S1_base", "notes"] == " | ".join(provenance["messages"])  # the cohort can be screened by them
    quality = provenance["quality"]
    assert quality["n_candidates"] is not None and 0.0 <= quality["uncertainty_bits"] <= 1.0
    review = pd.read_csv(tmp_path / "out" / "review.csv").set_index("id")
    assert review.loc["S2_base", "rank"] == 1 and review.loc["S2_base", "priority"] == "check first"
    assert review.loc["S1_base", "uncertainty_bits"] == pytest.approx(quality["uncertainty_bits"], abs=1e-4)
    assert (scan / "regions" / "regions.csv").is_file()  # --no-figures: tables and maps, no pictures
    assert not (scan / "regions" / "regions.png").exists() and not (scan / "preview.png").exists()
    assert status.loc["S1_base_m12", "status"] == "done", status.loc["S1_base_m12", "error"]
    change = pd.read_csv(tmp_path / "out" / "cohort_change.csv")
    assert len(change) == 27 and set(change.subject) == {"S1"}
    pair = tmp_path / "out" / "changes" / "S1_base_m12"  # what knee-t2 change writes: registration, lesions, report
    summary = json.loads((pair / "change.json").read_text())
    assert set(change.side) == {summary["side"]["laterality"]}  # the manifest has no side: the one measured with
    assert summary["files"]["report"] == "change_report.html"
    assert all((pair / name).is_file() for name in summary["files"].values())
    assert summary["format"] == "knee-t2 change" and summary["inputs"]["followup"].endswith("S1_m12")
    assert summary["registration"] is not None and (pair / "registration.json").is_file()
    assert "S1_base \u2192 S1_m12" in (pair / "change_report.html").read_text(encoding="utf-8")
    assert main(["report", str(tmp_path / "out")]) == 0
    regions = pd.read_csv(tmp_path / "out" / "cohort_regions.csv")
    assert len(regions) == 2 * 27 and {"t2_mean_ms", "thickness_mean_mm"} <= set(regions.columns)
    assert main(["batch", str(tmp_path / "nothing.csv"), "-o", str(tmp_path / "out2")]) == 2


def test_the_staged_pipeline_writes_what_the_whole_pipeline_writes(tmp_path):
    """Network step, then the rest from its saved probabilities: the same label, T2 and region table."""
    from KneeCartilageT2Lib.batch_manifest import ScanJob
    from KneeCartilageT2Lib.batch_tasks import pipeline_runner, pipeline_staged_runner
    from KneeCartilageT2Lib.volume_io import read_volume

    model = tiny_model(tmp_path / "tiny.safetensors")
    write_synthetic_exam(tmp_path / "a.nrrd", 36.0, shape=(4, 32, 32), seed=3)
    job = read_manifest_rows(tmp_path, "S1,base,right,a.nrrd")[0]
    assert isinstance(job, ScanJob)
    options = {"model": str(model), "device": "cpu", "figures": False}
    whole = pipeline_runner(job, tmp_path / "whole", options)
    pipeline_staged_runner.segment(job, tmp_path / "staged" / ".work", options)
    assert (tmp_path / "staged" / ".work" / "probabilities.npy").is_file()
    staged = pipeline_staged_runner.measure(job, tmp_path / "staged" / ".work", tmp_path / "staged", options)
    assert staged == whole
    for name in ("label.nrrd", "t2.nrrd", "probabilities.nrrd"):
        np.testing.assert_array_equal(read_volume(tmp_path / "staged" / name).array,
                                      read_volume(tmp_path / "whole" / name).array)
    assert (tmp_path / "staged" / "regions" / "regions.csv").read_text() == \
        (tmp_path / "whole" / "regions" / "regions.csv").read_text()


def read_manifest_rows(folder, *rows):
    (folder / "m.csv").write_text("subject,visit,side,input\n" + "\n".join(rows) + "\n")
    return read_manifest(folder / "m.csv")


def test_the_default_runner_is_staged_only_when_gpu_workers_can_run_the_network():
    from KneeCartilageT2Lib.batch import default_runner
    from KneeCartilageT2Lib.batch_tasks import pipeline_runner, pipeline_staged_runner

    class FakeClient:
        def __init__(self, *resources):
            self.workers = {"tcp://w%d" % n: {"resources": value} for n, value in enumerate(resources)}

        def scheduler_info(self):
            return {"workers": self.workers}

    with_gpu = FakeClient({"GPU": 1}, {})
    assert default_runner(with_gpu, BatchSettings(device="auto")) is pipeline_staged_runner
    assert default_runner(with_gpu, BatchSettings(device="cpu")) is pipeline_runner
    assert default_runner(FakeClient({}, {}), BatchSettings(device="cuda")) is pipeline_runner
