"""Cartilage voxels without a valid T2, split by reason: no signal or failed fit versus T2 out of range."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from KneeCartilageT2Lib import t2_status
from KneeCartilageT2Lib.cartilage_shell import ShellSpec, build_shell
from KneeCartilageT2Lib.region_stats import ROW_KEYS
from KneeCartilageT2Lib.regions import analyse_regions, write_region_outputs


@pytest.fixture(scope="module")
def shell():
    return build_shell(ShellSpec(spacing_mm=(0.5, 0.5, 2.0)), "left", oblique_deg=5.0)


def _with_reasons(shell):
    """T2 removed from two quarters of the cartilage: one marked failed/no signal, the other above the range."""
    mask, t2, _ = shell
    cartilage = np.argwhere(mask.array > 0)
    status = np.where(mask.array > 0, t2_status.VALID, t2_status.NOT_FITTED).astype(np.uint8)
    quarter = len(cartilage) // 4
    failed, fluid = cartilage[:quarter], cartilage[quarter:2 * quarter]
    status[tuple(failed[::2].T)] = t2_status.NO_SIGNAL
    status[tuple(failed[1::2].T)] = t2_status.FIT_FAILED
    status[tuple(fluid.T)] = t2_status.ABOVE_RANGE
    values = np.where(status == t2_status.VALID, t2.array, 0.0).astype(np.float32)
    return mask, t2.with_array(values), status, len(failed), len(fluid)


def test_rows_and_note_split_the_voxels_without_valid_t2_by_reason(shell):
    mask, t2, status, n_failed, n_fluid = _with_reasons(shell)
    analysis = analyse_regions(mask, t2, "left", t2_status=status)
    whole = analysis.row("all")
    assert (whole["n_t2_no_fit"], whole["n_t2_out_of_range"]) == (n_failed, n_fluid)
    assert whole["n_voxels"] - whole["n_t2_voxels"] == n_failed + n_fluid
    for row in analysis.rows:
        assert row["n_t2_voxels"] + row["n_t2_no_fit"] + row["n_t2_out_of_range"] == row["n_voxels"]
    note = next(text for text in analysis.warnings if "no valid T2" in text)
    assert "%d without signal above the noise, %d fits failed" % ((n_failed + 1) // 2, n_failed // 2) in note
    assert "0 with T2 below and %d above the valid range" % n_fluid in note
    assert "fluid" in note


def test_without_a_status_the_counts_are_empty_and_the_note_is_the_old_one(shell, tmp_path):
    mask, t2, _, n_failed, n_fluid = _with_reasons(shell)
    analysis = analyse_regions(mask, t2, "left")
    assert analysis.row("all")["n_t2_no_fit"] is None and analysis.row("all")["n_t2_out_of_range"] is None
    note = next(text for text in analysis.warnings if "no valid T2" in text)
    assert "the fit failed or T2 fell outside the valid range" in note and "fluid" not in note
    write_region_outputs(analysis, tmp_path, figure=False)
    with open(tmp_path / "regions.csv") as handle:
        reader = csv.DictReader(handle)
        first = next(reader)
    assert list(reader.fieldnames[:len(ROW_KEYS) - 2]) == list(ROW_KEYS[:-2])  # old columns keep their places
    assert first["n_t2_no_fit"] == "" and int(first["n_t2_voxels"]) == analysis.row("all")["n_t2_voxels"]


def test_a_status_map_of_another_shape_is_refused(shell):
    from KneeCartilageT2Lib.errors import InputError

    mask, t2, _ = shell
    with pytest.raises(InputError, match="status"):
        analyse_regions(mask, t2, "left", t2_status=np.zeros((2, 2, 2), np.uint8))


def test_voxels_outside_a_masked_fit_count_as_without_a_fit_and_the_note_says_so(shell):
    # The status of a fit given a mask (a change with given segmentations fits a dilated label) holds
    # NOT_FITTED outside it: label voxels there have no T2 for that reason, and the split must still add up.
    mask, t2, status, n_failed, n_fluid = _with_reasons(shell)
    cartilage = np.argwhere(status == t2_status.VALID)
    outside = cartilage[: len(cartilage) // 10]
    status[tuple(outside.T)] = t2_status.NOT_FITTED
    values = np.where(status == t2_status.VALID, t2.array, 0.0).astype(np.float32)
    analysis = analyse_regions(mask, t2.with_array(values), "left", t2_status=status)
    for row in analysis.rows:
        assert row["n_t2_voxels"] + row["n_t2_no_fit"] + row["n_t2_out_of_range"] == row["n_voxels"]
    whole = analysis.row("all")
    assert (whole["n_t2_no_fit"], whole["n_t2_out_of_range"]) == (n_failed + len(outside), n_fluid)
    note = next(text for text in analysis.warnings if "no valid T2" in text)
    assert "%d outside the voxels the T2 fit was given" % len(outside) in note
