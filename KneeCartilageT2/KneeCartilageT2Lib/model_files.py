"""Model weight files: hashing, downloading, and self-describing safetensors I/O.

Safety rules for every weights file this package touches: read with
safetensors (or h5py, in :mod:`keras_weights`) only, never unpickle (no
``torch.load``); write under a temporary name and rename when complete
(:mod:`atomic_files`), so an interrupted download or save never leaves a file
that looks valid.

A self-describing safetensors file stores the model's JSON spec
(architecture, preprocessing, refinement, name, version...) in its metadata
under :data:`SPEC_METADATA_KEY`, so a path alone is enough to load a model.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np

from .atomic_files import atomic_output
from .errors import ModelError, OperationCancelled
from .progress import CancelToken, ProgressCallback, no_progress

PathLike = Union[str, os.PathLike]
SPEC_METADATA_KEY = "knee_t2_spec"
DOWNLOAD_CHUNK = 1 << 20


def sha256_of_file(path: PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (weights files are hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(DOWNLOAD_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: PathLike, expected: Optional[str], what: str) -> str:
    """Hash a file; raise :class:`ModelError` when it differs from ``expected`` (when given)."""
    actual = sha256_of_file(path)
    if expected and actual.lower() != expected.lower():
        raise ModelError(
            "%s has sha256 %s but %s was expected: the file is corrupt, truncated or not the published "
            "weights. Delete it and download again, or import a verified copy." % (what, actual, expected)
        )
    return actual


def download_file(url: str, destination: PathLike, progress: Optional[ProgressCallback] = None,
                  cancel: Optional[CancelToken] = None, timeout_s: float = 60.0) -> Path:
    """Download ``url`` to ``destination`` via ``destination.partial`` (renamed when complete)."""
    import http.client
    import urllib.error
    import urllib.request

    report = progress or no_progress
    destination = Path(destination)
    try:
        with atomic_output(destination) as partial:
            with urllib.request.urlopen(url, timeout=timeout_s) as response, open(partial, "wb") as handle:
                total = int(response.headers.get("Content-Length") or 0)
                received = 0
                while True:
                    if cancel is not None and cancel.cancelled:
                        raise OperationCancelled("Download cancelled by the user; nothing was kept.")
                    chunk = response.read(DOWNLOAD_CHUNK)
                    if not chunk:
                        break
                    handle.write(chunk)
                    received += len(chunk)
                    report(received / total if total else 0.0,
                           "Downloading model weights (%.1f MB)" % (received / 1e6))
            if total and received != total:
                raise ModelError("Download of %s stopped after %d of %d bytes; try again." % (url, received, total))
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise ModelError("cannot download %s (%s)." % (url, error))
    return destination


def read_safetensors_tensors(path: PathLike) -> Dict[str, Any]:
    """All tensors of a safetensors file as numpy arrays; :class:`ModelError` when unreadable."""
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except Exception as error:  # safetensors raises its own SafetensorError for bad files
        raise ModelError(
            "Cannot read %s as safetensors (%s): the file is corrupt or truncated. Download or import it again."
            % (path, error)
        )


def read_spec_or_empty(path: PathLike) -> Dict[str, Any]:
    """The spec stored in a safetensors file's metadata, or ``{}`` when it has none.

    :class:`ModelError` when the file is not safetensors or its spec is not a JSON object.
    """
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
    except Exception as error:
        raise ModelError("Cannot read %s as safetensors (%s): the file is corrupt or truncated." % (path, error))
    text = metadata.get(SPEC_METADATA_KEY)
    if not text:
        return {}
    try:
        spec = json.loads(text)
    except ValueError as error:
        raise ModelError("The %r metadata of %s is not valid JSON (%s); the file was not written by knee-t2 or is "
                         "damaged. Import the original weights again." % (SPEC_METADATA_KEY, path, error))
    if not isinstance(spec, dict):
        raise ModelError("The %r metadata of %s is not a JSON object; import the original weights again."
                         % (SPEC_METADATA_KEY, path))
    return spec


def read_safetensors_spec(path: PathLike) -> Dict[str, Any]:
    """The ``knee_t2_spec`` JSON of a self-describing safetensors file."""
    spec = read_spec_or_empty(path)
    if not spec:
        raise ModelError(
            "%s has no %r metadata, so its architecture and preprocessing are unknown. Save models with "
            "model_registry.save_model_safetensors." % (path, SPEC_METADATA_KEY)
        )
    return spec


def write_spec_safetensors(tensors: Dict[str, Any], path: PathLike, spec: Dict[str, Any]) -> Path:
    """Write tensors (numpy arrays or torch tensors) with ``spec`` as JSON metadata, atomically.

    This is the one writer of self-describing weights files: the spec is stored
    under :data:`SPEC_METADATA_KEY` with sorted keys, so equal specs give equal files.
    """
    metadata = {SPEC_METADATA_KEY: json.dumps(spec, sort_keys=True)}
    if all(isinstance(value, np.ndarray) for value in tensors.values()):
        from safetensors.numpy import save_file
    else:
        from safetensors.torch import save_file
    path = Path(path)
    with atomic_output(path) as temporary:
        save_file(tensors, str(temporary), metadata=metadata)
    return path


def save_model_safetensors(module, path: PathLike, spec: Dict[str, Any]) -> Path:
    """Write a torch module's state dict plus its spec as a self-describing safetensors file."""
    spec = dict(spec)
    spec.setdefault("architecture", dict(getattr(module, "architecture", {})))
    spec["format"] = "safetensors"
    state = {key: value.detach().cpu().contiguous() for key, value in module.state_dict().items()}
    return write_spec_safetensors(state, path, spec)


def rewrite_safetensors(source: Path, target: Path, spec: Dict[str, Any]) -> None:
    """Copy a safetensors file's tensors to ``target`` with ``spec`` merged into its metadata."""
    tensors = read_safetensors_tensors(source)
    write_spec_safetensors(tensors, target, dict(read_spec_or_empty(source), **spec))
