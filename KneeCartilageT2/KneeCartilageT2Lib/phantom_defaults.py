"""The demo's fallback input when the real GE exam cannot be had.

Preferred: a digital knee phantom simulated from the held-out real anatomy
(``SAG_3D_DESS_RIGHT_bones_cart_men_fib-label.nrrd``, not the one the
bootstrap model was trained on) on the GE protocol. When not even the label
maps can be had (offline machine), an analytic phantom: the cylindrical
cartilage shell of :mod:`cartilage_shell` on a bone/soft-tissue background,
with mono-exponential echoes and Rician noise, so the whole pipeline still
runs end to end without any download.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .errors import KneeT2Error
from .exam import MeseExam

DEMO_ANATOMY = "SAG_3D_DESS_RIGHT_bones_cart_men_fib-label.nrrd"
GE_ECHO_TIMES_MS = tuple(6.312 * n for n in range(1, 9))


def generate_default_phantom(out_dir, fetch: bool = True, seed: int = 0) -> Path:
    """Write a phantom exam (``echoes.nrrd`` + ``echoes.json`` and its truth) into ``out_dir``."""
    out_dir = Path(out_dir)
    try:
        return _knee_phantom(out_dir, fetch, seed)
    except KneeT2Error as error:
        print("Knee anatomy not available (%s); using the analytic shell phantom." % error, file=sys.stderr)
    return _shell_phantom(out_dir, seed)


def _knee_phantom(out_dir: Path, fetch: bool, seed: int) -> Path:
    from .phantom import PhantomOptions, simulate_phantom
    from .phantom_anatomy import load_anatomy
    from .phantom_output import write_phantom
    from .sample_data import knee_labels_dir

    anatomy = load_anatomy(knee_labels_dir(fetch=fetch) / DEMO_ANATOMY)
    phantom = simulate_phantom(anatomy, PhantomOptions(protocol="ge", seed=seed, laterality="right"))
    return write_phantom(phantom, out_dir)


def shell_exam(seed: int = 0, snr: float = 40.0) -> "tuple[MeseExam, np.ndarray, np.ndarray]":
    """(exam, cartilage label, T2 truth ms) of the analytic shell on the GE echo times."""
    from .cartilage_shell import ShellSpec, build_shell

    spec = ShellSpec(spacing_mm=(0.625, 0.625, 4.0), margin_mm=12.0)
    mask, t2_truth, _ = build_shell(spec)
    cartilage = np.asarray(mask.array) > 0
    shape = cartilage.shape
    rows = np.arange(shape[1])[None, :, None]
    cols = np.arange(shape[2])[None, None, :]
    axis_ijk = np.linalg.solve(mask.ijk_to_ras, [0.0, 0.0, 0.0, 1.0])  # the shell axis passes through RAS 0
    spacing_col, spacing_row = mask.spacing_ijk[0], mask.spacing_ijk[1]
    radius = np.hypot((rows - axis_ijk[1]) * spacing_row, (cols - axis_ijk[0]) * spacing_col) * np.ones(shape)
    bone = (radius < spec.inner_radius_mm) & ~cartilage
    proton_density = np.where(cartilage, 0.75, np.where(bone, 0.9, 0.45)).astype(np.float32)
    t2_ms = np.where(cartilage, np.asarray(t2_truth.array), np.where(bone, 90.0, 35.0)).astype(np.float32)
    times = np.asarray(GE_ECHO_TIMES_MS, dtype=np.float32)
    clean = 1000.0 * proton_density[None] * np.exp(-times[:, None, None, None] / t2_ms[None])
    rng = np.random.default_rng(seed)
    sigma = 1000.0 * 0.75 / snr
    noisy = np.hypot(clean + rng.normal(0, sigma, clean.shape), rng.normal(0, sigma, clean.shape))
    exam = MeseExam(noisy.astype(np.float32), times, mask.ijk_to_ras, "right",
                    {"source": "analytic cartilage shell phantom", "seed": seed, "snr": snr})
    return exam, cartilage.astype(np.uint8), np.where(cartilage, t2_ms, 0.0).astype(np.float32)


def _shell_phantom(out_dir: Path, seed: int) -> Path:
    from .echo_stack_io import write_echo_stack
    from .volume_io import write_volume

    exam, label, t2_truth = shell_exam(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_echo_stack(exam, out_dir / "echoes.nrrd")
    write_volume(exam.volume_like(label), out_dir / "label.nrrd")
    write_volume(exam.volume_like(t2_truth), out_dir / "t2_truth.nrrd")
    return out_dir
