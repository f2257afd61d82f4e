"""The cohort manifest of ``knee-t2 batch``: which scans to analyse and how they pair up.

A manifest is a CSV file with a header row. Columns (case-insensitive; the
alternative names in brackets are accepted too):

``subject`` (subject_id, participant)
    subject identifier as used in the study (a pseudonym; it names output folders).
``visit`` (timepoint, session)
    visit label, e.g. ``baseline``, ``m12``. Visits of a subject are ordered as
    they appear in the manifest; the first is the baseline of change analyses.
``side`` (laterality, knee) — optional
    ``right``/``left``/``R``/``L``; overrides the side recorded in the data.
``input`` (input_path, path, exam)
    the exam: a DICOM folder, or a 4D NRRD/NIfTI (with its JSON sidecar). A
    relative path is relative to the manifest's folder.
``echo_times`` (echo_times_ms, te) — optional
    echo times in ms separated by ``;`` or spaces, for 4D files without a sidecar.
``series`` (series_number) — optional
    SeriesNumber of the MESE series, for DICOM folders holding several
    multi-echo series (one is found by itself); several separated by ``;`` or
    spaces for a repeated MESE stored one series per echo (``15;16;17;18``).

Each row becomes a :class:`ScanJob` whose ``scan_id`` (``<subject>_<visit>``,
plus ``_<side>`` when the subject has both knees at that visit) is a safe
folder name. :func:`change_pairs` pairs each later visit of a subject (and
side) with its first visit.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .dataset_index import safe_case_id
from .errors import InputError
from .exam import normalize_laterality

COLUMN_NAMES = {
    "subject": ("subject", "subject_id", "participant"),
    "visit": ("visit", "timepoint", "session"),
    "side": ("side", "laterality", "knee"),
    "input": ("input", "input_path", "path", "exam"),
    "echo_times": ("echo_times", "echo_times_ms", "te"),
    "series": ("series", "series_number"),
}
REQUIRED = ("subject", "visit", "input")


@dataclass
class ScanJob:
    """One row of the manifest.

    Attributes:
        subject, visit: as written in the manifest.
        input_path: absolute path of the exam (DICOM folder or 4D file).
        side: ``"right"``/``"left"``, or None to use what the data says.
        echo_times_ms: echo times (ms) for inputs without them, or None.
        series: SeriesNumber of the MESE series in a DICOM folder holding several, or None.
        scan_id: safe folder name, unique in the manifest.
        row: 1-based data row number in the manifest (for messages).
    """

    subject: str
    visit: str
    input_path: str
    side: Optional[str] = None
    echo_times_ms: Optional[List[float]] = None
    series: Optional[str] = None
    scan_id: str = ""
    row: int = 0
    extra: Dict[str, str] = field(default_factory=dict)


@dataclass
class ChangePair:
    """A baseline and a follow-up scan of one subject (and side)."""

    pair_id: str
    subject: str
    side: Optional[str]
    baseline: ScanJob
    followup: ScanJob


def read_manifest(path) -> List[ScanJob]:
    """Parse and check a manifest; every problem is reported with its row number."""
    path = Path(path)
    if path.is_dir():
        raise InputError("The manifest %s is a folder: give the CSV file with columns subject, visit, input "
                         "(`knee-t2 manifest BIDS_DIR -o MANIFEST.csv` writes one for a BIDS dataset)." % path)
    if not path.is_file():
        raise InputError("Manifest %s not found; give a CSV with columns subject, visit, input." % path)
    base = Path(os.path.abspath(str(path.parent)))  # inputs stay found from any folder, by any Dask worker
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            columns = _column_map(reader.fieldnames or [], path)
            jobs = [_job_from_row(row, columns, number, base) for number, row in enumerate(reader, start=1)
                    if any((value or "").strip() for value in row.values())]
    except UnicodeDecodeError:
        raise InputError("The manifest %s is not a UTF-8 text CSV file (a spreadsheet or another file kind, or "
                         "a CSV in another encoding): save it as \"CSV UTF-8\" with columns subject, visit, input."
                         % path)
    if not jobs:
        raise InputError("Manifest %s has no scans (only a header?)." % path)
    _assign_scan_ids(jobs, path)
    change_pairs(jobs)  # refuses colliding change folder names before any work starts
    return jobs


def change_pairs(jobs: List[ScanJob]) -> List[ChangePair]:
    """(first visit, later visit) pairs per subject and side, in manifest order.

    ``pair_id`` is ``<subject>[_<side>]_<baseline visit>_<follow-up visit>``
    made safe; it names the pair's output folder, so two pairs whose ids
    collide (e.g. subject ``x_right`` and subject ``x`` with side right) are
    refused instead of writing into one folder.
    """
    groups: Dict[Tuple[str, Optional[str]], List[ScanJob]] = {}
    for job in jobs:
        groups.setdefault((job.subject, job.side), []).append(job)
    pairs: List[ChangePair] = []
    owners: Dict[str, ChangePair] = {}
    for (subject, side), visits in groups.items():
        for followup in visits[1:]:
            parts = [subject] + ([side] if side else []) + [visits[0].visit, followup.visit]
            pair = ChangePair(safe_case_id("_".join(parts)), subject, side, visits[0], followup)
            if pair.pair_id in owners:
                other = owners[pair.pair_id]
                raise InputError(
                    "Manifest rows %d and %d (subject %r) and rows %d and %d (subject %r) give the same change "
                    "folder name %s; rename one subject or visit so that the names differ."
                    % (other.baseline.row, other.followup.row, other.subject, pair.baseline.row, pair.followup.row,
                       pair.subject, pair.pair_id))
            owners[pair.pair_id] = pair
            pairs.append(pair)
    return pairs


def pairing_notes(jobs: List[ScanJob]) -> List[str]:
    """What the pairing leaves out without a word otherwise: visits of a subject with and without a side (they
    are different knees to :func:`change_pairs`, so neither is compared with the other's baseline), and one input
    listed in several rows (a scan compared with itself, or given to two subjects)."""
    notes = []
    for subject in sorted({job.subject for job in jobs}):
        own = [job for job in jobs if job.subject == subject]
        if any(job.side for job in own) and not all(job.side for job in own):
            notes.append("Subject %s: visit(s) %s have no side, the others do; they are not paired with each other. "
                         "Fill in the side column." % (subject, ", ".join(job.visit for job in own if not job.side)))
    seen: Dict[Tuple[str, Optional[str]], ScanJob] = {}
    for job in jobs:
        key = (str(Path(job.input_path).resolve()), job.series)
        if key in seen:
            notes.append("Rows %d and %d name the same input %s; check the manifest." % (
                seen[key].row, job.row, job.input_path))
        seen.setdefault(key, job)
    return notes


def _column_map(fieldnames: List[str], path: Path) -> Dict[str, str]:
    lowered = {name.strip().lower(): name for name in fieldnames if name}
    found = {}
    for key, names in COLUMN_NAMES.items():
        for name in names:
            if name in lowered:
                found[key] = lowered[name]
                break
    missing = [key for key in REQUIRED if key not in found]
    if missing:
        header = ", ".join(fieldnames) or "empty"
        separator = next((name for sign, name in ((";", "semicolons"), ("\t", "tabs")) if sign in header), None)
        raise InputError(
            "Manifest %s lacks the column(s) %s; its header is %s. Required: subject, visit, input "
            "(optional: side, echo_times, series).%s" % (
                path, ", ".join(missing), header,
                " Its columns seem separated by %s: separate them by commas." % separator if separator else "")
        )
    return found


def _job_from_row(row: Dict[str, str], columns: Dict[str, str], number: int, base: Path) -> ScanJob:
    def value(key: str) -> str:
        return (row.get(columns[key]) or "").strip() if key in columns else ""

    subject, visit, text_input = value("subject"), value("visit"), value("input")
    for key, content in (("subject", subject), ("visit", visit), ("input", text_input)):
        if not content:
            raise InputError("Manifest row %d has an empty %s; fill it in or delete the row." % (number, key))
    side = None
    if value("side"):
        try:
            side = normalize_laterality(value("side"))
        except InputError as error:
            raise InputError("Manifest row %d: %s" % (number, error))
        side = None if side == "unknown" else side
    input_path = Path(text_input).expanduser()
    if not input_path.is_absolute():
        input_path = base / input_path
    known = set(columns.values())
    extra = {key: (content or "") for key, content in row.items() if key and key not in known}
    return ScanJob(subject=subject, visit=visit, input_path=str(input_path), side=side,
                   echo_times_ms=_echo_times(value("echo_times"), number), series=value("series") or None,
                   row=number, extra=extra)


def _echo_times(text: str, number: int) -> Optional[List[float]]:
    if not text:
        return None
    try:
        values = [float(part) for part in re.split(r"[;\s,]+", text) if part]
    except ValueError:
        raise InputError("Manifest row %d: echo_times %r must be numbers in ms separated by ';'." % (number, text))
    return values or None


def _assign_scan_ids(jobs: List[ScanJob], path: Path) -> None:
    counts: Dict[Tuple[str, str], int] = {}
    for job in jobs:
        counts[(job.subject, job.visit)] = counts.get((job.subject, job.visit), 0) + 1
    seen: Dict[str, int] = {}
    for job in jobs:
        parts = [job.subject, job.visit]
        if counts[(job.subject, job.visit)] > 1 and job.side:
            parts.append(job.side)
        job.scan_id = safe_case_id("_".join(parts))
        if job.scan_id in seen:
            raise InputError(
                "Manifest %s rows %d and %d both describe scan %s; give each scan its own visit (or side)."
                % (path, seen[job.scan_id], job.row, job.scan_id)
            )
        seen[job.scan_id] = job.row
