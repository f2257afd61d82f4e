"""Drafts: a reader's unfinished corrections of a dataset case, kept on disk until approved.

Correcting a plate can take a reader half an hour; a crash, a closed scene or
the end of a working day must not lose it. While a reader edits a case of a
training dataset, the Slicer module saves the current segment as the case's
*draft* after every settled edit; when the case is opened again, the draft
is put back over the model's output. Exporting an approved label (the
*Accept & export* step, :func:`correction.export_corrected_case`) discards
the draft: the approved label version is then the newer work.

Layout, beside the dataset's other folders (nnU-Net ignores it, and a draft
never reaches training)::

    DIR/drafts/<case>.nrrd   the draft label on the case's grid (:mod:`draft_files`: one file,
                             replaced atomically, its header saying when and by whom)
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np

from .dataset_format import _existing_record, _image_path
from .dataset_index import CaseRecord, path_inside, safe_case_id
from .draft_files import (DraftInfo, draft_file_info, kept_draft_files, read_draft_file, remove_draft_file,
                          set_aside_draft_file, voxel_digest, write_draft_file)
from .errors import InputError
from .geometry import Volume
from .grid_order import reorder_onto
from .volume_io import read_volume

DRAFTS = "drafts"
__all__ = ["DRAFTS", "DraftInfo", "discard_draft", "draft_info", "draft_path", "kept_drafts", "read_draft",
           "save_draft", "set_aside_draft", "voxel_digest"]


def save_draft(dataset_dir, case_id: str, label: Union[Volume, np.ndarray], reader: Optional[str] = None) -> DraftInfo:
    """Keep ``label`` (the segment as the reader left it) as the draft of an existing case; replaces the last draft.

    A :class:`Volume` may number the case's voxels in another order (a scene
    holds a left-handed case with its slices reversed): it is re-indexed onto
    the case's grid. A bare array must already be on it. Refuses, writing
    nothing, a case the dataset does not hold or a label on other voxels.
    """
    directory = Path(dataset_dir)
    record = _record(directory, case_id)
    geometry = read_volume(_image_path(directory, record, 0)).ijk_to_ras
    array = np.asarray(label.array if isinstance(label, Volume) else label) > 0
    if isinstance(label, Volume):
        array = reorder_onto(array, label.ijk_to_ras, geometry, record.shape_kji)
        if array is None:
            raise InputError("The draft for case %s lies on another grid than the case's exam." % record.case_id)
    elif list(array.shape) != list(record.shape_kji):
        raise InputError("The draft for case %s has shape %s but the case's exam is %s (slice, row, col); "
                         "it belongs to another exam." % (record.case_id, array.shape, tuple(record.shape_kji)))
    return write_draft_file(draft_path(directory, record.case_id), array, geometry, record.case_id, reader)


def read_draft(dataset_dir, case_id: str) -> Optional[Tuple[Volume, DraftInfo]]:
    """The case's draft label (uint8 Volume) and its info, or None when there is no usable draft."""
    return read_draft_file(draft_path(Path(dataset_dir), safe_case_id(case_id)))


def draft_info(dataset_dir, case_id: str) -> Optional[DraftInfo]:
    """The info of the case's draft (None when there is none), from its header only."""
    return draft_file_info(draft_path(Path(dataset_dir), safe_case_id(case_id)))


def discard_draft(dataset_dir, case_id: str) -> bool:
    """Remove the case's draft (after its label was approved); True when there was one."""
    return remove_draft_file(draft_path(Path(dataset_dir), safe_case_id(case_id)))


def set_aside_draft(dataset_dir, case_id: str) -> Optional[Path]:
    """Keep the case's draft under another name beside it (:func:`draft_files.set_aside_draft_file`)."""
    return set_aside_draft_file(draft_path(Path(dataset_dir), safe_case_id(case_id)))


def kept_drafts(dataset_dir, case_id: str) -> List[Tuple[Path, DraftInfo]]:
    """The case's draft and the drafts of it set aside, with their headers, newest first
    (:func:`draft_files.kept_draft_files`)."""
    case_id = safe_case_id(case_id)
    return kept_draft_files(draft_path(Path(dataset_dir), case_id), case_id)


def draft_path(directory: Path, case_id: str) -> Path:
    """Where a case's draft is kept."""
    return path_inside(Path(directory), "%s/%s.nrrd" % (DRAFTS, case_id))


def _record(directory: Path, case_id: str) -> CaseRecord:
    record = _existing_record(directory, safe_case_id(case_id))
    if record is None:
        raise InputError("No case %r in dataset %s: a draft can only be kept for a case of the dataset."
                         % (case_id, directory))
    return record
