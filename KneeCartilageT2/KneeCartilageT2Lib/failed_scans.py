"""Scan folders that a batch marked failed (``FAILED.json``), for every command that reads a folder of analyses.

A failed scan's folder may still hold a label, a T2 map, a probability map or even a ``DONE.json`` of an
earlier run of the same scan (a batch rerun with other settings that then failed, or a folder copied
together from two runs): none of them belongs to the manifest row as it stands. ``next-case`` and
``agreement`` leave such folders out and name them with the error the batch recorded (the batch's
``status.csv`` has the same line).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict


def is_failed_scan(folder) -> bool:
    """Whether ``folder`` holds the batch's ``FAILED.json`` (whatever else it holds)."""
    from .batch_tasks import FAILED_MARKER

    return (Path(folder) / FAILED_MARKER).is_file()


def failure_text(folder) -> str:
    """The error recorded in ``folder``'s ``FAILED.json`` (already cut to the last part of the input's path by
    the batch), or a phrase saying it cannot be read or records none."""
    from .batch_tasks import FAILED_MARKER

    try:
        record = json.loads((Path(folder) / FAILED_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "its %s cannot be read" % FAILED_MARKER
    error = record.get("error") if isinstance(record, dict) else None
    return str(error) if error else "no error recorded"


def failed_scan_folders(folder) -> Dict[str, str]:
    """Sub-folder name -> recorded error, for the sub-folders of ``folder`` whose scan failed in a batch
    (sorted by name; empty when ``folder`` is no folder)."""
    root = Path(folder)
    if not root.is_dir():
        return {}
    return {child.name: failure_text(child) for child in sorted(root.iterdir()) if is_failed_scan(child)}


def failed_scans_heading(count: int) -> str:
    """The words that introduce a list of ``count`` failed scans left out, the same in every command."""
    return ("left out %d failed scan(s) (FAILED.json: the batch could not analyse them; run the batch again once "
            "the cause is fixed)" % count)
