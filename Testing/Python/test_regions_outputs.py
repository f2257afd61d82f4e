"""Files written by the regional read-out and the ``knee-t2 regions`` command."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from KneeCartilageT2Lib.cartilage_shell import ShellSpec, build_shell
from KneeCartilageT2Lib.cli import main
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.region_definitions import REGION_ORDER
from KneeCartilageT2Lib.regions import analyse_regions, write_region_outputs
from KneeCartilageT2Lib.volume_io import read_volume, write_volume

SPEC = ShellSpec(spacing_mm=(0.5, 0.5, 2.0))
ECHO_TIMES_MS = (10.0, 20.0, 30.0, 40.0, 50.0)


@pytest.fixture(scope="module")
def shell():
    return build_shell(SPEC, "left", oblique_deg=5.0)


@pytest.fixture(scope="module")
def written(shell, tmp_path_factory):
    mask, t2, _ = shell
    analysis = analyse_regions(mask, t2, "left", laterality_source="dicom")
    out = tmp_path_factory.mktemp("regions")
    paths = write_region_outputs(analysis, out, metadata={"case": "shell"})
    return analysis, out, paths


def test_csv_has_27_rows_in_order_with_units_in_the_header(written):
    analysis, out, _ = written
    with open(out / "regions.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["region"] for row in rows] == list(REGION_ORDER)
    assert {"t2_mean_ms", "volume_mm3", "thickness_mean_mm", "thickness_max_mm", "t2_sd_ms"} <= set(rows[0])
    assert float(rows[0]["t2_mean_ms"]) == pytest.approx(analysis.rows[0]["t2_mean_ms"], abs=1e-4)
    assert rows[REGION_ORDER.index("DLA")]["description"] == "deep lateral anterior"


def test_json_holds_rows_side_directions_and_tables(written):
    analysis, out, _ = written
    document = json.loads((out / "regions.json").read_text())
    assert document["laterality"] == "left" and document["laterality_source"] == "dicom"
    assert document["orientation"]["medial_ras"][0] > 0.99
    assert [row["region"] for row in document["regions"]] == list(REGION_ORDER)
    assert document["regions"][0]["n_voxels"] == analysis.rows[0]["n_voxels"]
    assert [entry["name"] for entry in document["subregion_table"]][:3] == ["DLA", "DLC", "DLP"]
    assert document["metadata"] == {"case": "shell"}
    assert document["files"]["subregions"] == "subregions.nrrd"


def test_label_map_is_written_in_the_input_geometry(written, shell):
    analysis, out, _ = written
    labels = read_volume(out / "subregions.nrrd")
    assert labels.same_geometry(shell[0])
    np.testing.assert_array_equal(labels.array, analysis.subregion_labels.array)
    assert set(np.unique(labels.array)) == set(range(13))


def test_projection_maps_are_one_slice_volumes_with_mm_spacing(written):
    analysis, out, _ = written
    volume = read_volume(out / "projection_t2_ms.nrrd")
    projection = analysis.projections["t2"]
    assert volume.array.shape == (1,) + projection.array.shape
    np.testing.assert_allclose(volume.spacing_ijk[:2], [np.diff(projection.col_positions_mm)[0], 2.0], rtol=1e-5)
    np.testing.assert_allclose(volume.ijk_to_ras[:2, 3], [projection.col_positions_mm[0], projection.row_positions_mm[0]],
                               atol=1e-4)
    np.testing.assert_array_equal(np.isnan(volume.array[0]), np.isnan(projection.array))
    regions = read_volume(out / "projection_regions.nrrd")
    assert regions.array.dtype == np.uint8 and regions.array.max() == 6


def test_figure_is_a_png(written):
    _, out, paths = written
    assert paths["figure"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["figure"].stat().st_size > 20000


def test_figure_table_lists_the_numbers_of_the_rows(written):
    from KneeCartilageT2Lib.region_figure import TABLE_ROWS, table_text

    analysis = written[0]
    lines = [line.split() for line in table_text(analysis).splitlines() if line.strip()]
    by_region = {words[0]: words for words in lines if words[0] in TABLE_ROWS}
    assert list(by_region) == list(TABLE_ROWS)
    row = analysis.row("DLA")
    assert by_region["DLA"][1:4] == ["%d" % row["n_voxels"], "%.0f" % row["volume_mm3"], "%.1f" % row["t2_mean_ms"]]


@pytest.fixture(scope="module")
def half_without_t2(shell):
    """The read-out of a label whose medial half has no valid T2 (a reader's label kept voxels the fit lost)."""
    mask, t2, _ = shell
    values = t2.array.copy()
    values[: values.shape[0] // 2] = 0.0
    return analyse_regions(mask, t2.with_array(values), "left")


def _columns(lines, title):
    """The words of the header line that starts with ``title`` and the words of each region's line."""
    header = next(line.split() for line in lines if line.split()[:1] == [title])
    rows = {line.split()[0]: line.split() for line in lines if line.strip() and line.split()[0] in REGION_ORDER}
    return header, rows


def test_figure_table_adds_a_t2_voxel_column_only_when_some_voxels_have_no_valid_t2(written, half_without_t2):
    from KneeCartilageT2Lib.region_figure import table_text

    ordinary = table_text(written[0]).splitlines()
    assert ordinary[0].split() == ["Region", "Voxels", "Volume", "T2", "T2", "Thick", "Thick"]
    lines = table_text(half_without_t2).splitlines()
    assert lines[0].split() == ["Region", "Voxels", "T2", "Volume", "T2", "T2", "Thick", "Thick"]
    assert lines[1].split()[0] == "voxels"
    _, rows = _columns(lines, "Region")
    for name in ("all", "M", "DMA", "SLA"):
        row = half_without_t2.row(name)
        assert rows[name][1:4] == ["%d" % row["n_voxels"], "%d" % row["n_t2_voxels"], "%.0f" % row["volume_mm3"]]
    assert half_without_t2.row("M")["n_t2_voxels"] == 0 < half_without_t2.row("M")["n_voxels"]


def test_printed_region_tables_add_a_t2_voxel_column_only_when_some_voxels_have_no_valid_t2(
        written, half_without_t2, capsys):
    from KneeCartilageT2Lib.commands._analysis_summary import print_region_table
    from KneeCartilageT2Lib.commands.regions import print_summary

    for show in (print_summary, lambda analysis: print_region_table(analysis.rows)):
        show(written[0])
        header, _ = _columns(capsys.readouterr().out.splitlines(), "region")
        assert "T2 voxels" not in " ".join(header)
        show(half_without_t2)
        header, rows = _columns(capsys.readouterr().out.splitlines(), "region")
        column = header.index("voxels") + 1
        assert header[column:column + 2] == ["T2", "voxels"]  # right after the mask's voxel count
        for name in ("all", "M", "SLA"):
            row = half_without_t2.row(name)
            words = rows[name]
            counts = ["%d" % row["n_voxels"], "%d" % row["n_t2_voxels"]]
            assert any(words[k:k + 2] == counts for k in range(len(words) - 1)), words


def test_missing_numbers_are_null_in_json_and_empty_in_csv(shell, tmp_path):
    mask, t2, _ = shell
    analysis = analyse_regions(mask, t2.with_array(np.zeros_like(t2.array)), "left")
    write_region_outputs(analysis, tmp_path, figure=False)
    document = json.loads((tmp_path / "regions.json").read_text())
    assert document["regions"][0]["t2_mean_ms"] is None
    with open(tmp_path / "regions.csv") as handle:
        first = next(csv.DictReader(handle))
    assert first["t2_mean_ms"] == "" and float(first["volume_mm3"]) == pytest.approx(analysis.rows[0]["volume_mm3"])
    assert not (tmp_path / "regions.png").exists()
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith(".")]  # no temporary left


def _write_exam(shell, folder, laterality="unknown"):
    """An echo stack whose cartilage decays with the shell's T2, next to the mask and T2 map."""
    from KneeCartilageT2Lib.echo_stack_io import write_echo_stack

    mask, t2, _ = shell
    safe_t2 = np.where(t2.array > 0, t2.array, 1.0)
    echoes = np.stack([1000.0 * np.exp(-te / safe_t2) * mask.array + 5.0 for te in ECHO_TIMES_MS]).astype(np.float32)
    write_echo_stack(MeseExam(echoes, ECHO_TIMES_MS, mask.ijk_to_ras, laterality), folder / "echoes.nrrd")
    write_volume(mask, folder / "seg.nrrd")
    write_volume(t2, folder / "t2.nrrd")


def test_command_line_writes_the_outputs_and_reports_the_side_source(shell, tmp_path, capsys):
    _write_exam(shell, tmp_path, laterality="left")
    status = main(["regions", str(tmp_path / "echoes.nrrd"), "--segmentation", str(tmp_path / "seg.nrrd"),
                   "--t2", str(tmp_path / "t2.nrrd"), "-o", str(tmp_path / "out"), "--mode", "reference",
                   "--no-figure"])
    assert status == 0
    document = json.loads((tmp_path / "out" / "regions.json").read_text())
    # the echo stack's side is its sidecar's Laterality field, credited to it rather than to a DICOM tag
    assert document["mode"] == "reference" and document["laterality_source"] == "sidecar"
    printed = capsys.readouterr().out  # worded as the reports word it, not the raw code "sidecar"
    assert "Left knee (side from the Laterality field of the echo stack's JSON sidecar)" in printed
    status = main(["regions", str(tmp_path / "echoes.nrrd"), "--segmentation", str(tmp_path / "seg.nrrd"),
                   "--t2", str(tmp_path / "t2.nrrd"), "-o", str(tmp_path / "out2"), "--laterality", "left",
                   "--no-figure"])
    assert status == 0
    assert json.loads((tmp_path / "out2" / "regions.json").read_text())["laterality_source"] == "user"
    assert "Left knee (side given by the user)" in capsys.readouterr().out


def test_command_line_refuses_a_segmentation_from_another_exam(shell, tmp_path, capsys):
    _write_exam(shell, tmp_path)
    mask = shell[0]
    moved = mask.ijk_to_ras.copy()
    moved[:3, 3] += 5.0
    write_volume(type(mask)(mask.array, moved), tmp_path / "other_seg.nrrd")
    status = main(["regions", str(tmp_path / "echoes.nrrd"), "--segmentation", str(tmp_path / "other_seg.nrrd"),
                   "--t2", str(tmp_path / "t2.nrrd"), "-o", str(tmp_path / "out")])
    assert status == 2
    error = capsys.readouterr().err
    assert "segmentation" in error and "resample" in error
    assert not (tmp_path / "out").exists()


def test_command_line_never_writes_over_a_table_of_the_readers_own(shell, tmp_path, capsys):
    _write_exam(shell, tmp_path, laterality="left")
    argv = ["regions", str(tmp_path / "echoes.nrrd"), "--segmentation", str(tmp_path / "seg.nrrd"),
            "--t2", str(tmp_path / "t2.nrrd"), "-o", str(tmp_path / "study"), "--no-figure"]
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "regions.csv").write_text("my own table\n")
    assert main(argv) == 2
    assert "regions.csv, not written by knee-t2 regions" in capsys.readouterr().err
    assert (tmp_path / "study" / "regions.csv").read_text() == "my own table\n"
    (tmp_path / "study" / "regions.csv").unlink()
    assert main(argv) == 0 and main(argv) == 0  # an earlier read-out of its own is replaced
