"""Drafts of inputs outside any dataset, kept in the user cache: corrections of a clinical exam survive a crash too.

A radiologist correcting a clinical exam is not building a training dataset,
yet half an hour of edits must not be lost either. The Slicer module keeps
the edited segment of such an input as a draft in :func:`drafts_dir`
(``$KNEE_T2_DRAFTS``, else ``drafts/`` in the user cache, ``$KNEE_T2_CACHE`` or
``~/.cache/knee-t2``; *Clear cache* of the models leaves it alone), named by a hash of the input's identity: its
SeriesInstanceUID when it came from DICOM, else a digest of its echo images.
Neither the file name nor its content identifies the patient. The next model
run of the same input puts it back over the model's output; a run the reader
confirms to replace their edits discards it. Same file format as dataset
drafts (:mod:`draft_files`).
"""

from __future__ import annotations

import datetime
import hashlib
import os
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from .draft_files import (DraftInfo, age_days, draft_file_info, draft_files_in, kept_draft_files, read_draft_file,
                          remove_draft_file, set_aside_draft_file, write_draft_file)
from .errors import InputError
from .geometry import Volume
from .sample_data import cache_dir

LOCAL_DRAFTS = "drafts"
DRAFTS_VARIABLE = "KNEE_T2_DRAFTS"  # the environment variable that names another drafts folder


def draft_key(identity: str) -> str:
    """A name for an input's draft that does not carry its identity: the first 32 hex digits of its SHA-256."""
    return hashlib.sha256(str(identity).strip().encode("utf-8")).hexdigest()[:32]


def drafts_dir(cache=None) -> Path:
    """Where local drafts are kept: ``<cache>/drafts`` when ``cache`` is given, else ``$KNEE_T2_DRAFTS`` (a site
    may put drafts on a backed-up share), else ``drafts`` in the user cache."""
    if cache is None and os.environ.get(DRAFTS_VARIABLE):
        return Path(os.environ[DRAFTS_VARIABLE]).expanduser()
    return cache_dir(cache) / LOCAL_DRAFTS


def local_draft_path(identity: str, cache=None) -> Path:
    return drafts_dir(cache) / ("%s.nrrd" % draft_key(identity))


def save_local_draft(identity: str, label: Volume, reader: Optional[str] = None, cache=None) -> DraftInfo:
    """Keep ``label`` (on the input's grid) as the input's draft, replacing the previous one."""
    return write_draft_file(local_draft_path(identity, cache), np.asarray(label.array), label.ijk_to_ras,
                            draft_key(identity), reader)


def read_local_draft(identity: str, cache=None) -> Optional[Tuple[Volume, DraftInfo]]:
    """The input's draft and its info, or None when there is no usable one."""
    return read_draft_file(local_draft_path(identity, cache))


def local_draft_info(identity: str, cache=None) -> Optional[DraftInfo]:
    return draft_file_info(local_draft_path(identity, cache))


def discard_local_draft(identity: str, cache=None) -> bool:
    """Remove the input's draft; True when there was one."""
    return remove_draft_file(local_draft_path(identity, cache))


def set_aside_local_draft(identity: str, cache=None) -> Optional[Path]:
    """Keep the input's draft under another name (:func:`draft_files.set_aside_draft_file`); its new path."""
    return set_aside_draft_file(local_draft_path(identity, cache))


def kept_local_drafts(identity: str, cache=None) -> List[Tuple[Path, DraftInfo]]:
    """The input's draft and the drafts of it set aside, with their headers, newest first
    (:func:`draft_files.kept_draft_files`)."""
    return kept_draft_files(local_draft_path(identity, cache), draft_key(identity))


def list_local_drafts(cache=None) -> List[Tuple[Path, DraftInfo]]:
    """Every draft in :func:`drafts_dir` with its header, newest first (files without a draft header, and partial
    writes under a hidden name, are left out: :func:`draft_files.draft_files_in`)."""
    found = [(path, draft_file_info(path)) for path in draft_files_in(drafts_dir(cache))]
    return sorted(((path, info) for path, info in found if info is not None), key=lambda item: item[1].saved,
                  reverse=True)


def discard_local_drafts_older_than(days: float, cache=None, now: Optional[datetime.datetime] = None) -> List[Path]:
    """Remove the drafts saved more than ``days`` days ago; the files removed.

    For a site that wants unfinished corrections of exams nobody went back to
    gone after a while; nothing calls it on its own. The age is the only rule:
    a file name does not say which exam it belongs to, nor whether that exam
    was exported, so an old draft goes even when it is an exam's only one
    (that is what asking for it means); a draft saved since stays, whichever
    older drafts of its exam go.
    """
    if not days >= 0:
        raise InputError("The age must be a number of days >= 0, not %r." % (days,))
    now = now or datetime.datetime.now(datetime.timezone.utc)
    removed = []
    for path, info in list_local_drafts(cache):
        if age_days(info, now) > days and remove_draft_file(path):
            removed.append(path)
    return removed
