"""`knee-t2 manifest`: a batch manifest from a BIDS dataset of per-echo MESE files."""

from __future__ import annotations

import json

import numpy as np

from KneeCartilageT2Lib.batch_manifest import change_pairs, read_manifest
from KneeCartilageT2Lib.cli import main
from KneeCartilageT2Lib.exam_loader import load_exam

TIMES_S = (0.01, 0.02, 0.03)


def _write_scan(anat, stem_of, value=None):
    import SimpleITK as sitk

    anat.mkdir(parents=True, exist_ok=True)
    for index, seconds in enumerate(TIMES_S):
        stem = stem_of(index + 1)
        array = np.full((2, 5, 4), value if value is not None else 900.0 * np.exp(-seconds * 1000 / 40), np.float32)
        sitk.WriteImage(sitk.GetImageFromArray(array), str(anat / (stem + ".nii.gz")))
        (anat / (stem + ".json")).write_text(json.dumps({"EchoTime": seconds}))


def test_a_bids_dataset_becomes_a_manifest_batch_reads(tmp_path, capsys):
    root = tmp_path / "bids"
    for session in ("m6", "m12"):
        anat = root / "sub-01" / ("ses-" + session) / "anat"
        _write_scan(anat, lambda n, s=session: "sub-01_ses-%s_echo-%d_part-mag_MESE" % (s, n))
        _write_scan(anat, lambda n, s=session: "sub-01_ses-%s_echo-%d_part-phase_MESE" % (s, n), value=2.0)
    for run in (1, 2):
        _write_scan(root / "sub-02" / "anat", lambda n, r=run: "sub-02_run-%d_echo-%d_MESE" % (r, n))
    (root / "sub-02" / "anat" / "sub-02_T1w.nii.gz").write_bytes(b"")  # another suffix: not a scan

    assert main(["manifest", str(root), "-o", str(tmp_path / "manifest.csv")]) == 0
    out = capsys.readouterr().out
    assert "3 scan(s) of 2 subject(s)" in out and "sub-02 ses-1 has 2 runs; the last (sub-02_run-2_echo-1" in out
    jobs = read_manifest(tmp_path / "manifest.csv")
    assert [(job.subject, job.visit) for job in jobs] == [("01", "m6"), ("01", "m12"), ("02", "1")]
    assert jobs[0].input_path.endswith("sub-01_ses-m6_echo-1_part-mag_MESE.nii.gz")
    assert [(pair.baseline.visit, pair.followup.visit) for pair in change_pairs(jobs)] == [("m6", "m12")]
    exam = load_exam(jobs[2].input_path)
    np.testing.assert_allclose(exam.echo_times_ms, [10.0, 20.0, 30.0])
    assert all("run-2" in name for name in exam.metadata["files"])


def test_a_folder_without_mese_scans_is_refused(tmp_path, capsys):
    (tmp_path / "sub-01" / "anat").mkdir(parents=True)
    assert main(["manifest", str(tmp_path), "-o", str(tmp_path / "m.csv")]) == 2
    assert "No MESE scan was found" in capsys.readouterr().err


