"""The no-signal rule of the T2 fit and the per-voxel status (why a T2 is or is not valid)."""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib import t2_status
from KneeCartilageT2Lib.t2_fitting import fit_t2
from KneeCartilageT2Lib.t2_signal import FALSE_ALARM, no_signal_rule

ECHO_TIMES = np.arange(1, 9) * 10.0  # ms, 8 echoes: 7 fitted


def _rician(clean: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    real = clean + rng.normal(0.0, sigma, clean.shape)
    imaginary = rng.normal(0.0, sigma, clean.shape)
    return np.hypot(real, imaginary).astype(np.float32)


def _air_and_tissue(sigma: float = 10.0, seed: int = 0):
    """(echoes (echo, slice, row, col), tissue mask): a block of 40 ms tissue at SNR 30 in air (pure noise)."""
    shape = (4, 64, 64)
    tissue = np.zeros(shape, bool)
    tissue[:, 20:44, 20:44] = True
    clean = np.where(tissue, 300.0, 0.0)[np.newaxis] * np.exp(-ECHO_TIMES / 40.0)[:, None, None, None]
    return _rician(clean, sigma, seed), tissue


@pytest.mark.parametrize("method", ["mono", "loglinear", "noise-floor"])
def test_noise_voxels_get_no_t2_and_tissue_keeps_it(method):
    echoes, tissue = _air_and_tissue()
    kept = fit_t2(echoes, ECHO_TIMES, method=method, drop_no_signal=False)
    dropped = fit_t2(echoes, ECHO_TIMES, method=method)
    air = ~tissue
    if method == "mono":
        assert kept.valid[air].mean() > 0.1  # the problem: pure noise given a T2
    assert dropped.valid[air].mean() < 1e-3
    assert np.array_equal(dropped.valid[tissue], kept.valid[tissue])
    assert np.array_equal(dropped.t2_ms[tissue], kept.t2_ms[tissue])
    assert dropped.parameters["n_no_signal"] == int(np.count_nonzero(dropped.status == t2_status.NO_SIGNAL))
    assert dropped.parameters["n_no_signal"] > 0.99 * air.sum()
    assert not np.any(dropped.status[tissue] == t2_status.NO_SIGNAL)
    assert dropped.parameters["no_signal_rule"].startswith("sum of squared fitted echoes")
    assert kept.parameters["n_no_signal"] == 0 and kept.parameters["no_signal_rule"].startswith("off")


def test_the_threshold_is_the_chi_square_level_of_the_measured_noise():
    echoes, _ = _air_and_tissue(sigma=10.0)
    rule = no_signal_rule(echoes, 7)
    assert rule.sigma == pytest.approx(10.0, rel=0.05)
    noise = _rician(np.zeros((7, 200000)), rule.sigma, seed=5)
    assert np.mean(~rule.no_signal(noise)) < 20 * FALSE_ALARM  # pure noise almost never kept
    weak = _rician(np.full((7, 20000), 4.0 * rule.sigma), rule.sigma, seed=6)
    assert np.mean(rule.no_signal(weak)) < 1e-3  # a signal of 4 sigma in every echo is kept


def test_a_short_t2_with_a_bright_first_echo_is_kept_though_its_energy_is_low():
    echoes, _ = _air_and_tissue(sigma=10.0)
    rule = no_signal_rule(echoes, 7)
    sigma = rule.sigma
    # First fitted echo at 6 sigma, the six later ones at noise level: the energy (36 + 6 sigma^2)
    # stays under the 7-echo level (54.6 sigma^2), the first echo alone is above the one-echo level
    # (27.6 sigma^2): a T2 of a few ms, not noise.
    short = np.full((7, 3), sigma, np.float32)
    short[0] = [6.0 * sigma, 5.0 * sigma, 1.5 * sigma]
    assert rule.no_signal(short).tolist() == [False, True, True]
    assert (short ** 2).sum(axis=0)[0] <= rule.energy_threshold  # so the energy test alone would drop it


@pytest.mark.parametrize("case", ["noise-free", "zero background", "tissue everywhere"])
def test_rule_stays_off_when_the_noise_cannot_be_measured(case):
    echoes, tissue = _air_and_tissue()
    clean = np.where(tissue, 300.0, 0.0)[np.newaxis] * np.exp(-ECHO_TIMES / 40.0)[:, None, None, None]
    if case == "noise-free":
        echoes = clean.astype(np.float32)
    elif case == "zero background":
        echoes = np.where(tissue[np.newaxis], echoes, 0.0).astype(np.float32)
    else:  # dim noise-free tissue where the air was: its darkest voxels must not be taken for noise
        dim = np.where(tissue, 300.0, 20.0 + np.arange(64)[None, None, :])[np.newaxis]
        echoes = (dim * np.exp(-ECHO_TIMES / 60.0)[:, None, None, None]).astype(np.float32)
    fit = fit_t2(echoes, ECHO_TIMES)
    assert fit.parameters["no_signal_rule"].startswith("off:")
    assert fit.parameters["n_no_signal"] == 0
    assert fit.valid[tissue].all()


def test_a_given_noise_sd_is_used_and_zero_turns_the_rule_off():
    echoes, tissue = _air_and_tissue(sigma=10.0)
    given = fit_t2(echoes, ECHO_TIMES, method="noise-floor", noise_sigma=10.0)
    assert "sigma 10 (given)" in given.parameters["no_signal_rule"]
    assert given.valid[~tissue].mean() < 1e-3
    zero = fit_t2(echoes, ECHO_TIMES, method="noise-floor", noise_sigma=0.0)
    assert zero.parameters["no_signal_rule"].startswith("off:")


def test_status_tells_no_signal_failed_and_out_of_range_apart():
    decays = np.stack([
        300.0 * np.exp(-ECHO_TIMES / 40.0),  # valid
        300.0 * np.exp(-ECHO_TIMES / 400.0),  # T2 above the range (fluid)
        300.0 * np.exp(ECHO_TIMES / 40.0),  # growing: negative T2, below the range
        np.zeros_like(ECHO_TIMES),  # nothing at all: no decay to fit
    ], axis=1)
    echoes = decays.reshape(len(ECHO_TIMES), 1, 1, 4).astype(np.float32)
    fit = fit_t2(echoes, ECHO_TIMES, noise_sigma=None)
    codes = fit.status.reshape(-1)
    assert codes[0] == t2_status.VALID and codes[1] == t2_status.ABOVE_RANGE
    assert codes[2] == t2_status.BELOW_RANGE
    assert codes[3] == t2_status.FIT_FAILED  # not "no signal": no noise can be measured, so the rule is off
    assert [fit.parameters[key] for key in ("n_valid", "n_t2_above_range", "n_t2_below_range", "n_fits_failed")] \
        == [1, 1, 1, 1]
    assert np.array_equal(fit.valid.reshape(-1), codes == t2_status.VALID)


def test_status_outside_the_mask_is_not_fitted():
    echoes, tissue = _air_and_tissue()
    fit = fit_t2(echoes, ECHO_TIMES, mask=tissue)
    assert np.all(fit.status[~tissue] == t2_status.NOT_FITTED)
    assert np.all(fit.status[tissue] == t2_status.VALID)


def test_t2map_drops_noise_voxels_unless_asked_to_keep_them(tmp_path, capsys):
    import json

    import SimpleITK as sitk

    from KneeCartilageT2Lib.cli import main
    from KneeCartilageT2Lib.volume_io import read_volume

    echoes, tissue = _air_and_tissue()
    sitk.WriteImage(sitk.GetImageFromArray(echoes, isVector=False), str(tmp_path / "echoes.nrrd"))
    (tmp_path / "echoes.json").write_text(json.dumps({"EchoTimes": ECHO_TIMES.tolist()}))
    nonzero = {}
    for flag in ([], ["--keep-noise-voxels"]):
        out = tmp_path / ("t2%s.nrrd" % len(flag))
        assert main(["t2map", str(tmp_path / "echoes.nrrd"), "-o", str(out)] + flag) == 0
        text = capsys.readouterr().out
        nonzero[bool(flag)] = read_volume(out).array[~tissue] > 0
        assert ("no-signal rule: off" in text) == bool(flag)
        assert "no signal" in text and "above the range" in text
    assert nonzero[True].mean() > 0.1 and nonzero[False].mean() < 1e-3


@pytest.mark.parametrize("method", ["mono", "loglinear"])
def test_a_given_noise_sd_drives_the_rule_for_every_method(method):
    # A background of exact zeros (a masked or zero-filled export): the noise cannot be measured there, so
    # the rule is off unless the noise SD is given, and it was given in vain for methods other than noise-floor.
    echoes, tissue = _air_and_tissue(sigma=10.0)
    noisy_tissue_only = np.where(tissue[np.newaxis], echoes, 0.0).astype(np.float32)
    measured = fit_t2(noisy_tissue_only, ECHO_TIMES, method=method)
    assert measured.parameters["no_signal_rule"].startswith("off:")
    given = fit_t2(noisy_tissue_only, ECHO_TIMES, method=method, noise_sigma=10.0)
    assert "sigma 10 (given)" in given.parameters["no_signal_rule"]
    assert given.parameters["n_no_signal"] == int((~tissue).sum())  # the zeros: no signal
    assert np.array_equal(given.valid[tissue], measured.valid[tissue])
    assert given.noise_sigma is None  # the fit's model itself has no noise term


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "ten"])
def test_an_unusable_noise_sd_is_refused_for_every_method(bad):
    from KneeCartilageT2Lib.errors import InputError

    echoes, _ = _air_and_tissue()
    with pytest.raises(InputError, match="noise SD must be a finite number"):
        fit_t2(echoes, ECHO_TIMES, method="mono", noise_sigma=bad)


