"""The user's model cache: where downloaded and imported weights live, and first-use hashes.

``$KNEE_T2_CACHE/models`` when that variable is set, else
``~/.cache/knee-t2/models``; never the extension folder (it may be read-only
and is replaced on upgrade). ``known_hashes.json`` there records the sha256
of the first accepted download of a model whose registry entry has no hash
(trust on first use); later files must match it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Dict, Optional

KNOWN_HASHES_FILE = "known_hashes.json"


def cache_dir(create: bool = True) -> Path:
    """Folder for downloaded/imported weights: ``$KNEE_T2_CACHE/models`` or ``~/.cache/knee-t2/models``."""
    root = os.environ.get("KNEE_T2_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "knee-t2"
    folder = base / "models"
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "model"


def cached_weights_path(name: str, version: str) -> Path:
    return cache_dir(create=False) / ("%s-%s.safetensors" % (safe_name(name), safe_name(version)))


def clear_cache() -> int:
    """Delete cached weights (not the recorded hashes); returns the number of files removed."""
    folder = cache_dir(create=False)
    removed = 0
    if folder.is_dir():
        for path in list(folder.glob("*.safetensors")) + list(folder.glob("*.partial")):
            path.unlink()
            removed += 1
    return removed


def known_hashes() -> Dict[str, Any]:
    path = cache_dir(create=False) / KNOWN_HASHES_FILE
    if not path.is_file():
        return {}
    with open(path, "r", encoding="utf-8") as handle:
        return json.load(handle)


def record_hash(entry: Dict[str, Any], sha256: str, size: int) -> None:
    hashes = known_hashes()
    hashes[entry["name"]] = {"url": entry.get("url"), "sha256": sha256, "size": size}
    path = cache_dir() / KNOWN_HASHES_FILE
    temporary = path.with_name(path.name + ".partial")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(hashes, handle, indent=2, sort_keys=True)
    os.replace(temporary, path)


def expected_sha256(entry: Dict[str, Any]) -> Optional[str]:
    """The registry's sha256, else the hash recorded on first use, else None."""
    if entry.get("sha256"):
        return str(entry["sha256"]).lower()
    recorded = known_hashes().get(entry["name"])
    return recorded.get("sha256") if recorded else None
