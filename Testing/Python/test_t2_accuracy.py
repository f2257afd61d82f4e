"""T2 fitting numerics: exact recovery without noise, the reference's smoothing rule, the
log-linear weights, the solvers agreeing with each other, and the noise-floor model's bias."""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib.t2_fitting import METHODS, fit_t2
from KneeCartilageT2Lib.t2_levenberg import levenberg_marquardt
from KneeCartilageT2Lib.t2_models import EchoAxis, evaluate_mono, loglinear_fit, smooth_nonmonotone
from KneeCartilageT2Lib.t2_solver import fit_voxel_block

GE_TE_MS = 6.312 * np.arange(1, 9)
OAI_TE_MS = 10.0 * np.arange(1, 8)
TRUE_T2_MS = np.linspace(10.0, 100.0, 91)


def decay_stack(echo_times, t2_ms, s0=1000.0, noise_floor=0.0):
    """Echo stack (echo, 1, 1, voxel) of S = sqrt(S0^2 exp(-2 TE/T2) + F), one voxel per T2."""
    signal = s0 * np.exp(-np.asarray(echo_times)[:, None] / np.asarray(t2_ms)[None, :])
    return np.sqrt(signal ** 2 + noise_floor).astype(np.float32)[:, None, None, :]


def rician(clean, sigma, rng):
    return np.sqrt((clean + rng.normal(0, sigma, clean.shape)) ** 2 + rng.normal(0, sigma, clean.shape) ** 2)


@pytest.mark.parametrize("echo_times", [GE_TE_MS, OAI_TE_MS], ids=["GE", "OAI"])
@pytest.mark.parametrize("method", METHODS)
def test_noiseless_decays_recover_t2_and_s0(method, echo_times):
    sigma = 25.0 if method == "noise-floor" else 0.0
    echoes = decay_stack(echo_times, TRUE_T2_MS, noise_floor=2 * sigma ** 2)
    result = fit_t2(echoes, echo_times, method=method, noise_sigma=sigma if sigma else None, t2_range_ms=(0, 150))
    assert result.valid.all()
    assert np.abs(result.t2_ms.ravel() - TRUE_T2_MS).max() < 0.01
    assert np.abs(result.s0.ravel() / 1000.0 - 1.0).max() < 1e-4  # amplitude at TE = 0
    assert result.r2.min() > 0.9999
    np.testing.assert_allclose(result.echo_times_used_ms, echo_times[1:])


def test_noise_floor_model_is_needed_for_floored_decays():
    """The same floored decays fitted mono-exponentially come out too long (the floor looks like slow decay)."""
    echoes = decay_stack(OAI_TE_MS, [30.0], noise_floor=2 * 50.0 ** 2)
    mono = fit_t2(echoes, OAI_TE_MS, method="mono").t2_ms.item()
    corrected = fit_t2(echoes, OAI_TE_MS, method="noise-floor", noise_sigma=50.0).t2_ms.item()
    assert mono > 32.0
    assert abs(corrected - 30.0) < 0.01


def test_smoothing_is_the_reference_running_mean_with_two_point_ends():
    rising = np.array([[10.0], [12.0], [8.0], [6.0]], np.float32)
    decreasing = np.array([[10.0], [9.0], [8.0], [6.0]], np.float32)
    block = np.concatenate([rising, decreasing], axis=1)
    smoothed = smooth_nonmonotone(block)
    np.testing.assert_allclose(smoothed[:, 0], [11.0, 10.0, 26.0 / 3.0, 7.0], rtol=1e-6)
    np.testing.assert_array_equal(smoothed[:, 1], decreasing[:, 0])


def test_smoothing_option_changes_only_nonmonotone_voxels():
    echoes = decay_stack(GE_TE_MS, [30.0, 50.0])
    echoes[4, 0, 0, 0] *= 1.3  # a bump in one voxel's decay
    plain = fit_t2(echoes, GE_TE_MS)
    smoothed = fit_t2(echoes, GE_TE_MS, smooth_nonmonotone=True)
    assert smoothed.t2_ms[0, 0, 1] == pytest.approx(plain.t2_ms[0, 0, 1], abs=1e-6)
    assert abs(smoothed.t2_ms[0, 0, 0] - plain.t2_ms[0, 0, 0]) > 0.1
    assert smoothed.parameters["smooth_nonmonotone"] is True


def test_loglinear_uses_signal_squared_weights():
    rng = np.random.default_rng(0)
    times = OAI_TE_MS[1:]
    signal = (800 * np.exp(-times / 35.0) + rng.normal(0, 15, times.size)).astype(np.float32)
    amplitude, rate = loglinear_fit(signal[:, None] / signal.max(), EchoAxis(times, signal[:, None]))
    slope, _ = np.polyfit(times - times[0], np.log(signal.astype(np.float64)), 1, w=signal.astype(np.float64))
    assert float(rate[0]) == pytest.approx(-slope, rel=1e-4)


def test_variable_projection_matches_levenberg_marquardt_and_float64():
    rng = np.random.default_rng(1)
    times = GE_TE_MS[1:]
    t2 = rng.uniform(15, 90, 3000)
    clean = 1000 * np.exp(-times[:, None] / t2[None, :])
    echoes = np.concatenate([np.zeros((1, t2.size)), rician(clean, 20.0, rng)]).astype(np.float32)
    fast = fit_t2(echoes[:, None, None, :], GE_TE_MS, t2_range_ms=(0, 1e4))
    double = fit_voxel_block(echoes[1:].astype(np.float64), times, "mono", tolerance=1e-9)
    signal = echoes[1:] / echoes[1:].max(axis=0)
    axis = EchoAxis(times, signal)
    start_a, start_r = loglinear_fit(signal, axis)
    _, rate, _, converged = levenberg_marquardt(signal, axis, start_a, start_r, evaluate_mono, None, 100, 1e-6)
    both = fast.valid.ravel() & converged
    assert both.mean() > 0.99
    assert np.median(np.abs(fast.t2_ms.ravel()[both] - 1.0 / rate[both])) < 1e-3
    float32_error = np.abs(fast.t2_ms.ravel() - double.t2_ms)[fast.valid.ravel()]
    assert np.percentile(float32_error, 99) < 0.01 and np.median(float32_error) < 1e-3


def test_noise_floor_is_less_biased_than_mono_at_low_snr_long_t2():
    """OAI echoes, T2 60 ms, SNR 20 (S0/sigma): Rician noise lifts the late echoes; mono reads long."""
    rng = np.random.default_rng(7)
    true_t2, sigma = 60.0, 50.0
    clean = 1000.0 * np.exp(-OAI_TE_MS[:, None] / true_t2) * np.ones((1, 6000))
    echoes = rician(clean, sigma, rng).astype(np.float32)[:, None, None, :]
    bias = {}
    for method in ("mono", "noise-floor"):
        result = fit_t2(echoes, OAI_TE_MS, method=method, noise_sigma=sigma, t2_range_ms=(0, 1e4))
        assert result.valid.mean() > 0.99
        bias[method] = float(np.mean(result.t2_ms[result.valid]) - true_t2)
    assert bias["mono"] > 1.5
    assert abs(bias["noise-floor"]) < 0.6 * bias["mono"]
