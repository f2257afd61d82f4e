"""Array helpers that work the same on numpy arrays and torch tensors.

The T2 solvers are written once and run on either kind of array: these few
functions hide the places where numpy and torch spell things differently, and
:class:`ActiveVoxels` keeps the bookkeeping of iterative solvers that drop
finished voxels from their working set.
"""

from __future__ import annotations

import sys

import numpy as np


def array_namespace(array):
    """``numpy`` for numpy arrays, ``torch`` for torch tensors (imported only when a tensor is given)."""
    if isinstance(array, np.ndarray):
        return np
    return sys.modules["torch"]


def as_like(values, like):
    """``values`` (anything array-like) as an array of ``like``'s kind, dtype and device."""
    if isinstance(like, np.ndarray):
        return np.asarray(values, dtype=like.dtype)
    torch = sys.modules["torch"]
    return torch.as_tensor(np.asarray(values), dtype=like.dtype, device=like.device)


def take_columns(block, indices):
    """``block[:, indices]`` as a C-contiguous array (numpy's fancy indexing would return a strided one)."""
    if isinstance(block, np.ndarray):
        return np.take(block, indices, axis=1)
    return block.index_select(1, indices)


def keep_entries(positions, arrays):
    """Each array restricted to ``positions`` (columns of 2D blocks, entries of 1D arrays; None stays None)."""
    kept = []
    for array in arrays:
        if array is None:
            kept.append(None)
        elif array.ndim == 2:
            kept.append(take_columns(array, positions))
        else:
            kept.append(array[positions])
    return kept


class ActiveVoxels:
    """The voxels of a block that an iterative solver is still working on.

    ``indices`` are their positions in the block; the solver's working arrays
    hold only these voxels, in the same order. :meth:`retire` removes finished
    voxels and says where their results go.
    """

    def __init__(self, startable) -> None:
        self.indices = array_namespace(startable).where(startable)[0]

    @property
    def count(self) -> int:
        return int(self.indices.shape[0])

    def retire(self, finished):
        """Drop finished voxels; returns ``(block_indices, done, keep)``.

        ``block_indices`` are the finished voxels' positions in the block,
        ``done`` their positions in the working arrays, ``keep`` the working
        positions of the voxels that go on (pass it to :func:`keep_entries`).
        """
        xp = array_namespace(finished)
        done = xp.where(finished)[0]
        keep = xp.where(~finished)[0]
        block_indices = self.indices[done]
        self.indices = self.indices[keep]
        return block_indices, done, keep
