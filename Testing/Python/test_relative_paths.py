"""Relative paths given on the command line keep naming the same files from another folder.

Found by following the README: an exam analysed as `knee-t2 change dicom dicom -o ../out
--record-full-paths` recorded "dicom" as its source path, so `knee-t2 to-dicom` run from anywhere else could not find it; and
`knee-t2 batch cohort.csv -o out --scheduler sched.json` handed the workers of a running scheduler
relative input and output paths, which they resolved against their own folder: every scan failed
with "Exam not found".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from KneeCartilageT2Lib import cli, pipeline, region_figure
from KneeCartilageT2Lib.batch_manifest import read_manifest
from KneeCartilageT2Lib.batch_synthetic import light_change, light_runner, write_synthetic_exam
from KneeCartilageT2Lib.dicom_writer import write_dicom_series
from KneeCartilageT2Lib.exam_loader import load_exam
from KneeCartilageT2Lib.phantom_defaults import shell_exam

SEEN_PATHS = []  # what the tasks below were handed (the local cluster runs them in this process)


def recording_runner(job, out_dir, options):
    SEEN_PATHS.extend([job.input_path, str(out_dir)])
    return light_runner(job, out_dir, options)


def recording_change(baseline_dir, followup_dir, out_dir, options):
    SEEN_PATHS.extend([str(baseline_dir), str(followup_dir), str(out_dir)])
    return light_change(baseline_dir, followup_dir, out_dir, options)


def test_manifest_inputs_are_absolute_whatever_folder_the_manifest_was_named_from(tmp_path, monkeypatch):
    (tmp_path / "cohort").mkdir()
    (tmp_path / "cohort" / "cohort.csv").write_text("subject,visit,input\ns1,v1,exams/s1.nrrd\n")
    monkeypatch.chdir(tmp_path)
    job = read_manifest(Path("cohort") / "cohort.csv")[0]
    assert job.input_path == str(tmp_path / "cohort" / "exams" / "s1.nrrd")


def test_batch_hands_its_tasks_absolute_paths(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    from KneeCartilageT2Lib.batch import BatchSettings, run_batch

    for visit, t2 in (("v1", 30.0), ("v2", 33.0)):
        write_synthetic_exam(tmp_path / ("s1_%s.nrrd" % visit), t2, shape=(3, 32, 40), seed=len(visit))
    (tmp_path / "cohort.csv").write_text("subject,visit,side,input\ns1,v1,right,s1_v1.nrrd\ns1,v2,right,s1_v2.nrrd\n")
    monkeypatch.chdir(tmp_path)
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        del SEEN_PATHS[:]
        report = run_batch(read_manifest("cohort.csv"), "out", recording_runner, recording_change,
                           BatchSettings(progress=False), client=client)
    finally:
        client.close()
        cluster.close()
    assert not report.failed
    assert len(SEEN_PATHS) == 7 and all(Path(path).is_absolute() for path in SEEN_PATHS), SEEN_PATHS
    assert (tmp_path / "out" / "scans" / "s1_v1" / "DONE.json").is_file()


def test_an_analysis_of_a_relative_input_goes_to_dicom_from_another_folder(tmp_path, monkeypatch):
    exam, label, _ = shell_exam(seed=5, snr=60.0)
    write_dicom_series(exam, tmp_path / "exam" / "knee series")
    monkeypatch.chdir(tmp_path / "exam")
    loaded = load_exam("knee series")
    result = pipeline.measure(loaded, label, options=pipeline.AnalysisOptions(laterality="right"))
    monkeypatch.setattr(region_figure, "save_region_figure", lambda analysis, path, dpi=130: path)
    pipeline.write_analysis(result, tmp_path / "analysis", preview=False, record_full_paths=True)
    recorded = json.loads((tmp_path / "analysis" / "provenance.json").read_text())
    assert recorded["source"] == "knee series"  # the last part only, always (result_privacy)
    assert recorded["source_path"] == str(tmp_path / "exam" / "knee series")  # on opt-in: absolute
    monkeypatch.chdir(tmp_path)
    assert cli.main(["to-dicom", "analysis", "-o", "series", "--no-colour"]) == 0
    assert len(list((tmp_path / "series" / "T2map").glob("*.dcm"))) == exam.volume_shape[0]
