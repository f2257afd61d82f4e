"""Drafts of any DICOM series, kept in the user cache: corrections outside a dataset survive a crash too.

A radiologist correcting a clinical exam is not building a training dataset,
yet half an hour of edits must not be lost either. The Slicer module keeps
the edited segment of a series loaded from DICOM as a draft under
``<cache>/drafts/`` (``$KNEE_T2_CACHE`` or ``~/.cache/knee-t2``; *Clear cache*
of the models leaves it alone), named by a hash of the SeriesInstanceUID, so
neither the file name nor its content identifies the patient. The next model
run of the same series puts it back over the model's output; a run the reader
confirms to replace their edits discards it. Same file format as dataset
drafts (:mod:`draft_files`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from .draft_files import DraftInfo, draft_file_info, read_draft_file, remove_draft_file, write_draft_file
from .geometry import Volume
from .sample_data import cache_dir

LOCAL_DRAFTS = "drafts"


def series_key(series_uid: str) -> str:
    """A name for a series' draft that does not carry its UID: the first 32 hex digits of its SHA-256."""
    return hashlib.sha256(str(series_uid).strip().encode("utf-8")).hexdigest()[:32]


def local_draft_path(series_uid: str, cache=None) -> Path:
    return cache_dir(cache) / LOCAL_DRAFTS / ("%s.nrrd" % series_key(series_uid))


def save_local_draft(series_uid: str, label: Volume, reader: Optional[str] = None, cache=None) -> DraftInfo:
    """Keep ``label`` (on the series' grid) as the series' draft, replacing the previous one."""
    return write_draft_file(local_draft_path(series_uid, cache), np.asarray(label.array), label.ijk_to_ras,
                            series_key(series_uid), reader)


def read_local_draft(series_uid: str, cache=None) -> Optional[Tuple[Volume, DraftInfo]]:
    """The series' draft and its info, or None when there is no usable one."""
    return read_draft_file(local_draft_path(series_uid, cache))


def local_draft_info(series_uid: str, cache=None) -> Optional[DraftInfo]:
    return draft_file_info(local_draft_path(series_uid, cache))


def discard_local_draft(series_uid: str, cache=None) -> bool:
    """Remove the series' draft; True when there was one."""
    return remove_draft_file(local_draft_path(series_uid, cache))
