"""Handing a worker's result objects to the parent process without pickle.

The worker (:mod:`worker`) runs in another process; its result, e.g. an
:class:`~.pipeline.AnalysisResult` with volumes, T2 maps and the regional
read-out, must reach Slicer intact. Pickle would let whoever can write the
job folder run code in Slicer when it is read, so the result is written as
two plain files instead:

* ``NAME.npz`` - every numpy array (and numpy scalar), uncompressed, read
  back with ``allow_pickle=False``;
* ``NAME.json`` - the structure: dicts, lists, tuples, numbers, text, paths
  and the dataclasses of :data:`TRANSFER_CLASSES`, with arrays referred to
  by their key in the ``.npz``. Non-finite floats are tagged, so the JSON
  is strict.

Only the dataclasses listed here can be rebuilt; anything else is refused
when writing (a programming error in the worker, caught by the tests) and
when reading (a tampered file), never imported by name. Both files are
written atomically, the ``.npz`` first: the ``.json`` appears last and
makes the pair complete.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

from .atomic_files import atomic_output
from .errors import KneeT2Error

FORMAT_NAME = "knee-t2 worker result"
FORMAT_VERSION = 1
# (module of this package, class name): the only types rebuilt from a transfer file.
TRANSFER_CLASSES: Tuple[Tuple[str, str], ...] = (
    ("pipeline", "AnalysisResult"),
    ("pipeline", "AnalysisOptions"),
    ("geometry", "Volume"),
    ("exam", "MeseExam"),
    ("t2_fitting", "T2FitResult"),
    ("regions", "RegionAnalysis"),
    ("projection", "ProjectionMap"),
    ("projection", "Circle"),
    ("orientation", "KneeOrientation"),
    ("slice_rule", "SliceRule"),
)
_PACKAGE = __name__.rsplit(".", 1)[0]


class TransferError(KneeT2Error):
    """A worker result that cannot be written or read back (unknown type, damaged file)."""


def write_transfer(value: Any, json_path) -> Path:
    """Write ``value`` as ``json_path`` plus the arrays beside it (same name, ``.npz``); returns json_path."""
    json_path = Path(json_path)
    arrays: Dict[str, np.ndarray] = {}
    document = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "value": _encode(value, arrays)}
    with atomic_output(arrays_path(json_path)) as temporary:
        with open(str(temporary), "wb") as handle:
            np.savez(handle, **arrays)
    with atomic_output(json_path) as temporary:
        temporary.write_text(json.dumps(document, allow_nan=False), encoding="utf-8")
    return json_path


def read_transfer(json_path) -> Any:
    """The value written by :func:`write_transfer`; never executes code from the files."""
    json_path = Path(json_path)
    try:
        document = json.loads(json_path.read_text(encoding="utf-8"))
        if document.get("format") != FORMAT_NAME or document.get("format_version") != FORMAT_VERSION:
            raise TransferError("%s is not a knee-t2 worker result of version %d." % (json_path, FORMAT_VERSION))
        with np.load(str(arrays_path(json_path)), allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        return _decode(document["value"], arrays)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise TransferError("Cannot read the worker's result %s (%s); run the task again." % (json_path, error))


def arrays_path(json_path) -> Path:
    """The ``.npz`` that holds the arrays of a transfer file."""
    return Path(json_path).with_suffix(".npz")


def _class_key(value: Any) -> str:
    cls = type(value)
    module = cls.__module__
    if module.startswith(_PACKAGE + "."):
        key = (module[len(_PACKAGE) + 1:], cls.__qualname__)
        if key in TRANSFER_CLASSES:
            return "%s.%s" % key
    raise TransferError("A worker result cannot hold a %s.%s; add it to result_transfer.TRANSFER_CLASSES."
                        % (module, cls.__qualname__))


def _encode(value: Any, arrays: Dict[str, np.ndarray]) -> Any:
    if isinstance(value, (np.ndarray, np.generic)):  # first: np.float64 is also a float
        key = "a%d" % len(arrays)
        arrays[key] = np.asarray(value)
        return {"__array__" if isinstance(value, np.ndarray) else "__scalar__": key}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, list):
        return [_encode(item, arrays) for item in value]
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(item, arrays) for item in value]}
    if isinstance(value, dict):
        return {"__dict__": [[_encode(key, arrays), _encode(item, arrays)] for key, item in value.items()]}
    if isinstance(value, Path):
        return {"__path__": str(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__dataclass__": _class_key(value),
                "fields": {field.name: _encode(getattr(value, field.name), arrays) for field in dataclasses.fields(value)}}
    raise TransferError("A worker result cannot hold a %s; convert it to plain values." % type(value).__name__)


def _decode(value: Any, arrays: Dict[str, np.ndarray]) -> Any:
    if isinstance(value, list):
        return [_decode(item, arrays) for item in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        return arrays[value["__array__"]]
    if "__scalar__" in value:
        return arrays[value["__scalar__"]][()]
    if "__float__" in value:
        return float(value["__float__"])
    if "__tuple__" in value:
        return tuple(_decode(item, arrays) for item in value["__tuple__"])
    if "__dict__" in value:
        return {_hashable(_decode(key, arrays)): _decode(item, arrays) for key, item in value["__dict__"]}
    if "__path__" in value:
        return Path(value["__path__"])
    if "__dataclass__" in value:
        return _rebuild(value["__dataclass__"], {name: _decode(item, arrays) for name, item in value["fields"].items()})
    raise TransferError("Unknown entry %s in a worker result." % sorted(value))


def _hashable(key: Any) -> Any:
    return tuple(_hashable(item) for item in key) if isinstance(key, list) else key


def _rebuild(class_key: str, fields: Dict[str, Any]) -> Any:
    module_name, _, class_name = str(class_key).partition(".")
    if (module_name, class_name) not in TRANSFER_CLASSES:
        raise TransferError("A worker result names the type %r, which is not a result type." % class_key)
    cls = getattr(importlib.import_module("%s.%s" % (_PACKAGE, module_name)), class_name)
    in_init: List[str] = [field.name for field in dataclasses.fields(cls) if field.init]
    instance = cls(**{name: fields[name] for name in in_init if name in fields})
    for name, item in fields.items():
        if name not in in_init:
            object.__setattr__(instance, name, item)
    return instance
