"""Protocol checks and ``knee-t2 inspect``: the slice plane from the geometry, advisory notes for
acquisitions far from the OAI/GE protocols, the segmentation's warning on non-sagittal slices, and
a cohort screen that never prints patient identifiers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from KneeCartilageT2Lib.acquisition_checks import plane_note, protocol_notes, slice_plane
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.geometry import make_ijk_to_ras


def _rotation(axis: str, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return {"x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]), "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


# Columns: directions of i (columns), j (rows), k (slices) in RAS.
SAGITTAL = np.column_stack([(0.0, -1.0, 0.0), (0.0, 0.0, -1.0), (1.0, 0.0, 0.0)])
CORONAL = np.column_stack([(1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, -1.0, 0.0)])
AXIAL = np.eye(3)


def _exam(directions=SAGITTAL, times=(10, 20, 30, 40, 50, 60, 70), spacing=(0.3125, 0.446, 3.5)):
    echoes = np.ones((len(times), 3, 6, 5), dtype=np.float32)
    return MeseExam(echoes, list(times), make_ijk_to_ras(spacing, directions, (10.0, -3.0, 7.0)), "right")


@pytest.mark.parametrize("directions, plane", [(SAGITTAL, "sagittal"), (CORONAL, "coronal"), (AXIAL, "axial")])
def test_slice_plane_follows_the_slice_normal_and_its_tilt(directions, plane):
    assert slice_plane(make_ijk_to_ras((0.5, 0.5, 3.0), directions)) == (plane, pytest.approx(0.0, abs=1e-6))
    tilted = _rotation("z", 20.0) @ directions if plane != "axial" else _rotation("x", 20.0) @ directions
    name, angle = slice_plane(make_ijk_to_ras((0.5, 0.5, 3.0), tilted))
    assert name == plane and angle == pytest.approx(20.0, abs=1e-6)
    assert slice_plane(make_ijk_to_ras((0.5, 0.5, 3.0), _rotation("z", 60.0) @ SAGITTAL))[0] == "coronal"


def test_oai_and_ge_like_series_get_no_note():
    assert protocol_notes(_exam()) == []
    ge_times = [6.312 * n for n in range(1, 9)]
    assert protocol_notes(_exam(_rotation("z", 8.0) @ SAGITTAL, ge_times, (0.625, 0.625, 4.0))) == []


def test_each_departure_from_the_protocols_is_named():
    notes = protocol_notes(_exam(CORONAL, (8, 16, 24, 32), (0.9, 0.9, 6.0)))
    assert len(notes) == 4  # plane, last echo, pixel size, slice step (4 echoes leave 3 to fit: enough)
    assert notes[0].startswith("The slices are coronal (slice normal 0 deg from anterior-posterior)")
    joined = " ".join(notes)
    assert "last echo is at 32 ms" in joined and "0.9 x 0.9 mm" in joined and "6 mm apart" in joined
    assert "Only 2 echo(es) remain" in " ".join(protocol_notes(_exam(times=(10, 40, 70))))
    assert plane_note(make_ijk_to_ras((1, 1, 1), AXIAL))[0].startswith("The slices are axial")


def test_segmentation_on_axial_slices_says_the_network_expects_sagittal():
    pytest.importorskip("torch")
    from KneeCartilageT2Lib.inference import segment_exam

    class Threshold:
        name, version = "threshold", "1"
        spec = {"preprocessing": {"mode": "resize", "size": [32, 32]}, "refinement": {}}

        def to(self, device):
            return self

        def __call__(self, batch):
            return (batch > 0).float() * 0.9

    rng = np.random.default_rng(1)
    echoes = 10.0 + rng.random((3, 4, 32, 32)).astype(np.float32)
    echoes[1, :, 8:24, 8:24] += 100.0
    for directions, warned in ((AXIAL, True), (SAGITTAL, False)):
        exam = MeseExam(echoes, [10.0, 21.0, 32.0], make_ijk_to_ras((0.5, 0.5, 3.0), directions), "right")
        messages = segment_exam(exam, Threshold(), device="cpu").messages
        assert any(text.startswith("The slices are axial") for text in messages) is warned


def test_inspect_screens_a_cohort_without_printing_identifiers(tmp_path, capsys):
    from KneeCartilageT2Lib.cli import main
    from KneeCartilageT2Lib.dicom_writer import write_dicom_series
    from KneeCartilageT2Lib.echo_stack_io import write_echo_stack

    write_dicom_series(_exam(), tmp_path / "oai_like", patient_name="DOE^JANE", patient_id="ID-4711",
                       manufacturer="Siemens", series_description="MESE T2")
    coronal = write_echo_stack(_exam(CORONAL, (8, 16, 24, 32)), tmp_path / "coronal.nrrd")
    report = tmp_path / "screen.json"
    status = main(["inspect", str(tmp_path / "oai_like"), str(coronal), str(tmp_path / "missing"),
                   "--json", str(report)])
    captured = capsys.readouterr()
    assert status == 2 and "1 of 3 input(s) could not be loaded" in captured.err
    assert "7 echoes, TE 10, 20, 30, 40, 50, 60, 70 ms" in captured.out
    assert '3 sagittal slices (0 deg oblique) of 6 x 5, pixel 0.446 x 0.3125 mm, slice step 3.5 mm' in captured.out
    assert "note: The slices are coronal" in captured.out and "missing: error: " in captured.out
    data = json.loads(report.read_text())
    assert data["failed"] == 1 and [record.get("slice_plane") for record in data["exams"]] == ["sagittal", "coronal",
                                                                                                None]
    assert data["exams"][0]["Manufacturer"] == "Siemens" and data["exams"][0]["notes"] == []
    assert data["exams"][0]["laterality"] == "right" and data["exams"][0]["scanner_frame"] is True
    for text in (captured.out, report.read_text()):
        assert "DOE" not in text and "ID-4711" not in text
    assert main(["inspect", str(tmp_path / "oai_like")]) == 0


def test_inspect_screens_a_batch_manifest_into_a_table(tmp_path, capsys):
    """--manifest uses the batch's own columns (input, echo_times); --csv gives one sortable row per scan."""
    import csv

    from KneeCartilageT2Lib.cli import main
    from KneeCartilageT2Lib.echo_stack_io import sidecar_path, write_echo_stack

    write_echo_stack(_exam(), tmp_path / "a.nrrd")
    sidecar_path(write_echo_stack(_exam(AXIAL, (10, 20, 30, 40, 50, 60)), tmp_path / "b.nrrd")).unlink()  # no TEs
    (tmp_path / "m.csv").write_text("subject,visit,input,echo_times\nP1,bl,a.nrrd,\nP2,bl,b.nrrd,10;20;30;40;50;60\n"
                                    "P3,bl,gone.nrrd,\n")
    status = main(["inspect", "--manifest", str(tmp_path / "m.csv"), "--csv", str(tmp_path / "screen.csv")])
    captured = capsys.readouterr()
    assert status == 2 and "P3_bl: error:" in captured.out and "1 of 3 input(s)" in captured.err
    with open(tmp_path / "screen.csv", newline="") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    assert rows["P1_bl"]["status"] == "ok" and rows["P1_bl"]["n_echoes"] == "7" and rows["P1_bl"]["n_notes"] == "0"
    assert rows["P2_bl"]["slice_plane"] == "axial" and float(rows["P2_bl"]["last_te_ms"]) == 60.0
    assert rows["P2_bl"]["notes"].startswith("The slices are axial")
    assert rows["P3_bl"]["status"] == "error" and "gone.nrrd" in rows["P3_bl"]["error"]
    assert main(["inspect"]) == 2 and "Nothing to inspect" in capsys.readouterr().err


def test_sagittal_slices_tilted_past_the_medial_lateral_limit_are_named():
    def notes(degrees):
        return [note for note in protocol_notes(_exam(_rotation("z", degrees) @ SAGITTAL)) if "tilted" in note]

    assert notes(20.0) == [] and notes(29.0) == []  # the slice axis is medial-lateral
    assert len(notes(35.0)) == 1 and "tilted 35 deg from true sagittal" in notes(35.0)[0]  # the patient's axis is
