"""fit_t2 / fit_exam behaviour: masks, validity rules, no NaN, errors, progress and cancel,
threads and the torch backend giving the numpy results."""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib.errors import InputError, OperationCancelled
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.progress import CancelToken
from KneeCartilageT2Lib.t2_fitting import T2FitResult, fit_exam, fit_t2

TE_MS = 10.0 * np.arange(1, 8)


def phantom(shape=(3, 40, 50), sigma=10.0, seed=0):
    """Echo stack with T2 rising 20 -> 90 ms along columns, air (noise only) in the first 10 rows."""
    rng = np.random.default_rng(seed)
    t2 = np.broadcast_to(np.linspace(20, 90, shape[2]), shape).copy()
    s0 = np.full(shape, 1000.0)
    s0[:, :10, :] = 0.0
    clean = s0 * np.exp(-TE_MS[:, None, None, None] / t2)
    noisy = np.sqrt((clean + rng.normal(0, sigma, clean.shape)) ** 2 + rng.normal(0, sigma, clean.shape) ** 2)
    return noisy.astype(np.float32), t2


def test_result_maps_have_the_volume_shape_and_types():
    echoes, t2 = phantom()
    result = fit_t2(echoes, TE_MS)
    assert isinstance(result, T2FitResult)
    for array in (result.t2_ms, result.s0, result.r2):
        assert array.shape == t2.shape and array.dtype == np.float32
    assert result.valid.dtype == bool and result.method == "mono" and result.noise_sigma is None
    tissue = np.zeros(t2.shape, bool)
    tissue[:, 10:, :] = True
    assert result.valid[tissue].mean() > 0.99
    assert np.median(np.abs(result.t2_ms - t2)[tissue & result.valid]) < 2.0
    assert result.parameters["n_voxels_fitted"] == t2.size and result.parameters["t2_range_ms"] == [0.0, 100.0]


def test_mask_limits_the_fit_and_everything_outside_is_zero():
    echoes, _ = phantom()
    mask = np.zeros(echoes.shape[1:], bool)
    mask[1, 20:30, 5:45] = True
    result = fit_t2(echoes, TE_MS, mask=mask.astype(np.uint8))
    assert result.valid[mask].all() and not result.valid[~mask].any()
    assert not result.t2_ms[~mask].any() and not result.s0[~mask].any() and not result.r2[~mask].any()
    full = fit_t2(echoes, TE_MS)
    np.testing.assert_array_equal(result.t2_ms[mask], full.t2_ms[mask])
    assert result.parameters["n_voxels_fitted"] == mask.sum()


def test_t2_outside_the_range_is_invalid_and_zero_never_nan():  # NaN echoes are refused (test below)
    echoes, t2 = phantom(sigma=1.0)
    echoes[:, 0, 0, 0] = 0.0          # no signal
    echoes[:, 0, 0, 1] = 500.0        # constant: no decay
    echoes[:, 0, 0, 2] = 1e-3         # a faint decay, far below the noise
    echoes[:, 0, 0, 3] = -5.0         # negative
    result = fit_t2(echoes, TE_MS, t2_range_ms=(25.0, 80.0))
    for array in (result.t2_ms, result.s0, result.r2):
        assert np.all(np.isfinite(array))
    assert not result.valid[0, 0, :4].any()
    tissue = np.zeros(t2.shape, bool)
    tissue[:, 10:, :] = True
    assert result.valid[tissue & (t2 > 26) & (t2 < 79)].all()
    assert not result.valid[tissue & ((t2 < 24) | (t2 > 81))].any()
    assert np.all(result.t2_ms[~result.valid] == 0)
    wide = fit_t2(echoes, TE_MS, t2_range_ms=(0.0, 200.0))
    assert wide.valid[:, 10:, :].all()


def test_first_echo_is_excluded_by_default_and_can_be_kept():
    echoes, _ = phantom(sigma=0.0)
    echoes[0] *= 1.5  # a stimulated-echo-like first echo
    default = fit_t2(echoes, TE_MS)
    kept = fit_t2(echoes, TE_MS, exclude_first_echo=False)
    np.testing.assert_allclose(default.echo_times_used_ms, TE_MS[1:])
    np.testing.assert_allclose(kept.echo_times_used_ms, TE_MS)
    assert np.abs(default.t2_ms[:, 10:] - np.linspace(20, 90, 50)).max() < 0.01
    assert np.all(kept.t2_ms[kept.valid] < default.t2_ms[kept.valid])


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(echo_times_ms=TE_MS[:-1]), "echo times"),
        (dict(echo_times_ms=TE_MS[::-1]), "increasing"),
        (dict(method="biexponential"), "method"),
        (dict(t2_range_ms=(100, 50)), "range"),
        (dict(mask=np.ones((2, 2, 2))), "mask"),
        (dict(backend="jax"), "backend"),
        (dict(method="noise-floor", noise_sigma=-1.0), "noise"),
    ],
)
def test_bad_arguments_raise_input_errors_that_say_what_to_do(kwargs, words):
    echoes, _ = phantom()
    arguments = dict(echo_times_ms=TE_MS)
    arguments.update(kwargs)
    with pytest.raises(InputError, match="(?i)" + words):
        fit_t2(echoes, **arguments)


