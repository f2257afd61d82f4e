"""The user's model cache: where downloaded and imported weights live, and first-use hashes.

``$KNEE_T2_CACHE/models`` when that variable is set, else
``~/.cache/knee-t2/models``; never the extension folder (it may be read-only
and is replaced on upgrade). ``known_hashes.json`` there records the sha256
of the first accepted download of a model whose registry entry has no hash
(trust on first use); later files must match it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, Iterable, Optional

from .atomic_files import atomic_write_json
from .errors import ModelError

KNOWN_HASHES_FILE = "known_hashes.json"


def cache_dir(create: bool = True) -> Path:
    """Folder for downloaded/imported weights: ``$KNEE_T2_CACHE/models`` or ``~/.cache/knee-t2/models``."""
    from .sample_data import cache_dir as user_cache_root

    folder = user_cache_root() / "models"
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def safe_name(text: str) -> str:
    """``text`` with every character but letters, digits, ``.``, ``_`` and ``-`` replaced: a safe file name part."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "model"


def cached_weights_path(name: str, version: str) -> Path:
    """Where the cache keeps model ``name`` at ``version``: ``<cache>/<name>-<version>.safetensors``."""
    return cache_dir(create=False) / ("%s-%s.safetensors" % (safe_name(name), safe_name(version)))


def clear_cache(weights_files: Iterable[Path]) -> int:
    """Delete these cached weights files and any unfinished download (not the recorded hashes); the number of
    files removed. The caller names the files that can be fetched again (:func:`model_registry.clear_cache`)."""
    folder = cache_dir(create=False)
    removed = 0
    if folder.is_dir():
        wanted = {Path(path).resolve() for path in weights_files}
        for path in list(folder.glob("*.safetensors")) + list(folder.glob("*.partial")):
            if path.suffix == ".partial" or path.resolve() in wanted:
                path.unlink()
                removed += 1
    return removed


def known_hashes() -> Dict[str, Any]:
    """``{model name: {"url", "sha256", "size"}}`` of weights trusted on first use."""
    path = cache_dir(create=False) / KNOWN_HASHES_FILE
    if not path.is_file():
        return {}
    try:
        with open(path, "r", encoding="utf-8") as handle:
            return json.load(handle)
    except ValueError as error:
        raise ModelError("The record of first-use weight hashes %s is not valid JSON (%s). Delete it; the next "
                         "download is then trusted again and recorded." % (path, error))


def record_hash(entry: Dict[str, Any], sha256: str, size: int) -> None:
    """Trust ``sha256`` (a file of ``size`` bytes) for the registry entry from now on."""
    hashes = known_hashes()
    hashes[entry["name"]] = {"url": entry.get("url"), "sha256": sha256, "size": size}
    atomic_write_json(cache_dir() / KNOWN_HASHES_FILE, dict(sorted(hashes.items())))


def expected_sha256(entry: Dict[str, Any]) -> Optional[str]:
    """The registry's sha256, else the hash recorded on first use, else None."""
    if entry.get("sha256"):
        return str(entry["sha256"]).lower()
    recorded = known_hashes().get(entry["name"])
    return recorded.get("sha256") if recorded else None
