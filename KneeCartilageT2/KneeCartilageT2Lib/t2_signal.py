"""The no-signal rule: voxels whose echoes are not clearly above the noise get no T2.

Background air, cortical bone and tendon hold only noise at the echo times of a
T2 protocol, yet a least-squares fit still returns a T2 for many of them (a
quarter of pure-noise voxels fall inside 0-100 ms with the mono fit), which
paints a speckled, coloured background in every T2 display. This rule marks
such voxels invalid before they are fitted, for every method.

The test is on the energy of the fitted echoes, ``E = sum M_i^2`` over the
``N`` echoes that enter the fit (magnitudes, before any smoothing). In a
voxel that holds only noise, every echo's magnitude is Rayleigh (one receive
channel) or central chi (``L`` channels combined by sum of squares) with
``M^2 / sigma^2`` a chi-square variable of ``2 L`` degrees of freedom, and the
echoes are independent, so ``E / sigma^2`` is chi-square with ``2 L N``
degrees of freedom. A voxel is "no signal" when ``E`` does not exceed the
level that pure noise exceeds with probability :data:`FALSE_ALARM` (1e-6):

    ``E <= sigma^2 * chi2.isf(FALSE_ALARM, 2 L N)``

so at most about one noise voxel per million keeps a T2, whatever the number
of echoes or channels. For one channel and 7 fitted echoes the level is an RMS
echo magnitude of 2.8 sigma (pure noise: mean 1.25 sigma, and one echo alone
exceeds 3 sigma in 1 % and 4 sigma in 0.03 % of voxels), i.e. about 5 sigma at
the first fitted echo of a 35 ms cartilage decay: far below the signal of any
tissue whose T2 can be measured.

A short T2 puts its signal into the first fitted echo alone, and the energy of
the later, noise-only echoes dilutes it (a 10 ms decay at 5.4 sigma on its
first fitted echo sits below the energy level over 6 echoes). So a voxel also
has signal when its first fitted echo by itself exceeds the one-echo level,
``M_1^2 > sigma^2 * chi2.isf(FALSE_ALARM, 2 L)`` (5.3 sigma for one channel);
the two tests together keep at most about two noise voxels per million.

``sigma`` comes from :func:`~.t2_noise.find_background` (or is given). The
rule stays off, and says why, when it cannot be trusted:

* no background could be found (no air in the field of view, a noise-free
  phantom, a background of exact zeros);
* the given or measured ``sigma`` is 0;
* the "background" decays along the echo train: the mean of the last echo over
  it is more than :data:`MAX_BACKGROUND_DECAY` times below the mean of echo 2.
  Noise has the same level at every echo; tissue decays (T2 of 200 ms already
  gives a ratio of 1.2 over 40 ms), so the lowest intensities found were dim
  tissue, not air, and a ``sigma`` measured on them would remove tissue.

Why one ``sigma`` for the whole image, though an intensity-corrected background (the GE exam of
the test data) is far noisier near the body than in its quietest corner: a local ``sigma`` map
was measured on that exam and not adopted. Air (at least 5 pixels in-plane from any voxel whose
first echo exceeds 150) keeps a T2 in 19.8 % of voxels without the rule and 9.2 % with it; a map
of the air's own RMS noise over 9, 15 or 31 pixel windows would bring that to 0.01-0.2 %, but
the noise next to the body reaches a ``sigma`` of 30-50, and carried into the knee (nearest air
value) it removed 45 (15 px), 40 (31 px) and 2 (63 px) of the 3079 cartilage voxels with a T2 in
the bootstrap model's label; one ``sigma`` per slice (13-21) still removed 1. Found without the
body mask (the truncated-moment search run locally), the "background" spread into the knee
itself. The echoes of air voxels correlate 0.68 at one voxel, but mostly because the noise
level changes from voxel to voxel: scaled by the RMS of their 5-pixel (15-pixel) neighbourhood
they correlate 0.1 (0.34), so fewer effective degrees of freedom are not what keeps the rule
from removing more air.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import InputError
from .t2_arrays import array_namespace
from .t2_noise import check_coils, find_background, later_echo_sigma

FALSE_ALARM = 1e-6
MAX_BACKGROUND_DECAY = 1.1


@dataclass
class NoSignalRule:
    """The rule as applied to one fit.

    Attributes:
        sigma: noise SD per receive channel (image intensity units); None when the rule is off.
        energy_threshold: the level of ``sum M_i^2`` over the fitted echoes (intensity units squared)
            at or below which a voxel has no signal; None when the rule is off.
        description: what the rule did, or why it is off (for the fit's parameters).
        first_echo_threshold: the level of ``M_1^2`` (first fitted echo, intensity units squared) above
            which a voxel has signal whatever its energy (short T2); None to test the energy only.
    """

    sigma: Optional[float]
    energy_threshold: Optional[float]
    description: str
    first_echo_threshold: Optional[float] = None

    @property
    def active(self) -> bool:
        return self.energy_threshold is not None

    def no_signal(self, block):
        """Bool per voxel of an ``(echo, voxel)`` block of the fitted echoes: True where there is no signal."""
        xp = array_namespace(block)
        if not self.active:
            return xp.zeros(block.shape[1:], dtype=bool)
        quiet = (block * block).sum(axis=0) <= self.energy_threshold
        if self.first_echo_threshold is not None:
            quiet &= block[0] * block[0] <= self.first_echo_threshold
        return quiet


def off(reason: str) -> NoSignalRule:
    """The rule switched off, for ``reason``."""
    return NoSignalRule(None, None, "off: %s" % reason)


def no_signal_rule(echoes: np.ndarray, n_fitted_echoes: int, n_coils: int = 1,
                   sigma: Optional[float] = None) -> NoSignalRule:
    """The rule for ``echoes`` (``(echo, slice, row, col)`` magnitudes) fitted on ``n_fitted_echoes`` echoes.

    ``sigma`` given (noise SD per channel, image intensity units, e.g. ``--noise-sigma``) is used as it is;
    otherwise it is measured in the background, and the rule is off when that fails (see the module
    docstring). ``n_coils``: receive channels ``L`` (a positive integer; InputError otherwise).
    """
    n_coils = check_coils(n_coils)
    source = "given"
    if sigma is None:
        try:
            sigma, background = find_background(echoes, n_coils)
        except InputError as error:
            return off("the noise SD could not be measured in the background (%s)" % _first_sentence(error))
        decay = background_decay(echoes, background)
        if decay > MAX_BACKGROUND_DECAY:
            return off("the darkest voxels decay along the echo train (mean echo 2 / last echo %.3g > %.3g): "
                       "they are tissue, not air, so the noise SD is not known" % (decay, MAX_BACKGROUND_DECAY))
        sigma = later_echo_sigma(echoes, background, n_coils)
        source = "background estimate"
    sigma = float(sigma)
    if sigma == 0:
        return off("the noise SD is 0 (a noise-free image)")
    if not np.isfinite(sigma) or sigma < 0:
        return off("the noise SD (%s) is %g, not a noise level" % (source, sigma))
    from scipy.special import chdtri

    level = float(chdtri(2 * n_coils * int(n_fitted_echoes), FALSE_ALARM))
    first_level = float(chdtri(2 * n_coils, FALSE_ALARM))
    return NoSignalRule(sigma, level * sigma * sigma, (
        "sum of squared fitted echoes <= %.4g sigma^2 (chi-square, %d degrees of freedom, false-alarm %g) and "
        "first fitted echo squared <= %.4g sigma^2 (%d degrees of freedom), sigma %.4g (%s)"
        % (level, 2 * n_coils * int(n_fitted_echoes), FALSE_ALARM, first_level, 2 * n_coils, sigma, source)),
        first_level * sigma * sigma)


def background_decay(echoes: np.ndarray, background: np.ndarray) -> float:
    """Mean of echo 2 over the mean of the last echo in ``background`` (echoes 1 and 2 for two echoes).

    About 1 for noise; above 1 for tissue. Echo 1 is left out when it can be: it chose the background,
    so its values there are biased low.
    """
    first, last = (1, echoes.shape[0] - 1) if echoes.shape[0] >= 3 else (0, echoes.shape[0] - 1)
    early = float(np.mean(echoes[first][background], dtype=np.float64))
    late = float(np.mean(echoes[last][background], dtype=np.float64))
    if late <= 0:
        return float("inf") if early > 0 else 1.0
    return early / late


def _first_sentence(error: Exception) -> str:
    text = str(error)
    return text.split(". ")[0].rstrip(".")
