"""One draft label per file: a reader's unfinished segmentation, written whole or not at all.

A draft is a uint8 NRRD (1 = femoral cartilage) on its exam's grid whose
header says what it is: the key it belongs to (a dataset case id, or the hashed
identity of an input), when it was saved (UTC), by whom, its voxel count and a digest of
its voxels. The file is replaced atomically, so a crash while saving leaves
the previous draft whole; a file whose voxels do not match its digest, or that
has no draft header, is never offered as the reader's work. Used by
:mod:`dataset_drafts` (cases of a training dataset) and :mod:`local_drafts`
(any other input, in the user cache).
"""

from __future__ import annotations

import datetime
import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from .atomic_files import atomic_output
from .dataset_index import parse_utc_iso, utc_now_iso
from .geometry import Volume
from .volume_io import sitk_to_volume, volume_to_sitk

_PREFIX = "knee_t2_draft_"


@dataclass(frozen=True)
class DraftInfo:
    """What a draft's header says."""

    key: str  # the dataset case id, or the hashed key of a local draft (local_drafts.draft_key)
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


def write_draft_file(path: Path, mask: np.ndarray, ijk_to_ras: np.ndarray, key: str,
                     reader: Optional[str] = None) -> DraftInfo:
    """Write ``mask`` (non-zero = cartilage) as the draft at ``path``, replacing the previous one atomically."""
    import SimpleITK as sitk

    inside = np.asarray(mask) > 0
    info = DraftInfo(str(key), utc_now_iso(), reader or None, int(inside.sum()), voxel_digest(inside))
    image = volume_to_sitk(Volume(inside.astype(np.uint8), ijk_to_ras))
    for name, value in _header(info).items():
        image.SetMetaData(name, value)
    with atomic_output(path, keep_suffix=True) as temporary:
        sitk.WriteImage(image, str(temporary), True)
    return info


def read_draft_file(path: Path) -> Optional[Tuple[Volume, DraftInfo]]:
    """The draft at ``path`` (uint8 Volume) and its info; None when there is none or it is not whole."""
    import SimpleITK as sitk

    if not path.is_file():
        return None
    image = sitk.ReadImage(str(path))
    info = _info(image)
    volume = sitk_to_volume(image)
    array = (np.asarray(volume.array) > 0).astype(np.uint8)
    if info is None or voxel_digest(array) != info.digest:
        return None
    return volume.with_array(array), info


def draft_file_info(path: Path) -> Optional[DraftInfo]:
    """The header of the draft at ``path`` (None when there is none, or the file is no readable image: the
    panel asks on every change of input and must not fail there), without reading its voxels."""
    import SimpleITK as sitk

    if not path.is_file():
        return None
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return None
    return _info(reader)


def set_aside_draft_file(path: Path) -> Optional[Path]:
    """Keep the draft at ``path`` under another name beside it, ``<name>.superseded-<saved UTC>.nrrd``.

    For a draft another scene (or another copy of the same series) wrote: a newer draft may take
    its place without the older corrections being lost. The new path; None when there was no draft.
    """
    info = draft_file_info(path)
    if info is None:
        return None
    stem = path.name[: -len(".nrrd")] if path.name.endswith(".nrrd") else path.name
    stamp = info.saved.replace("-", "").replace(":", "")
    target, number = path.with_name("%s.superseded-%s.nrrd" % (stem, stamp)), 1
    while target.exists():
        number += 1
        target = path.with_name("%s.superseded-%s-%d.nrrd" % (stem, stamp, number))
    path.replace(target)
    return target


def kept_draft_files(path: Path, key: str) -> List[Tuple[Path, DraftInfo]]:
    """The draft at ``path`` and those set aside beside it (:func:`set_aside_draft_file`), newest first.

    Only files whose header names ``key`` are listed: a file copied in from another input or case is not
    offered as this one's. A file without a readable draft header is left out (as :func:`draft_file_info`).
    """
    stem = path.name[: -len(".nrrd")] if path.name.endswith(".nrrd") else path.name
    aside = sorted(path.parent.glob("%s.superseded-*.nrrd" % glob.escape(stem))) if path.parent.is_dir() else []
    found = [(candidate, draft_file_info(candidate)) for candidate in [path] + aside]
    kept = [(candidate, info) for candidate, info in found if info is not None and info.key == str(key)]
    return sorted(kept, key=lambda item: (item[1].saved, item[0] == path), reverse=True)


def draft_files_in(folder: Path) -> List[Path]:
    """The ``*.nrrd`` files of ``folder`` that may be drafts, by name; [] when there is no such folder.

    Hidden files are left out: a draft being written (or left by a crash while
    writing) lies under a hidden temporary name that also ends in ``.nrrd``
    (:func:`atomic_files.temporary_path` with ``keep_suffix``), and is never a
    draft to list, restore or clear. One rule for the dataset's drafts and those
    in the user cache.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [path for path in sorted(folder.glob("*.nrrd")) if not path.name.startswith(".")]


def is_set_aside_name(path: Path) -> bool:
    """Whether ``path`` is a draft set aside (:func:`set_aside_draft_file`), not the current draft of its key."""
    return ".superseded-" in Path(path).name


def saved_at(info: DraftInfo) -> datetime.datetime:
    """When the draft was saved, as an aware UTC datetime (its header's ``saved``)."""
    return parse_utc_iso(info.saved)


def age_days(info: DraftInfo, now: datetime.datetime) -> float:
    """Days (24 h) between the draft's saving and ``now`` (an aware datetime)."""
    return (now - saved_at(info)).total_seconds() / 86400.0


def remove_draft_file(path: Path) -> bool:
    """Delete the draft at ``path``; True when there was one."""
    if path.is_file():
        path.unlink()
        return True
    return False


def _header(info: DraftInfo) -> dict:
    return {_PREFIX + "key": info.key, _PREFIX + "saved": info.saved, _PREFIX + "reader": info.reader or "",
            _PREFIX + "voxels": str(info.n_voxels), _PREFIX + "digest": info.digest}


def _info(source) -> Optional[DraftInfo]:
    """DraftInfo from an image's (or a reader's) metadata; None when the header is not a draft's, or is one
    whose voxel count or saving time cannot be read (a damaged or hand-edited header: no age to clear it by,
    and the panel, which asks on every change of input, must not fail on it)."""
    names = list(_header(DraftInfo("", "", None, 0, "")))
    if not all(source.HasMetaDataKey(name) for name in names):
        return None
    value = {name[len(_PREFIX):]: source.GetMetaData(name) for name in names}
    try:
        n_voxels = int(value["voxels"])
        parse_utc_iso(value["saved"])
    except ValueError:
        return None
    return DraftInfo(value["key"], value["saved"], value["reader"] or None, n_voxels, value["digest"])
