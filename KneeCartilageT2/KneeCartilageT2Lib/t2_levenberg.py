"""Vectorised two-parameter Levenberg-Marquardt over a block of voxels.

Fits ``(A, R)`` of any two-parameter signal model given as an ``evaluate``
function (see :func:`~.t2_models.evaluate_noise_floor`) that returns, per
voxel, the residual sum of squares, ``J^T r`` and the three entries of
``J^T J``. There is no loop over voxels: each iteration solves every active
voxel's damped 2 x 2 normal equations in closed form, and voxels that finish
leave the working set so that later iterations cost only what is left.

Marquardt's scaled damping ``(J^T J + lambda diag(J^T J)) delta = J^T r`` with
one ``lambda`` per voxel: a step that lowers the cost is kept and ``lambda``
divided by 10, otherwise the step is rejected and ``lambda`` multiplied by 10.
"Lowers" allows ``COST_ROUNDING`` (relative), the float32 rounding of a sum of
a few squares, below which the last tiny steps cannot be told apart.

A voxel converges when a nearly undamped step (``lambda <= NEAR_GAUSS_NEWTON``)
changes ``R t`` by at most ``tolerance`` over the echo span and ``A`` by at most
``tolerance`` relative (that last step is applied), or when no step lowers its
cost any more (``lambda > MAX_DAMPING``: a minimum to working precision). It
fails when its normal equations are singular, when its rate leaves
:data:`~.t2_models.MEASURABLE_DECAY` or, with a noise floor ``F``, when
its amplitude sinks below the noise (``A^2 < F``: no measurable decay, R
undetermined); a voxel still moving after ``max_iterations`` has not converged.
"""

from __future__ import annotations

from .t2_arrays import ActiveVoxels, array_namespace, keep_entries
from .t2_models import EchoAxis, outside_measurable_decay

INITIAL_DAMPING = 1e-3
MAX_DAMPING = 1e8
NEAR_GAUSS_NEWTON = 1.0
COST_ROUNDING = 1e-5


def levenberg_marquardt(signal, axis: EchoAxis, amplitude, rate, evaluate, floor, max_iterations: int, tolerance: float):
    """Minimise the residual sum of squares over ``(A, R)`` for every voxel of the block.

    ``signal`` is ``(echo, voxel)``; ``amplitude`` and ``rate`` are start
    values (modified in place); ``floor`` is the per-voxel noise floor passed
    to ``evaluate`` (None for models without one). Returns
    ``(A, R, cost, converged)`` for all voxels.
    """
    xp = array_namespace(signal)
    state = list(evaluate(signal, axis, amplitude, rate, floor))
    amplitude_out, rate_out, cost_out = amplitude, rate, state[0]
    startable = xp.isfinite(amplitude) & xp.isfinite(rate) & xp.isfinite(state[0])
    converged_out = startable & False
    active = ActiveVoxels(startable)
    work, work_floor, amplitude, rate = keep_entries(active.indices, [signal, floor, amplitude, rate])
    state = keep_entries(active.indices, state)
    damping = xp.full_like(amplitude, INITIAL_DAMPING)
    for _ in range(max_iterations):
        if active.count == 0:
            break
        step_a, step_r, singular = _damped_step(state, damping)
        trial_amplitude, trial_rate = amplitude + step_a, rate + step_r
        trial = evaluate(work, axis, trial_amplitude, trial_rate, work_floor)
        accept = trial[0] <= state[0] * (1.0 + COST_ROUNDING)
        small = (xp.abs(step_r) * axis.span_ms <= tolerance) & (xp.abs(step_a) <= tolerance * xp.abs(amplitude))
        small = small & (damping <= NEAR_GAUSS_NEWTON) & ~singular
        take = accept | small
        amplitude = xp.where(take, trial_amplitude, amplitude)
        rate = xp.where(take, trial_rate, rate)
        state = [xp.where(take, new, old) for new, old in zip(trial, state)]
        damping = xp.where(accept, damping * 0.1, damping * 10.0)
        failed = singular | outside_measurable_decay(rate, axis)
        if work_floor is not None:
            failed = failed | (amplitude * amplitude < work_floor)
        succeeded = (small | (damping > MAX_DAMPING)) & ~failed
        finished = succeeded | failed
        if bool(finished.any()):
            indices, done, keep = active.retire(finished)
            amplitude_out[indices] = amplitude[done]
            rate_out[indices] = rate[done]
            cost_out[indices] = state[0][done]
            converged_out[indices] = succeeded[done]
            work, work_floor, amplitude, rate, damping = keep_entries(keep, [work, work_floor, amplitude, rate, damping])
            state = keep_entries(keep, state)
    if active.count:
        amplitude_out[active.indices] = amplitude
        rate_out[active.indices] = rate
        cost_out[active.indices] = state[0]
    return amplitude_out, rate_out, cost_out, converged_out


def _damped_step(state, damping):
    """Solve the damped 2 x 2 normal equations; returns ``(step_A, step_R, singular)``."""
    xp = array_namespace(damping)
    _, g_a, g_r, h_aa, h_ar, h_rr = state
    d_aa = h_aa * (1.0 + damping)
    d_rr = h_rr * (1.0 + damping)
    determinant = d_aa * d_rr - h_ar * h_ar
    step_a = (d_rr * g_a - h_ar * g_r) / determinant
    step_r = (d_aa * g_r - h_ar * g_a) / determinant
    singular = ~(xp.isfinite(step_a) & xp.isfinite(step_r) & (determinant > 0))
    return step_a, step_r, singular
