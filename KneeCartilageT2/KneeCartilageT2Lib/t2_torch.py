"""Torch backend of the T2 fit: the numpy algorithm, run on a GPU when there is one.

:func:`fit_voxel_block` is written once for numpy arrays and torch tensors, so
this module only chooses the device, moves each block there and back, and sets
a block size that keeps a GPU busy. Arithmetic is float32 on every device, the
same as the numpy backend, so results agree to float32 rounding. torch is
imported here lazily: the rest of the package runs without it.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import numpy as np

from .errors import InputError
from .t2_solver import BlockFit, fit_voxel_block

DEVICES = ("auto", "cpu", "cuda")
CUDA_BLOCK_VOXELS = 1 << 20
CPU_BLOCK_VOXELS = 1 << 17


def import_torch():
    """The torch module, or an :class:`InputError` saying how to do without it."""
    try:
        import torch
    except ImportError:
        raise InputError(
            "The torch backend needs PyTorch, which is not installed: install it "
            "(in Slicer: the PyTorch extension) or use backend='numpy'."
        )
    return torch


def resolve_torch_device(device: str = "auto") -> str:
    """'auto' -> 'cuda' when a CUDA GPU is usable, else 'cpu'; an explicit 'cuda' must exist."""
    torch = import_torch()
    name = (device or "auto").lower()
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("CUDA was requested but no CUDA GPU is available to PyTorch: use device 'auto' or 'cpu'.")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu" or name.startswith("cuda"):
        return name
    raise InputError("Unknown device %r: use one of %s." % (device, ", ".join(DEVICES)))


def make_torch_block_fitter(device: str = "auto") -> Tuple[Callable[..., BlockFit], str, int]:
    """A block fitter with the numpy-in, numpy-out signature of :func:`fit_voxel_block`.

    Returns ``(fit, device_name, block_voxels)``.
    """
    torch = import_torch()
    resolved = resolve_torch_device(device)
    block_voxels = CUDA_BLOCK_VOXELS if resolved.startswith("cuda") else CPU_BLOCK_VOXELS

    def fit(signal: np.ndarray, echo_times_ms: np.ndarray, method: str, noise_floor: Optional[float] = None, smooth: bool = False) -> BlockFit:
        with torch.no_grad():
            tensor = torch.from_numpy(np.ascontiguousarray(signal, dtype=np.float32)).to(resolved)
            result = fit_voxel_block(tensor, echo_times_ms, method, noise_floor, smooth)
            return BlockFit(
                t2_ms=result.t2_ms.cpu().numpy(),
                s0=result.s0.cpu().numpy(),
                r2=result.r2.cpu().numpy(),
                converged=result.converged.cpu().numpy(),
            )

    return fit, resolved, block_voxels
