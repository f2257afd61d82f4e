"""T2 maps from multi-echo spin-echo images: the public entry point.

:func:`fit_t2` fits every voxel (or every voxel of a mask) of an echo stack
``(echo, slice, row, col)`` and returns a :class:`T2FitResult` of
``(slice, row, col)`` maps. Methods (:data:`METHODS`):

``mono``
    The reference pipeline's model: ``S = A exp(-(TE - TE_first)/T2)`` on echoes
    2..N (the first echo is left out because stimulated echoes inflate it),
    least squares over ``(A, 1/T2)`` started from the weighted log-linear fit.
    The minimum is found by variable projection (A eliminated in closed form,
    safeguarded Newton on 1/T2, :mod:`.t2_varpro`): the same optimum as the
    reference's per-voxel ``curve_fit`` Levenberg-Marquardt, in two or three
    vectorised iterations. With ``smooth_nonmonotone`` a decay that is not
    strictly decreasing is first replaced by its three-point running mean
    (two-point means at the ends, as the reference code does); this
    preprocessing applies to every method.
``loglinear``
    The closed-form fit of ``log S`` weighted by ``S^2`` (the inverse variance
    of ``log S``).
``noise-floor``
    ``S = sqrt(A^2 exp(-2 TE/T2) + 2 L sigma^2)`` fitted to the magnitudes by
    vectorised Levenberg-Marquardt (:mod:`.t2_levenberg`): the RMS magnitude of
    a decay under Rician (``L = 1``) or non-central chi noise (``L`` channels
    combined by sum of squares). Late echoes lifted by the noise no longer
    read as slow decay, which removes most of the mono fit's upward T2 bias
    at low SNR. Because the model is the RMS rather than the mean of a
    Rician magnitude it slightly over-corrects where every echo is well above
    the noise (median T2 0.3 to 1.5 ms low at SNR 20, mean bias still below
    the mono fit's): see
    ``benchmarks/bench_t2_accuracy.py``. Decays whose echoes after the first
    are all at the noise floor have no measurable T2 and are marked invalid.
    ``sigma`` is measured in the image background
    (:func:`estimate_background_sigma`) unless given.

All methods compute in float32 (T2 agrees with float64 to about 1e-4 ms;
R^2 to about 1e-5). ``s0`` is the fitted amplitude at TE = 0 for every
method. A voxel is valid when it is inside the mask, its fit converged, T2,
S0 and R^2 are finite and ``t2_range_ms[0] < T2 <= t2_range_ms[1]``; invalid
voxels hold 0 in every map, never NaN. Fits are also stopped as failed when
the decay exponent over the echo train leaves
:data:`~.t2_models.MEASURABLE_DECAY` (growing signal, or T2 below about
1/30 of the echo span): such decays cannot be measured from these echoes.

No-signal rule (``drop_no_signal``, on by default, every method): voxels whose
fitted echoes are not clearly above the noise (background air, cortical bone)
are not fitted and get no T2 (:mod:`.t2_signal`: the energy of the fitted
echoes against a chi-square level for noise of the background's SD, at most
one pure-noise voxel in a million kept). It stays off, and ``parameters`` says
why, when the noise SD cannot be measured (no air, a noise-free image, a
background of zeros). ``status`` says per voxel why a T2 is or is not valid
(:mod:`.t2_status`: no signal, fit failed, T2 below or above the range).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .errors import InputError
from .exam import MeseExam, validate_exam
from .t2_blocks import NUMPY_BLOCK_VOXELS, FitMaps, VoxelSelection, default_thread_count, gather_block, run_blocks
from .t2_noise import check_coils, estimate_background_sigma, noise_floor_power
from .t2_signal import NoSignalRule, no_signal_rule, off
from .t2_solver import MAX_ITERATIONS, STEP_TOLERANCE, BlockFit, fit_voxel_block
from .t2_status import ABOVE_RANGE, BELOW_RANGE, FIT_FAILED, NO_SIGNAL, VALID, count_codes, fitted_status

METHODS = ("mono", "loglinear", "noise-floor")
BACKENDS = ("numpy", "torch")

__all__ = ["METHODS", "T2FitResult", "estimate_background_sigma", "fit_exam", "fit_t2"]


@dataclass
class T2FitResult:
    """T2 maps of one fit; every map is ``(slice, row, col)``.

    Attributes:
        t2_ms: float32 T2 in ms; 0 where invalid.
        s0: float32 fitted amplitude extrapolated to TE = 0 (image intensity units); 0 where invalid.
        r2: float32 coefficient of determination of the fit on the echoes used; 0 where invalid.
        valid: bool; inside the mask, converged, finite, T2 within ``t2_range_ms``.
        method: the method used (one of :data:`METHODS`).
        echo_times_used_ms: TEs (ms) of the echoes that entered the fit.
        noise_sigma: noise SD per receive channel used by the noise-floor method, else None.
        parameters: every option used, for provenance, plus counts: ``n_voxels_fitted`` (the
            voxels selected, no-signal ones included), ``n_valid``, ``n_no_signal`` (no signal above
            the noise, not fitted), ``n_fits_failed`` (singular, non-finite, rate outside the
            measurable window, amplitude under the noise floor, or not converged),
            ``n_t2_below_range`` and ``n_t2_above_range``; ``no_signal_rule`` says what that rule did
            or why it was off.
        status: uint8 :mod:`.t2_status` code per voxel (why T2 is valid or not); None for results
            read back from a T2 map file, where only ``valid`` is known.
    """

    t2_ms: np.ndarray
    s0: np.ndarray
    r2: np.ndarray
    valid: np.ndarray
    method: str
    echo_times_used_ms: np.ndarray
    noise_sigma: Optional[float] = None
    parameters: dict = field(default_factory=dict)
    status: Optional[np.ndarray] = None


def fit_t2(
    echoes,
    echo_times_ms,
    method: str = "mono",
    mask=None,
    t2_range_ms=(0.0, 100.0),
    exclude_first_echo: bool = True,
    smooth_nonmonotone: bool = False,
    noise_sigma: Optional[float] = None,
    n_coils: int = 1,
    backend: str = "numpy",
    device: str = "auto",
    progress=None,
    cancel=None,
    n_threads: Optional[int] = None,
    drop_no_signal: bool = True,
) -> T2FitResult:
    """Fit T2 in every voxel of ``echoes`` (``(echo, slice, row, col)``, magnitude) or of ``mask``.

    Args:
        echo_times_ms: one TE per echo, ms, strictly increasing.
        method: ``"mono"``, ``"loglinear"`` or ``"noise-floor"`` (see the module docstring).
        mask: optional ``(slice, row, col)`` array; only nonzero voxels are fitted.
        t2_range_ms: ``(low, high)``; valid T2 satisfies ``low < T2 <= high``.
        exclude_first_echo: leave the first echo out of the fit (the reference's choice).
        smooth_nonmonotone: three-point running mean of decays that are not strictly decreasing.
        noise_sigma: noise SD per channel (image intensity units) for ``noise-floor`` and for the no-signal
            rule of every method; estimated from the background if None.
        n_coils: receive channels ``L`` of the noise model and of the no-signal rule (1: Rician); a positive integer.
        backend: ``"numpy"`` (CPU threads) or ``"torch"`` (same algorithm on ``device``).
        device: torch device: ``"auto"`` (CUDA when available, else the numpy backend, which is
            faster on a CPU), ``"cpu"`` or ``"cuda[:N]"``.
        progress: callback ``(fraction, stage)`` called after every block of voxels.
        cancel: a :class:`~KneeCartilageT2Lib.progress.CancelToken` polled between blocks.
        n_threads: numpy worker threads (default: the CPU count, at most 8).
        drop_no_signal: apply the no-signal rule (module docstring); False fits every selected voxel
            (``knee-t2 t2map --keep-noise-voxels``).
    """
    method = _check_method(method)
    echoes = _check_echoes(echoes)
    times = _check_echo_times(echo_times_ms, echoes.shape[0])
    used = fitted_echo_rows(echoes.shape[0], exclude_first_echo)
    low, high = _check_range(t2_range_ms)
    selection = _selection(mask, echoes.shape[1:])
    n_coils = check_coils(n_coils)
    given_sigma = _given_noise_sigma(noise_sigma)
    used_times = times[used]
    rule = (no_signal_rule(echoes, used_times.size, n_coils, given_sigma)
            if drop_no_signal else off("turned off (keep noise voxels)"))
    # the rule's sigma is the given one or the same background estimate: the background is searched once
    sigma = _noise_sigma(method, echoes, given_sigma if given_sigma is not None else rule.sigma, n_coils)
    floor = noise_floor_power(sigma, n_coils) if sigma is not None else None
    fitter = _block_fitter(backend, device, n_threads)
    settings = dict(method=method, floor=floor, smooth=bool(smooth_nonmonotone), low=low, high=high, rule=rule)
    maps = _fit_selection(echoes, used, used_times, selection, settings, fitter, progress, cancel)
    counts = count_codes(maps.status)
    shape = echoes.shape[1:]
    parameters = {
        "method": method,
        "t2_range_ms": [low, high],
        "valid_rule": "converged, finite, %g < T2 <= %g ms" % (low, high),
        "exclude_first_echo": bool(exclude_first_echo),
        "smooth_nonmonotone": bool(smooth_nonmonotone),
        "echo_times_ms": times.tolist(),
        "noise_sigma": sigma,
        "noise_sigma_source": None if sigma is None else ("given" if noise_sigma is not None else "background estimate"),
        "n_coils": int(n_coils),
        "backend_requested": backend,
        "backend": fitter.backend,
        "device": fitter.device,
        "threads": fitter.threads,
        "block_voxels": fitter.block_voxels,
        "masked": selection.indices is not None,
        "max_iterations": MAX_ITERATIONS,
        "step_tolerance": STEP_TOLERANCE,
        "loglinear_weights": "S^2",
        "s0_reference": "TE = 0 ms",
        "n_voxels_fitted": selection.count,
        "n_valid": counts[VALID],
        "no_signal_rule": rule.description,
        "n_no_signal": counts[NO_SIGNAL],
        "n_fits_failed": counts[FIT_FAILED],
        "n_t2_below_range": counts[BELOW_RANGE],
        "n_t2_above_range": counts[ABOVE_RANGE],
    }
    return T2FitResult(
        t2_ms=maps.t2_ms.reshape(shape),
        s0=maps.s0.reshape(shape),
        r2=maps.r2.reshape(shape),
        valid=maps.valid.reshape(shape),
        method=method,
        echo_times_used_ms=used_times.copy(),
        noise_sigma=sigma,
        parameters=parameters,
        status=maps.status.reshape(shape),
    )


def fit_exam(exam: MeseExam, **kwargs) -> T2FitResult:
    """:func:`fit_t2` on a validated :class:`MeseExam` (its echoes and echo times)."""
    validate_exam(exam)
    return fit_t2(exam.echoes, exam.echo_times_ms, **kwargs)


def _fit_selection(echoes, used, used_times, selection: VoxelSelection, settings: dict, fitter: "_Fitter",
                   progress, cancel) -> FitMaps:
    """Fit the selected voxels block by block (no-signal voxels are marked, not fitted)."""
    flat = echoes.reshape(echoes.shape[0], -1)
    maps = FitMaps.empty(selection.n_total)
    rule: NoSignalRule = settings["rule"]

    def work(start: int, stop: int) -> int:
        positions = selection.positions(start, stop)
        if isinstance(positions, slice):
            positions = np.arange(start, stop)
        with np.errstate(all="ignore"):
            block = gather_block(flat, used, positions)
            quiet = rule.no_signal(block)
            maps.status[positions[quiet]] = NO_SIGNAL
            if not quiet.all():
                fit_columns = np.flatnonzero(~quiet)
                fitted = fitter.fit_block(np.ascontiguousarray(block[:, fit_columns]), used_times, settings["method"],
                                          settings["floor"], settings["smooth"])
                _store(maps, positions[fit_columns], fitted, settings["low"], settings["high"])
        return 0

    stage = "Fitting T2 (%s)" % settings["method"]
    run_blocks(selection.count, fitter.block_voxels, work, fitter.threads, progress, cancel, stage)
    return maps


def _store(maps: FitMaps, positions, fitted: BlockFit, low: float, high: float) -> None:
    """Write the results of the fitted voxels at ``positions`` (flat indices): maps and status codes."""
    t2, s0, r2 = (np.asarray(values) for values in (fitted.t2_ms, fitted.s0, fitted.r2))
    status = fitted_status(fitted.converged, t2, s0, r2, low, high)
    valid = status == VALID
    maps.t2_ms[positions] = np.where(valid, t2, 0.0)
    maps.s0[positions] = np.where(valid, s0, 0.0)
    maps.r2[positions] = np.where(valid, r2, 0.0)
    maps.status[positions] = status


@dataclass
class _Fitter:
    """How blocks are fitted: the block function, where, in what block size and with how many threads."""

    fit_block: object
    backend: str
    device: str
    block_voxels: int
    threads: int


def _block_fitter(backend: str, device: str, n_threads: Optional[int]) -> _Fitter:
    """The numpy fitter, or the torch one; torch with device 'auto' and no CUDA GPU falls back to numpy.

    The fallback runs the identical algorithm: on a CPU the numpy backend with
    its threads is the faster of the two, and it needs no torch installation.
    """
    name = (backend or "numpy").lower()
    if name not in BACKENDS:
        raise InputError("Unknown backend %r: use one of %s." % (backend, ", ".join(BACKENDS)))
    if name == "torch" and not _torch_cpu_fallback(device):
        from .t2_torch import make_torch_block_fitter

        fit, device_name, block_voxels = make_torch_block_fitter(device)
        return _Fitter(fit, "torch", device_name, block_voxels, 1)
    threads = default_thread_count() if n_threads is None else max(1, int(n_threads))
    return _Fitter(fit_voxel_block, "numpy", "cpu", NUMPY_BLOCK_VOXELS, threads)


def _torch_cpu_fallback(device: str) -> bool:
    if (device or "auto").lower() != "auto":
        return False
    try:
        import torch
    except ImportError:
        return True
    return not torch.cuda.is_available()


def _check_method(method: str) -> str:
    name = str(method).strip().lower().replace("_", "-")
    if name not in METHODS:
        raise InputError("Unknown T2 fitting method %r: use one of %s." % (method, ", ".join(METHODS)))
    return name


def _check_echoes(echoes) -> np.ndarray:
    array = np.asarray(echoes)
    if array.ndim != 4:
        raise InputError(
            "Echo images must be 4D (echo, slice, row, col); got shape %s. Load all echoes together." % (array.shape,)
        )
    if array.dtype.kind not in "fiu":
        raise InputError("Echo images must be real magnitude images; got data of type %s." % array.dtype)
    if array.dtype.kind == "f":
        _refuse_non_finite(array)
    return array


def _refuse_non_finite(array: np.ndarray) -> None:
    """InputError when any voxel holds NaN or infinity in any echo (``array``: echo, slice, row, col).

    The loaders refuse such an exam (``exam.validate_exam``); echoes given to :func:`fit_t2` directly
    are refused here too, as a fit would turn them into NaN T2 or make the noise estimate NaN. Checked one
    echo at a time, so no array as large as all the echoes is made."""
    bad = np.zeros(array.shape[1:], dtype=bool)
    for echo in array:
        bad |= ~np.isfinite(echo)
    count = int(np.count_nonzero(bad))
    if count:
        raise InputError(
            "Echo images hold NaN or infinite values in %d of %d voxels (slice, row, col): the data are "
            "corrupt or were converted wrongly. Re-export the echoes, or set those voxels to 0 (no signal) "
            "before fitting." % (count, bad.size))


def _check_echo_times(echo_times_ms, n_echoes: int) -> np.ndarray:
    times = np.asarray(echo_times_ms, dtype=np.float64).reshape(-1)
    if times.size != n_echoes:
        raise InputError("%d echo times were given for %d echo images; give one TE (ms) per echo." % (times.size, n_echoes))
    if not np.all(np.isfinite(times)) or np.any(times <= 0) or np.any(np.diff(times) <= 0):
        raise InputError(
            "Echo times must be positive and strictly increasing (ms); got %s. Order the echoes by TE."
            % np.array2string(times, precision=3)
        )
    return times


def fitted_echo_rows(n_echoes: int, exclude_first_echo: bool = True) -> slice:
    """The echoes (rows of the echo axis) a fit uses; :class:`InputError` when fewer than 2 remain.

    Called before any costly step (the network) by analyses that fit T2 later,
    so that a series with too few echoes is refused at once.
    """
    first = 1 if exclude_first_echo else 0
    if n_echoes - first < 2:
        raise InputError(
            "Only %d echo(es) remain for the T2 fit out of %d%s; T2 needs at least 2 (3 or more recommended). "
            "Use the whole multi-echo series, or a series with more echoes.%s"
            % (n_echoes - first, n_echoes, " once the first (stimulated-echo) one is left out" if first else "",
               " `knee-t2 t2map --include-first-echo` fits the first echo too." if first else "")
        )
    return slice(first, n_echoes)


def _check_range(t2_range_ms):
    try:
        low, high = (float(value) for value in t2_range_ms)
    except (TypeError, ValueError):
        raise InputError("The T2 range must be two numbers (low, high) in ms, e.g. (0, 100); got %r." % (t2_range_ms,))
    if not (np.isfinite(low) and np.isfinite(high)) or low < 0 or high <= low:
        raise InputError("The T2 range must satisfy 0 <= low < high (ms); got (%g, %g)." % (low, high))
    return low, high


def _selection(mask, volume_shape) -> VoxelSelection:
    n_total = int(np.prod(volume_shape))
    if mask is None:
        return VoxelSelection(n_total)
    mask_array = np.asarray(mask)
    if mask_array.shape != tuple(volume_shape):
        raise InputError(
            "The mask has shape %s but the echo images are %s (slice, row, col): "
            "use a mask drawn on (or resampled to) the echo images." % (mask_array.shape, tuple(volume_shape))
        )
    return VoxelSelection(n_total, np.flatnonzero(mask_array))


def _given_noise_sigma(noise_sigma) -> Optional[float]:
    """The noise SD the caller gave (per channel, image intensity units), checked; None when none was given.

    Checked for every method: the no-signal rule uses it whatever the method, and the noise-floor model too.
    """
    if noise_sigma is None:
        return None
    try:
        sigma = float(noise_sigma)
    except (TypeError, ValueError):
        sigma = float("nan")
    if not np.isfinite(sigma) or sigma < 0:
        raise InputError("The noise SD must be a finite number >= 0 (image intensity units); got %r." % (noise_sigma,))
    return sigma


def _noise_sigma(method: str, echoes: np.ndarray, given_sigma: Optional[float], n_coils: int) -> Optional[float]:
    """The noise-floor model's sigma: the given one, else measured in the background; None for other methods."""
    if method != "noise-floor":
        return None
    if given_sigma is None:
        return estimate_background_sigma(echoes, n_coils=n_coils)
    return given_sigma
