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

    DIR/drafts/<case>.nrrd   the draft label (uint8, 1 = femoral cartilage) on the case's grid; its
                             header holds when it was saved (UTC), by whom, the voxel count and a
                             digest of the voxels

One file per draft, replaced atomically: a crash while saving leaves the
previous draft whole, never half of the new one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

from .atomic_files import atomic_output
from .dataset_format import _existing_record, _image_path
from .dataset_index import CaseRecord, path_inside, safe_case_id, utc_now_iso
from .errors import InputError
from .geometry import Volume
from .volume_io import read_volume, sitk_to_volume, volume_to_sitk

DRAFTS = "drafts"


@dataclass(frozen=True)
class DraftInfo:
    """What is known of a saved draft (from its JSON)."""

    case_id: str
    saved: str  # UTC, ISO 8601
    reader: Optional[str]
    n_voxels: int
    digest: str


def voxel_digest(mask: np.ndarray) -> str:
    """SHA-256 of the (slice, row, col) shape and the inside voxels (non-zero) of a label."""
    inside = np.asarray(mask) > 0
    digest = hashlib.sha256(repr(inside.shape).encode("ascii"))
    digest.update(np.packbits(inside, axis=None).tobytes())
    return digest.hexdigest()


def save_draft(dataset_dir, case_id: str, label: Union[Volume, np.ndarray], reader: Optional[str] = None) -> DraftInfo:
    """Keep ``label`` (the segment as the reader left it) as the draft of an existing case; replaces the last draft.

    Refuses, writing nothing, a case the dataset does not hold or a label whose
    shape or grid is not the case's.
    """
    import SimpleITK as sitk

    directory = Path(dataset_dir)
    record = _record(directory, case_id)
    array = np.asarray(label.array if isinstance(label, Volume) else label) > 0
    if list(array.shape) != list(record.shape_kji):
        raise InputError("The draft for case %s has shape %s but the case's exam is %s (slice, row, col); "
                         "it belongs to another exam." % (record.case_id, array.shape, tuple(record.shape_kji)))
    geometry = _case_geometry(directory, record)
    if isinstance(label, Volume) and not np.allclose(label.ijk_to_ras, geometry, atol=1e-3):
        raise InputError("The draft for case %s lies on another grid than the case's exam." % record.case_id)
    info = DraftInfo(record.case_id, utc_now_iso(), reader or None, int(array.sum()), voxel_digest(array))
    image = volume_to_sitk(Volume(array.astype(np.uint8), geometry))
    for key, value in _header(info).items():
        image.SetMetaData(key, value)
    with atomic_output(draft_path(directory, record.case_id), keep_suffix=True) as temporary:
        sitk.WriteImage(image, str(temporary), True)
    return info


def read_draft(dataset_dir, case_id: str) -> Optional[Tuple[Volume, DraftInfo]]:
    """The case's draft label (uint8 Volume) and its info, or None when there is no usable draft."""
    import SimpleITK as sitk

    path = draft_path(Path(dataset_dir), safe_case_id(case_id))
    if not path.is_file():
        return None
    image = sitk.ReadImage(str(path))
    info = _info(image)
    volume = sitk_to_volume(image)
    array = (np.asarray(volume.array) > 0).astype(np.uint8)
    if info is None or voxel_digest(array) != info.digest:
        return None  # not a draft this module wrote whole: never offered as the reader's work
    return volume.with_array(array), info


def draft_info(dataset_dir, case_id: str) -> Optional[DraftInfo]:
    """The info of the case's draft (None when there is none), from its header only."""
    import SimpleITK as sitk

    path = draft_path(Path(dataset_dir), safe_case_id(case_id))
    if not path.is_file():
        return None
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return _info(reader)


def discard_draft(dataset_dir, case_id: str) -> bool:
    """Remove the case's draft (after its label was approved); True when there was one."""
    path = draft_path(Path(dataset_dir), safe_case_id(case_id))
    if path.is_file():
        path.unlink()
        return True
    return False


def draft_path(directory: Path, case_id: str) -> Path:
    """Where a case's draft is kept."""
    return path_inside(directory, "%s/%s.nrrd" % (DRAFTS, case_id))


def _header(info: DraftInfo) -> dict:
    return {"knee_t2_draft_case": info.case_id, "knee_t2_draft_saved": info.saved,
            "knee_t2_draft_reader": info.reader or "", "knee_t2_draft_voxels": str(info.n_voxels),
            "knee_t2_draft_digest": info.digest}


def _info(source) -> Optional[DraftInfo]:
    """DraftInfo from an image's (or reader's) metadata; None when the header is not a draft's."""
    keys = _header(DraftInfo("", "", None, 0, ""))
    if not all(source.HasMetaDataKey(key) for key in keys):
        return None
    values = {key: source.GetMetaData(key) for key in keys}
    return DraftInfo(values["knee_t2_draft_case"], values["knee_t2_draft_saved"],
                     values["knee_t2_draft_reader"] or None, int(values["knee_t2_draft_voxels"]),
                     values["knee_t2_draft_digest"])


def _record(directory: Path, case_id: str) -> CaseRecord:
    record = _existing_record(directory, safe_case_id(case_id))
    if record is None:
        raise InputError("No case %r in dataset %s: a draft can only be kept for a case of the dataset."
                         % (case_id, directory))
    return record


def _case_geometry(directory: Path, record: CaseRecord) -> np.ndarray:
    """The case's ijk_to_ras, from its first echo image."""
    return read_volume(_image_path(directory, record, 0)).ijk_to_ras
