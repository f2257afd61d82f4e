"""Which segmentation models exist, where their weights are, and how to load them safely.

The registry (``Resources/models.json``) describes each model: name, version,
architecture, preprocessing and refinement parameters, download url, sha256,
format (``keras-h5`` or ``safetensors``), licence and training data. Weights
live in one of three places:

* bundled: ``Resources/<bundled_file>`` (small models shipped with the
  extension). A self-describing safetensors dropped into Resources/ whose
  spec names a model not in models.json is registered automatically;
* the user cache (:mod:`model_cache`; never the extension folder):
  ``<name>-<version>.safetensors``, filled by a first-use download (converted
  from Keras when needed) or by :func:`import_weights_file`;
* any path given explicitly (a self-describing ``.safetensors`` or a Keras ``.h5``).

Safety (:mod:`model_files`): weights are read with safetensors or h5py only;
nothing is ever unpickled. Downloads go to ``*.partial`` and are kept only
when complete, hash-checked and converted. A model whose registry sha256 is
null is trusted on first use: the first good file's hash is recorded in the
cache and later files must match it.

:func:`load_model` is the entry point (it finds the weights; :mod:`model_loading`
builds the network around them); :func:`default_model_name` prefers the
first model of ``default_preference`` whose weights are already here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from .errors import ModelError
from .model_cache import (  # partly re-exported: see __all__
    KNOWN_HASHES_FILE,
    cache_dir,
    cached_weights_path,
    clear_cache as remove_cached_files,
    expected_sha256,
    record_hash,
    safe_name,
)
from .model_files import (  # re-exported: the public face of model handling (see __all__)
    SPEC_METADATA_KEY,
    download_file,
    read_safetensors_spec,
    read_safetensors_tensors,
    read_spec_or_empty,
    rewrite_safetensors,
    save_model_safetensors,
    sha256_of_file,
    verify_sha256,
)
from .model_loading import LoadedModel, build_loaded_model
from .progress import CancelToken, ProgressCallback

__all__ = [
    # defined here
    "DEFAULT_REFINEMENT", "REGISTRY_PATH", "RESOURCES_DIR", "ModelDescription", "ModelInfo", "available_weights_path",
    "bundled_weights_path", "clear_cache", "default_model_name", "describe_model", "ensure_weights",
    "import_weights_file", "list_models", "load_model", "load_registry", "registry_entries", "spec_from_entry",
    # re-exported, so that callers and tests handle models through this one module
    "KNOWN_HASHES_FILE", "LoadedModel", "SPEC_METADATA_KEY", "cache_dir", "cached_weights_path", "download_file",
    "expected_sha256", "read_safetensors_spec", "read_safetensors_tensors", "read_spec_or_empty", "record_hash",
    "rewrite_safetensors", "safe_name", "save_model_safetensors", "sha256_of_file", "verify_sha256",
]

PathLike = Union[str, os.PathLike]
RESOURCES_DIR = Path(__file__).resolve().parent / "Resources"
REGISTRY_PATH = RESOURCES_DIR / "models.json"

DEFAULT_REFINEMENT: Dict[str, Any] = {
    "probability_threshold": 0.501,
    "candidate_threshold": 0.01,
    "min_slice_voxels": 425,
    "reference_pixel_area_mm2": 0.3125 * 0.446,
    "t2_range_ms": [0.0, 100.0],
    "min_total_voxels": 1000,
    "largest_component": False,
}


@dataclass
class ModelInfo:
    """One line of ``knee-t2 models list``."""

    name: str
    version: str
    available: bool
    location: str
    description: str = ""
    extra: Dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------- registry


def load_registry(path: Optional[PathLike] = None) -> Dict[str, Any]:
    """The parsed registry JSON (``schema_version``, ``default_preference``, ``models``).

    A list edited by hand is checked here, so a mistake is named (file, entry, field) instead of surfacing
    as a traceback wherever a model is looked up.
    """
    path = Path(path or REGISTRY_PATH)
    try:
        with open(path, "r", encoding="utf-8") as handle:
            registry = json.load(handle)
    except ValueError as error:
        raise ModelError("The model list %s is not valid JSON (%s); restore it from the extension." % (path, error))
    if not isinstance(registry, dict) or not isinstance(registry.get("models", []), list):
        raise ModelError("The model list %s must be a JSON object with a \"models\" list." % path)
    names = set()
    for number, entry in enumerate(registry.get("models", []), start=1):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise ModelError("Entry %d of the model list %s has no \"name\"." % (number, path))
        if name in names:
            raise ModelError("The model list %s names %r twice; give each entry its own name." % (path, name))
        names.add(name)
        for key in ("architecture", "preprocessing", "refinement"):
            if key in entry and not isinstance(entry[key], dict):
                raise ModelError("Model %r in %s: \"%s\" must be an object of settings, not %s."
                                 % (name, path, key, json.dumps(entry[key])))
    return registry


def registry_entries() -> Dict[str, Dict[str, Any]]:
    """Registry entries by name, plus self-describing safetensors dropped into Resources/.

    A bundled ``Resources/*.safetensors`` whose spec names a model absent
    from models.json becomes an entry of its own (``bundled_file`` set), so a
    newly trained default model only has to be placed there.
    """
    entries = {entry["name"]: entry for entry in load_registry().get("models", [])}
    bundled_names = {entry.get("bundled_file") for entry in entries.values()}
    for path in sorted(RESOURCES_DIR.glob("*.safetensors")):
        if path.name in bundled_names:
            continue
        spec = read_spec_or_empty(path)
        if spec.get("name") and spec["name"] not in entries:
            entries[spec["name"]] = dict(spec, bundled_file=path.name, format="safetensors", url=None, sha256=None)
    return entries


def bundled_weights_path(entry: Dict[str, Any]) -> Optional[Path]:
    """Path of the entry's bundled file in Resources/, when it has one and it exists."""
    bundled = entry.get("bundled_file")
    if not bundled:
        return None
    path = RESOURCES_DIR / bundled
    return path if path.is_file() else None


def available_weights_path(entry: Dict[str, Any]) -> Optional[Path]:
    """Bundled or cached weights of a registry entry, or None when a download is needed."""
    bundled = bundled_weights_path(entry)
    if bundled is not None:
        return bundled
    cached = cached_weights_path(entry["name"], str(entry.get("version", "0")))
    return cached if cached.is_file() else None


def default_model_name() -> str:
    """The model used when none is named.

    The environment variable ``KNEE_T2_DEFAULT_MODEL`` (a name or a weights
    path) overrides everything, for sites that pin a model. Otherwise the
    first name in ``default_preference`` whose weights are already here
    (bundled or cached) wins, so the trained bootstrap model shipped in
    Resources/ is preferred once it exists; otherwise the first listed
    registry entry (which will be downloaded on first use).
    """
    override = os.environ.get("KNEE_T2_DEFAULT_MODEL", "").strip()
    if override:
        return override
    registry = load_registry()
    entries = registry_entries()
    preference = [name for name in registry.get("default_preference", []) if name in entries]
    preference += [name for name in entries if name not in preference]
    for name in preference:
        if available_weights_path(entries[name]) is not None:
            return name
    if not preference:
        raise ModelError("The model registry is empty; reinstall KneeCartilageT2.")
    return preference[0]


def list_models() -> List[ModelInfo]:
    """Registry models (with availability) plus models imported into the cache under other names."""
    infos = []
    known_files = set()
    for entry in registry_entries().values():
        path = available_weights_path(entry)
        if path is not None:
            known_files.add(path.resolve())
        infos.append(ModelInfo(
            name=entry["name"], version=str(entry.get("version", "")), available=path is not None,
            location=str(path) if path else "download on first use: %s" % entry.get("url", "(no url)"),
            description=entry.get("description", ""),
        ))
    folder = cache_dir(create=False)
    for path in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
        if path.resolve() in known_files:
            continue
        try:
            spec = read_safetensors_spec(path)
        except ModelError:
            continue
        infos.append(ModelInfo(name=spec.get("name", path.stem), version=str(spec.get("version", "")),
                               available=True, location=str(path), description=spec.get("description", "imported")))
    return infos


# ----------------------------------------------------------------- install (download or import)


def _install_weights(source: Path, entry: Dict[str, Any], what: str) -> Path:
    """Verify ``source`` against the entry, convert if needed, write the cached safetensors.

    A first-use hash is recorded only after the file converted successfully,
    so a corrupt first download is never trusted.
    """
    expected = expected_sha256(entry)
    actual = verify_sha256(source, expected, what)
    spec = spec_from_entry(entry)
    spec["source_sha256"] = actual
    target = cached_weights_path(entry["name"], str(entry.get("version", "0")))
    cache_dir()
    if entry.get("format", "safetensors") == "keras-h5":
        from .keras_weights import convert_keras_h5_to_safetensors

        convert_keras_h5_to_safetensors(source, target, spec)
    else:
        rewrite_safetensors(source, target, spec)
    if expected is None:
        record_hash(entry, actual, source.stat().st_size)
    return target


def ensure_weights(name: str, progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> Path:
    """Local safetensors path of a registry model, downloading and converting it on first use."""
    entries = registry_entries()
    if name not in entries:
        raise ModelError("Unknown model %r. Known models: %s." % (name, ", ".join(sorted(entries)) or "none"))
    entry = entries[name]
    available = available_weights_path(entry)
    if available is not None:
        return available
    if not entry.get("url"):
        raise ModelError(
            "The weights of model %r are not installed and it has no download address. Import them with "
            "`knee-t2 models import FILE --name %s`." % (name, name)
        )
    download_target = cache_dir() / ("%s.download" % safe_name(entry.get("filename") or name))
    try:
        download_file(entry["url"], download_target, progress, cancel)
    except ModelError as error:
        raise ModelError(
            "The weights of model %r are not installed and could not be downloaded: %s\nOn a computer with "
            "internet access download %s, then run `knee-t2 models import FILE --name %s`; or choose another "
            "model with --model (see `knee-t2 models list`)." % (name, error, entry["url"], name)
        )
    try:
        return _install_weights(download_target, entry, "The download of %s" % entry["url"])
    finally:
        download_target.unlink(missing_ok=True)


def clear_cache() -> int:
    """Delete the downloaded weights of the listed models (fetched again when needed) and unfinished downloads;
    the number of files removed. Fine-tuned versions and models imported under a name of their own stay: they
    cannot be fetched again (remove one with :func:`model_versions.remove_model_version`)."""
    listed = [cached_weights_path(entry["name"], str(entry.get("version", "0"))) for entry in registry_entries().values()]
    return remove_cached_files(listed)


def import_weights_file(path: PathLike, name: Optional[str] = None) -> Path:
    """Install a weights file obtained by other means (offline hospitals); returns its cache path.

    With the name of a registry model (given, or the one the file's own
    metadata names), the file must have that entry's format and hash (sha256
    from the registry, or the one recorded on first use). With another name,
    the file must be a self-describing safetensors (or a Keras ``.h5`` of the
    reference topology) and is cached under that name; it never replaces
    another file of that name and version in the cache (a fine-tuned version
    of this workstation, say): the same file again is simply found installed.
    """
    path = Path(path)
    if path.is_dir():
        raise ModelError("%s is a folder: give the weights file itself (.safetensors or .h5)." % path)
    if not path.is_file():
        raise ModelError("Weights file not found: %s" % path)
    entries = registry_entries()
    if name in entries:
        return _install_weights(path, entries[name], str(path))
    spec = _spec_for_path(path)
    if name:
        spec["name"] = name
    spec.setdefault("name", path.stem)
    spec.setdefault("version", "imported")
    if spec["name"] in entries:  # the file says it is a listed model: it must be that model's file
        return _install_weights(path, entries[spec["name"]], str(path))
    entry = dict(spec, format="keras-h5" if _is_keras_file(path) else "safetensors", sha256=None)
    target = cached_weights_path(spec["name"], str(spec["version"]))
    if target.is_file():
        installed = _installed_source_hash(target)
        if installed is not None and installed == sha256_of_file(path):
            return target
        raise ModelError(
            "%s@%s is already installed (%s) from another file; importing %s would replace it. Import it under "
            "another name: knee-t2 models import %s --name NAME (or the Import button after renaming the file's "
            "model)." % (spec["name"], spec["version"], target, path.name, path))
    cache_dir()
    if entry["format"] == "keras-h5":
        from .keras_weights import convert_keras_h5_to_safetensors

        spec["source_sha256"] = sha256_of_file(path)
        convert_keras_h5_to_safetensors(path, target, spec)
    else:
        rewrite_safetensors(path, target, dict(spec, source_sha256=sha256_of_file(path)))
    return target


def _installed_source_hash(target: Path) -> Optional[str]:
    """The sha256 of the file a cached model was made from (its ``source_sha256``), None when unknown."""
    try:
        return read_safetensors_spec(target).get("source_sha256")
    except (ModelError, OSError, ValueError):
        return None


# ----------------------------------------------------------------- specs and loading


def _is_keras_file(path: Path) -> bool:
    return path.suffix.lower() in (".h5", ".hdf5", ".keras")


def _refuse_non_weights_file(path: Path) -> None:
    """Refuse a file that is neither Keras HDF5 by name nor safetensors by content (its JSON header follows an
    8-byte length), before the safetensors reader calls it corrupt: an image or label named by mistake."""
    if _is_keras_file(path):
        return
    with open(str(path), "rb") as stream:
        start = stream.read(9)
    if len(start) == 9 and start[8:9] == b"{":
        return
    raise ModelError("%s is not a model weights file: give a .safetensors file (this project's models) or the "
                     "Keras .h5 of the published model." % path)


def spec_from_entry(entry: Dict[str, Any]) -> Dict[str, Any]:
    """The runtime spec of a registry entry (defaults filled in)."""
    from .preprocessing import REFERENCE_PREPROCESSING
    from .unet import REFERENCE_ARCHITECTURE

    spec = {key: value for key, value in entry.items() if key not in ("url", "sha256", "bundled_file", "note")}
    spec["architecture"] = dict(REFERENCE_ARCHITECTURE, **entry.get("architecture", {}))
    spec["preprocessing"] = dict(REFERENCE_PREPROCESSING, **entry.get("preprocessing", {}))
    spec["refinement"] = dict(DEFAULT_REFINEMENT, **entry.get("refinement", {}))
    return spec


def _spec_for_path(path: Path) -> Dict[str, Any]:
    _refuse_non_weights_file(path)
    if _is_keras_file(path):
        from .keras_weights import infer_architecture, read_keras_layers

        reference = registry_entries().get("thomas2020-oai-mese", {})
        spec = spec_from_entry({key: reference[key] for key in ("preprocessing", "refinement") if key in reference})
        spec.update(name=path.stem, version="imported", format="keras-h5",
                    description="Keras weights imported from %s; the published model's preprocessing and "
                    "refinement are assumed." % path.name)
        spec["architecture"] = dict(spec["architecture"], **infer_architecture(read_keras_layers(path)))
        return spec
    return spec_from_entry(read_safetensors_spec(path))


@dataclass
class ModelDescription:
    """A model without its weights: what refinement and provenance need (``name``, ``version``, ``spec``).

    ``source`` is the weights file the spec was read from ("" when it is not
    installed here and the registry entry alone describes it).
    """

    name: str
    version: str
    spec: Dict[str, Any]
    source: str = ""


def describe_model(name_or_path: Optional[str] = None) -> ModelDescription:
    """The spec of a model as :func:`load_model` sees it, without reading or downloading its weights.

    For the CPU half of a split run (:func:`pipeline.finish_stage`): the
    network ran elsewhere, so this side needs neither torch nor the weights.
    """
    target = name_or_path or default_model_name()
    weights, spec = _resolve(target, install=False)
    return ModelDescription(str(spec.get("name") or target), str(spec.get("version", "")), spec,
                            str(weights) if weights is not None else "")


def load_model(name_or_path: Optional[str] = None, device: str = "cpu",
               progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> LoadedModel:
    """Load a model by registry name, imported name, or file path, onto ``device`` (or "auto").

    ``None`` means :func:`default_model_name`. Registry models missing
    locally are downloaded on first use (see :func:`ensure_weights`).
    """
    target = name_or_path or default_model_name()
    weights, spec = _resolve(target, install=True, progress=progress, cancel=cancel)
    if _is_keras_file(weights):
        from .keras_weights import convert_keras_h5

        state, _ = convert_keras_h5(weights, spec["architecture"])
        return build_loaded_model(state, spec, str(weights), device, str(target))
    return build_loaded_model(read_safetensors_tensors(weights), spec, str(weights), device, str(target))


def _resolve(target: str, install: bool, progress: Optional[ProgressCallback] = None,
             cancel: Optional[CancelToken] = None) -> Tuple[Optional[Path], Dict[str, Any]]:
    """(weights file, spec) of a registry name, a weights file path or an imported model name.

    ``install``: a registry model missing here is downloaded (and a bundled
    file checked against its listed sha256); otherwise its registry entry
    alone describes it and the weights file is None.
    """
    entries = registry_entries()
    if target in entries:
        entry = entries[target]
        if install:
            weights = ensure_weights(target, progress, cancel)
            if bundled_weights_path(entry) is not None and entry.get("sha256"):
                verify_sha256(weights, entry["sha256"], "The bundled weights file %s" % weights)
        else:
            weights = available_weights_path(entry)
        spec = spec_from_entry(dict(read_spec_or_empty(weights) if weights is not None else {}, **entry))
        spec["format"] = "safetensors"
        return weights, spec
    path = Path(str(target)).expanduser()
    if path.is_file():
        return path, _spec_for_path(path)
    weights = _find_imported(str(target))
    return weights, spec_from_entry(read_safetensors_spec(weights))


def _find_imported(name: str) -> Path:
    from .model_versions import find_installed_model  # NAME = newest version, NAME@VERSION = that one

    found = find_installed_model(name)
    if found is not None:
        return found
    known = ", ".join(sorted({info.name for info in list_models()})) or "none"
    raise ModelError(
        "No model or weights file named %r. Known models: %s. Give a registry name, a .safetensors/.h5 path, "
        "or import weights with `knee-t2 models import FILE --name NAME`." % (name, known)
    )
