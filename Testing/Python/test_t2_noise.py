"""Background noise estimation on synthetic magnitude images with known sigma (Rayleigh and chi noise)."""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.t2_noise import estimate_background_sigma, noise_floor_power, truncated_chi_sigma

TE_MS = 10.0 * np.arange(1, 8)


def knee_like_stack(sigma, n_coils=1, seed=0, shape=(6, 96, 96)):
    """Echoes of an elliptical object (textured, T2 40 ms) in air, magnitude of L-channel sum of squares."""
    rng = np.random.default_rng(seed)
    _, rows, cols = np.indices(shape)
    inside = ((rows - 48) / 40.0) ** 2 + ((cols - 48) / 30.0) ** 2 < 1
    amplitude = np.where(inside, 900.0 * (1 + 0.3 * np.sin(cols / 4.0)), 0.0)
    clean = amplitude * np.exp(-TE_MS[:, None, None, None] / 40.0)
    power = np.zeros(clean.shape)
    for channel in range(n_coils):
        share = clean / np.sqrt(n_coils)
        power += (share + rng.normal(0, sigma, clean.shape)) ** 2 + rng.normal(0, sigma, clean.shape) ** 2
    return np.sqrt(power).astype(np.float32), inside


@pytest.mark.parametrize("sigma", [4.0, 40.0])
@pytest.mark.parametrize("n_coils", [1, 8])
def test_background_sigma_is_recovered(sigma, n_coils):
    echoes, _ = knee_like_stack(sigma, n_coils)
    assert estimate_background_sigma(echoes, n_coils=n_coils) == pytest.approx(sigma, rel=0.03)


def test_assuming_the_wrong_channel_count_is_visible():
    echoes, _ = knee_like_stack(10.0, n_coils=4)
    assert estimate_background_sigma(echoes, n_coils=1) > 1.5 * 10.0


def test_zero_filled_regions_are_not_taken_for_noise():
    echoes, _ = knee_like_stack(10.0)
    echoes[:, :, :, :20] = 0.0  # scanner-masked band: exact zeros carry no noise
    assert estimate_background_sigma(echoes) == pytest.approx(10.0, rel=0.03)


def test_explicit_background_mask_uses_the_second_moment():
    echoes, inside = knee_like_stack(12.0)
    air = ~inside[0]
    air_mask = np.broadcast_to(air, echoes.shape[1:])
    assert estimate_background_sigma(echoes, background_mask=air_mask) == pytest.approx(12.0, rel=0.03)
    with pytest.raises(InputError, match="mask"):
        estimate_background_sigma(echoes, background_mask=air[:10])


def test_truncated_fixed_point_on_pure_rayleigh_samples():
    rng = np.random.default_rng(3)
    samples = np.sort(np.hypot(rng.normal(0, 7.0, 200000), rng.normal(0, 7.0, 200000)))
    assert truncated_chi_sigma(samples, 1, 2.0) == pytest.approx(7.0, rel=0.01)


def test_no_background_is_an_input_error_that_suggests_giving_sigma():
    rng = np.random.default_rng(1)
    tissue_only = rng.uniform(500, 1000, (4, 5, 10, 10)).astype(np.float32)
    with pytest.raises(InputError, match="noise"):
        estimate_background_sigma(tissue_only)


def test_noise_floor_power_and_channel_validation():
    assert noise_floor_power(3.0, 4) == pytest.approx(72.0)
    with pytest.raises(InputError):
        noise_floor_power(3.0, 0)
