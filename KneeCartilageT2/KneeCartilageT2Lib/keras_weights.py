"""Convert the published Keras U-Net weights (HDF5) to our torch model, with h5py only.

The reference model is distributed as a Keras 2.3 / TensorFlow 2.0
``model.save_weights('*.h5')`` file. Its layout: the root (or a
``model_weights`` group, for full-model files) has the attribute
``layer_names`` (layers in the model's topological order, possibly split into
``layer_names0``, ``layer_names1``... when long); each layer group has the
attribute ``weight_names`` (e.g. ``conv2d_3/kernel:0``, ``conv2d_3/bias:0``)
naming datasets inside the group. Layers without weights (input, pooling,
concatenate) list no weights.

Mapping: the weighted layers, in file order, are the encoder's two convs per
level, then per decoder level the transposed conv and two convs, then the 1x1
head, the same order in which :func:`expected_layer_sequence` lists the torch
parameters. Every shape is checked before anything is copied. Kernels:

* Conv2D ``(kh, kw, in, out)`` -> torch Conv2d ``(out, in, kh, kw)``;
* Conv2DTranspose ``(kh, kw, out, in)`` -> torch ConvTranspose2d ``(in, out, kh, kw)``.

Both frameworks define the transposed convolution as the adjoint of the same
cross-correlation, so no spatial flip is needed; the fixture test
(``Testing/Python/test_model_keras.py``) proves the whole conversion against
Keras outputs. TensorFlow is never imported. Nothing here unpickles.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from .errors import ModelError
from .unet import level_filters

PathLike = Union[str, os.PathLike]


@dataclass
class KerasLayer:
    """One weighted layer of a Keras weights file: ``kind`` is "conv" or "conv_transpose"."""

    name: str
    kind: str
    kernel: np.ndarray
    bias: Optional[np.ndarray]


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _list_attribute(group, name: str) -> List[str]:
    """A Keras string-list attribute, joined back if Keras split it into name0, name1, ..."""
    if name in group.attrs:
        return [_text(item) for item in np.atleast_1d(group.attrs[name])]
    values: List[str] = []
    chunk = 0
    while "%s%d" % (name, chunk) in group.attrs:
        values += [_text(item) for item in np.atleast_1d(group.attrs["%s%d" % (name, chunk)])]
        chunk += 1
    return values


def _layer_kind(name: str, weight_names: List[str]) -> str:
    short = name.split("/")[-1].lower()
    if short.startswith("conv2d_transpose") or short.startswith("deconv"):
        return "conv_transpose"
    if short.startswith("conv2d") or short.startswith("conv"):
        return "conv"
    if "batch_normalization" in short or any("moving_mean" in w for w in weight_names):
        raise ModelError(
            "The Keras file contains batch-normalisation layer %r; only the published model's topology "
            "(no batch-norm) can be converted. Use the original reference weights file." % name
        )
    raise ModelError("The Keras file contains an unexpected weighted layer %r; it is not the reference U-Net." % name)


def read_keras_layers(path: PathLike) -> List[KerasLayer]:
    """The weighted layers of a Keras weights-only HDF5 file, in the file's layer order."""
    import h5py

    path = Path(path)
    try:
        handle = h5py.File(str(path), "r")
    except (OSError, ValueError) as error:
        raise ModelError(
            "Cannot open %s as a Keras HDF5 weights file (%s). The file is corrupt or truncated: "
            "download it again or import a good copy with `knee-t2 models import`." % (path, error)
        )
    with handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        layer_names = _list_attribute(root, "layer_names")
        if not layer_names:
            raise ModelError(
                "%s has no 'layer_names' attribute: it is not a Keras save_weights HDF5 file." % path
            )
        layers: List[KerasLayer] = []
        for name in layer_names:
            if name not in root:
                raise ModelError("%s lists layer %r but does not contain it: the file is damaged." % (path, name))
            group = root[name]
            weight_names = _list_attribute(group, "weight_names")
            if not weight_names:
                continue
            kind = _layer_kind(name, weight_names)
            arrays = {}
            for weight_name in weight_names:
                try:
                    arrays[weight_name.split("/")[-1].split(":")[0]] = np.asarray(group[weight_name], dtype=np.float32)
                except (KeyError, OSError) as error:
                    raise ModelError("Cannot read weight %r of layer %r in %s (%s): the file is damaged." % (weight_name, name, path, error))
            if "kernel" not in arrays:
                raise ModelError("Layer %r in %s has no kernel; it is not the reference U-Net." % (name, path))
            layers.append(KerasLayer(name, kind, arrays["kernel"], arrays.get("bias")))
    return layers


