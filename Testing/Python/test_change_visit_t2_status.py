"""A change analysis with given segmentations fits T2 itself: the fit's per-voxel status must reach the
visits' region tables (``n_t2_no_fit``, ``n_t2_out_of_range``), as in a single analysis."""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib.cartilage_shell import ShellSpec, build_shell
from KneeCartilageT2Lib.csv_tables import read_csv
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.longitudinal_io import analyse_visit_exam

ECHO_TIMES = 6.312 * np.arange(1, 9)  # ms
SIGMA = 5.0  # noise SD per channel (intensity units)


@pytest.fixture(scope="module")
def visit_exam():
    """(exam, label Volume, n voxels without signal, n voxels of fluid): a shell of 40 ms cartilage (signal 1000)
    in air (Rician noise), one patch of its voxels holding noise only and another fluid (T2 400 ms)."""
    mask, _, _ = build_shell(ShellSpec(spacing_mm=(0.7, 0.7, 2.0), lateral_range_mm=(-30.0, 30.0),
                                       notch_range_mm=(-5.0, 5.0)), "right")
    cartilage = np.argwhere(mask.array > 0)
    t2 = np.where(mask.array > 0, 40.0, 1.0)
    amplitude = np.where(mask.array > 0, 1000.0, 0.0)
    quiet, fluid = cartilage[:150], cartilage[150:300]
    amplitude[tuple(quiet.T)] = 0.0
    t2[tuple(fluid.T)] = 400.0
    clean = amplitude[None] * np.exp(-ECHO_TIMES[:, None, None, None] / t2[None])
    rng = np.random.default_rng(3)
    echoes = np.hypot(clean + rng.normal(0.0, SIGMA, clean.shape), rng.normal(0.0, SIGMA, clean.shape))
    exam = MeseExam(echoes.astype(np.float32), ECHO_TIMES, mask.ijk_to_ras, "right")
    return exam, mask, len(quiet), len(fluid)


def test_visit_regions_of_a_change_with_a_given_segmentation_count_the_voxels_without_t2_by_reason(
        visit_exam, tmp_path):
    exam, label, n_quiet, n_fluid = visit_exam
    visit = analyse_visit_exam(exam, label, out_dir=tmp_path / "visit")
    whole = visit.regions.row("all")
    assert whole["n_t2_no_fit"] == n_quiet  # noise only: no signal
    assert whole["n_t2_out_of_range"] == n_fluid  # T2 400 ms: above the range
    assert whole["n_t2_voxels"] + n_quiet + n_fluid == whole["n_voxels"]
    rows = {row["region"]: row for row in read_csv(tmp_path / "visit" / "regions" / "regions.csv")}
    assert int(rows["all"]["n_t2_no_fit"]) == n_quiet and int(rows["all"]["n_t2_out_of_range"]) == n_fluid
    for row in rows.values():
        assert int(row["n_t2_voxels"]) + int(row["n_t2_no_fit"]) + int(row["n_t2_out_of_range"]) \
            == int(row["n_voxels"])


def test_follow_up_regions_measured_again_in_the_baseline_frame_keep_the_reasons(visit_exam):
    import dataclasses

    from KneeCartilageT2Lib.longitudinal import compute_change

    exam, label, n_quiet, n_fluid = visit_exam
    baseline = analyse_visit_exam(exam, label)
    followup = dataclasses.replace(baseline, regions=None, source="follow-up")  # measured again in the change
    change = compute_change(baseline, followup)
    whole = change.followup_regions.row("all")
    assert (whole["n_t2_no_fit"], whole["n_t2_out_of_range"]) == (n_quiet, n_fluid)
    assert any(text.startswith("Follow-up: ") and "%d without signal above the noise" % n_quiet in text
               for text in change.warnings)
