"""agreement and next-case on a batch's scans/ leave out the scans whose analysis did not finish, and name them.

An analysis folder is written provenance.json first and DONE.json last (pipeline.write_analysis); one without
DONE.json was interrupted or is still being written, and may hold one run's label beside another's maps. batch,
report and to-dicom already leave such folders out of a batch; agreement and next-case used them as finished.
"""

from __future__ import annotations

import json

import numpy as np

from KneeCartilageT2Lib import cli
from KneeCartilageT2Lib.csv_tables import read_csv
from KneeCartilageT2Lib.geometry import Volume, make_ijk_to_ras
from KneeCartilageT2Lib.pipeline import DONE_MARKER, TOOL_NAME
from KneeCartilageT2Lib.volume_io import write_volume

GRID = make_ijk_to_ras((0.5, 0.5, 2.0), np.eye(3), (0.0, 0.0, 0.0))


def box(shift: int) -> Volume:
    """A cartilage-like box label (slice, row, col) on a small grid, moved ``shift`` columns."""
    array = np.zeros((6, 20, 20), np.uint8)
    array[1:5, 5:12, 4 + shift:14 + shift] = 1
    return Volume(array, GRID)


def analysis_folder(folder, finished: bool, probability: float = 0.7):
    """A scan folder as the batch writes it: provenance.json first, files, DONE.json last (when ``finished``)."""
    folder.mkdir(parents=True)
    (folder / "provenance.json").write_text(json.dumps({"tool": TOOL_NAME, "laterality": "right"}))
    write_volume(box(0), folder / "label.nrrd")
    write_volume(box(0).with_array(np.where(box(0).array > 0, probability, 0.02).astype(np.float32)),
                 folder / "probabilities.nrrd")
    if finished:
        (folder / DONE_MARKER).write_text("{}")


def batch_output(root):
    """A batch output folder whose scan s1 finished and s2 (the less certain one) did not."""
    (root / "status.csv").parent.mkdir(parents=True)
    (root / "status.csv").write_text("kind,id,status\nscan,s1,done\nscan,s2,running\n")
    analysis_folder(root / "scans" / "s1", True, 0.9)
    analysis_folder(root / "scans" / "s2", False, 0.55)
    return root


def test_next_case_leaves_out_and_names_unfinished_analyses(tmp_path, capsys):
    batch = batch_output(tmp_path / "batch")
    assert cli.main(["next-case", str(batch)]) == 0
    out = capsys.readouterr().out
    assert "Next case to correct: s1" in out
    assert "Left out 1 unfinished analysis folder(s) (no DONE.json: interrupted, or still being written" in out
    assert out.rstrip().endswith(": s2")
    assert cli.main(["next-case", str(batch / "scans"), "--json"]) == 0
    ranking = json.loads(capsys.readouterr().out)
    assert [row["case"] for row in ranking["ranking"]] == ["s1"] and ranking["left_out_unfinished"] == ["s2"]