@pytest.mark.parametrize("coils", [0, -2, 1.5])
def test_a_channel_count_that_is_no_positive_integer_is_refused_not_taken_for_missing_background(coils):
    from KneeCartilageT2Lib.errors import InputError

    echoes, _ = _air_and_tissue()
    with pytest.raises(InputError, match="receive channels must be a positive integer"):
        fit_t2(echoes, ECHO_TIMES, method="mono", n_coils=coils)
    with pytest.raises(InputError, match="receive channels"):
        no_signal_rule(echoes, 7, n_coils=coils)


def test_a_noise_sd_that_is_no_number_turns_the_rule_off_without_calling_the_image_noise_free():
    echoes, _ = _air_and_tissue()
    assert "noise-free" in no_signal_rule(echoes, 7, sigma=0.0).description
    unusable = no_signal_rule(echoes, 7, sigma=float("nan")).description
    assert unusable.startswith("off:") and "noise-free" not in unusable


@pytest.mark.parametrize("method", ["mono", "noise-floor"])
def test_torch_backend_applies_the_same_no_signal_rule(method):
    torch = pytest.importorskip("torch")
    echoes, tissue = _air_and_tissue()
    reference = fit_t2(echoes, ECHO_TIMES, method=method)
    on_torch = fit_t2(echoes, ECHO_TIMES, method=method, backend="torch", device="cpu")
    assert on_torch.parameters["backend"] == "torch"
    assert np.array_equal(on_torch.status, reference.status)
    assert on_torch.parameters["n_no_signal"] == reference.parameters["n_no_signal"] > 0.99 * (~tissue).sum()
    assert on_torch.valid[~tissue].mean() < 1e-3
    # the rule itself takes a block on the fit's device as well as a numpy one
    rule = no_signal_rule(echoes, 7)
    block = echoes[1:].reshape(7, -1)
    quiet = rule.no_signal(torch.from_numpy(np.ascontiguousarray(block)))
    assert quiet.dtype == torch.bool and np.array_equal(quiet.numpy(), rule.no_signal(block))