def infer_architecture(layers: List[KerasLayer]) -> Dict[str, Any]:
    """U-Net levels and base filters implied by the Keras layers (checked fully later)."""
    transposed = [layer for layer in layers if layer.kind == "conv_transpose"]
    convs = [layer for layer in layers if layer.kind == "conv"]
    if not convs or convs[0].kernel.ndim != 4:
        raise ModelError("The Keras file has no 2D convolution layers; it is not the reference U-Net.")
    levels = len(transposed) + 1
    return {
        "levels": levels,
        "base_filters": int(convs[0].kernel.shape[3]),
        "batch_norm": False,
        "in_channels": int(convs[0].kernel.shape[2]),
    }


def expected_layer_sequence(architecture: Dict[str, Any]) -> List[Tuple[str, str, Tuple[int, ...]]]:
    """(torch parameter prefix, kind, torch weight shape) of every weighted layer, in Keras order.

    Matches :func:`KneeCartilageT2Lib.unet.build_unet` without batch-norm.
    """
    filters = level_filters(architecture["levels"], architecture["base_filters"])
    sequence = []
    previous = int(architecture.get("in_channels", 1))
    for level, count in enumerate(filters):
        sequence.append(("encoders.%d.0" % level, "conv", (count, previous, 3, 3)))
        sequence.append(("encoders.%d.2" % level, "conv", (count, count, 3, 3)))
        previous = count
    for index, count in enumerate(reversed(filters[:-1])):
        sequence.append(("upsamplers.%d.conv" % index, "conv_transpose", (2 * count, count, 3, 3)))
        sequence.append(("decoders.%d.0" % index, "conv", (count, 2 * count, 3, 3)))
        sequence.append(("decoders.%d.2" % index, "conv", (count, count, 3, 3)))
    sequence.append(("head", "conv", (1, filters[0], 1, 1)))
    return sequence


def keras_layers_to_state_dict(layers: List[KerasLayer], architecture: Optional[Dict[str, Any]] = None) -> Dict[str, np.ndarray]:
    """Torch state dict (float32 numpy) from Keras layers; raises :class:`ModelError` on any mismatch."""
    architecture = architecture or infer_architecture(layers)
    expected = expected_layer_sequence(architecture)
    if len(layers) != len(expected):
        raise ModelError(
            "The Keras file has %d weighted layers but a %d-level U-Net with %d base filters has %d: "
            "it is not the reference model." % (len(layers), architecture["levels"], architecture["base_filters"], len(expected))
        )
    state: Dict[str, np.ndarray] = {}
    for layer, (prefix, kind, torch_shape) in zip(layers, expected):
        if layer.kind != kind:
            raise ModelError("Layer %r is a %s where the U-Net expects a %s (%s)." % (layer.name, layer.kind, kind, prefix))
        kernel = np.ascontiguousarray(np.transpose(layer.kernel, (3, 2, 0, 1)))
        if kernel.shape != torch_shape:
            raise ModelError(
                "Layer %r kernel %s (Keras order) does not fit %s, which needs %s (torch order): "
                "the weights file does not match the U-Net architecture." % (layer.name, layer.kernel.shape, prefix, torch_shape)
            )
        bias_size = torch_shape[1] if kind == "conv_transpose" else torch_shape[0]
        if layer.bias is None or layer.bias.shape != (bias_size,):
            raise ModelError(
                "Layer %r bias %s does not fit %s, which needs (%d,)."
                % (layer.name, None if layer.bias is None else layer.bias.shape, prefix, bias_size)
            )
        state[prefix + ".weight"] = kernel
        state[prefix + ".bias"] = np.ascontiguousarray(layer.bias)
    return state


def convert_keras_h5(path: PathLike, architecture: Optional[Dict[str, Any]] = None) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
    """Read and convert a Keras weights file: returns (state dict as numpy, architecture)."""
    layers = read_keras_layers(path)
    architecture = dict(architecture or infer_architecture(layers))
    return keras_layers_to_state_dict(layers, architecture), architecture


def convert_keras_h5_to_safetensors(path: PathLike, out_path: PathLike, spec: Optional[Dict[str, Any]] = None) -> Path:
    """Convert a Keras weights file to a self-describing safetensors file (atomic write).

    ``spec`` (the model's registry entry) is stored as JSON in the
    safetensors metadata under ``knee_t2_spec``; its ``architecture`` is
    checked against the file.
    """
    from .model_files import write_spec_safetensors

    spec = dict(spec or {})
    state, architecture = convert_keras_h5(path, spec.get("architecture"))
    spec["architecture"] = dict(spec.get("architecture") or {}, **architecture)
    spec["format"] = "safetensors"
    spec["converted_from"] = Path(path).name
    return write_spec_safetensors(state, out_path, spec)
