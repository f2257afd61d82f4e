"""The per-case JSON index of a training dataset, safe names and the private id map.

A dataset (see :mod:`dataset_format`) keeps one ``cases/<case>.json`` per case.
That index file is the *commit point* of every write: image and label files
are written first, the index last, so a case without an index entry is an
unfinished write that readers ignore and :func:`dataset_format.repair_dataset`
removes.

This module holds ``dataset.json`` (nnU-Net's description of the dataset,
which also keeps our settings), what the case index contains (:class:`CaseRecord`,
:class:`LabelVersion`), how it is written (atomically: temporary file in the
same folder, then ``os.replace``, see :mod:`atomic_files`) and how case ids are made safe to use as
file names (no path can escape the dataset folder). Pseudonymity lives in
:mod:`dataset_privacy`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import numpy as np

from . import __version__
from .atomic_files import atomic_write_json
from .errors import InputError

INDEX_FORMAT = "knee-t2-case"
INDEX_FORMAT_VERSION = 1
MAX_CASE_ID_LENGTH = 64
DATASET_JSON = "dataset.json"
FILE_ENDING = ".nii.gz"
LABELS = {"background": 0, "femoral_cartilage": 1}
_UNSAFE_CHARACTERS = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass
class LabelVersion:
    """One approved label of a case; files are immutable once written.

    Attributes:
        version: 1, 2, ... in the order they were approved.
        file: path of the label (uint8, 0/1) relative to the dataset folder.
        sha256: hash of the label array (see :func:`array_sha256`).
        created: UTC time of approval, ISO 8601 (``2025-01-31T12:00:00Z``).
        reader: who approved it (free text, e.g. a reader's initials), or None.
        model_name, model_version: the model whose output was corrected, or None.
        original_file: the model's unedited label for this version (relative path), or None; an earlier
            version's ``_vN_original`` file when that version was corrected from the same model label.
        original_sha256: hash of that original label, or None.
        info: free extra facts about this version (e.g. edit statistics from :mod:`correction`).
    """

    version: int
    file: str
    sha256: str
    created: str
    reader: Optional[str] = None
    model_name: Optional[str] = None
    model_version: Optional[str] = None
    original_file: Optional[str] = None
    original_sha256: Optional[str] = None
    info: Dict[str, Any] = field(default_factory=dict)


@dataclass
class CaseRecord:
    """The index entry of one case (``cases/<case_id>.json``).

    Attributes:
        case_id: pseudonymous id, safe as a file name (``[A-Za-z0-9_-]``).
        source: short description of where the exam came from (e.g. ``"phantom"``,
            ``"mese_dicom"``); never a path or a patient identifier.
        protocol: protocol name (e.g. ``"OAI MESE 7 echoes"``), free text, non-identifying.
        echo_times_ms: echo time (ms) of every echo of the case, in order.
        laterality: ``"right"``, ``"left"`` or ``"unknown"``.
        shape_kji: volume shape (slice, row, col).
        spacing_ijk_mm: voxel size (mm) along col, row, slice.
        n_channels: echoes stored as nnU-Net channels (``imagesTr``/``imagesUnlabelled``);
            echoes beyond it are in ``imagesExtra``.
        image_sha256: hash of the whole echo stack and echo times, to recognise the same exam.
        created: UTC time the case was first written, ISO 8601.
        tool_version: version of this package that wrote the case.
        model_name, model_version: model that produced the first label, or None.
        reader: reader of the first approved label, or None.
        label_versions: approved labels, oldest first; the last is the current one.
        extra: caller's non-identifying extra facts (checked like everything else).
    """

    case_id: str
    source: str
    protocol: str
    echo_times_ms: List[float]
    laterality: str
    shape_kji: List[int]
    spacing_ijk_mm: List[float]
    n_channels: int
    image_sha256: str
    created: str
    tool_version: str
    model_name: Optional[str] = None
    model_version: Optional[str] = None
    reader: Optional[str] = None
    label_versions: List[LabelVersion] = field(default_factory=list)
    extra: Dict[str, Any] = field(default_factory=dict)
    # Not an index field (no annotation: neither a dataclass field nor written to the index):
    # dataset_format.write_case sets it True on the record it returns when it added a label version;
    # False when it wrote none (the label given is already the current version, or none was given)
    # and on every record read from disk.
    new_version_written = False

    @property
    def current_label(self) -> Optional[LabelVersion]:
        """The latest approved label, or None for an unlabelled case."""
        return self.label_versions[-1] if self.label_versions else None

    @property
    def is_labelled(self) -> bool:
        return bool(self.label_versions)

    @property
    def n_echoes(self) -> int:
        return len(self.echo_times_ms)

    def to_json_dict(self) -> Dict[str, Any]:
        """The index file's content: format tag, provenance block and the label history."""
        data = asdict(self)
        provenance = {
            "created": data.pop("created"),
            "tool": "knee-t2",
            "tool_version": data.pop("tool_version"),
            "model": {"name": data.pop("model_name"), "version": data.pop("model_version")},
            "reader": data.pop("reader"),
        }
        versions = data.pop("label_versions")
        current = versions[-1]["version"] if versions else None
        result = {"format": INDEX_FORMAT, "format_version": INDEX_FORMAT_VERSION}
        result.update(data)
        result["provenance"] = provenance
        result["labels"] = {"current_version": current, "versions": versions}
        return result

    @classmethod
    def from_json_dict(cls, data: Dict[str, Any]) -> "CaseRecord":
        """The record of an index file's content; :class:`InputError` for anything that is not one."""
        if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
            raise InputError("Not a KneeCartilageT2 case index (format %r)."
                             % (data.get("format") if isinstance(data, dict) else type(data).__name__))
        try:
            return cls._from_checked_json(data)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise InputError("The case index of %r is damaged (%s: %s). Restore cases/<case>.json from a backup; "
                             "its label files are still in labelsVersions/."
                             % (data.get("case_id"), type(error).__name__, error))

    @classmethod
    def _from_checked_json(cls, data: Dict[str, Any]) -> "CaseRecord":
        if data.get("format") != INDEX_FORMAT:
            raise InputError("Not a KneeCartilageT2 case index (format %r)." % data.get("format"))
        if int(data.get("format_version", 0)) > INDEX_FORMAT_VERSION:
            raise InputError(
                "Case index format version %s is newer than this tool reads (%d): update knee-t2."
                % (data.get("format_version"), INDEX_FORMAT_VERSION)
            )
        provenance = data.get("provenance", {})
        model = provenance.get("model") or {}
        versions = [LabelVersion(**entry) for entry in data.get("labels", {}).get("versions", [])]
        return cls(
            case_id=data["case_id"],
            source=data.get("source", ""),
            protocol=data.get("protocol", ""),
            echo_times_ms=[float(t) for t in data["echo_times_ms"]],
            laterality=data.get("laterality", "unknown"),
            shape_kji=[int(n) for n in data["shape_kji"]],
            spacing_ijk_mm=[float(s) for s in data.get("spacing_ijk_mm", [])],
            n_channels=int(data["n_channels"]),
            image_sha256=data["image_sha256"],
            created=provenance.get("created", ""),
            tool_version=provenance.get("tool_version", ""),
            model_name=model.get("name"),
            model_version=model.get("version"),
            reader=provenance.get("reader"),
            label_versions=versions,
            extra=dict(data.get("extra") or {}),
        )


UTC_ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now_iso() -> str:
    """Current UTC time as ``YYYY-MM-DDTHH:MM:SSZ`` (export time, never the scan date)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime(UTC_ISO_FORMAT)


def parse_utc_iso(text: str) -> datetime.datetime:
    """An aware UTC datetime from the text :func:`utc_now_iso` writes; ValueError (TypeError) for other text."""
    return datetime.datetime.strptime(text, UTC_ISO_FORMAT).replace(tzinfo=datetime.timezone.utc)


def array_sha256(array: np.ndarray, extra: Iterable[float] = ()) -> str:
    """Hash of an array's shape, dtype and values (and optional numbers such as echo times)."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256()
    digest.update(("%s|%s|" % (array.dtype.str, array.shape)).encode("ascii"))
    digest.update(array.tobytes())
    for value in extra:
        digest.update(("|%.6f" % float(value)).encode("ascii"))
    return digest.hexdigest()


def safe_case_id(text: str) -> str:
    """A case id usable as a file name: ``[A-Za-z0-9_-]`` only, no leading ``-``/``_``.

    Path separators, ``..``, NUL and every other character become ``_``; so
    ``"../../etc/x"`` becomes ``"etc_x"`` and cannot name a file outside the
    dataset.
    """
    cleaned = _UNSAFE_CHARACTERS.sub("_", str(text)).strip("_-")
    if not cleaned:
        raise InputError("Case id %r has no usable characters; use letters, digits, '_' or '-'." % (text,))
    if len(cleaned) > MAX_CASE_ID_LENGTH:
        raise InputError("Case id %r is longer than %d characters; use a shorter id." % (text, MAX_CASE_ID_LENGTH))
    return cleaned


def path_inside(base: Path, relative: str) -> Path:
    """``base / relative``, refusing any path that resolves outside ``base``."""
    base = Path(base).resolve()
    if "\x00" in str(relative) or os.path.isabs(str(relative)):
        raise InputError("Refusing the path %r: dataset files are named relative to the dataset." % (relative,))
    candidate = (base / relative).resolve()
    if candidate != base and base not in candidate.parents:
        raise InputError("Refusing the path %r: it points outside the dataset folder %s." % (relative, base))
    return candidate


def read_json(path: Path) -> Any:
    """A dataset JSON file's content; :class:`InputError` naming the file when it is not valid JSON."""
    try:
        with open(path, "r", encoding="utf-8") as stream:
            return json.load(stream)
    except ValueError as error:
        raise InputError("%s is not valid JSON (%s). Restore it from a backup; do not delete it (repair_dataset "
                         "would then remove the files it indexes, labels included)." % (path, error))


def next_sequential_id(prefix: str, taken: Iterable[str]) -> str:
    """``<prefix>_001``-style id one above the highest taken number (ids say nothing of the patient)."""
    pattern = re.compile(r"^%s_(\d+)$" % re.escape(prefix))
    numbers = [int(match.group(1)) for match in (pattern.match(name) for name in taken) if match]
    return "%s_%03d" % (prefix, (max(numbers) if numbers else 0) + 1)


# --- dataset.json ------------------------------------------------------------------------------

def load_settings(directory: Path) -> Optional[Dict[str, Any]]:
    """The dataset's settings kept in ``dataset.json`` (name, description, case prefix, channels), or None."""
    path = directory / DATASET_JSON
    if not path.is_file():
        return None
    content = read_json(path)
    block = content.get("knee_t2") or {}
    return {"name": content.get("name", "KneeCartilageT2"), "description": content.get("description", ""),
            "case_prefix": block.get("case_prefix", "knee"), "channels": block.get("channels")}


def write_dataset_json(directory: Path, settings: Dict[str, Any], records: List[CaseRecord]) -> None:
    """Write the nnU-Net v2 ``dataset.json`` for these committed cases, keeping our settings in "knee_t2"."""
    channels = settings.get("channels")
    labelled = [record for record in records if record.is_labelled]
    channel_names = {}
    for channel in range(channels or 0):
        times = [record.echo_times_ms[channel] for record in records if record.n_echoes > channel]
        channel_names[str(channel)] = "echo_%d%s" % (channel + 1, _te_text(times))
    content = {
        "name": settings.get("name") or "KneeCartilageT2",
        "description": settings.get("description") or "",
        "channel_names": channel_names,
        "labels": dict(LABELS),
        "numTraining": len(labelled),
        "file_ending": FILE_ENDING,
        "overwrite_image_reader_writer": "SimpleITKIO",
        "knee_t2": {
            "format_version": 1,
            "tool_version": __version__,
            "case_prefix": settings.get("case_prefix") or "knee",
            "channels": channels,
            "channel_rule": "channel c is echo c+1 of each case; echo times of each case are in "
                            "cases/<case>.json; echoes beyond the channels are in imagesExtra/",
            "num_cases": len(records),
            "num_unlabelled": len(records) - len(labelled),
        },
    }
    atomic_write_json(directory / DATASET_JSON, content)


def _te_text(times: List[float]) -> str:
    if not times:
        return ""
    low, high = min(times), max(times)
    if abs(high - low) < 1e-6:
        return " (TE %g ms)" % round(low, 3)
    return " (TE %g-%g ms)" % (round(low, 3), round(high, 3))
