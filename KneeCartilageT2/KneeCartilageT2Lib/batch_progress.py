"""Progress of a batch: done, failed, skipped and remaining, as a bar or as plain lines.

On a terminal a tqdm bar (when tqdm is installed) shows the counts in its
postfix; otherwise, e.g. in a SLURM log, one plain line per finished task is
printed, so a log file records when each scan ended and how.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, Optional


class BatchProgress:
    """Count finished tasks by status and show the counts after each one."""

    def __init__(self, total: int, enabled: bool = True, stream=None) -> None:
        self.total = int(total)
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.counts = {"done": 0, "failed": 0, "skipped": 0}
        self._bar = self._make_bar() if enabled else None

    @property
    def remaining(self) -> int:
        return self.total - sum(self.counts.values())

    def update(self, status: Dict[str, Any]) -> None:
        key = status.get("status")
        self.counts[key if key in self.counts else "failed"] += 1
        if not self.enabled:
            return
        summary = "done %d, failed %d, skipped %d, remaining %d" % (
            self.counts["done"], self.counts["failed"], self.counts["skipped"], self.remaining)
        if self._bar is not None:
            self._bar.set_postfix_str(summary, refresh=False)
            self._bar.update(1)
            return
        detail = status.get("error") or status.get("result") or ""
        seconds = status.get("seconds")
        timing = " in %.1f s" % seconds if isinstance(seconds, (int, float)) and seconds else ""
        self.stream.write("[%d/%d] %s %s %s%s%s | %s\n" % (
            self.total - self.remaining, self.total, status.get("kind", "scan"), status.get("id"), key, timing,
            (": %s" % detail) if detail else "", summary))
        self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def _make_bar(self) -> Optional[Any]:
        isatty = getattr(self.stream, "isatty", None)
        if not (isatty and isatty()):
            return None
        try:
            from tqdm import tqdm
        except ImportError:
            return None
        return tqdm(total=self.total, file=self.stream, unit="task", desc="knee-t2 batch")