def test_too_few_echoes_and_wrong_dimensions_are_refused():
    echoes, _ = phantom()
    with pytest.raises(InputError, match="at least 2"):
        fit_t2(echoes[:2], TE_MS[:2])
    with pytest.raises(InputError, match="4D"):
        fit_t2(echoes[:, 0], TE_MS)


def test_non_finite_echoes_given_directly_are_refused_with_their_voxel_count():
    echoes, _ = phantom(shape=(2, 20, 20))
    echoes[3, 0, 5, 5] = np.nan  # one voxel in one echo
    echoes[0, 1, 2, 3] = np.inf
    echoes[4, 1, 2, 3] = -np.inf  # the same voxel in another echo counts once
    with pytest.raises(InputError, match=r"NaN or infinite values in 2 of 800 voxels"):
        fit_t2(echoes, TE_MS)
    mask = np.zeros(echoes.shape[1:], dtype=bool)
    mask[0, 10, 10] = True  # a mask elsewhere does not hide them: the noise estimate reads every voxel
    with pytest.raises(InputError, match="2 of 800 voxels"):
        fit_t2(echoes, TE_MS, mask=mask, method="noise-floor")


def test_progress_reaches_one_and_cancel_stops_the_fit():
    echoes, _ = phantom(shape=(4, 128, 160))
    reports = []
    fit_t2(echoes, TE_MS, progress=lambda fraction, stage: reports.append((fraction, stage)), n_threads=2)
    fractions = [fraction for fraction, _ in reports]
    assert len(reports) >= 2 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert "mono" in reports[0][1]
    token = CancelToken()

    def cancel_after_first(fraction, stage):
        token.cancel()

    for threads in (1, 2):
        with pytest.raises(OperationCancelled):
            fit_t2(echoes, TE_MS, progress=cancel_after_first, cancel=token, n_threads=threads)


@pytest.mark.parametrize("method", ["mono", "loglinear", "noise-floor"])
def test_threads_and_masked_gathers_give_identical_results(method):
    echoes, _ = phantom(shape=(4, 128, 160))
    one = fit_t2(echoes, TE_MS, method=method, n_threads=1, noise_sigma=10.0)
    two = fit_t2(echoes, TE_MS, method=method, n_threads=2, noise_sigma=10.0)
    np.testing.assert_array_equal(one.t2_ms, two.t2_ms)
    np.testing.assert_array_equal(one.valid, two.valid)


def test_noise_floor_reports_the_background_sigma():
    echoes, t2 = phantom(shape=(4, 80, 60), sigma=20.0)
    result = fit_t2(echoes, TE_MS, method="noise-floor")
    assert result.noise_sigma == pytest.approx(20.0, rel=0.05)
    assert result.parameters["noise_sigma_source"] == "background estimate"
    given = fit_t2(echoes, TE_MS, method="noise-floor", noise_sigma=20.0)
    assert given.noise_sigma == 20.0 and given.parameters["noise_sigma_source"] == "given"


def test_fit_exam_validates_and_fits_the_exam():
    echoes, _ = phantom()
    exam = MeseExam(echoes=echoes, echo_times_ms=TE_MS)
    result = fit_exam(exam, method="loglinear")
    assert result.method == "loglinear" and result.t2_ms.shape == exam.volume_shape
    with pytest.raises(InputError):
        fit_exam(MeseExam(echoes=echoes, echo_times_ms=TE_MS[::-1]))


@pytest.mark.parametrize("method", ["mono", "loglinear", "noise-floor"])
def test_torch_backend_on_cpu_agrees_with_numpy(method):
    pytest.importorskip("torch")
    echoes, _ = phantom(shape=(2, 64, 60), sigma=15.0)
    reference = fit_t2(echoes, TE_MS, method=method, noise_sigma=15.0)
    result = fit_t2(echoes, TE_MS, method=method, noise_sigma=15.0, backend="torch", device="cpu")
    assert result.parameters["device"] == "cpu"
    agree = reference.valid & result.valid
    assert (reference.valid != result.valid).mean() < 0.002
    assert np.abs(reference.t2_ms - result.t2_ms)[agree].max() < 0.01


def test_torch_refuses_cuda_when_there_is_none_and_auto_falls_back_to_numpy():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    echoes, _ = phantom(shape=(1, 12, 12))
    with pytest.raises(InputError, match="CUDA"):
        fit_t2(echoes, TE_MS, backend="torch", device="cuda")
    automatic = fit_t2(echoes, TE_MS, backend="torch", device="auto")
    assert automatic.parameters["backend"] == "numpy" and automatic.parameters["backend_requested"] == "torch"
