"""report.html: the one self-contained page of an analysis, with its figures, notes and pictures, and no patient
identifiers."""

from __future__ import annotations

import base64
import html
import json
import re

import numpy as np
import pytest

from KneeCartilageT2Lib import cli, pipeline, region_figure
from KneeCartilageT2Lib.analysis_report import REPORT_NAME, write_report
from KneeCartilageT2Lib.csv_tables import read_csv
from KneeCartilageT2Lib.dicom_loader import load_dicom_exam
from KneeCartilageT2Lib.dicom_writer import write_dicom_series
from KneeCartilageT2Lib.phantom_defaults import shell_exam

PATIENT_NAME, PATIENT_ID = "DOE^JANE", "MRN-0042-SECRET"


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """An analysis of a DICOM series with a patient name and ID, measured on the true label (no network)."""
    exam, label, _ = shell_exam(seed=2, snr=60.0)
    root = tmp_path_factory.mktemp("report")
    write_dicom_series(exam, root / "knee_series", patient_name=PATIENT_NAME, patient_id=PATIENT_ID)
    loaded = load_dicom_exam(root / "knee_series")
    result = pipeline.measure(loaded, label, options=pipeline.AnalysisOptions(laterality="left"))
    result.messages.append("Slice 3 looks odd: check it.")
    with pytest.MonkeyPatch.context() as patch:  # the full-page figure is drawn in the regions tests
        patch.setattr(region_figure, "save_region_figure", _tiny_png)
        out = pipeline.write_analysis(result, root / "analysis")
    return out, result


