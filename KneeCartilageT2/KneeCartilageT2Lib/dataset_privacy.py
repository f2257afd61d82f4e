"""Pseudonymity of the training dataset: identifying text and the private id map.

Case ids are sequential (``knee_001``...) and say nothing of the patient.
What links them back to the source (patient id, UIDs, source path) is kept in
``DIR/.private/id_map.json`` only, readable by its owner (folder 0700, file
0600); share a dataset without its ``.private`` folder. Before a case index is
written, :func:`find_identifying_text` checks that no identifying value of
the exam's header (patient name or id, dates, UIDs, the source path) would
appear in it.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Optional

from .dataset_index import atomic_write_json, read_json

_IDENTIFYING_KEY_PARTS = ("patient", "date", "birth", "accession", "uid", "institution", "physician",
                          "operator")
_PATH_KEY_PARTS = ("path", "source", "file")


def identifying_values(metadata: Dict[str, Any]) -> List[str]:
    """Strings in exam metadata that could identify a person or a visit.

    Values of keys naming a patient, a date, an accession number, a UID, an
    institution, a person or a file path; names are also split into parts
    (``DOE^JOHN`` gives ``DOE`` and ``JOHN``) and DICOM dates ``YYYYMMDD`` are
    also given as ``YYYY-MM-DD``. Under path-like keys (path, source, file)
    only values holding a path separator count, each as a whole (folder
    names are too generic to match one by one; a patient name inside a path
    is caught through the name itself). Parts shorter than 3 characters are
    dropped.
    """
    values = set()
    for key, value in (metadata or {}).items():
        normalized = re.sub(r"[^a-z]", "", str(key).lower())
        if value is None:
            continue
        if any(part in normalized for part in _PATH_KEY_PARTS) and isinstance(value, (str, os.PathLike)):
            if re.search(r"[/\\]", str(value)):  # a path; plain words here ("nrrd", "sidecar") describe
                values.add(str(value))
            continue
        if not any(part in normalized for part in _IDENTIFYING_KEY_PARTS):
            continue
        if isinstance(value, (list, tuple)):
            texts = [str(item) for item in value]
        else:
            texts = [str(value)]
        for text in texts:
            text = text.strip()
            values.add(text)
            values.update(re.split(r"[\^\s,/\\]+", text))
            if re.fullmatch(r"\d{8}", text):
                values.add("%s-%s-%s" % (text[:4], text[4:6], text[6:]))
    return sorted(value for value in values if len(value) >= 3)


def find_identifying_text(text: str, metadata: Dict[str, Any]) -> List[str]:
    """The identifying metadata values (see :func:`identifying_values`) found in ``text``.

    A value counts only as a whole token (not inside a longer run of letters
    and digits), so a short name is not "found" inside a hash.
    """
    found = []
    for value in identifying_values(metadata):
        pattern = r"(?<![A-Za-z0-9])%s(?![A-Za-z0-9])" % re.escape(value)
        if re.search(pattern, text, flags=re.IGNORECASE):
            found.append(value)
    return found


def identity_key(metadata: Dict[str, Any]) -> Optional[str]:
    """A stable key for "the same exam": its series UID, else its source path, else None.

    A patient id alone is not enough (one patient has several visits and knees).
    """
    normalized = {re.sub(r"[^a-z]", "", str(key).lower()): value for key, value in (metadata or {}).items()}
    for wanted in ("seriesinstanceuid", "sourcepath", "source"):
        if normalized.get(wanted):
            return "%s=%s" % (wanted, normalized[wanted])
    return None


# --- the private id map --------------------------------------------------------------------

PRIVATE_FOLDER = ".private"
ID_MAP_NAME = "id_map.json"


def id_map_path(dataset_dir: Path) -> Path:
    """``DIR/.private/id_map.json``."""
    return Path(dataset_dir) / PRIVATE_FOLDER / ID_MAP_NAME


def load_id_map(dataset_dir: Path) -> Dict[str, Any]:
    """The local id map: ``{"salt": hex, "cases": {case_id: {"identity_hash", "identifiers"}}}``."""
    path = id_map_path(dataset_dir)
    if not path.is_file():
        return {"salt": os.urandom(16).hex(), "cases": {}}
    data = read_json(path)
    data.setdefault("cases", {})
    data.setdefault("salt", os.urandom(16).hex())
    return data


def save_id_map(dataset_dir: Path, id_map: Dict[str, Any]) -> None:
    """Write the id map readable by its owner only (folder 0700, file 0600)."""
    folder = Path(dataset_dir) / PRIVATE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    atomic_write_json(id_map_path(dataset_dir), id_map, mode=0o600)


def salted_identity_hash(id_map: Dict[str, Any], key: str) -> str:
    """SHA-256 of ``key`` with the dataset's secret salt: recognises an exam without storing its identity."""
    return hashlib.sha256((id_map["salt"] + "|" + key).encode("utf-8")).hexdigest()


def find_case_by_identity(id_map: Dict[str, Any], key: Optional[str]) -> Optional[str]:
    """The case id already given to the exam with identity ``key`` (see :func:`identity_key`), or None."""
    if not key:
        return None
    wanted = salted_identity_hash(id_map, key)
    for case_id, entry in id_map["cases"].items():
        if entry.get("identity_hash") == wanted:
            return case_id
    return None


def remember_case(id_map: Dict[str, Any], case_id: str, metadata: Dict[str, Any]) -> None:
    """Record which source a case id stands for (identifiers stay in the private map only)."""
    key = identity_key(metadata)
    identifiers = {str(k): str(v) for k, v in (metadata or {}).items()
                   if re.sub(r"[^a-z]", "", str(k).lower()) in
                   ("patientid", "patientname", "studyinstanceuid", "seriesinstanceuid", "studydate",
                    "accessionnumber", "sourcepath", "source")}
    id_map["cases"][case_id] = {
        "identity_hash": salted_identity_hash(id_map, key) if key else None,
        "identifiers": identifiers,
    }
