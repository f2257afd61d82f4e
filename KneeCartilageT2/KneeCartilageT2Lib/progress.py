"""Progress reporting and cancellation shared by every long-running step.

A progress callback receives ``(fraction, stage_text)`` with ``fraction`` in
[0, 1]. A :class:`CancelToken` is polled between units of work; when it is set
the operation raises :class:`~KneeCartilageT2Lib.errors.OperationCancelled`
before writing any output, so nothing is left half-written.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

from .errors import OperationCancelled

ProgressCallback = Callable[[float, str], None]


def no_progress(fraction: float, stage: str) -> None:
    """Progress callback that ignores every report."""


class CancelToken:
    """Thread-safe cancellation flag polled by long-running operations."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise OperationCancelled("Operation cancelled by the user; no output was written.")


def scaled_progress(callback: Optional[ProgressCallback], start: float, end: float) -> ProgressCallback:
    """Map a sub-step's [0, 1] progress onto [start, end] of the parent's progress."""
    report = callback or no_progress

    def _report(fraction: float, stage: str) -> None:
        report(start + (end - start) * min(max(fraction, 0.0), 1.0), stage)

    return _report
