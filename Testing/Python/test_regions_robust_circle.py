"""A stray blob in the segmentation must not drag the condyle circles: on the real GE exam a false
positive by the tibial tuberosity put the whole medial plate in the anterior sector."""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib.circle_robust import OUTLIER_RESIDUAL_MM, robust_circle
from KneeCartilageT2Lib.geometry import Volume
from KneeCartilageT2Lib.phantom_defaults import shell_exam
from KneeCartilageT2Lib.projection import fit_circle
from KneeCartilageT2Lib.regions import analyse_regions


def _arc(rng, centre=(5.0, -20.0), radius=24.0, n=400):
    angle = np.radians(rng.uniform(-60.0, 150.0, n))  # inferior and posterior facets
    spread = radius + rng.normal(0.0, 1.5, n)  # the plate's thickness and a non-circular condyle
    return centre[0] - spread * np.sin(angle), centre[1] - spread * np.cos(angle)


def test_clean_points_keep_the_least_squares_circle_exactly():
    x, y = _arc(np.random.default_rng(1))
    circle, left_out = robust_circle(x, y)
    assert left_out == 0 and circle == fit_circle(x, y)


def test_a_far_blob_is_left_out_and_the_circle_stays_on_the_condyle():
    rng = np.random.default_rng(2)
    x, y = _arc(rng)
    blob_x, blob_y = rng.uniform(20.0, 30.0, 60), rng.uniform(-90.0, -80.0, 60)  # 45 mm below the condyle
    clean = fit_circle(x, y)
    dragged = fit_circle(np.r_[x, blob_x], np.r_[y, blob_y])
    assert abs(dragged.radius_mm - clean.radius_mm) > 10.0  # what least squares alone does
    circle, left_out = robust_circle(np.r_[x, blob_x], np.r_[y, blob_y])
    assert left_out == 60
    assert abs(circle.radius_mm - clean.radius_mm) < 0.5
    assert np.hypot(circle.anterior_mm - clean.anterior_mm, circle.superior_mm - clean.superior_mm) < 0.5


def _counts(label, t2, ijk_to_ras):
    regions = analyse_regions(Volume(label, ijk_to_ras), Volume(t2, ijk_to_ras), "right", mode="improved")
    return {row["region"]: row["n_voxels"] for row in regions.rows}, regions.warnings


@pytest.mark.parametrize("robust", [True, False])
def test_a_blob_below_the_medial_condyle_leaves_the_subregions_of_the_plate_as_they_were(monkeypatch, robust):
    """The analytic shell, then the same with 128 voxels of 'cartilage' 40 mm below its medial half."""
    import KneeCartilageT2Lib.circle_robust as circle_robust

    if not robust:  # least squares only: shows what the robust fit prevents
        monkeypatch.setattr(circle_robust, "OUTLIER_RESIDUAL_MM", np.inf)
    exam, label, t2 = shell_exam()
    padding = ((0, 0), (0, 70), (0, 0))  # room below the shell (rows run inferior)
    label = np.pad(label.astype(np.uint8), padding)
    t2 = np.pad(t2.astype(np.float32), padding)
    clean, clean_warnings = _counts(label, t2, exam.ijk_to_ras)
    blob = (slice(1, 3), slice(150, 158), slice(50, 58))  # medial slices of a right knee
    label[blob], t2[blob] = 1, 40.0
    with_blob, warnings = _counts(label, t2, exam.ijk_to_ras)
    if not robust:
        assert with_blob["MC"] == 0 and with_blob["MP"] == 0  # the failure seen on the real exam
        return
    assert clean_warnings == [] and len(warnings) == 1 and "medial condyle circle" in warnings[0]
    assert "%g mm" % OUTLIER_RESIDUAL_MM in warnings[0]
    for region in ("LA", "LC", "LP", "MA", "MP"):
        assert with_blob[region] == clean[region], region
    assert with_blob["MC"] == clean["MC"] + 128  # the blob itself is measured, where its angle puts it


def test_the_warning_reaches_the_analysis_messages():
    from KneeCartilageT2Lib.exam import MeseExam
    from KneeCartilageT2Lib.pipeline import AnalysisOptions, measure

    exam, label, _ = shell_exam()
    padding = ((0, 0), (0, 70), (0, 0))
    echoes = np.pad(exam.echoes, ((0, 0),) + padding)
    padded = MeseExam(echoes, exam.echo_times_ms, exam.ijk_to_ras, "right")
    label = np.pad(label.astype(np.uint8), padding)
    label[1:3, 150:158, 50:58] = 1
    result = measure(padded, label, options=AnalysisOptions(laterality="right"))
    assert any("medial condyle circle" in message for message in result.messages)
    assert any("medial condyle circle" in message for message in result.provenance["messages"])
