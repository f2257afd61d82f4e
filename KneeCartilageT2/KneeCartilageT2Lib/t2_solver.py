"""One block of voxels, one method: T2, S0, R^2 and convergence per voxel.

:func:`fit_voxel_block` takes an ``(echo, voxel)`` block (numpy or torch) of
the echoes used and returns per-voxel results; there is no loop over voxels.

* ``mono``: weighted log-linear start, then variable projection
  (:mod:`.t2_varpro`, a safeguarded Newton on R with A eliminated);
* ``loglinear``: the weighted log-linear fit alone;
* ``noise-floor``: log-linear start on the floor-subtracted signal
  ``sqrt(max(S^2 - F, 0))``, then Levenberg-Marquardt (:mod:`.t2_levenberg`).

Signals are divided by each voxel's largest echo before fitting, so that the
amplitude is about 1 and tolerances and float32 arithmetic behave the same
whatever the scanner's intensity scale; S0 is scaled back and moved from the
first used echo to TE = 0 at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .t2_arrays import array_namespace
from .t2_levenberg import levenberg_marquardt
from .t2_models import (
    EchoAxis,
    evaluate_noise_floor,
    loglinear_fit,
    mono_cost,
    noise_corrected_signal,
    smooth_nonmonotone,
    total_sum_of_squares,
)
from .t2_varpro import fit_mono_profile

MAX_ITERATIONS = 50
STEP_TOLERANCE = 1e-4


@dataclass
class BlockFit:
    """Per-voxel results of one block (arrays of the block's kind: numpy or torch)."""

    t2_ms: object
    s0: object
    r2: object
    converged: object


def fit_voxel_block(
    signal,
    echo_times_ms: np.ndarray,
    method: str,
    noise_floor: Optional[float] = None,
    smooth: bool = False,
    max_iterations: int = MAX_ITERATIONS,
    tolerance: float = STEP_TOLERANCE,
) -> BlockFit:
    """Fit every column of ``signal`` (``(echo, voxel)`` float32, used echoes only).

    ``echo_times_ms`` are the used echoes' TEs (ms); ``noise_floor`` is
    ``F = 2 L sigma^2`` (intensity units squared) for the noise-floor method;
    ``smooth`` applies :func:`~.t2_models.smooth_nonmonotone` first. T2 may
    come out non-finite or out of range: the caller decides validity.
    """
    xp = array_namespace(signal)
    if smooth:
        signal = smooth_nonmonotone(signal)
    scale = xp.amax(signal, 0)
    scale = xp.where(scale > 0, scale, 1.0)
    normalised = signal / scale
    axis = EchoAxis(echo_times_ms, normalised)
    if method == "mono":
        rate = loglinear_fit(normalised, axis)[1]
        amplitude, rate, cost, converged = fit_mono_profile(normalised, axis, rate, max_iterations, tolerance)
    elif method == "loglinear":
        amplitude, rate = loglinear_fit(normalised, axis)
        cost = mono_cost(normalised, axis, amplitude, rate)
        converged = xp.isfinite(amplitude) & xp.isfinite(rate)
    elif method == "noise-floor":
        floor = float(noise_floor) / (scale * scale)
        amplitude, rate = loglinear_fit(noise_corrected_signal(normalised, floor), axis)
        amplitude, rate, cost, converged = levenberg_marquardt(
            normalised, axis, amplitude, rate, evaluate_noise_floor, floor, max_iterations, tolerance
        )
    else:
        raise ValueError("unknown T2 fitting method %r" % method)
    r2 = 1.0 - cost / total_sum_of_squares(normalised)
    t2 = 1.0 / rate
    s0 = amplitude * scale * xp.exp(rate * axis.first_echo_time_ms)
    return BlockFit(t2_ms=t2, s0=s0, r2=r2, converged=converged)
