"""Noise level of magnitude MR images, measured in the image background.

In air the complex MR signal is zero-mean Gaussian noise of SD ``sigma`` per
real/imaginary channel. Its magnitude is Rayleigh distributed for one receive
channel and central-chi with ``2 L`` degrees of freedom for a sum-of-squares
combination of ``L`` channels; either way ``E[M^2] = 2 L sigma^2``. That
``sigma`` is what the noise-floor T2 model needs (``F = 2 L sigma^2``).

:func:`estimate_background_sigma` finds the background by itself:

1. The first echo (the brightest tissue, so the cleanest separation of tissue
   from air) is the reference. Exact zeros are left out: scanners write zeros
   where nothing was reconstructed (zero-filled or masked regions), which carry
   no noise.
2. On the reference, ``sigma`` is the fixed point of a truncated second moment.
   The voxels below the cut ``c = k sqrt(2 L) sigma`` (``k = threshold`` times
   the RMS background magnitude) are taken as background and
   ``sigma^2 = mean(M^2 | M < c) / (2 L g)``, where
   ``g = P(L + 1, x) / P(L, x)``, ``x = c^2 / (2 sigma^2) = k^2 L`` (P the
   regularised lower incomplete gamma function), corrects the truncation
   exactly for chi noise. Started from a low quantile it climbs to the lowest
   fixed point, the background level, before tissue intensities can enter.
3. The final ``sigma`` is the plain second moment ``sqrt(mean(M^2) / (2 L))`` of
   the *other* echoes in those background voxels: their noise is independent of
   the reference's, so the selection does not bias them (one-echo input keeps
   the truncated estimate of step 2).

Limits: the estimate needs some air in the field of view (at least
``min_voxels`` background voxels) and assumes the vendor did not filter or clip
the background. Some scanners (the GE exam in the project's test data, for
example) write a background that is mostly exact zeros; the estimate is then
only indicative and a value measured by the user should be passed instead.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .errors import InputError

DEFAULT_THRESHOLD = 1.5
MIN_BACKGROUND_VOXELS = 1000
START_QUANTILE = 0.01
MAX_FIXED_POINT_STEPS = 1000


def estimate_background_sigma(
    echoes: np.ndarray,
    n_coils: int = 1,
    background_mask: Optional[np.ndarray] = None,
    threshold: float = DEFAULT_THRESHOLD,
    min_voxels: int = MIN_BACKGROUND_VOXELS,
) -> float:
    """Noise SD ``sigma`` per receive channel (image intensity units) from the background.

    Args:
        echoes: magnitude images ``(echo, slice, row, col)``, or one ``(slice, row, col)`` image.
        n_coils: number of receive channels ``L`` combined by sum of squares (1: Rayleigh background).
        background_mask: optional ``(slice, row, col)`` boolean mask of air; when given, ``sigma`` is
            ``sqrt(mean(M^2) / (2 L))`` over those voxels of every echo and no search is done.
        threshold: ``k`` of the automatic search: background = reference below ``k sqrt(2 L) sigma``
            (1.5 keeps about 89 % of Rayleigh background and 99.7 % of 8-channel chi background).
        min_voxels: fewest background voxels accepted before giving up with :class:`InputError`.

    Returns:
        ``sigma`` as a float, in the images' intensity units.
    """
    stack = _as_echo_stack(echoes)
    coils = check_coils(n_coils)
    if background_mask is not None:
        return _masked_sigma(stack, np.asarray(background_mask, dtype=bool), coils, min_voxels)
    sigma, background = find_background(stack, coils, threshold, min_voxels)
    if stack.shape[0] == 1:
        return float(sigma)
    return later_echo_sigma(stack, background, coils)


def later_echo_sigma(stack: np.ndarray, background: np.ndarray, n_coils: int = 1) -> float:
    """Step 3 above: ``sqrt(mean(M^2) / (2 L))`` over ``background`` in every echo after the first."""
    others = stack[1:, background].astype(np.float64)
    return float(np.sqrt(np.mean(others * others) / (2.0 * n_coils)))


def find_background(stack: np.ndarray, n_coils: int = 1, threshold: float = DEFAULT_THRESHOLD,
                    min_voxels: int = MIN_BACKGROUND_VOXELS):
    """Steps 1 and 2 above on an ``(echo, slice, row, col)`` stack: ``(sigma of the first echo, background mask)``.

    The mask is ``(slice, row, col)`` bool: the nonzero first-echo voxels below the cut.
    :class:`InputError` when fewer than ``min_voxels`` are found.
    """
    reference = stack[0]
    nonzero = reference > 0
    values = np.sort(reference[nonzero].astype(np.float64))
    if values.size < min_voxels:
        raise InputError(_too_little_background(values.size, min_voxels))
    sigma = truncated_chi_sigma(values, n_coils, threshold)
    background = nonzero & (reference < threshold * np.sqrt(2.0 * n_coils) * sigma)
    count = int(np.count_nonzero(background))
    if count < min_voxels:
        raise InputError(_too_little_background(count, min_voxels))
    return sigma, background


def truncated_chi_sigma(sorted_values: np.ndarray, n_coils: int, threshold: float) -> float:
    """Fixed point of the truncated second-moment estimator on ascending magnitudes (step 2 above)."""
    from scipy.special import gammainc

    cut_over_sigma = threshold * np.sqrt(2.0 * n_coils)
    half_cut_squared = 0.5 * cut_over_sigma ** 2
    correction = gammainc(n_coils + 1, half_cut_squared) / gammainc(n_coils, half_cut_squared)
    cumulative_squares = np.cumsum(sorted_values * sorted_values)
    start = float(sorted_values[int(START_QUANTILE * (sorted_values.size - 1))]) / np.sqrt(2.0 * n_coils)
    sigma = max(start, float(sorted_values[0]), 1e-12)
    for _ in range(MAX_FIXED_POINT_STEPS):
        below = int(np.searchsorted(sorted_values, cut_over_sigma * sigma, side="left"))
        if below < 2:
            sigma *= 1.5
            continue
        updated = float(np.sqrt(cumulative_squares[below - 1] / below / (2.0 * n_coils * correction)))
        if abs(updated - sigma) <= 1e-7 * sigma:
            return updated
        sigma = updated
    return sigma


def noise_floor_power(sigma: float, n_coils: int = 1) -> float:
    """``F = 2 L sigma^2``: the mean squared magnitude that noise adds to every echo."""
    return 2.0 * check_coils(n_coils) * float(sigma) ** 2


def _as_echo_stack(echoes: np.ndarray) -> np.ndarray:
    stack = np.asarray(echoes)
    if stack.ndim == 3:
        stack = stack[np.newaxis]
    if stack.ndim != 4:
        raise InputError(
            "Noise estimation needs echo images (echo, slice, row, col) or one 3D image; got shape %s."
            % (stack.shape,)
        )
    return stack


def check_coils(n_coils) -> int:
    """``n_coils`` (receive channels ``L``, combined by sum of squares) as an int; InputError unless it is a
    positive integer."""
    coils = int(n_coils)
    if coils < 1 or coils != n_coils:
        raise InputError("The number of receive channels must be a positive integer (1 for Rayleigh noise); got %r." % n_coils)
    return coils


def _masked_sigma(stack: np.ndarray, mask: np.ndarray, coils: int, min_voxels: int) -> float:
    if mask.shape != stack.shape[1:]:
        raise InputError(
            "Background mask shape %s does not match the images %s: draw the mask on the echo images."
            % (mask.shape, stack.shape[1:])
        )
    count = int(np.count_nonzero(mask))
    if count < min(min_voxels, 100):
        raise InputError(_too_little_background(count, min(min_voxels, 100)))
    values = stack[:, mask].astype(np.float64)
    return float(np.sqrt(np.mean(values * values) / (2.0 * coils)))


def _too_little_background(count: int, needed: int) -> str:
    return (
        "Only %d background (air) voxels were found, %d are needed to estimate the noise level. "
        "Give the noise SD explicitly (noise_sigma / --noise-sigma, measured in an air region), "
        "or use the 'mono' method." % (count, needed)
    )
