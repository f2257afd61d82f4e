"""Writing files so that no reader ever sees half of one: temporary name, then rename.

Every file this package writes for a person or another process to read
(volumes, JSON provenance and indexes, CSV tables, weights) goes through
here. The content is written under a unique hidden name in the destination's
own folder (same file system, so the final ``os.replace`` is atomic) and
renamed onto the destination only when complete; on any error, including
Ctrl-C, the temporary file is deleted and the destination is left as it was.

JSON is written through :func:`jsonable`, so numpy values become plain
numbers and NaN/inf become ``null``: the files are strict JSON that any
reader (a spreadsheet tool, JavaScript, ``jq``) accepts.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]
TEMPORARY_MARKER = ".partial"
_DOUBLE_SUFFIXES = (".nii.gz", ".tar.gz")


def file_suffix(path: PathLike) -> str:
    """The file's type suffix, lower case: ``.nii.gz`` for ``a.nii.gz``, ``.nrrd`` for ``b.nrrd``."""
    name = Path(path).name.lower()
    for suffix in _DOUBLE_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return Path(name).suffix


def temporary_path(path: PathLike, keep_suffix: bool = False) -> Path:
    """A unique hidden name beside ``path`` for its content while it is being written.

    ``keep_suffix`` keeps the type suffix last (``.a.1f2e3d4c.partial.nii.gz``)
    for writers that choose the format by suffix (SimpleITK); otherwise the
    name ends in ``.partial`` so that no folder scan mistakes it for a finished file.
    """
    path = Path(path)
    token = os.urandom(4).hex()
    if not keep_suffix:
        return path.with_name(".%s.%s%s" % (path.name, token, TEMPORARY_MARKER))
    suffix = file_suffix(path)
    stem = path.name[: len(path.name) - len(suffix)]
    return path.with_name(".%s.%s%s%s" % (stem, token, TEMPORARY_MARKER, path.name[len(stem):]))


@contextlib.contextmanager
def atomic_output(path: PathLike, keep_suffix: bool = False, mode: Optional[int] = None) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces ``path`` when the block ends without error.

    The parent folder is created. ``mode`` (e.g. ``0o600`` for private files)
    sets the permissions of the result; by default the writer's umask applies.
    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path, keep_suffix)
    try:
        yield temporary
        if mode is not None:
            os.chmod(str(temporary), mode)
        os.replace(str(temporary), str(path))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(str(temporary))
        raise


def atomic_write_text(path: PathLike, text: str, mode: Optional[int] = None) -> Path:
    """Write a UTF-8 text file atomically and durably (flushed to disk before the rename)."""
    path = Path(path)
    with atomic_output(path, mode=mode) as temporary:
        with open(str(temporary), "x", encoding="utf-8", newline="") as stream:
            if mode is not None:  # before any content: a private file is never readable by others
                os.chmod(str(temporary), mode)
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
    return path


def atomic_write_json(path: PathLike, data: Any, mode: Optional[int] = None) -> Path:
    """Write ``data`` as indented strict JSON (NaN/inf as null, numpy as numbers) atomically.

    Values JSON cannot hold (e.g. a datetime) are written as their text.
    """
    text = json.dumps(jsonable(data), indent=2, allow_nan=False, default=str) + "\n"
    return atomic_write_text(path, text, mode)


def atomic_copy(source: PathLike, target: PathLike) -> Path:
    """Copy a file so that ``target`` is either its old content or a complete copy."""
    with atomic_output(target) as temporary:
        shutil.copyfile(str(source), str(temporary))
    return Path(target)


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays as Python values, NaN/inf as None and paths as text, recursively."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, (Path, os.PathLike)):
        return str(value)
    return value


def remove_path(path: PathLike) -> None:
    """Remove a file or a whole folder at ``path``; nothing when there is none."""
    path = Path(path)
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
