"""Housekeeping of a training dataset's drafts: list them, and clear old ones without losing a reader's work.

A dataset's ``drafts/`` folder (:mod:`dataset_drafts`) holds each case's
current draft ``<case>.nrrd`` and the drafts set aside beside it
(``<case>.superseded-<time>.nrrd``, :func:`draft_files.set_aside_draft_file`);
only the Slicer module's *Restore draft...* removes a set-aside copy (the one it
made the current draft again), and a draft stays when a label was approved
elsewhere (``knee-t2 export``). :func:`clear_dataset_drafts` removes the drafts
saved more than DAYS days ago that newer work has replaced, and keeps, saying
why, every draft that may be a reader's only unfinished work:

* a set-aside copy is removed (a newer draft, or the approved label, replaced it),
  unless the case has no approved label and no current draft: then the newest
  set-aside copy is the case's only draft, and is kept;
* a current draft of a case without an approved label is kept, however old
  (*Accept & export* of the case discards it);
* a current draft saved after the case's latest approved label is kept: a
  reader began a new correction of the case and did not export it yet;
* a current draft saved before the case's latest approved label is removed.

Files without a draft header (and hidden files: partial writes) are never
listed or touched.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .dataset_drafts import DRAFTS
from .dataset_format import list_cases, require_dataset
from .dataset_index import LabelVersion, parse_utc_iso
from .draft_files import (DraftInfo, age_days, draft_file_info, draft_files_in, is_set_aside_name, remove_draft_file,
                          saved_at)
from .errors import InputError


@dataclass(frozen=True)
class DatasetDraft:
    """One draft file of a dataset, with what decides whether housekeeping may remove it."""

    path: Path
    info: DraftInfo
    case_id: str  # the case the file name belongs to
    set_aside: bool  # a ``.superseded-`` copy, not the case's current draft
    approved: Optional[LabelVersion]  # the case's current approved label, None when it has none (or is no case)

    @property
    def saved_after_approval(self) -> bool:
        """Whether the draft was saved after the case's current approved label (a new correction begun); an
        approval time that cannot be read counts as earlier, so the draft is kept."""
        if self.approved is None:
            return False
        try:
            return saved_at(self.info) > parse_utc_iso(self.approved.created)
        except (TypeError, ValueError):
            return True


def list_dataset_drafts(dataset_dir) -> List[DatasetDraft]:
    """Every draft of the dataset (current and set aside) with its header, newest first."""
    directory = require_dataset(dataset_dir)
    approved: Dict[str, Optional[LabelVersion]] = {record.case_id: record.current_label
                                                   for record in list_cases(directory)}
    drafts = []
    for path in draft_files_in(directory / DRAFTS):  # partial writes (hidden names) are no drafts
        info = draft_file_info(path)
        if info is None:
            continue
        set_aside = is_set_aside_name(path)
        case_id = path.name.split(".superseded-")[0] if set_aside else path.name[: -len(".nrrd")]
        drafts.append(DatasetDraft(path, info, case_id, set_aside, approved.get(case_id)))
    return sorted(drafts, key=lambda draft: (draft.info.saved, not draft.set_aside), reverse=True)


def clear_dataset_drafts(dataset_dir, days: float, now: Optional[datetime.datetime] = None
                         ) -> Tuple[List[DatasetDraft], List[Tuple[DatasetDraft, str]]]:
    """Remove the dataset's drafts saved more than ``days`` days ago that newer work replaced (module docstring).

    Returns the drafts removed and, for each draft as old that was kept, the reason (one sentence). Drafts
    saved in the last ``days`` days are neither removed nor returned.
    """
    if not days >= 0:
        raise InputError("The age must be a number of days >= 0, not %r." % (days,))
    now = now or datetime.datetime.now(datetime.timezone.utc)
    drafts = list_dataset_drafts(dataset_dir)
    only_draft = _only_drafts(drafts)
    removed, kept = [], []
    for draft in drafts:
        if age_days(draft.info, now) <= days:
            continue
        reason = _reason_to_keep(draft, draft.path in only_draft)
        if reason:
            kept.append((draft, reason))
        elif remove_draft_file(draft.path):
            removed.append(draft)
    return removed, kept


def _reason_to_keep(draft: DatasetDraft, only: bool) -> str:
    if draft.approved is None and only:
        what = "set aside, it is now the only draft" if draft.set_aside else "the current draft"
        return ("%s of case %s, which has no approved label yet: a reader's unfinished work (it goes when the case "
                "is exported)" % (what, draft.case_id))
    if not draft.set_aside and draft.saved_after_approval:
        return ("the current draft of case %s, saved after its approved label v%d (%s UTC): a new correction "
                "not exported yet" % (draft.case_id, draft.approved.version, _when(draft.approved.created)))
    return ""


def _only_drafts(drafts: List[DatasetDraft]) -> set:
    """The drafts that are a case's only unfinished work: its current draft, else its newest set-aside copy."""
    newest: Dict[str, DatasetDraft] = {}
    for draft in drafts:  # newest first
        chosen = newest.get(draft.case_id)
        if chosen is None or (chosen.set_aside and not draft.set_aside):
            newest[draft.case_id] = draft
    return {draft.path for draft in newest.values()}


def _when(text: str) -> str:
    return text.replace("T", " ").rstrip("Z")[:19]
