"""Agreement of paired measurements across scans: Spearman, MAE, bias, limits, RMS-CV.

Two methods (model and reader, or two readers) measure the same quantity
(e.g. mean T2 of one subregion, ms) on the same scans. For the pairs
``(a_i, b_i)``, ``d_i = b_i - a_i``:

* Spearman rank correlation rho (and its two-sided p value) of a and b.
* MAE = mean |d_i|; bias = mean d_i (B minus A); SD of d (n - 1);
  Bland-Altman 95% limits of agreement = bias -/+ 1.96 SD.
* RMS-CV (Gluer et al. 1995): for each scan the coefficient of variation of its
  two measurements, CV_i = SD_i / mean_i with SD_i = |a_i - b_i| / sqrt(2)
  (the sample SD of two numbers), then RMS-CV = sqrt(mean CV_i^2), in percent.
  It is defined for positive quantities (T2, volume); for changes, which sit
  around 0, it is not computed (NaN).

Pairs with a missing value (NaN) on either side are left out, and ``n`` says
how many were used. A statistic the scans are too few for (an SD and the limits
need :data:`MIN_SCANS_SD` scans, Spearman :data:`MIN_SCANS_SPEARMAN`) is NaN: empty
in the CSV tables, null in JSON, "n/a (1 scan)" on the console
(:func:`statistic_text`), and :func:`too_few_scans_note` says why.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional

import numpy as np

MIN_SCANS_SD = 2  # an SD (and so the limits of agreement) needs two scans
MIN_SCANS_SPEARMAN = 3  # a rank correlation needs three


@dataclass
class MeasurementAgreement:
    """Agreement of one quantity measured by A and B on the same scans (units of the quantity)."""

    quantity: str
    n: int
    mean_a: float
    mean_b: float
    spearman_rho: float
    spearman_p: float
    mae: float
    bias: float  # mean of B - A
    sd_difference: float
    loa_lower: float  # bias - 1.96 SD
    loa_upper: float  # bias + 1.96 SD
    rms_cv_percent: float  # NaN when not applicable (changes, non-positive values)

    def as_dict(self) -> Dict[str, object]:
        return asdict(self)


def paired_finite(a: Iterable[float], b: Iterable[float]):
    """The two value lists as float arrays, keeping only pairs finite on both sides."""
    a = np.asarray(list(a), dtype=np.float64)
    b = np.asarray(list(b), dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("paired measurements need as many A values as B values (%d vs %d)" % (a.size, b.size))
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def rms_cv_percent(a: Iterable[float], b: Iterable[float]) -> float:
    """Root-mean-square of the per-scan coefficients of variation of two measurements (%)."""
    a, b = paired_finite(a, b)
    means = (a + b) / 2.0
    if a.size == 0 or np.any(means <= 0):
        return float("nan")
    cv = (np.abs(a - b) / np.sqrt(2.0)) / means
    return float(100.0 * np.sqrt(np.mean(cv ** 2)))


def spearman(a: np.ndarray, b: np.ndarray):
    """(rho, p) of two arrays; NaN with fewer than 3 pairs or a constant side."""
    from scipy import stats

    if a.size < MIN_SCANS_SPEARMAN or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.spearmanr(a, b)
    return float(result[0]), float(result[1])


def measurement_agreement(quantity: str, a: Iterable[float], b: Iterable[float],
                          with_cv: bool = True) -> MeasurementAgreement:
    """All agreement figures for one quantity (see the module doc for definitions)."""
    a, b = paired_finite(a, b)
    nan = float("nan")
    if a.size == 0:
        return MeasurementAgreement(quantity, 0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan)
    difference = b - a
    bias = float(np.mean(difference))
    sd = float(np.std(difference, ddof=1)) if a.size >= MIN_SCANS_SD else nan
    rho, p = spearman(a, b)
    return MeasurementAgreement(
        quantity=quantity,
        n=int(a.size),
        mean_a=float(np.mean(a)),
        mean_b=float(np.mean(b)),
        spearman_rho=rho,
        spearman_p=p,
        mae=float(np.mean(np.abs(difference))),
        bias=bias,
        sd_difference=sd,
        loa_lower=bias - 1.96 * sd,
        loa_upper=bias + 1.96 * sd,
        rms_cv_percent=rms_cv_percent(a, b) if with_cv else nan,
    )


def agreement_by_quantity(
    values_a: Mapping[str, Mapping[str, float]],
    values_b: Mapping[str, Mapping[str, float]],
    quantities: Iterable[str],
    with_cv: bool = True,
) -> List[MeasurementAgreement]:
    """One :class:`MeasurementAgreement` per quantity over the scans both sides measured.

    ``values_a[scan_id][quantity]`` and ``values_b[scan_id][quantity]`` hold the measurements;
    scans present on one side only are ignored.
    """
    scans = sorted(set(values_a) & set(values_b))
    rows = []
    for quantity in quantities:
        a = [values_a[scan].get(quantity, np.nan) for scan in scans]
        b = [values_b[scan].get(quantity, np.nan) for scan in scans]
        rows.append(measurement_agreement(quantity, a, b, with_cv=with_cv))
    return rows


def paired_values(values_a: Mapping[str, Mapping[str, float]], values_b: Mapping[str, Mapping[str, float]],
                  quantity: str):
    """Finite (a, b) arrays of one quantity over the scans both sides measured (for plots)."""
    scans = sorted(set(values_a) & set(values_b))
    return paired_finite([values_a[s].get(quantity, np.nan) for s in scans],
                         [values_b[s].get(quantity, np.nan) for s in scans])


def statistic_text(value: Any, form: str, n: int, needed: int = 1) -> str:
    """``form % value`` for the console, or why there is none: ``"n/a (1 scan)"`` when the ``n`` scans are fewer
    than the statistic ``needed`` (e.g. :data:`MIN_SCANS_SD`), ``"n/a"`` for another missing value (a constant
    side in Spearman, an empty mask)."""
    if int(n) < needed:
        return "n/a (%d scan%s)" % (int(n), "" if int(n) == 1 else "s")
    if value is None or not np.isfinite(float(value)):
        return "n/a"
    return form % value


def too_few_scans_note(compared: str, n: int, with_spearman: bool = True) -> Optional[str]:
    """Why some statistics of ``compared`` (e.g. "model vs reader, regional T2") are empty, when its ``n`` scans
    are too few for them; None when they are enough."""
    missing = []
    if n < MIN_SCANS_SD:
        missing.append("SDs and limits of agreement (they need %d scans)" % MIN_SCANS_SD)
    if with_spearman and n < MIN_SCANS_SPEARMAN:
        missing.append("Spearman's rho (it needs %d)" % MIN_SCANS_SPEARMAN)
    if not missing:
        return None
    return ("%s: %d scan%s compared, too few for %s: those are empty in the CSV tables and null in "
            "agreement.json; compare more scans for them." % (compared, n, "" if n == 1 else "s", " or ".join(missing)))
