"""How result files name their inputs: by the last part of the path and a hash of the images, never by the path.

Site folders are often named after the patient (``/data/DOE_JOHN_1957/knee/``),
while result folders (an analysis, a change analysis, a batch's scans and
tables) are shared outside the site for research. So a file in a result
folder names an input by the last part of its path only (``knee``,
``echoes.nrrd``) and, for an exam, by :func:`exam_fingerprint`: the SHA-256 of
its echo images and echo times, the same hash a training dataset records as
``image_sha256`` (:func:`dataset_index.array_sha256`). The hash tells the same
exam again without saying where it lay. The last part is kept as it is: a
folder or file named after the patient itself still shows (name the series
folder or file neutrally).

Sites that want the full paths in their own results opt in
(``record_full_paths=True``, ``--record-full-paths`` on the commands). The full
path then goes under its own key, the input's key plus ``_path``
(``source_path`` beside ``source``), so the short name keeps one meaning.
Readers that need the exam itself (``knee-t2 to-dicom``) take it from there
(:func:`recorded_path`) or, failing that, from the user.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import PureWindowsPath
from typing import Any, Dict, Iterable, Mapping, Optional

PATH_SUFFIX = "_path"  # "<key>_path": the full path of input "<key>", written only on opt-in
FINGERPRINT_SUFFIX = "_sha256"  # "<key>_sha256": the exam's fingerprint (see exam_fingerprint)
_SEPARATOR = re.compile(r"[/\\]")


def input_name(path: Any) -> str:
    """The last part of a path, split at ``/`` and ``\\`` alike (a path written on Windows too); "" for none."""
    return PureWindowsPath(str(path or "")).name


def exam_fingerprint(exam) -> str:
    """SHA-256 of the exam's echo images and echo times (a dataset's ``image_sha256``): the exam, not its place."""
    from .dataset_index import array_sha256

    return array_sha256(exam.echoes, exam.echo_times_ms)


def source_record(exam, record_full_paths: bool = False) -> Dict[str, str]:
    """How a result folder names the exam it analysed: ``source`` (last part), ``source_sha256`` and, on opt-in,
    ``source_path`` (the exam's path, made absolute). Computes the fingerprint (about 0.1 s a series)."""
    source = str((exam.metadata or {}).get("source") or "")
    record = {"source": input_name(source), "source" + FINGERPRINT_SUFFIX: exam_fingerprint(exam)}
    if record_full_paths and source:
        record["source" + PATH_SUFFIX] = absolute_path(source)
    return record


def paths_record(paths: Mapping[str, Optional[Any]], record_full_paths: bool = False) -> Dict[str, Optional[str]]:
    """Inputs given by the user as paths (``{"baseline": path, ...}``) as a result file records them.

    Each key holds the last part (None stays None); on opt-in ``<key>_path`` holds the path, made absolute.
    """
    record: Dict[str, Optional[str]] = {}
    for key, path in paths.items():
        record[key] = None if path is None else input_name(path)
        if record_full_paths and path is not None:
            record[key + PATH_SUFFIX] = absolute_path(path)
    return record


def absolute_path(path) -> str:
    """``path`` made absolute when it names an existing file or folder: a relative path given on the command
    line would name another place once ``to-dicom`` or ``change`` runs from another folder, or a Dask worker
    reads it. Descriptions that are no path (a Slicer phantom's) stay as they are."""
    text = str(path)
    return os.path.abspath(text) if text and os.path.exists(text) else text


def recorded_path(record: Mapping[str, Any], key: str = "source") -> str:
    """The full path a result file holds for input ``key``, or "" when it holds the last part only.

    ``<key>_path`` when the folder was written with full paths; in folders written before names replaced
    paths, ``<key>`` itself when it is a path (it holds a separator, which a last part never does).
    """
    full = record.get(key + PATH_SUFFIX)
    if full:
        return str(full)
    value = str(record.get(key) or "")
    return value if _SEPARATOR.search(value) else ""


def path_digest(path: Any) -> str:
    """``sha256:<hex>`` of the absolute path: tells whether two runs had the same input without naming it."""
    return "sha256:" + hashlib.sha256(os.path.abspath(str(path)).encode("utf-8")).hexdigest()


def redact_paths(text: str, paths: Iterable[Any]) -> str:
    """``text`` with each of ``paths`` (as given, absolute and resolved) replaced by its last part.

    For messages that name an input (``No DICOM image was found in /data/DOE_JOHN/knee``) before they
    reach a shared file; longer spellings are replaced first, so a path is never half replaced. A file
    beside an input (its sidecar ``/data/DOE_JOHN/knee/echoes.json``, another echo of a set) is named
    by its last part too: its folder is the input's, which may name the patient as well.
    """
    spellings = {}
    for path in paths:
        if not path:
            continue
        text_path = str(path)
        for spelling in (text_path, os.path.abspath(text_path), os.path.realpath(text_path)):
            name = input_name(spelling)
            if name and spelling != name:
                spellings[spelling.rstrip("/\\") or spelling] = name
            folder = os.path.dirname(spelling.rstrip("/\\"))
            if input_name(folder):  # not the root, not "" (a bare name): "<folder>/" goes, the file's name stays
                for separator in {os.sep, "/"}:
                    spellings[folder.rstrip("/\\") + separator] = ""
    for spelling in sorted(spellings, key=len, reverse=True):
        text = text.replace(spelling, spellings[spelling])
    return text
