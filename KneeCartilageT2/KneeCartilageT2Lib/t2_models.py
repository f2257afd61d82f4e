"""Signal models of T2 decay and their least-squares pieces, vectorised over voxels.

Every function here works on a block of voxels at once: ``signal`` is an
``(echo, voxel)`` float32 array holding the decays of the echoes used for the
fit, one column per voxel. The same code runs on numpy arrays and on torch
tensors (CPU or CUDA): :func:`~.t2_arrays.array_namespace` picks the module
from the argument, so the torch backend is exactly the numpy algorithm.

Time is measured from the first echo used, ``t = TE - TE_first_used`` (ms), and
the rate ``R = 1 / T2`` is in 1/ms. Fitting relative to the first used echo
keeps the amplitude and the rate nearly uncorrelated; amplitudes are moved to
TE = 0 only at the end (``s0 = A exp(R TE_first_used)``).

Models:

* mono-exponential ``S(t) = A exp(-R t)`` (:func:`evaluate_mono`), the model of
  the reference pipeline (Thomas et al.), fitted to magnitude images as if
  their noise were Gaussian;
* noise floor ``S(t) = sqrt(A^2 exp(-2 R t) + F)`` with ``F = 2 L sigma^2``
  (:func:`evaluate_noise_floor`), the expected magnitude of a decay seen
  through the Rician (L = 1) or non-central chi (L receive channels,
  sum-of-squares) noise of magnitude images, which flattens late, weak echoes;
* weighted log-linear ``log S = log A - R t`` (:func:`loglinear_fit`), the
  closed-form start of both nonlinear fits and a method of its own.
"""

from __future__ import annotations

import numpy as np

from .t2_arrays import array_namespace, as_like


MEASURABLE_DECAY = (-2.0, 30.0)
"""Window of ``R x span`` (the decay exponent across the used echoes) that a fit may explore.

Outside it the decay cannot be measured from these echoes: below -2 the signal
grows sevenfold over the echo train (negative T2, noise or artefact); above 30
it has vanished (below e^-5) by the second echo of a typical train (T2 under
span/30, e.g. 2 ms for echoes 20..70 ms). Solvers stop such voxels as failed
instead of following them towards an infinite rate.
"""


def outside_measurable_decay(rate, axis: "EchoAxis"):
    """True where ``rate x span`` has left :data:`MEASURABLE_DECAY`."""
    exponent = rate * axis.span_ms
    return (exponent < MEASURABLE_DECAY[0]) | (exponent > MEASURABLE_DECAY[1])


class EchoAxis:
    """Echo times of a fit as the small matrices its normal equations need.

    ``t`` is ``(echo, 1)`` (ms since the first used echo) so that it broadcasts
    against ``(echo, voxel)`` blocks; ``powers`` is the ``(3, echo)`` matrix of
    ``t^0, t^1, t^2`` so that one matrix product gives the three weighted sums
    ``sum w, sum t w, sum t^2 w`` of every voxel at once.
    """

    def __init__(self, echo_times_ms: np.ndarray, like) -> None:
        times = np.asarray(echo_times_ms, dtype=np.float64)
        relative = times - times[0]
        self.first_echo_time_ms = float(times[0])
        self.span_ms = float(relative[-1]) if relative.size > 1 else 1.0
        self.t = as_like(relative.reshape(-1, 1), like)
        self.powers = as_like(np.stack([np.ones_like(relative), relative, relative ** 2]), like)
        self.powers01 = as_like(np.stack([np.ones_like(relative), relative]), like)


def smooth_nonmonotone(signal):
    """Three-point running mean of every decay that is not strictly decreasing.

    Same rule as the reference pipeline: a voxel whose used echoes are all
    strictly decreasing is left alone; otherwise each interior echo becomes the
    mean of itself and its two neighbours, and each end echo the mean of itself
    and its single neighbour (a two-point mean, not zero padding, so the ends
    are not pulled towards zero). Echo count 2 gives two equal values (a flat
    decay, which then fails the T2 range).
    """
    xp = array_namespace(signal)
    strictly_decreasing = (signal[1:] < signal[:-1]).all(axis=0)
    rows = [0.5 * (signal[0] + signal[1])]
    for index in range(1, signal.shape[0] - 1):
        rows.append((signal[index - 1] + signal[index] + signal[index + 1]) * (1.0 / 3.0))
    rows.append(0.5 * (signal[-2] + signal[-1]))
    smoothed = xp.stack(rows, 0)
    return xp.where(strictly_decreasing, signal, smoothed)