def test_agreement_leaves_out_and_names_unfinished_scans(tmp_path, capsys):
    batch = batch_output(tmp_path / "batch")
    reader = tmp_path / "reader"
    for scan in ("s1", "s2"):
        write_volume(box(1), reader / ("%s.nrrd" % scan))
    assert cli.main(["agreement", str(batch / "scans"), str(reader), "-o", str(tmp_path / "out"),
                     "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "note: scans: left out 1 unfinished scan folder(s) (no DONE.json: interrupted, or still being written): " \
           "s2." in out
    assert [row["scan_id"] for row in read_csv(tmp_path / "out" / "segmentation_agreement.csv")] == ["s1"]
    summary = json.loads((tmp_path / "out" / "agreement.json").read_text())
    assert any("s2" in note for note in summary["notes"])


def test_agreement_on_a_set_of_unfinished_scans_only_says_so(tmp_path, capsys):
    scans = tmp_path / "scans"
    analysis_folder(scans / "s2", False)
    write_volume(box(1), tmp_path / "reader" / "s2.nrrd")
    assert cli.main(["agreement", str(scans), str(tmp_path / "reader"), "-o", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "No finished scan in" in error and "the analyses of s2 did not finish (no DONE.json" in error


def failed_scan(folder, error: str):
    """Mark a scan folder failed as the batch does (FAILED.json), beside whatever an earlier or partial run left."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "FAILED.json").write_text(json.dumps({"input": "x.nrrd", "error": error, "traceback": "..."}))


def test_next_case_leaves_out_and_names_failed_scans_with_their_error(tmp_path, capsys):
    """A failed scan's probabilities.nrrd was scored (and, most uncertain, proposed): one the analysis finished
    before the batch's bookkeeping failed (DONE.json and FAILED.json), and a map an earlier run left without the
    tool's provenance.json. A failed scan with an analysis that stopped half-way is named failed, not unfinished."""
    batch = batch_output(tmp_path / "batch")
    scans = batch / "scans"
    analysis_folder(scans / "s3", True, 0.5)
    failed_scan(scans / "s3", "OSError: [Errno 28] No space left on device")
    saved = box(0).with_array(np.where(box(0).array > 0, 0.51, 0.02).astype(np.float32))
    write_volume(saved, scans / "s4" / "probabilities.nrrd")
    failed_scan(scans / "s4", "Echo times below 1 ms.")
    analysis_folder(scans / "s5", False, 0.6)
    failed_scan(scans / "s5", "MemoryError: ")
    assert cli.main(["next-case", str(batch)]) == 0
    out = capsys.readouterr().out
    assert "Next case to correct: s1" in out
    assert "Left out 3 failed scan(s) (FAILED.json" in out
    assert "  s3: OSError: [Errno 28] No space left on device" in out and "  s4: Echo times below 1 ms." in out
    assert "  s5: MemoryError:" in out and out.rstrip().endswith(": s2")  # s5 is not called unfinished
    ranked = [line.split()[1] for line in out.splitlines() if line.startswith("   ") and line.split()[0].isdigit()]
    assert ranked == ["s1"]
    assert cli.main(["next-case", str(batch), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["case"] for row in report["ranking"]] == ["s1"] and report["left_out_unfinished"] == ["s2"]
    assert [row["case"] for row in report["left_out_failed"]] == ["s3", "s4", "s5"]
    assert report["left_out_failed"][1]["error"] == "Echo times below 1 ms."


def test_next_case_on_failed_scans_only_exits_1_and_names_them(tmp_path, capsys):
    scans = tmp_path / "scans"
    write_volume(box(0).with_array(box(0).array.astype(np.float32)), scans / "s1" / "probabilities.nrrd")
    (scans / "s1" / "FAILED.json").write_text("{broken")
    assert cli.main(["next-case", str(scans)]) == 1
    out = capsys.readouterr().out
    assert "No case to rank" in out and "Left out 1 failed scan(s)" in out and "s1: its FAILED.json cannot be read" in out


def test_agreement_leaves_out_and_names_failed_scans_with_their_error(tmp_path, capsys):
    """A failed scan's label was compared: one whose analysis finished before the batch's bookkeeping failed
    (DONE.json and FAILED.json), and one with an earlier run's label and no provenance. A failed scan whose
    analysis stopped half-way is named failed, not unfinished."""
    batch = batch_output(tmp_path / "batch")
    scans = batch / "scans"
    analysis_folder(scans / "s3", True)
    failed_scan(scans / "s3", "OSError: [Errno 28] No space left on device")
    write_volume(box(3), scans / "s4" / "label.nrrd")
    failed_scan(scans / "s4", "Echo times below 1 ms.")
    analysis_folder(scans / "s5", False)
    failed_scan(scans / "s5", "MemoryError: ")
    reader = tmp_path / "reader"
    for scan in ("s1", "s2", "s3", "s4", "s5"):
        write_volume(box(1), reader / ("%s.nrrd" % scan))
    assert cli.main(["agreement", str(scans), str(reader), "-o", str(tmp_path / "out"), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert ("note: scans: left out 3 failed scan(s) (FAILED.json: the batch could not analyse them; run the batch "
            "again once the cause is fixed): s3 (OSError: [Errno 28] No space left on device); "
            "s4 (Echo times below 1 ms.); s5 (MemoryError: ).") in out
    assert "unfinished scan folder(s) (no DONE.json: interrupted, or still being written): s2." in out
    assert [row["scan_id"] for row in read_csv(tmp_path / "out" / "segmentation_agreement.csv")] == ["s1"]
    summary = json.loads((tmp_path / "out" / "agreement.json").read_text())
    assert any("s4 (Echo times below 1 ms.)" in note for note in summary["notes"])


def test_agreement_on_a_set_of_failed_scans_only_says_so(tmp_path, capsys):
    scans = tmp_path / "scans"
    analysis_folder(scans / "s1", True)
    failed_scan(scans / "s1", "Echo times below 1 ms.")
    write_volume(box(1), tmp_path / "reader" / "s1.nrrd")
    assert cli.main(["agreement", str(scans), str(tmp_path / "reader"), "-o", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "No finished scan in" in error and "could not analyse s1 (FAILED.json: s1: Echo times below 1 ms.)" in error
