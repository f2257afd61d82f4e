"""Result folders name their inputs by the last part of the path, never by a path that may name the patient.

Every kind of result folder (an analysis, a region table, a change analysis, a
batch) is written from inputs under a folder named like a patient's, and no
file of it may hold that name; the commands that read those folders back
(report, change, to-dicom, batch resume) must still work.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from KneeCartilageT2Lib.cli import main
from KneeCartilageT2Lib.volume_io import read_volume, write_volume

PATIENT = "DOE_JOHN_1957"  # a site folder named after the patient: /data/DOE_JOHN_1957/knee/


def files_naming(root: Path, word: str = PATIENT):
    """The files below ``root`` whose bytes hold ``word`` (any case): text files, and binary ones for good measure."""
    wanted = word.lower().encode("utf-8")
    return sorted(str(path.relative_to(root)) for path in Path(root).rglob("*")
                  if path.is_file() and wanted in path.read_bytes().lower())


@pytest.fixture(scope="module")
def shell():
    from KneeCartilageT2Lib.phantom_defaults import shell_exam

    return shell_exam(seed=1, snr=60.0)


@pytest.fixture(scope="module")
def dicom_analysis(shell, tmp_path_factory):
    """(the DICOM folder PATIENT/knee, its exam as loaded, the analysis folder written the default way, its pictures
    left out: they take seconds and hold no text; the report is written by the test)."""
    from KneeCartilageT2Lib.dicom_writer import write_dicom_series
    from KneeCartilageT2Lib.exam_loader import load_exam
    from KneeCartilageT2Lib.pipeline import AnalysisOptions, measure, write_analysis

    root = tmp_path_factory.mktemp("privacy")
    exam, label, _ = shell
    source = root / PATIENT / "knee"
    write_dicom_series(exam, source, series_description="T2 MAP SAG")
    loaded = load_exam(source)
    result = measure(loaded, label, options=AnalysisOptions(t2_method="loglinear"), label_source="given")
    return source, loaded, write_analysis(result, root / "analysis", preview=False, figures=False)


def test_an_analysis_folder_names_its_exam_by_the_last_part_and_a_fingerprint(dicom_analysis, capsys):
    from KneeCartilageT2Lib.dataset_index import array_sha256

    _, exam, analysis = dicom_analysis
    assert main(["report", str(analysis)]) == 0  # the page a reader opens first, as the analysis writes it
    assert "Femoral cartilage T2 \u2013 knee" in (analysis / "report.html").read_text(encoding="utf-8")
    assert files_naming(analysis) == []
    provenance = json.loads((analysis / "provenance.json").read_text())
    fingerprint = array_sha256(exam.echoes, exam.echo_times_ms)  # the hash a training dataset gives the exam
    assert provenance["source"] == "knee" and provenance["source_sha256"] == fingerprint
    assert "source_path" not in provenance
    metadata = json.loads((analysis / "regions" / "regions.json").read_text())["metadata"]
    assert metadata == {"source": "knee", "source_sha256": fingerprint}
    capsys.readouterr()


def test_full_paths_are_recorded_only_when_asked_for(dicom_analysis, tmp_path, capsys):
    from KneeCartilageT2Lib.pipeline import AnalysisOptions, measure, write_analysis

    source, exam, analysis = dicom_analysis
    result = measure(exam, read_volume(analysis / "label.nrrd").array, options=AnalysisOptions(t2_method="loglinear"))
    full = write_analysis(result, tmp_path / "full", preview=False, figures=False, record_full_paths=True)
    assert json.loads((full / "provenance.json").read_text())["source_path"] == str(source)
    assert json.loads((full / "regions" / "regions.json").read_text())["metadata"]["source_path"] == str(source)
    assert main(["to-dicom", str(full), "-o", str(tmp_path / "pacs")]) == 0  # the folder names its series
    capsys.readouterr()


def test_to_dicom_asks_for_the_source_of_a_folder_that_names_only_its_last_part(dicom_analysis, tmp_path, capsys):
    source, _, analysis = dicom_analysis
    assert main(["to-dicom", str(analysis), "-o", str(tmp_path / "x")]) == 2
    error = capsys.readouterr().err
    assert "names its exam only by the last part of its path (knee)" in error and "give it with --source" in error
    assert main(["to-dicom", str(analysis), "-o", str(tmp_path / "pacs"), "--source", str(source)]) == 0
    assert len(list((tmp_path / "pacs" / "T2map").glob("*.dcm"))) > 0
    assert main(["to-dicom", str(analysis), "-o", str(tmp_path / "y"), "--manifest", "m.csv"]) == 2
    assert "--manifest is for a batch output folder" in capsys.readouterr().err


def test_to_dicom_takes_a_batchs_sources_from_its_manifest(dicom_analysis, tmp_path, capsys):
    import shutil

    source, _, analysis = dicom_analysis
    batch = tmp_path / "batch"
    (batch / "scans").mkdir(parents=True)
    (batch / "status.csv").write_text("id,status\n")
    shutil.copytree(analysis, batch / "scans" / "s01_baseline")
    assert main(["to-dicom", str(batch), "-o", str(tmp_path / "x")]) == 1
    output = capsys.readouterr().out
    assert "s01_baseline: not written: no source DICOM folder: it names its exam only by the last part" in output
    assert "give the batch's manifest with --manifest" in output
    (tmp_path / "m.csv").write_text("subject,visit,input\ns01,baseline,%s\n" % source)
    assert main(["to-dicom", str(batch), "-o", str(tmp_path / "pacs"), "--manifest", str(tmp_path / "m.csv")]) == 0
    assert len(list((tmp_path / "pacs" / "s01_baseline" / "T2map").glob("*.dcm"))) > 0
    capsys.readouterr()


def write_echo_stack_with_label(folder: Path, name: str, seed: int = 1) -> Path:
    """``folder/<name>.nrrd`` (+ sidecar) of the shell phantom, its cartilage ``<name>_seg.nrrd`` and T2 map
    ``<name>_t2.nrrd``."""
    from KneeCartilageT2Lib.echo_stack_io import write_echo_stack
    from KneeCartilageT2Lib.phantom_defaults import shell_exam

    exam, label, t2 = shell_exam(seed=seed, snr=60.0)
    folder.mkdir(parents=True, exist_ok=True)
    write_echo_stack(exam, folder / ("%s.nrrd" % name))
    write_volume(exam.volume_like(label), folder / ("%s_seg.nrrd" % name))
    write_volume(exam.volume_like(t2), folder / ("%s_t2.nrrd" % name))
    return folder / ("%s.nrrd" % name)


def test_region_tables_name_their_inputs_by_the_last_part(tmp_path, capsys):
    exam_path = write_echo_stack_with_label(tmp_path / PATIENT / "knee", "echoes")
    folder = exam_path.parent
    assert main(["regions", str(exam_path), "--segmentation", str(folder / "echoes_seg.nrrd"), "--t2",
                 str(folder / "echoes_t2.nrrd"), "-o", str(tmp_path / "out"), "--no-figure"]) == 0
    assert files_naming(tmp_path / "out") == []
    metadata = json.loads((tmp_path / "out" / "regions.json").read_text())["metadata"]
    assert {key: metadata[key] for key in ("exam", "segmentation", "t2")} == {
        "exam": "echoes.nrrd", "segmentation": "echoes_seg.nrrd", "t2": "echoes_t2.nrrd"}
    assert len(metadata["exam_sha256"]) == 64
    assert main(["regions", str(exam_path), "--segmentation", str(folder / "echoes_seg.nrrd"), "--t2",
                 str(folder / "echoes_t2.nrrd"), "-o", str(tmp_path / "full"), "--no-figure",
                 "--record-full-paths"]) == 0
    assert json.loads((tmp_path / "full" / "regions.json").read_text())["metadata"]["exam_path"] == str(exam_path)
    capsys.readouterr()


def test_a_change_folder_names_its_visits_by_the_last_part(dicom_analysis, tmp_path, capsys):
    folder = tmp_path / PATIENT / "knee"
    for name, seed in (("v0", 1), ("v1", 2)):
        write_echo_stack_with_label(folder, name, seed)
    out = tmp_path / "out"
    assert main(["change", str(folder / "v0.nrrd"), str(folder / "v1.nrrd"), "-o", str(out), "--no-registration",
                 "--baseline-seg", str(folder / "v0_seg.nrrd"), "--followup-seg", str(folder / "v1_seg.nrrd"),
                 "--t2-method", "loglinear", "--no-visit-folders"]) == 0  # visit folders: write_analysis, above
    assert files_naming(out) == []
    inputs = json.loads((out / "change.json").read_text())["inputs"]
    fingerprints = {key: inputs.pop(key) for key in ("baseline_sha256", "followup_sha256")}  # the images, no place
    assert inputs == {"baseline": "v0.nrrd", "followup": "v1.nrrd", "baseline_seg": "v0_seg.nrrd",
                      "followup_seg": "v1_seg.nrrd"}
    assert all(len(value) == 64 for value in fingerprints.values()) and len(set(fingerprints.values())) == 2
    assert main(["report", str(out)]) == 0
    assert "v0.nrrd \u2192 v1.nrrd" in (out / "change_report.html").read_text(encoding="utf-8")

    # an analysis folder that names its exam by the last part only is a visit like any other
    _, _, analysis = dicom_analysis
    assert main(["change", str(analysis), str(analysis), "-o", str(tmp_path / "again"), "--no-registration"]) == 0
    assert json.loads((tmp_path / "again" / "change.json").read_text())["inputs"]["followup"] == "analysis"
    capsys.readouterr()


def test_helpers_name_paths_by_their_last_part_and_find_full_ones():
    from KneeCartilageT2Lib.result_privacy import input_name, paths_record, recorded_path, redact_paths

    assert input_name("C:\\sites\\%s\\knee" % PATIENT) == input_name("/data/%s/knee/" % PATIENT) == "knee"
    assert paths_record({"baseline": "/data/%s/v0" % PATIENT, "followup_seg": None}) == {
        "baseline": "v0", "followup_seg": None}
    assert paths_record({"t2": "/a/t2.nrrd"}, record_full_paths=True) == {"t2": "t2.nrrd", "t2_path": "/a/t2.nrrd"}
    assert recorded_path({"source": "knee"}) == ""
    assert recorded_path({"source": "knee", "source_path": "/data/x/knee"}) == "/data/x/knee"
    assert recorded_path({"source": "/data/x/knee"}) == "/data/x/knee"  # a folder written before names
    message = "No DICOM image was found in /data/%s/knee (3 files); see /data/%s/knee/IM1" % (PATIENT, PATIENT)
    assert redact_paths(message, ["/data/%s/knee/" % PATIENT]) == \
        "No DICOM image was found in knee (3 files); see knee/IM1"
    relative = os.path.join(PATIENT, "knee")
    assert PATIENT not in redact_paths("cannot read %s" % os.path.abspath(relative), [relative])


# --- a batch ----------------------------------------------------------------------------------------------------

def test_a_batch_names_its_exams_by_the_last_part_and_still_resumes(tmp_path, capsys):
    """Scan folders, change folders, tables, the review and a failed scan's error; then resume and the readers."""
    pytest.importorskip("distributed")
    import pandas as pd
    from distributed import Client, LocalCluster

    from KneeCartilageT2Lib.batch import BatchSettings, run_batch
    from KneeCartilageT2Lib.batch_manifest import read_manifest
    from KneeCartilageT2Lib.batch_synthetic import write_synthetic_exam
    from KneeCartilageT2Lib.batch_tasks import same_scan
    from test_batch_cohort import tiny_model  # the real pipeline end to end, in seconds

    model = tiny_model(tmp_path / "tiny.safetensors")
    folder = tmp_path / PATIENT / "knee"
    write_synthetic_exam(folder / "a.nrrd", 35.0, shape=(4, 32, 32), seed=1)
    write_synthetic_exam(folder / "b.nrrd", 38.0, shape=(4, 32, 32), seed=2)
    manifest = tmp_path / "m.csv"
    manifest.write_text("subject,visit,input\nS1,base,{0}/a.nrrd\nS1,m12,{0}/b.nrrd\nS2,base,{0}/gone.nrrd\n"
                        .format(folder))
    jobs, out = read_manifest(manifest), tmp_path / "out"
    settings = BatchSettings(device="cpu", model=str(model), progress=False, extra_options={"figures": False})
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0")
    client = Client(cluster)
    try:
        report = run_batch(jobs, out, settings=settings, client=client)
        status = pd.read_csv(out / "status.csv").set_index("id")
        assert status.loc["S1_base", "status"] == "done", status.loc["S1_base", "error"]
        assert status.loc["S1_base_m12", "status"] == "done", status.loc["S1_base_m12", "error"]
        assert status.loc["S2_base", "status"] == "failed" and "gone.nrrd" in status.loc["S2_base", "error"]
        assert json.loads((out / "scans" / "S2_base" / "FAILED.json").read_text())["input"] == "gone.nrrd"
        assert main(["report", str(out)]) == 0 and main(["review", str(out)]) == 0  # the readers of a batch folder
        assert (out / "review.html").is_file() and (out / "scans" / "S1_base" / "report.html").is_file()
        assert files_naming(out) == []
        inputs = json.loads((out / "changes" / "S1_base_m12" / "change.json").read_text())["inputs"]
        assert {key: inputs[key] for key in ("baseline", "followup")} == {"baseline": "S1_base", "followup": "S1_m12"}
        assert set(inputs) == {"baseline", "followup", "baseline_sha256", "followup_sha256"}  # images' fingerprints

        again = run_batch(jobs, out, settings=settings, client=client)  # resumes: the finished scans are kept
        assert {row["id"]: row["status"] for row in again.statuses if row["status"] != "failed"} == {
            "S1_base": "skipped", "S1_m12": "skipped", "S1_base_m12": "skipped"}
        assert report.count("failed") == again.count("failed") == 1
    finally:
        client.close()
        cluster.close()
    recorded = json.loads((out / "scans" / "S1_base" / "DONE.json").read_text())["job"]
    options = settings.task_options()
    assert same_scan(recorded, jobs[0], options) and not same_scan(recorded, jobs[1], options)
    legacy = dict(recorded, input=os.path.abspath(str(folder / "a.nrrd")))  # written when the path itself was kept
    assert same_scan(legacy, jobs[0], options) and not same_scan(legacy, jobs[1], options)
    capsys.readouterr()


def test_a_failed_scans_error_names_no_file_beside_its_input_by_its_path(tmp_path):
    """A file input's errors name the files beside it (its sidecar, the other echoes of a set): their folder may
    name the patient too, so FAILED.json and the status row name them by their last part as well."""
    from KneeCartilageT2Lib.batch_manifest import ScanJob
    from KneeCartilageT2Lib.batch_synthetic import write_synthetic_exam
    from KneeCartilageT2Lib.batch_tasks import pipeline_runner, run_scan_task

    folder = tmp_path / PATIENT / "knee"
    write_synthetic_exam(folder / "echoes.nrrd", 35.0, shape=(4, 32, 32), seed=1)
    (folder / "echoes.json").write_text("{not json")  # the sidecar the loader reads and names
    job = ScanJob("S1", "base", str(folder / "echoes.nrrd"), scan_id="S1_base")
    status = run_scan_task(job, str(tmp_path / "out" / "S1_base"), pipeline_runner, {})
    assert status["status"] == "failed" and "echoes.json" in status["error"]
    assert PATIENT not in status["error"], status["error"]
    assert files_naming(tmp_path / "out") == []
