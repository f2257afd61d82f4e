"""Keras HDF5 -> torch conversion, proven against outputs recorded from Keras itself.

The fixture (Testing/Python/fixtures/keras_unet_small_*) was made by
Testing/fixture_tools/make_keras_fixture.py with TensorFlow 2.15: the reference
topology at 4 levels x 3 base filters on 32 x 48 inputs, random kernels and biases.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
h5py = pytest.importorskip("h5py")

from KneeCartilageT2Lib import keras_weights, model_registry, unet  # noqa: E402
from KneeCartilageT2Lib.errors import ModelError  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
WEIGHTS = FIXTURES / "keras_unet_small_weights.h5"
EXPECTED = FIXTURES / "keras_unet_small_expected.npz"


def _torch_probabilities(state, architecture, inputs):
    model = unet.build_unet_from_spec(architecture).eval()
    model.load_state_dict({key: torch.from_numpy(value) for key, value in state.items()}, strict=True)
    with torch.no_grad():
        return model(torch.from_numpy(inputs)[:, None])[:, 0].numpy()


def test_converted_weights_reproduce_keras_probabilities():
    expected = np.load(EXPECTED)
    state, architecture = keras_weights.convert_keras_h5(WEIGHTS)
    assert architecture == dict(json.loads(str(expected["architecture"])), batch_norm=False, in_channels=1)
    probabilities = _torch_probabilities(state, architecture, expected["inputs"])
    reference = expected["probabilities"]
    assert reference.std() > 0.05  # the fixture is not saturated: the comparison means something
    assert np.abs(probabilities - reference).max() < 1e-4


def test_pytorch_style_transposed_padding_would_be_off_by_one_pixel():
    """padding=1, output_padding=1 (the usual port) shifts the upsampling: Keras outputs are not met."""
    expected = np.load(EXPECTED)
    state, architecture = keras_weights.convert_keras_h5(WEIGHTS)
    model = unet.build_unet_from_spec(architecture).eval()
    model.load_state_dict({key: torch.from_numpy(value) for key, value in state.items()})
    for upsampler in model.upsamplers:
        conv = upsampler.conv
        upsampler.forward = lambda x, conv=conv: torch.nn.functional.conv_transpose2d(
            x, conv.weight, conv.bias, stride=2, padding=1, output_padding=1)
    with torch.no_grad():
        shifted = model(torch.from_numpy(expected["inputs"])[:, None])[:, 0].numpy()
    assert np.abs(shifted - expected["probabilities"]).max() > 1e-2


def test_layers_are_read_in_file_order_with_kinds_from_names():
    layers = keras_weights.read_keras_layers(WEIGHTS)
    kinds = [layer.kind for layer in layers]
    assert kinds == ["conv"] * 8 + ["conv_transpose", "conv", "conv"] * 3 + ["conv"]
    assert layers[8].kernel.shape == (3, 3, 12, 24)  # Keras transposed: (kh, kw, out, in)


def _copy_with(tmp_path: Path, edit) -> Path:
    target = tmp_path / "edited.h5"
    shutil.copy(WEIGHTS, target)
    with h5py.File(target, "r+") as handle:
        edit(handle)
    return target


def test_keras_23_byte_string_and_split_layer_names_are_understood(tmp_path):
    def to_keras_23_style(handle):
        names = [name.encode() for name in handle.attrs["layer_names"]]
        del handle.attrs["layer_names"]
        handle.attrs["layer_names0"] = np.array(names[:10], dtype="S")
        handle.attrs["layer_names1"] = np.array(names[10:], dtype="S")
        for name in names:
            group = handle[name.decode()]
            group.attrs["weight_names"] = np.array([w.encode() for w in group.attrs["weight_names"]], dtype="S")

    state, _ = keras_weights.convert_keras_h5(_copy_with(tmp_path, to_keras_23_style))
    reference, _ = keras_weights.convert_keras_h5(WEIGHTS)
    assert sorted(state) == sorted(reference)
    assert all(np.array_equal(state[key], reference[key]) for key in state)


def test_a_kernel_of_the_wrong_shape_is_refused_naming_the_layer(tmp_path):
    def widen(handle):
        group = handle["conv2d_9"]
        del group["conv2d_9/kernel:0"]
        group.create_dataset("conv2d_9/kernel:0", data=np.zeros((3, 3, 12, 13), np.float32))

    with pytest.raises(ModelError, match="conv2d_9"):
        keras_weights.convert_keras_h5(_copy_with(tmp_path, widen))


def test_architecture_mismatch_is_refused():
    with pytest.raises(ModelError, match="does not match the U-Net"):
        keras_weights.convert_keras_h5(WEIGHTS, {"levels": 4, "base_filters": 4})
    with pytest.raises(ModelError, match="weighted layers"):
        keras_weights.convert_keras_h5(WEIGHTS, {"levels": 6, "base_filters": 3})


def test_truncated_and_foreign_files_are_refused(tmp_path):
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(WEIGHTS.read_bytes()[:50000])
    with pytest.raises(ModelError, match="corrupt or truncated"):
        keras_weights.read_keras_layers(truncated)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as handle:
        handle.create_dataset("x", data=np.zeros(3))
    with pytest.raises(ModelError, match="layer_names"):
        keras_weights.read_keras_layers(foreign)


def test_safetensors_conversion_is_self_describing_and_loads_by_path(tmp_path):
    expected = np.load(EXPECTED)
    spec = {"name": "keras-small", "version": "t", "preprocessing": {"mode": "resize", "size": [32, 48]}}
    target = keras_weights.convert_keras_h5_to_safetensors(WEIGHTS, tmp_path / "small.safetensors", spec)
    loaded = model_registry.load_model(str(target), device="cpu")
    assert loaded.name == "keras-small" and loaded.spec["architecture"]["levels"] == 4
    assert loaded.spec["preprocessing"]["size"] == [32, 48]
    with torch.no_grad():
        probabilities = loaded(torch.from_numpy(expected["inputs"])[:, None])[:, 0].numpy()
    assert np.abs(probabilities - expected["probabilities"]).max() < 1e-4
    # the .h5 itself loads by path too (converted in memory)
    direct = model_registry.load_model(str(WEIGHTS), device="cpu")
    with torch.no_grad():
        again = direct(torch.from_numpy(expected["inputs"])[:, None])[:, 0].numpy()
    assert np.abs(again - expected["probabilities"]).max() < 1e-4