def _tiny_png(analysis, path, dpi=130):
    path.write_bytes(base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="))
    return path


def test_every_analysis_writes_a_report_with_its_figures_notes_and_pictures(analysed):
    out, result = analysed
    page = (out / REPORT_NAME).read_text(encoding="utf-8")
    whole = {row["region"]: row for row in read_csv(out / "regions" / "regions.csv")}["all"]
    assert "<td>%.1f</td>" % float(whole["t2_mean_ms"]) in page and ">%s<" % whole["n_voxels"] in page
    for name in ("DLA", "SMP", "DMC"):
        assert '">%s</td>' % name in page
    assert '<li class="check">Slice 3 looks odd: check it.</li>' in page
    assert "left knee (given by the user)" in page and "corrected by a reader" in page
    assert "8, TE 6.3, 12.6" in page and "sagittal slices" in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 2  # preview and region figure; no check slice
    assert 'src="scans/' not in page and "preview.png\"" not in page  # nothing outside the page itself


def test_the_report_and_the_provenance_carry_no_patient_identifiers(analysed):
    out, _ = analysed
    for name in (REPORT_NAME, "provenance.json"):
        text = (out / name).read_text(encoding="utf-8")
        assert PATIENT_NAME not in text and PATIENT_ID not in text, name
    assert "knee_series" in (out / REPORT_NAME).read_text(encoding="utf-8")  # the input's last path part only
    facts = json.loads((out / "provenance.json").read_text())["exam"]
    assert facts["shape_slice_row_col"] and facts["slice_plane"] == "sagittal" and "source" not in facts


def test_the_report_command_rebuilds_one_analysis_or_every_finished_scan_of_a_batch(analysed, tmp_path, capsys):
    out, _ = analysed
    assert cli.main(["report", str(out), "-o", str(tmp_path / "copy.html")]) == 0
    assert (tmp_path / "copy.html").read_text() == (out / REPORT_NAME).read_text()
    batch = tmp_path / "batch"
    import shutil

    shutil.copytree(str(out), str(batch / "scans" / "s1"))
    (batch / "scans" / "s1" / REPORT_NAME).unlink()
    (batch / "scans" / "s2").mkdir()  # unfinished: no DONE.json
    assert cli.main(["report", str(batch)]) == 0
    assert (batch / "scans" / "s1" / REPORT_NAME).is_file() and not (batch / "scans" / "s2" / REPORT_NAME).exists()
    assert "the reports of 1 finished scan(s) and 0 change(s)" in capsys.readouterr().out
    (tmp_path / "empty_dir_that_is_no_analysis").mkdir()
    assert cli.main(["report", str(tmp_path / "empty_dir_that_is_no_analysis")]) == 2
    assert "holds no analysis (no provenance.json)" in capsys.readouterr().err


def test_a_run_without_figures_leaves_no_stale_report(analysed, tmp_path):
    out, result = analysed
    import shutil

    copy = tmp_path / "again"
    shutil.copytree(str(out), str(copy))
    pipeline.write_analysis(result, copy, preview=False, figures=False)
    assert not (copy / REPORT_NAME).exists()
    write_report(copy)  # still possible afterwards, from the folder's files
    assert "No regional read-out" not in (copy / REPORT_NAME).read_text()


def test_a_folder_of_the_users_own_files_is_never_written_over(analysed, tmp_path, capsys):
    from KneeCartilageT2Lib.errors import InputError

    _, result = analysed
    own = tmp_path / "Desktop"
    (own / "regions").mkdir(parents=True)
    (own / "regions" / "notes.txt").write_text("mine")
    (own / "report.html").write_text("my own page")
    with pytest.raises(InputError, match=r"regions/, report.html and is no knee-t2 result folder"):
        pipeline.write_analysis(result, own)
    assert (own / "regions" / "notes.txt").read_text() == "mine" and (own / "report.html").read_text() == "my own page"
    assert sorted(path.name for path in own.iterdir()) == ["regions", "report.html"]
    assert cli.main(["demo", "-o", str(own), "--no-fetch"]) == 2  # refused before any computation
    assert "is no knee-t2 result folder" in capsys.readouterr().err

    beside = tmp_path / "mixed"
    beside.mkdir()
    (beside / "holiday.jpg").write_bytes(b"\xff\xd8")
    pipeline.write_analysis(result, beside, preview=False, figures=False)  # no clash: written beside them
    assert (beside / "holiday.jpg").is_file() and (beside / "label.nrrd").is_file()
    (beside / "DONE.json").unlink()  # a write that was interrupted: provenance.json, written first, marks it
    (beside / "t2.nrrd").unlink()
    pipeline.write_analysis(result, beside, preview=False, figures=False)
    assert (beside / "DONE.json").is_file() and (beside / "t2.nrrd").is_file()


def test_voxels_without_a_valid_t2_are_counted_and_told_in_the_table_and_the_notes(tmp_path):
    """A reader's corrected label keeps voxels whose T2 fit failed or fell outside the valid range: they count
    for the voxels and the volume but not for T2. The table showed only the voxel count beside the T2 mean,
    and nothing said that some voxels were left out of T2."""
    from KneeCartilageT2Lib.t2_fitting import fit_exam

    exam, label, _ = shell_exam(seed=3, snr=60.0)
    t2 = fit_exam(exam)
    inside = np.flatnonzero(label)
    t2.valid.flat[inside[::50]] = False  # as a failed fit or a T2 above 100 ms leaves them
    result = pipeline.measure(exam, label, t2=t2, options=pipeline.AnalysisOptions(laterality="right"))
    whole = result.regions.row("all")
    left_out = whole["n_voxels"] - whole["n_t2_voxels"]
    assert left_out == np.count_nonzero(~t2.valid.flat[inside]) >= inside[::50].size
    note = "%d of the plate's %d cartilage voxels have no valid T2" % (left_out, whole["n_voxels"])
    assert any(note in message for message in result.messages)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(region_figure, "save_region_figure", _tiny_png)
        out = pipeline.write_analysis(result, tmp_path / "analysis")
    page = html.unescape((out / REPORT_NAME).read_text(encoding="utf-8"))
    assert "<th>T2 voxels</th>" in page
    assert "<td>%d</td><td>%.0f</td><td>%d</td><td>%.1f</td>" % (
        whole["n_voxels"], whole["volume_mm3"], whole["n_t2_voxels"], whole["t2_mean_ms"]) in page
    assert note in page
