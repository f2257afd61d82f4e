"""Running a block fitter over a whole volume: voxel blocks, threads, progress, cancel.

The echo volume is never copied as a whole: each block of voxels is gathered
from it as a small ``(echo, voxel)`` float32 array (a few MB, sized to stay in
cache), fitted, and its results written into the output maps. numpy releases
the interpreter lock inside its array operations, so independent blocks run in
parallel threads; the calling thread collects them in order, reports progress
and polls the cancel token between blocks.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .progress import no_progress
from .t2_status import VALID

NUMPY_BLOCK_VOXELS = 1 << 15
MAX_THREADS = 8


@dataclass
class VoxelSelection:
    """Which voxels of the flattened volume are fitted: all, or the flat indices of a mask."""

    n_total: int
    indices: Optional[np.ndarray] = None

    @property
    def count(self) -> int:
        return self.n_total if self.indices is None else int(self.indices.size)

    def positions(self, start: int, stop: int):
        """Flat positions of the selection's items ``start:stop`` (a slice when all voxels are fitted)."""
        return slice(start, stop) if self.indices is None else self.indices[start:stop]


@dataclass
class FitMaps:
    """Flat output maps filled block by block (``status``: the :mod:`.t2_status` code of each voxel)."""

    t2_ms: np.ndarray
    s0: np.ndarray
    r2: np.ndarray
    status: np.ndarray

    @classmethod
    def empty(cls, n_voxels: int) -> "FitMaps":
        return cls(
            t2_ms=np.zeros(n_voxels, np.float32),
            s0=np.zeros(n_voxels, np.float32),
            r2=np.zeros(n_voxels, np.float32),
            status=np.zeros(n_voxels, np.uint8),
        )

    @property
    def valid(self) -> np.ndarray:
        """Bool per voxel: a valid T2 (the status says so; not stored twice)."""
        return self.status == VALID


def default_thread_count() -> int:
    """Fitting threads: ``KNEE_T2_THREADS`` when set (batch workers set it), else the CPU count, at most MAX_THREADS."""
    requested = os.environ.get("KNEE_T2_THREADS", "").strip()
    if requested.isdigit() and int(requested) > 0:
        return int(requested)
    return max(1, min(MAX_THREADS, os.cpu_count() or 1))


def gather_block(flat_echoes: np.ndarray, echo_rows: slice, positions) -> np.ndarray:
    """The ``(echo, voxel)`` float32 block of the used echoes (a slice of rows) at ``positions``.

    ``flat_echoes`` is ``(echo, voxel)``; ``positions`` a slice or an index array.
    Only this block is converted to float32, never the whole stack.
    """
    return np.ascontiguousarray(flat_echoes[echo_rows, positions], dtype=np.float32)


def run_blocks(
    count: int,
    block_voxels: int,
    work: Callable[[int, int], int],
    threads: int,
    progress=None,
    cancel=None,
    stage: str = "Fitting T2",
) -> int:
    """Call ``work(start, stop)`` over ``range(count)`` in blocks; returns the sum of what it returns.

    ``work`` must write only its own block's outputs (blocks never overlap), so
    threads need no locks. At most ``2 * threads`` blocks are in flight, which
    bounds memory and lets a cancel request stop the run within a block or two.
    """
    report = progress or no_progress
    starts = list(range(0, count, block_voxels))
    total = 0
    if not starts:
        report(1.0, stage)
        return 0
    threads = max(1, min(int(threads), len(starts)))
    if threads == 1:
        for number, start in enumerate(starts):
            _check_cancel(cancel)
            total += work(start, min(start + block_voxels, count))
            report((number + 1) / len(starts), stage)
        return total
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending = deque()
        queue = iter(starts)
        for start in queue:
            pending.append(pool.submit(work, start, min(start + block_voxels, count)))
            if len(pending) >= 2 * threads:
                break
        finished = 0
        while pending:
            total += pending.popleft().result()
            finished += 1
            report(finished / len(starts), stage)
            if _cancel_requested(cancel):
                for future in pending:
                    future.cancel()
                _check_cancel(cancel)
            start = next(queue, None)
            if start is not None:
                pending.append(pool.submit(work, start, min(start + block_voxels, count)))
    return total


def _cancel_requested(cancel) -> bool:
    return cancel is not None and bool(getattr(cancel, "cancelled", False))


def _check_cancel(cancel) -> None:
    if cancel is not None:
        cancel.raise_if_cancelled()