def test_both_knees_of_a_session_become_rows_with_their_side(tmp_path, capsys):
    root = tmp_path / "bids"
    for session in ("1", "2"):
        anat = root / "sub-07" / ("ses-" + session) / "anat"
        for label in ("leftknee", "R"):
            _write_scan(anat, lambda n, s=session, a=label: "sub-07_ses-%s_acq-%s_echo-%d_MESE" % (s, a, n))
    _write_scan(root / "sub-07" / "ses-2" / "anat", lambda n: "sub-07_ses-2_acq-R_run-2_echo-%d_MESE" % n)
    anat = root / "sub-08" / "anat"  # two protocols of one knee: alternatives, not two knees
    _write_scan(anat, lambda n: "sub-08_acq-fast_echo-%d_MESE" % n)
    _write_scan(anat, lambda n: "sub-08_acq-hires_echo-%d_MESE" % n)

    assert main(["manifest", str(root), "-o", str(tmp_path / "manifest.csv")]) == 0
    out = capsys.readouterr().out
    assert "sub-07 ses-2 (right knee) has 2 runs; the last (sub-07_ses-2_acq-R_run-2_echo-1" in out
    assert "sub-08 ses-1 has 2 scans (acq- labels fast, hires); the last (sub-08_acq-hires_echo-1" in out
    jobs = read_manifest(tmp_path / "manifest.csv")
    assert [(job.subject, job.visit, job.side) for job in jobs] == [
        ("07", "1", "left"), ("07", "1", "right"), ("07", "2", "left"), ("07", "2", "right"), ("08", "1", None)]
    assert len({job.scan_id for job in jobs}) == 5
    pairs = change_pairs(jobs)
    assert sorted((pair.side, pair.baseline.visit, pair.followup.visit) for pair in pairs) == [
        ("left", "1", "2"), ("right", "1", "2")]
    assert "run-2" in jobs[3].input_path


def test_side_words_of_acquisition_labels():
    from KneeCartilageT2Lib.bids_manifest import side_of_acquisition

    assert [side_of_acquisition(label) for label in ("L", "rt", "Left", "kneeRight", "T2left", "")] == [
        "left", "right", "left", "right", "left", ""]
    assert side_of_acquisition("leftright") == "" and side_of_acquisition("fast") == ""
    # letters inside another word are no side: weight-bearing and fat-suppression labels
    assert [side_of_acquisition(label) for label in ("upright", "Upright", "bright", "kneeRightMESE", "RightKnee")] \
        == ["", "", "", "right", "right"]


def test_a_subject_mixing_sided_and_unsided_scans_is_named(tmp_path, capsys):
    root = tmp_path / "bids"
    _write_scan(root / "sub-03" / "ses-1" / "anat", lambda n: "sub-03_ses-1_acq-left_echo-%d_MESE" % n)
    _write_scan(root / "sub-03" / "ses-2" / "anat", lambda n: "sub-03_ses-2_echo-%d_MESE" % n)
    assert main(["manifest", str(root), "-o", str(tmp_path / "m.csv")]) == 0
    assert "sub-03 has scans whose acq- label names the knee and scans whose label does not " \
           "(sub-03_ses-2_echo-1_MESE.nii.gz)" in capsys.readouterr().out


def test_a_datalad_dataset_of_links_keeps_the_bids_names(tmp_path, capsys):
    """DataLad/OpenNeuro files are links into .git/annex: the manifest names the link, whose BIDS name the
    loader needs, not the annex object it points to."""
    annex = tmp_path / "store"
    _write_scan(annex, lambda n: "object-%d" % n)
    anat = tmp_path / "bids" / "sub-01" / "anat"
    anat.mkdir(parents=True)
    for echo in (1, 2, 3):
        for suffix in (".nii.gz", ".json"):
            (anat / ("sub-01_echo-%d_MESE%s" % (echo, suffix))).symlink_to(annex / ("object-%d%s" % (echo, suffix)))
    assert main(["manifest", str(tmp_path / "bids"), "-o", str(tmp_path / "m.csv")]) == 0
    job = read_manifest(tmp_path / "m.csv")[0]
    assert job.input_path.endswith("sub-01_echo-1_MESE.nii.gz")
    np.testing.assert_allclose(load_exam(job.input_path).echo_times_ms, [10.0, 20.0, 30.0])


def test_a_run_label_that_is_no_number_is_named(tmp_path, capsys):
    _write_scan(tmp_path / "bids" / "sub-01" / "anat", lambda n: "sub-01_run-a_echo-%d_MESE" % n)
    assert main(["manifest", str(tmp_path / "bids"), "-o", str(tmp_path / "m.csv")]) == 2
    assert "run label 'a', which is no number" in capsys.readouterr().err
