"""A batch manifest from a BIDS dataset: one row per MESE scan of ``sub-*/[ses-*/]anat/``.

BIDS stores a multi-echo spin echo under the ``MESE`` suffix, one file per
echo (``sub-01_ses-m12_echo-1_MESE.nii.gz`` + sidecar) or, from some
converters, one 4D file without an echo entity. Each scan becomes a row of the
``knee-t2 batch`` manifest (:mod:`batch_manifest`): subject = the ``sub-``
label, visit = the ``ses-`` label (``1`` without sessions), input = the scan's
first echo file (the loader reads the rest of the set, :mod:`echo_set_io`).

* Phase, real and imaginary parts (``part-phase``...) are not scans to analyse.
* Several runs of one subject and session (``run-1``, ``run-2``: the MESE was
  repeated) keep the last run, the one a technologist repeats to; the others
  are reported so that a reader can swap them.
* Sessions are ordered by label within a subject; the manifest's first visit of a
  subject is the baseline of ``batch``'s change analyses, so labels that do not
  sort in time (``baseline``, ``m12``...) are reported for the reader to reorder.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

from .echo_set_io import is_later_echo_of_a_set, is_non_magnitude_name
from .errors import InputError

MESE_FILE = re.compile(r"^sub-(?P<subject>[A-Za-z0-9]+)_.*MESE\.(?:nii|nii\.gz)$")
ENTITY = "_{name}-([A-Za-z0-9]+)"
MANIFEST_COLUMNS = ("subject", "visit", "input")


@dataclass
class BidsScan:
    """One MESE scan of a BIDS dataset: the manifest row it becomes."""

    subject: str
    visit: str
    run: int
    input_path: Path


def find_mese_scans(root) -> Tuple[List[BidsScan], List[str]]:
    """(the scans, one per subject and session, in manifest order; notes for the reader)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError("%s is not a folder: give the root of the BIDS dataset (the folder holding sub-*/)." % root)
    found: Dict[Tuple[str, str], List[BidsScan]] = {}
    for path in sorted(root.glob("sub-*/**/anat/*MESE.nii*")):
        match = MESE_FILE.match(path.name)
        if not match or is_non_magnitude_name(path) or is_later_echo_of_a_set(path):
            continue  # phase parts are not scans; a per-echo set is listed by its first echo
        visit = _entity(path.name, "ses") or "1"
        scan = BidsScan(match.group("subject"), visit, int(_entity(path.name, "run") or 0), path)
        found.setdefault((scan.subject, scan.visit), []).append(scan)
    if not found:
        raise InputError("No MESE scan was found under %s (expected sub-*/[ses-*/]anat/*_MESE.nii.gz, e.g. "
                         "sub-01_echo-1_MESE.nii.gz)." % root)
    scans, notes = [], []
    for (subject, visit), runs in sorted(found.items(), key=lambda item: (item[0][0], _natural(item[0][1]))):
        runs.sort(key=lambda scan: scan.run)
        scans.append(runs[-1])
        if len(runs) > 1:
            others = ", ".join(scan.input_path.name for scan in runs[:-1])
            notes.append("sub-%s ses-%s has %d runs; the last (%s) is listed, not %s."
                         % (subject, visit, len(runs), runs[-1].input_path.name, others))
    visits = sorted({scan.visit for scan in scans}, key=_natural)
    if len(visits) > 1 and not all(re.search(r"\d", visit) for visit in visits):
        notes.append("Sessions are ordered by label (%s); each subject's first row is its baseline in change "
                     "analyses: reorder the rows if the labels do not sort in time." % ", ".join(visits))
    return scans, notes


def write_manifest(scans: List[BidsScan], path) -> Path:
    """Write the manifest CSV (inputs relative to the manifest's folder when below it); returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.parent.resolve()
    with open(str(path), "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(MANIFEST_COLUMNS)
        for scan in scans:
            target = scan.input_path.resolve()
            try:
                shown = target.relative_to(base)
            except ValueError:
                shown = target
            writer.writerow((scan.subject, scan.visit, str(shown)))
    return path


def _entity(name: str, entity: str) -> str:
    match = re.search(ENTITY.format(name=entity), name)
    return match.group(1) if match else ""


def _natural(text: str):
    """Sort key putting 'm6' before 'm12' and '2' before '10'."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]