def loglinear_fit(signal, axis: EchoAxis):
    """Weighted least squares of ``log S = log A - R t``; returns ``(A, R)`` per voxel.

    Weights are ``S^2``: the variance of ``log S`` is about ``(sigma / S)^2`` for
    Gaussian noise of SD sigma, so ``S^2`` weights are the inverse-variance
    (standard) choice and stop the noisy late echoes from dominating. Echoes
    with ``S <= 0`` get weight 0. Voxels with fewer than two positive echoes
    give NaN (marked invalid by the caller).
    """
    xp = array_namespace(signal)
    positive = signal > 0
    logs = xp.where(positive, signal, 1.0)
    logs = xp.log(logs, out=logs)
    weights = signal * signal
    weights *= positive
    sums = axis.powers @ weights
    weights *= logs
    moments = axis.powers01 @ weights
    determinant = sums[0] * sums[2] - sums[1] * sums[1]
    slope = (sums[0] * moments[1] - sums[1] * moments[0]) / determinant
    intercept = (moments[0] - slope * sums[1]) / sums[0]
    return xp.exp(intercept), -slope


def evaluate_mono(signal, axis: EchoAxis, amplitude, rate, floor=None):
    """Cost and Gauss-Newton pieces of ``S = A exp(-R t)`` at ``(A, R)``.

    Returns ``(cost, g_a, g_r, h_aa, h_ar, h_rr)`` per voxel: the residual sum
    of squares, ``J^T r`` and the upper triangle of ``J^T J`` (J = model
    derivatives with respect to A and R). ``floor`` is unused (same signature
    as :func:`evaluate_noise_floor`).
    """
    xp = array_namespace(signal)
    decay = axis.t * (-rate)
    decay = xp.exp(decay, out=decay)
    residual = amplitude * decay
    residual = xp.subtract(signal, residual, out=residual)
    gradient = axis.powers01 @ (decay * residual)
    residual *= residual
    cost = residual.sum(axis=0)
    decay *= decay
    curvature = axis.powers @ decay
    return (
        cost,
        gradient[0],
        -amplitude * gradient[1],
        curvature[0],
        -amplitude * curvature[1],
        amplitude * amplitude * curvature[2],
    )


def evaluate_noise_floor(signal, axis: EchoAxis, amplitude, rate, floor):
    """Cost and Gauss-Newton pieces of ``S = sqrt(A^2 exp(-2 R t) + F)`` at ``(A, R)``.

    ``floor`` is ``F = 2 L sigma^2`` per voxel (same units squared as the
    signal). With ``q = A^2 exp(-2 R t)`` and ``f = sqrt(q + F)`` the
    derivatives are ``df/dA = q / (A f)`` and ``df/dR = -t q / f``.
    """
    xp = array_namespace(signal)
    squared = axis.t * (-2.0 * rate)
    squared = xp.exp(squared, out=squared)
    squared *= amplitude * amplitude
    model = squared + floor
    model = xp.sqrt(model, out=model)
    weight = xp.divide(squared, model, out=squared)
    residual = xp.subtract(signal, model, out=model)
    gradient = axis.powers01 @ (weight * residual)
    residual *= residual
    cost = residual.sum(axis=0)
    weight *= weight
    curvature = axis.powers @ weight
    inverse_amplitude = 1.0 / amplitude
    return (
        cost,
        gradient[0] * inverse_amplitude,
        -gradient[1],
        curvature[0] * inverse_amplitude * inverse_amplitude,
        -curvature[1] * inverse_amplitude,
        curvature[2],
    )


def noise_corrected_signal(signal, floor):
    """``sqrt(max(S^2 - F, 0))``: the decay with the noise floor subtracted in power (start values)."""
    xp = array_namespace(signal)
    return xp.sqrt(xp.clip(signal * signal - floor, 0.0, None))


def mono_cost(signal, axis: EchoAxis, amplitude, rate):
    """Residual sum of squares of ``S = A exp(-R t)`` per voxel."""
    xp = array_namespace(signal)
    residual = axis.t * (-rate)
    residual = xp.exp(residual, out=residual)
    residual *= amplitude
    residual = xp.subtract(signal, residual, out=residual)
    residual *= residual
    return residual.sum(axis=0)


def total_sum_of_squares(signal):
    """``sum (S - mean S)^2`` per voxel, the denominator of the coefficient of determination."""
    centred = signal - signal.mean(axis=0)
    centred *= centred
    return centred.sum(axis=0)

