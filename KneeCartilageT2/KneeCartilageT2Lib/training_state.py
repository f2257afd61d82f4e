"""Resumable training state and the metadata written with a trained model.

The state file (``MODEL.state.safetensors`` beside the output) holds the
current and best weights, Adam's moment estimates and, in its JSON metadata,
the epoch reached, the history, the configuration and the random generator
state. It is plain safetensors (no pickle), so resuming never executes code
from a file. It is written atomically after every epoch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

STATE_KEY = "knee_t2_training_state"


def state_path_for(model_path) -> Path:
    """``MODEL.safetensors`` -> ``MODEL.state.safetensors``."""
    path = Path(model_path)
    stem = path.name[: -len(".safetensors")] if path.name.endswith(".safetensors") else path.name
    return path.with_name(stem + ".state.safetensors")


def save_state(path, model, best_state: Dict[str, Any], optimizer, info: Dict[str, Any]) -> Path:
    """Write weights, best weights, Adam moments and ``info`` (JSON) atomically."""
    from safetensors.torch import save_file

    tensors = {}
    for key, value in model.state_dict().items():
        tensors["model." + key] = value.detach().cpu().contiguous()
    for key, value in best_state.items():
        tensors["best." + key] = value.detach().cpu().contiguous()
    for parameter_id, values in sorted(optimizer.state_dict()["state"].items()):
        for name, tensor in values.items():
            tensors["adam.%d.%s" % (parameter_id, name)] = tensor.detach().cpu().contiguous()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # -o may name a folder still to be made (as for every output)
    temporary = path.with_name(path.name + ".partial")
    save_file(tensors, str(temporary), metadata={STATE_KEY: json.dumps(info, sort_keys=True)})
    os.replace(temporary, path)
    return path


def read_state_info(path) -> Dict[str, Any]:
    """The ``info`` a state file was saved with (JSON metadata only; no tensors are read)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return json.loads((handle.metadata() or {}).get(STATE_KEY, "{}"))


def load_state(path, model, optimizer) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Restore weights and Adam moments in place; returns (best weights, info)."""
    import torch
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        info = json.loads((handle.metadata() or {}).get(STATE_KEY, "{}"))
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    model.load_state_dict({key[6:]: value for key, value in tensors.items() if key.startswith("model.")})
    best = {key[5:]: value for key, value in tensors.items() if key.startswith("best.")}
    adam: Dict[int, Dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("adam."):
            _, parameter_id, name = key.split(".", 2)
            adam.setdefault(int(parameter_id), {})[name] = value
    if adam:
        state = optimizer.state_dict()
        state["state"] = {parameter_id: {name: (value if name != "step" else value.to(torch.float32))
                                         for name, value in values.items()}
                          for parameter_id, values in adam.items()}
        optimizer.load_state_dict(state)
    return best, info


def model_entry(name: str, version: str, spec: Dict[str, Any], weights_file: Optional[str] = None,
                sha256: Optional[str] = None, size_bytes: Optional[int] = None) -> Dict[str, Any]:
    """A ``models.json`` entry describing a trained model (the registry owner merges it)."""
    entry = {
        "name": name,
        "version": version,
        "description": spec.get("description", ""),
        "architecture": spec["architecture"],
        "preprocessing": spec["preprocessing"],
        "refinement": spec["refinement"],
        "format": "safetensors",
        "licence": spec.get("licence", "Apache-2.0"),
        "training_data": spec.get("training_data", ""),
        "training": spec.get("training", {}),
    }
    if weights_file:
        entry["bundled_file"] = weights_file
        entry["url"] = None
        entry["filename"] = weights_file
    if sha256:
        entry["sha256"] = sha256
    if size_bytes is not None:
        entry["size_bytes"] = int(size_bytes)
    return entry
