"""A batch manifest from a BIDS dataset: one row per MESE scan of ``sub-*/[ses-*/]anat/``.

BIDS stores a multi-echo spin echo under the ``MESE`` suffix, one file per
echo (``sub-01_ses-m12_echo-1_MESE.nii.gz`` + sidecar) or, from some
converters, one 4D file without an echo entity. Each scan becomes a row of the
``knee-t2 batch`` manifest (:mod:`batch_manifest`): subject = the ``sub-``
label, visit = the ``ses-`` label (``1`` without sessions), input = the scan's
first echo file (the loader reads the rest of the set, :mod:`echo_set_io`).

* Phase, real and imaginary parts (``part-phase``...) are not scans to analyse.
* Both knees of one session are told apart by an ``acq-`` label naming the
  side (``acq-left``/``acq-right``, ``acq-L``/``acq-R``, ``acq-leftknee``...;
  BIDS has no entity for the side): each knee becomes a row with a ``side``,
  and ``batch`` pairs each knee's visits. Other ``acq-`` labels of one session
  (two protocols of one knee) are alternatives: one is kept and the others are
  reported, as repeated runs are.
* Several runs of one subject, session and knee (``run-1``, ``run-2``: the MESE
  was repeated) keep the last run, the one a technologist repeats to; the
  others are reported so that a reader can swap them.
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
SIDE_COLUMN = "side"
SIDE_WORDS = {"l": "left", "lt": "left", "left": "left", "r": "right", "rt": "right", "right": "right"}


@dataclass
class BidsScan:
    """One MESE scan of a BIDS dataset: the manifest row it becomes."""

    subject: str
    visit: str
    run: int
    input_path: Path
    acquisition: str = ""  # the acq- label ("" without one)
    side: str = ""  # "right"/"left" when the acq- label names the knee, else ""


def find_mese_scans(root) -> Tuple[List[BidsScan], List[str]]:
    """(the scans, one per subject and session, in manifest order; notes for the reader)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError("%s is not a folder: give the root of the BIDS dataset (the folder holding sub-*/)." % root)
    found: Dict[Tuple[str, str, str], List[BidsScan]] = {}
    for path in sorted(root.glob("sub-*/**/anat/*MESE.nii*")):
        match = MESE_FILE.match(path.name)
        if not match or is_non_magnitude_name(path) or is_later_echo_of_a_set(path):
            continue  # phase parts are not scans; a per-echo set is listed by its first echo
        acquisition = _entity(path.name, "acq")
        scan = BidsScan(match.group("subject"), _entity(path.name, "ses") or "1", _run_number(path),
                        path, acquisition, side_of_acquisition(acquisition))
        found.setdefault((scan.subject, scan.visit, scan.side), []).append(scan)
    if not found:
        raise InputError("No MESE scan was found under %s (expected sub-*/[ses-*/]anat/*_MESE.nii.gz, e.g. "
                         "sub-01_echo-1_MESE.nii.gz)." % root)
    scans, notes = [], []
    for (subject, visit, side), runs in sorted(found.items(),
                                               key=lambda item: (item[0][0], _natural(item[0][1]), item[0][2])):
        runs.sort(key=lambda scan: (scan.acquisition, scan.run))
        scans.append(runs[-1])
        if len(runs) > 1:
            others = ", ".join(scan.input_path.name for scan in runs[:-1])
            what = "runs" if len({scan.acquisition for scan in runs}) == 1 else "scans (acq- labels %s)" % ", ".join(
                sorted({scan.acquisition or "none" for scan in runs}))
            notes.append("sub-%s ses-%s%s has %d %s; the last (%s) is listed, not %s."
                         % (subject, visit, " (%s knee)" % side if side else "", len(runs), what,
                            runs[-1].input_path.name, others))
    _note_knees_without_side(scans, notes)
    visits = sorted({scan.visit for scan in scans}, key=_natural)
    if len(visits) > 1 and not all(re.search(r"\d", visit) for visit in visits):
        notes.append("Sessions are ordered by label (%s); each subject's first row is its baseline in change "
                     "analyses: reorder the rows if the labels do not sort in time." % ", ".join(visits))
    return scans, notes


def side_of_acquisition(label: str) -> str:
    """"right"/"left" when an ``acq-`` label names the knee's side, else "".

    Accepted: the whole label ``L``/``R``/``Lt``/``Rt``/``left``/``right``, or a
    label that starts with left/right (``leftknee``, ``RightKnee``) or holds it as
    a word of its own, told by case or digits (``kneeRight``, ``T2left``,
    ``kneeRightMESE``). Case is otherwise ignored. Letters inside another word
    are no side: ``upright`` and ``bright`` (weight-bearing or fat-suppression
    labels) are not right knees; nor is the ambiguous ``kneeright``.
    """
    lowered = label.lower()
    if lowered in SIDE_WORDS:
        return SIDE_WORDS[lowered]
    words = {word.lower() for word in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", label)}
    named = {word for word in ("left", "right") if lowered.startswith(word) or word in words}
    both = "left" in lowered and "right" in lowered  # e.g. "leftright": say nothing rather than guess
    return named.pop() if len(named) == 1 and not both else ""


def _run_number(path: Path) -> int:
    """The ``run-`` entity as a number (0 when absent); BIDS requires an integer index."""
    text = _entity(path.name, "run") or "0"
    try:
        return int(text)
    except ValueError:
        raise InputError("%s has the run label %r, which is no number: BIDS run- labels are integers (run-1, "
                         "run-2); rename the file." % (path, text)) from None


def _note_knees_without_side(scans: List[BidsScan], notes: List[str]) -> None:
    """Name subjects whose sessions mix knees given a side with scans of no stated side (batch cannot pair them)."""
    for subject in sorted({scan.subject for scan in scans}):
        own = [scan for scan in scans if scan.subject == subject]
        if any(scan.side for scan in own) and not all(scan.side for scan in own):
            unsided = ", ".join(scan.input_path.name for scan in own if not scan.side)
            notes.append("sub-%s has scans whose acq- label names the knee and scans whose label does not (%s): "
                         "fill in their side column, or batch pairs them as another knee." % (subject, unsided))


def write_manifest(scans: List[BidsScan], path) -> Path:
    """Write the manifest CSV (inputs relative to the manifest's folder when below it); returns its path.

    A ``side`` column is written when an ``acq-`` label named a knee's side.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.parent.resolve()
    with_side = any(scan.side for scan in scans)
    with open(str(path), "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(MANIFEST_COLUMNS + ((SIDE_COLUMN,) if with_side else ()))
        for scan in scans:
            target = scan.input_path.parent.resolve() / scan.input_path.name  # a DataLad link stays a link
            try:
                shown = target.relative_to(base)
            except ValueError:
                shown = target
            writer.writerow((scan.subject, scan.visit, str(shown)) + ((scan.side,) if with_side else ()))
    return path


def _entity(name: str, entity: str) -> str:
    match = re.search(ENTITY.format(name=entity), name)
    return match.group(1) if match else ""


def _natural(text: str):
    """Sort key putting 'm6' before 'm12' and '2' before '10'."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]
