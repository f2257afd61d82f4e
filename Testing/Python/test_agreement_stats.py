"""Measurement agreement (Spearman, MAE, bias, limits of agreement, RMS-CV) on known numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from KneeCartilageT2Lib.agreement_stats import agreement_by_quantity, measurement_agreement, rms_cv_percent


def test_known_pairs():
    a = [40.0, 42.0, 44.0, 46.0, 48.0]
    b = [41.0, 42.0, 46.0, 45.0, 50.0]  # differences 1, 0, 2, -1, 2
    result = measurement_agreement("all", a, b)
    assert result.n == 5
    assert result.mae == pytest.approx(6 / 5)
    assert result.bias == pytest.approx(4 / 5)
    sd = np.std([1, 0, 2, -1, 2], ddof=1)
    assert result.sd_difference == pytest.approx(sd)
    assert result.loa_upper == pytest.approx(0.8 + 1.96 * sd)
    # Ranks of b: 41->1, 42->2, 46->4, 45->3, 50->5; d = 0,0,1,-1,0 -> rho = 1 - 6*2/(5*24) = 0.9
    assert result.spearman_rho == pytest.approx(0.9)


def test_rms_cv_definition():
    # one scan: 40 and 42 -> SD = 2/sqrt(2), mean 41 -> CV = 1.4142/41
    assert rms_cv_percent([40.0], [42.0]) == pytest.approx(100 * math.sqrt(2) / 41)
    cvs = np.array([math.sqrt(2) / 41, 0.0, 2 * math.sqrt(2) / 52])
    assert rms_cv_percent([40, 30, 50], [42, 30, 54]) == pytest.approx(100 * math.sqrt(np.mean(cvs ** 2)))
    assert math.isnan(rms_cv_percent([-1.0, 2.0], [1.0, 2.0]))  # changes around 0: not defined


def test_missing_pairs_and_constants_are_handled():
    result = measurement_agreement("x", [1.0, np.nan, 3.0, 4.0], [1.5, 2.0, np.nan, 4.5], with_cv=False)
    assert result.n == 2 and result.bias == pytest.approx(0.5)
    assert math.isnan(result.spearman_rho) and math.isnan(result.rms_cv_percent)
    assert measurement_agreement("y", [], []).n == 0


def test_by_quantity_matches_scans_by_id():
    values_a = {"s1": {"all": 40.0, "D": 38.0}, "s2": {"all": 45.0, "D": 41.0}, "s3": {"all": 50.0}}
    values_b = {"s1": {"all": 41.0, "D": 37.0}, "s2": {"all": 46.0, "D": 43.0}, "s4": {"all": 99.0}}
    rows = {row.quantity: row for row in agreement_by_quantity(values_a, values_b, ["all", "D"])}
    assert rows["all"].n == 2 and rows["all"].bias == pytest.approx(1.0)
    assert rows["D"].mae == pytest.approx(1.5)
