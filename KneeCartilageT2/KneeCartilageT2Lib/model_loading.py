"""A runnable segmentation model: the U-Net built from its spec, weights loaded, on a device.

:func:`build_loaded_model` is the one place where weights (a state dict of
numpy arrays, from safetensors or converted from Keras) meet the network
built from a spec's ``architecture``; every mismatch becomes a
:class:`~KneeCartilageT2Lib.errors.ModelError` naming the file. Which weights
to load is decided by :mod:`model_registry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

import numpy as np

from .errors import ModelError


@dataclass
class LoadedModel:
    """A ready-to-run model: ``module`` (torch, eval mode) plus its spec.

    ``spec`` holds ``architecture``, ``preprocessing``, ``refinement`` and
    provenance fields; ``source`` is the weights file actually read.
    Calling it runs the network: ``(N, 1, H, W)`` tensor -> probabilities.
    With ``channels_last`` (default) weights and inputs use the NHWC memory
    layout, which oneDNN on the CPU runs markedly faster (see
    benchmarks/bench_inference.py); results are identical.
    """

    module: Any
    spec: Dict[str, Any]
    name: str
    version: str
    source: str = ""
    device: str = "cpu"
    channels_last: bool = True

    def to(self, device) -> "LoadedModel":
        import torch

        self.module.to(device)
        if self.channels_last:
            self.module.to(memory_format=torch.channels_last)
        self.device = str(device)
        return self

    def __call__(self, batch):
        import torch

        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        return self.module(batch)


def build_loaded_model(state: Dict[str, np.ndarray], spec: Dict[str, Any], source: str, device: Any,
                       fallback_name: str = "") -> LoadedModel:
    """Build the U-Net of ``spec["architecture"]``, load ``state`` strictly, move it to ``device``.

    ``device`` is anything :func:`devices.select_device` accepts ("cpu",
    "auto", "cuda:0"...). ``fallback_name`` names the model when the spec does not.
    """
    import torch

    from .devices import select_device
    from .unet import build_unet_from_spec

    module = build_unet_from_spec(spec["architecture"])
    try:
        module.load_state_dict({key: torch.from_numpy(value) for key, value in state.items()}, strict=True)
    except RuntimeError as error:
        raise ModelError("The weights in %s do not fit the architecture %s: %s"
                         % (source, spec["architecture"], str(error).splitlines()[0]))
    torch_device, _ = select_device(device)
    name = str(spec.get("name") or fallback_name)
    return LoadedModel(module.eval(), spec, name, str(spec.get("version", "")), str(source)).to(torch_device)
