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
    """'auto' -> 'cuda:0' when that GPU works, else 'cpu'; an explicit 'cuda' / 'cuda:N' must exist and work."""
    from .devices import cuda_works, require_cuda

    torch = import_torch()
    name = str(device or "auto").lower()
    if name == "auto":
        return "cuda:0" if cuda_works(torch)[0] else "cpu"
    if name == "cpu":
        return name
    if name.startswith("cuda"):
        return str(require_cuda(torch, name)[0])
    raise InputError("Unknown device %r: use one of %s or cuda:N." % (device, ", ".join(DEVICES)))


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
