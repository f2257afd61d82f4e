"""Signal models of T2 decay and their least-squares pieces, vectorised over voxels.

Every function here works on a block of voxels at once: ``signal`` is an
``(echo, voxel)`` float32 array holding the decays of the echoes used for the
fit, one column per voxel. The same code runs on numpy arrays and on torch
tensors (CPU or CUDA): :func:`array_namespace` picks the module from the
argument, so the torch backend is exactly the numpy algorithm.

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

import sys
from typing import Optional, Tuple

import numpy as np


def array_namespace(array):
    """``numpy`` for numpy arrays, ``torch`` for torch tensors (imported only when a tensor is given)."""
    if isinstance(array, np.ndarray):
        return np
    return sys.modules["torch"]


def as_like(values, like):
    """``values`` (anything array-like) as an array of ``like``'s kind, dtype and device."""
    if isinstance(like, np.ndarray):
        return np.asarray(values, dtype=like.dtype)
    torch = sys.modules["torch"]
    return torch.as_tensor(np.asarray(values), dtype=like.dtype, device=like.device)


def take_columns(block, indices):
    """``block[:, indices]`` as a C-contiguous array (numpy's fancy indexing would return a strided one)."""
    if isinstance(block, np.ndarray):
        return np.take(block, indices, axis=1)
    return block.index_select(1, indices)


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
    logs = xp.log(xp.where(positive, signal, 1.0))
    weights = xp.where(positive, signal * signal, 0.0)
    sums = axis.powers @ weights
    moments = axis.powers01 @ (weights * logs)
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
    decay = xp.exp(axis.t * (-rate))
    residual = signal - amplitude * decay
    cost = (residual * residual).sum(axis=0)
    gradient = axis.powers01 @ (decay * residual)
    curvature = axis.powers @ (decay * decay)
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
    decay_sq = xp.exp(axis.t * (-2.0 * rate))
    squared = amplitude * amplitude * decay_sq
    model = xp.sqrt(squared + floor)
    residual = signal - model
    cost = (residual * residual).sum(axis=0)
    weight = squared / model
    gradient = axis.powers01 @ (weight * residual)
    curvature = axis.powers @ (weight * weight)
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


def total_sum_of_squares(signal):
    """``sum (S - mean S)^2`` per voxel, the denominator of the coefficient of determination."""
    centred = signal - signal.mean(axis=0)
    return (centred * centred).sum(axis=0)


def model_names() -> Tuple[str, ...]:
    return ("mono", "loglinear", "noise-floor")


def evaluator_for(method: str):
    """The evaluation function of a nonlinear method, or None for the closed-form log-linear fit."""
    return {"mono": evaluate_mono, "noise-floor": evaluate_noise_floor}.get(method)


def floor_per_voxel(floor_value: Optional[float], scale):
    """The noise floor ``F`` expressed in each voxel's normalised units (``F / scale^2``)."""
    if floor_value is None:
        return None
    return float(floor_value) / (scale * scale)
