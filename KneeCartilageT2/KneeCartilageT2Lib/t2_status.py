"""Why a voxel has, or has not, a valid T2: one code per voxel of a fit.

A T2 map holds 0 wherever the T2 is not valid, which hides two different
things: voxels where no T2 could be measured at all (no signal above the
noise, or a fit that failed), and voxels whose fit worked but gave a T2
outside the valid range. Above the range (e.g. > 100 ms) usually means fluid
(effusion, synovial fluid) sharing the voxel with cartilage: a finding of its
own, not a failure. :func:`~.t2_fitting.fit_t2` returns a ``status`` map of
these codes (uint8, ``(slice, row, col)``) beside the T2 map.
"""

from __future__ import annotations

import numpy as np

NOT_FITTED = 0  # outside the fitted mask
VALID = 1  # converged, finite, low < T2 <= high
NO_SIGNAL = 2  # the fitted echoes are not above the noise (t2_signal): not fitted
FIT_FAILED = 3  # not converged, non-finite, or the decay left the measurable window
BELOW_RANGE = 4  # fitted, T2 <= low (with the default 0: a growing signal)
ABOVE_RANGE = 5  # fitted, T2 > high (fluid partial volume, or a very long T2)

NAMES = {NOT_FITTED: "not fitted", VALID: "valid", NO_SIGNAL: "no signal", FIT_FAILED: "fit failed",
         BELOW_RANGE: "T2 below range", ABOVE_RANGE: "T2 above range"}


def fitted_status(converged, t2_ms, s0, r2, low: float, high: float) -> np.ndarray:
    """The code (uint8) of each fitted voxel from its fit's results (1D numpy arrays)."""
    finite = np.asarray(converged, dtype=bool) & np.isfinite(t2_ms) & np.isfinite(s0) & np.isfinite(r2)
    with np.errstate(invalid="ignore"):
        codes = np.where(t2_ms <= low, BELOW_RANGE, np.where(t2_ms > high, ABOVE_RANGE, VALID))
    return np.where(finite, codes, FIT_FAILED).astype(np.uint8)


def count_codes(status: np.ndarray) -> dict:
    """``{code: number of voxels}`` for every code of this module (0 for those absent)."""
    counts = np.bincount(np.asarray(status, dtype=np.uint8).reshape(-1), minlength=len(NAMES))
    return {code: int(counts[code]) for code in NAMES}
