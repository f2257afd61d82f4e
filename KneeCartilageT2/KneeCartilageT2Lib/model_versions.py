"""Fine-tuned models as numbered versions in the user's model cache (issue #6).

A model fine-tuned on a site's corrected cases is stored in the model cache
(:mod:`model_cache`, never the extension folder) as
``<name>-<version>.safetensors``: a self-describing safetensors file whose
spec carries, under ``"fine_tuning"``, where it came from (base model and
version, dataset, cases, epochs, validation Dice, time). It then appears in
:func:`model_registry.list_models` and ``knee-t2 models list`` and is
selectable like any other model:

* ``NAME`` loads the newest version of NAME;
* ``NAME@VERSION`` loads that exact version (versions are never overwritten,
  so an analysis that recorded ``NAME@VERSION`` can be reproduced).

Names of registry models (``models.json`` or bundled in Resources/) are
reserved: their name always means the published or shipped weights, so a
fine-tuned model never silently replaces them. By default a fine-tune of
``X`` is named ``X-finetuned`` (:func:`finetuned_name`); fine-tuning that
model again adds a version to the same name. Versions are 1, 2, 3, ... per
name (:func:`next_version`).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from . import __version__
from .errors import InputError, ModelError

PathLike = Union[str, os.PathLike]
FINETUNED_SUFFIX = "-finetuned"
VERSION_SEPARATOR = "@"
PROVENANCE_KEY = "fine_tuning"


@dataclass
class ModelVersion:
    """One installed version of a model (registry or cache).

    Attributes:
        name, version: as written in the weights file's spec (or the registry).
        path: the weights file.
        description: one line for model lists.
        provenance: the ``fine_tuning`` block of a fine-tuned version (empty otherwise).
    """

    name: str
    version: str
    path: Path
    description: str = ""
    provenance: Dict[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        """``name@version``: selects exactly this version in ``--model`` and :func:`load_model`."""
        return "%s%s%s" % (self.name, VERSION_SEPARATOR, self.version)


REMOVED_SUFFIX = ".removed"  # marks a version number that was used and removed

def finetuned_name(base_name: str) -> str:
    """Default name of a model fine-tuned from ``base_name`` (a name, ``name@version`` or a path)."""
    name, _ = split_model_reference(str(base_name))
    if name.lower().endswith((".safetensors", ".h5")) or os.sep in name or "/" in name:
        name = _name_in_file(Path(name))
    return name if name.endswith(FINETUNED_SUFFIX) else name + FINETUNED_SUFFIX


def split_model_reference(reference: str) -> Tuple[str, Optional[str]]:
    """``"name@3"`` -> ``("name", "3")``; ``"name"`` -> ``("name", None)``."""
    text = str(reference).strip()
    if VERSION_SEPARATOR in text and not Path(text).exists():
        name, version = text.rsplit(VERSION_SEPARATOR, 1)
        if name and version:
            return name, version
    return text, None


def version_sort_key(version: str) -> Tuple[Tuple[int, ...], str]:
    """Order versions numerically where they are numbers (``"10"`` after ``"9"``), else by text."""
    numbers = tuple(int(part) for part in re.findall(r"\d+", str(version)))
    return numbers, str(version)


def installed_versions(name: Optional[str] = None) -> List[ModelVersion]:
    """Every installed model version (or those of ``name``), oldest first within a name."""
    from .model_files import read_spec_or_empty
    from .model_registry import list_models

    versions = []
    for info in list_models():
        if not info.available or (name is not None and info.name != name):
            continue
        path = Path(info.location)
        try:
            spec = read_spec_or_empty(path) if path.suffix == ".safetensors" else {}
        except ModelError:
            continue
        provenance = dict(spec.get(PROVENANCE_KEY) or {})
        versions.append(ModelVersion(info.name, info.version, path, info.description, provenance))
    return sorted(versions, key=lambda item: (item.name, version_sort_key(item.version)))


def find_installed_model(reference: str) -> Optional[Path]:
    """Weights of ``name`` (its newest version) or of ``name@version``; None when not installed."""
    name, version = split_model_reference(reference)
    versions = installed_versions(name)
    if version is not None:
        versions = [item for item in versions if item.version == version]
    return versions[-1].path if versions else None


def next_version(name: str) -> str:
    """The version a new model called ``name`` gets: one more than the largest number in use."""
    used = [version_sort_key(item.version)[0] for item in installed_versions(name)]
    largest = max([numbers[0] for numbers in used if numbers] + _cached_version_numbers(name) + [0])
    return str(largest + 1)


def register_model_version(weights_path: PathLike, name: str, base_model: Optional[str] = None,
                           base_version: Optional[str] = None, dataset: Optional[PathLike] = None,
                           cases: Optional[Sequence[str]] = None, epochs: Optional[int] = None,
                           description: Optional[str] = None, extra: Optional[Dict[str, Any]] = None):
    """Install a trained weights file as the next version of ``name`` in the model cache.

    ``weights_path`` is a self-describing safetensors (as ``knee-t2 train``
    writes). Provenance not given is taken from the file's ``training``
    block (cases, epochs run, the ``--init`` model). Returns the
    :class:`model_registry.ModelInfo` of the new version (``extra`` holds the
    provenance). Nothing is installed when anything fails; an existing
    version is never overwritten.
    """
    from .model_cache import cache_dir, cached_weights_path
    from .model_files import read_safetensors_spec, rewrite_safetensors, sha256_of_file
    from .model_registry import ModelInfo

    source = Path(weights_path)
    if not source.is_file():
        raise InputError("Weights file not found: %s. Train or fine-tune a model first." % source)
    name = check_model_name(name)
    spec = read_safetensors_spec(source)
    provenance = _provenance(spec, source, base_model, base_version, dataset, cases, epochs, extra,
                             sha256_of_file(source))
    cache_dir()
    version, lock = _reserve_version(name)
    try:
        target = cached_weights_path(name, version)
        provenance["registered"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        text = description or _describe(provenance)
        rewrite_safetensors(source, target, {"name": name, "version": version, "description": text,
                                             PROVENANCE_KEY: provenance})
    finally:
        lock.unlink(missing_ok=True)
    return ModelInfo(name=name, version=version, available=True, location=str(target), description=text,
                     extra=dict(provenance))


def remove_model_version(reference: str) -> Path:
    """Delete one cached version given as ``name@version``; returns the removed file.

    A small ``<file>.removed`` marker stays in its place, so the number is never handed to another model:
    an analysis that recorded ``name@version`` never silently loads different weights.
    """
    from .model_cache import cache_dir

    name, version = split_model_reference(reference)
    if version is None:
        raise InputError("Say which version to remove as NAME%sVERSION (e.g. %s%s1)." % (VERSION_SEPARATOR, name,
                                                                                         VERSION_SEPARATOR))
    path = find_installed_model(reference)
    if path is None or path.parent.resolve() != cache_dir(create=False).resolve():
        raise ModelError("%s is not a model version in the cache (%s); see `knee-t2 models list`."
                         % (reference, cache_dir(create=False)))
    path.with_name(path.name + REMOVED_SUFFIX).write_text("removed\n", encoding="utf-8")
    path.unlink()
    return path


def check_model_name(name: str) -> str:
    """``name`` when a fine-tuned model may be registered under it, else :class:`InputError` saying why."""
    from .model_cache import safe_name
    from .model_registry import registry_entries

    entries = registry_entries()
    text = str(name or "").strip()
    if not text or safe_name(text) != text or VERSION_SEPARATOR in text:
        raise InputError("Model name %r is not usable: use letters, digits, '.', '_' and '-' only (e.g. "
                         "knee-t2-bootstrap%s)." % (name, FINETUNED_SUFFIX))
    if text in entries:
        raise InputError("%r is the name of a published or bundled model, which always means its original "
                         "weights. Give the fine-tuned model another name, e.g. %r." % (text, finetuned_name(text)))
    return text


def _provenance(spec, source: Path, base_model, base_version, dataset, cases, epochs, extra, sha256) -> Dict[str, Any]:
    training = dict(spec.get("training") or {})
    init = dict(training.get("init") or {})
    provenance: Dict[str, Any] = {
        "base_model": base_model or init.get("init_model"),
        "base_version": str(base_version or init.get("init_version") or "") or None,
        "dataset": _dataset_description(dataset) if dataset is not None else spec.get("training_data"),
        "cases": list(cases if cases is not None else training.get("cases", [])),
        "validation_cases": list(training.get("validation_cases", [])),
        "epochs": int(epochs if epochs is not None else training.get("epochs_run", 0)),
        "best_epoch": training.get("best_epoch"),
        "best_validation_dice": training.get("best_validation_dice"),
        "base_validation_dice": init.get("validation_dice"),
        "improved_on_base": training.get("improved_on_init"),
        "trained_file_sha256": sha256,
        "tool_version": __version__,
    }
    provenance["n_cases"] = len(provenance["cases"])
    provenance.update(extra or {})
    return provenance


def _dataset_description(dataset: PathLike) -> str:
    """The dataset's folder and ``dataset.json`` name (no full path: it may name a person or a site)."""
    from .dataset_index import load_settings

    folder = Path(dataset)
    try:
        settings = load_settings(folder) or {}
    except Exception:  # provenance must not fail on an unreadable description
        settings = {}
    label = settings.get("name")
    return "%s (%s)" % (folder.name, label) if label and label != folder.name else folder.name


