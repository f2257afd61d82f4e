"""Mono-exponential least squares by variable projection: a safeguarded 1D Newton on R.

For ``S = A exp(-R t)`` the best amplitude at a given rate is linear least
squares, ``A(R) = P / Q`` with ``P = sum S e``, ``Q = sum e^2`` and
``e = exp(-R t)``, and the residual sum of squares is then
``sum S^2 - P^2 / Q``. Minimising it over ``(A, R)`` is therefore the same as
maximising ``phi(R) = 2 ln P - ln Q`` over R alone (Golub and Pereyra's
variable projection): the same optimum as a two-parameter
Levenberg-Marquardt fit (and as the reference's per-voxel ``curve_fit``), but
Newton's method on one variable with exact derivatives converges
quadratically even where the residuals are large, so two or three
iterations settle almost every voxel. The derivatives need only six sums per
voxel, two ``(3, echo) @ (echo, voxel)`` matrix products per iteration:

* ``phi'  = 2 (Q1 / Q - P1 / P)``
* ``phi'' = 2 (P2 / P - (P1 / P)^2) - 4 (Q2 / Q - (Q1 / Q)^2)``

with ``Pk = sum t^k S e`` and ``Qk = sum t^k e^2``. Near a good fit ``phi''``
is about ``-2 var(t)``, safely negative.

Safeguards: a Newton step that is not uphill (``phi'' >= 0``) becomes a
bounded step along ``phi'``; every step changes ``R t`` by at most
``MAX_EXPONENT_STEP`` over the echo span; a step that lowers ``phi`` is
halved back towards the last good rate until it does not.
"""

from __future__ import annotations

from .t2_arrays import ActiveVoxels, array_namespace, keep_entries
from .t2_models import EchoAxis, outside_measurable_decay

MAX_EXPONENT_STEP = 1.0
PHI_ROUNDING = 1e-6


def profile_terms(signal, axis: EchoAxis, rate):
    """``(phi, phi', phi'', P, Q, d ln A / dR)`` per voxel at ``rate`` (see the module docstring).

    The last term, ``2 Q1 / Q - P1 / P``, moves the amplitude ``A = P / Q`` along
    with a final small step of R without another evaluation.
    """
    xp = array_namespace(signal)
    decay = axis.t * (-rate)
    decay = xp.exp(decay, out=decay)
    p = axis.powers @ (signal * decay)
    decay *= decay
    q = axis.powers @ decay
    p_mean = p[1] / p[0]
    q_mean = q[1] / q[0]
    phi = 2.0 * xp.log(p[0]) - xp.log(q[0])
    first = 2.0 * (q_mean - p_mean)
    second = 2.0 * (p[2] / p[0] - p_mean * p_mean) - 4.0 * (q[2] / q[0] - q_mean * q_mean)
    return phi, first, second, p[0], q[0], 2.0 * q_mean - p_mean


def fit_mono_profile(signal, axis: EchoAxis, rate, max_iterations: int, tolerance: float):
    """Maximise ``phi(R)`` from the start ``rate`` for every voxel; returns ``(A, R, cost, converged)``.

    ``cost`` is the residual sum of squares ``sum S^2 - P^2 / Q`` (clipped at
    0). A voxel converges when its step changes ``R t`` by at most
    ``tolerance`` over the echo span (that last step is still applied, to R and
    to first order to A, so the error left is of the order of its square), or
    when backtracking has shrunk its step below that; it fails when ``P <= 0``
    (no positive signal), its terms stop being finite or its rate leaves
    :data:`~.t2_models.MEASURABLE_DECAY`, and has not converged if still moving
    after ``max_iterations``.
    """
    xp = array_namespace(signal)
    max_step = MAX_EXPONENT_STEP / axis.span_ms
    rate_out = rate
    amplitude_out = xp.full_like(rate, float("nan"))
    cost_out = xp.zeros_like(rate)
    startable = xp.isfinite(rate)
    converged_out = startable & False
    sum_squares = (signal * signal).sum(axis=0)
    active = ActiveVoxels(startable)
    work, rate = keep_entries(active.indices, [signal, rate])
    best_phi = xp.full_like(rate, -float("inf"))
    offset = xp.zeros_like(rate)
    for _ in range(max_iterations + 1):
        if active.count == 0:
            break
        phi, first, second, p, q, amplitude_slope = profile_terms(work, axis, rate)
        usable = xp.isfinite(phi) & xp.isfinite(first) & xp.isfinite(second) & (p > 0)
        usable = usable & ~outside_measurable_decay(rate, axis)
        worse = usable & (phi < best_phi - PHI_ROUNDING)
        step = xp.where(worse, -0.5 * offset, _newton_step(first, second, max_step))
        offset = xp.where(worse, 0.5 * offset, step)
        best_phi = xp.where(worse, best_phi, phi)
        succeeded = usable & (xp.abs(step) * axis.span_ms <= tolerance)
        finished = succeeded | ~usable
        if bool(finished.any()):
            indices, done, keep = active.retire(finished)
            last = step[done]
            rate_out[indices] = rate[done] + last
            amplitude_out[indices] = p[done] / q[done] * xp.exp(last * amplitude_slope[done])
            cost_out[indices] = sum_squares[indices] - p[done] * p[done] / q[done]
            converged_out[indices] = succeeded[done]
            work, rate, step, offset, best_phi = keep_entries(keep, [work, rate, step, offset, best_phi])
        rate = rate + step
    if active.count:
        rate_out[active.indices] = rate
    return amplitude_out, rate_out, xp.clip(cost_out, 0.0, None), converged_out


def _newton_step(first, second, max_step: float):
    """Newton step uphill on phi, or a bounded step along phi' where phi is not concave; |step| <= max_step."""
    xp = array_namespace(first)
    newton = xp.where(second < 0, -first / second, xp.sign(first) * max_step)
    return xp.clip(newton, -max_step, max_step)
