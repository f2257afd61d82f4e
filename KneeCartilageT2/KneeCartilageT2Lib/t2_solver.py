"""Vectorised two-parameter Levenberg-Marquardt and the per-block T2 fit.

:func:`fit_voxel_block` fits one block of voxels (``(echo, voxel)`` array, numpy
or torch) with one method and returns T2, S0 (at TE = 0), R^2 and a convergence
flag per voxel. There is no loop over voxels: each Levenberg-Marquardt
iteration updates every still-active voxel at once, solving its 2 x 2 normal
equations in closed form, and voxels that have converged are dropped from the
working set so that later iterations cost only what is left.

Signals are divided by each voxel's largest echo before fitting, so the
amplitude is about 1 and the tolerances and float32 arithmetic behave the same
whatever the scanner's intensity scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .t2_models import (
    EchoAxis,
    array_namespace,
    evaluate_mono,
    evaluate_noise_floor,
    loglinear_fit,
    noise_corrected_signal,
    smooth_nonmonotone,
    take_columns,
    total_sum_of_squares,
)
from .t2_varpro import fit_mono_profile

MAX_ITERATIONS = 50
STEP_TOLERANCE = 1e-4
INITIAL_DAMPING = 1e-3
MAX_DAMPING = 1e8
NEAR_GAUSS_NEWTON = 1.0
COST_ROUNDING = 1e-5


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
    """Fit every column of ``signal`` (``(echo, voxel)`` float32, echoes used only).

    ``echo_times_ms`` are the used echoes' TEs; ``noise_floor`` is
    ``F = 2 L sigma^2`` for the noise-floor method. T2 may come out non-finite
    or out of range: the caller decides validity.
    """
    xp = array_namespace(signal)
    if smooth:
        signal = smooth_nonmonotone(signal)
    scale = xp.amax(signal, 0)
    scale = xp.where(scale > 0, scale, 1.0)
    normalised = signal / scale
    axis = EchoAxis(echo_times_ms, normalised)
    floor = None
    if method == "noise-floor":
        floor = float(noise_floor) / (scale * scale)
        amplitude, rate = loglinear_fit(noise_corrected_signal(normalised, floor), axis)
        amplitude, rate, cost, converged = levenberg_marquardt(
            normalised, axis, amplitude, rate, evaluate_noise_floor, floor, max_iterations, tolerance
        )
    elif method == "mono":
        rate = loglinear_fit(normalised, axis)[1]
        amplitude, rate, cost, converged = fit_mono_profile(normalised, axis, rate, max_iterations, tolerance)
    elif method == "loglinear":
        amplitude, rate = loglinear_fit(normalised, axis)
        cost = evaluate_mono(normalised, axis, amplitude, rate)[0]
        converged = xp.isfinite(amplitude) & xp.isfinite(rate)
    else:
        raise ValueError("unknown T2 fitting method %r" % method)
    r2 = 1.0 - cost / total_sum_of_squares(normalised)
    t2 = 1.0 / rate
    s0 = amplitude * scale * xp.exp(rate * axis.first_echo_time_ms)
    return BlockFit(t2_ms=t2, s0=s0, r2=r2, converged=converged)


def levenberg_marquardt(signal, axis: EchoAxis, amplitude, rate, evaluate, floor, max_iterations: int, tolerance: float):
    """Minimise the residual sum of squares over ``(A, R)`` for every voxel at once.

    Marquardt's scaled damping ``(J^T J + lambda diag(J^T J)) delta = J^T r``
    with one damping factor per voxel: a step that lowers the cost (up to
    ``COST_ROUNDING``, the relative float32 rounding of a sum of a few squares,
    below which the last tiny Gauss-Newton steps could not be told from noise)
    is kept and the damping divided by 10, otherwise it is rejected and the damping
    multiplied by 10. A voxel stops when a nearly undamped step (damping at
    most ``NEAR_GAUSS_NEWTON``) would change ``R t`` by at most ``tolerance``
    over the echo span and ``A`` by at most ``tolerance`` relative, whether or
    not float32 rounding of the cost lets that last tiny step be accepted, or
    when no step can lower its cost any more (damping above ``MAX_DAMPING``: a
    minimum to working precision). Both count as converged. A voxel fails (not
    converged) when its normal equations become singular or, with a noise
    floor ``F``, when its amplitude sinks below the noise (``A^2 < F``: no
    measurable decay, R undetermined); voxels still moving after
    ``max_iterations`` do not converge either. Returns
    ``(A, R, cost, converged)`` for all voxels.
    """
    xp = array_namespace(signal)
    state = list(evaluate(signal, axis, amplitude, rate, floor))
    amplitude_out, rate_out, cost_out = amplitude, rate, state[0]
    startable = xp.isfinite(amplitude) & xp.isfinite(rate) & xp.isfinite(state[0])
    converged_out = xp.zeros_like(startable)
    active = xp.where(startable)[0]
    work_signal = take_columns(signal, active)
    work_floor = None if floor is None else floor[active]
    amplitude, rate = amplitude[active], rate[active]
    state = [value[active] for value in state]
    damping = xp.full_like(amplitude, INITIAL_DAMPING)
    span = axis.span_ms
    for _ in range(max_iterations):
        if active.shape[0] == 0:
            break
        cost, g_a, g_r, h_aa, h_ar, h_rr = state
        d_aa = h_aa * (1.0 + damping)
        d_rr = h_rr * (1.0 + damping)
        determinant = d_aa * d_rr - h_ar * h_ar
        step_a = (d_rr * g_a - h_ar * g_r) / determinant
        step_r = (d_aa * g_r - h_ar * g_a) / determinant
        trial_amplitude = amplitude + step_a
        trial_rate = rate + step_r
        trial = evaluate(work_signal, axis, trial_amplitude, trial_rate, work_floor)
        accept = trial[0] <= cost * (1.0 + COST_ROUNDING)
        amplitude = xp.where(accept, trial_amplitude, amplitude)
        rate = xp.where(accept, trial_rate, rate)
        state = [xp.where(accept, new, old) for new, old in zip(trial, state)]
        small = (xp.abs(step_r) * span <= tolerance) & (xp.abs(step_a) <= tolerance * xp.abs(amplitude))
        small = small & (damping <= NEAR_GAUSS_NEWTON)
        damping = xp.where(accept, damping * 0.1, damping * 10.0)
        succeeded = small | (damping > MAX_DAMPING)
        failed = ~xp.isfinite(determinant)
        if work_floor is not None:
            failed = failed | (amplitude * amplitude < work_floor)
        succeeded = succeeded & ~failed
        finished = succeeded | failed
        if bool(finished.any()):
            done = xp.where(finished)[0]
            indices = active[done]
            amplitude_out[indices] = amplitude[done]
            rate_out[indices] = rate[done]
            cost_out[indices] = state[0][done]
            converged_out[indices] = succeeded[done]
            keep = xp.where(~finished)[0]
            active = active[keep]
            work_signal = take_columns(work_signal, keep)
            work_floor = None if work_floor is None else work_floor[keep]
            amplitude, rate, damping = amplitude[keep], rate[keep], damping[keep]
            state = [value[keep] for value in state]
    if active.shape[0]:
        amplitude_out[active] = amplitude
        rate_out[active] = rate
        cost_out[active] = state[0]
    return amplitude_out, rate_out, cost_out, converged_out