def _describe(provenance: Dict[str, Any]) -> str:
    base = provenance.get("base_model") or "a new network"
    if provenance.get("base_version"):
        base += " v%s" % provenance["base_version"]
    dice = provenance.get("best_validation_dice")
    return "%s fine-tuned on %d case(s) of %s, %d epoch(s)%s, %s" % (
        base, provenance.get("n_cases", 0), provenance.get("dataset") or "a dataset", provenance.get("epochs", 0),
        ", validation Dice %.3f" % dice if isinstance(dice, (int, float)) and dice >= 0 else "",
        provenance.get("registered", "").replace("T", " ").replace("Z", " UTC"))


def _cached_version_numbers(name: str) -> List[int]:
    """Numbers of cached files, pending locks and removed versions ``<name>-<N>.safetensors[.lock|.removed]``
    (even unreadable ones): a number once used is never used again."""
    from .model_cache import cache_dir

    folder = cache_dir(create=False)
    pattern = re.compile(r"^%s-(\d+)\.safetensors(\.lock|\.removed)?$" % re.escape(name))
    matches = [pattern.match(path.name) for path in folder.iterdir()] if folder.is_dir() else []
    return [int(match.group(1)) for match in matches if match]


def _reserve_version(name: str) -> Tuple[str, Path]:
    """Claim the next free version with an exclusive lock file, so two registrations never collide."""
    from .model_cache import cache_dir, cached_weights_path

    start = int(next_version(name))
    for number in range(start, start + 1000):
        version = str(number)
        lock = cache_dir() / ("%s-%s.safetensors.lock" % (name, version))
        path = cached_weights_path(name, version)
        if path.exists() or path.with_name(path.name + REMOVED_SUFFIX).exists():
            continue
        try:
            with open(lock, "x", encoding="utf-8") as handle:
                handle.write(str(os.getpid()))
        except FileExistsError:
            continue
        return version, lock
    raise ModelError("No free version number for model %r in %s." % (name, cache_dir()))


def _name_in_file(path: Path) -> str:
    from .model_files import read_spec_or_empty

    try:
        return str(read_spec_or_empty(path).get("name") or path.stem) if path.is_file() else path.stem
    except ModelError:
        return path.stem
