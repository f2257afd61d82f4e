"""Make the small Keras U-Net fixture that proves the Keras -> torch weight conversion.

Run once, in a throwaway environment that has TensorFlow 2.x with Keras 2
(tf.keras writes the legacy weights-only HDF5 layout of the published
model: root attribute ``layer_names``, one group per layer with attribute
``weight_names``):

    python3.11 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install "tensorflow-cpu==2.15.1" "numpy<2" h5py
    /tmp/tfenv/bin/python Testing/fixture_tools/make_keras_fixture.py Testing/Python/fixtures

It builds the reference U-Net topology (two 3x3 'same' conv + ReLU per level,
2x2 max-pool, 3x3 stride-2 'same' Conv2DTranspose, concatenate [upsampled,
skip], 1x1 conv + sigmoid) at a small width (4 levels, 3 base filters) and a
non-square input (32 x 48, so a row/column mix-up cannot pass), randomises
every kernel AND bias, and writes:

* ``keras_unet_small_weights.h5``: ``model.save_weights`` HDF5 (legacy format);
* ``keras_unet_small_expected.npz``: ``inputs`` (N, H, W) float32, the Keras
  ``probabilities`` (N, H, W) float32 on them, and the architecture numbers.

The project never imports TensorFlow; only this generator does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

LEVELS = 4
BASE_FILTERS = 3
HEIGHT, WIDTH = 32, 48
N_INPUTS = 3
SEED = 20240611


def build_reference_topology(levels, base_filters, height, width):
    layers = tf.keras.layers
    filters = [base_filters * 2 ** level for level in range(levels)]
    inputs = layers.Input((height, width, 1))
    skips = []
    tensor = inputs
    for level, count in enumerate(filters):
        tensor = layers.Conv2D(count, (3, 3), padding="same", activation="relu")(tensor)
        tensor = layers.Conv2D(count, (3, 3), padding="same", activation="relu")(tensor)
        if level < levels - 1:
            skips.append(tensor)
            tensor = layers.MaxPooling2D(pool_size=(2, 2))(tensor)
    for level in range(levels - 2, -1, -1):
        upsampled = layers.Conv2DTranspose(filters[level], (3, 3), strides=(2, 2), padding="same")(tensor)
        tensor = layers.concatenate([upsampled, skips[level]], axis=3)
        tensor = layers.Conv2D(filters[level], (3, 3), padding="same", activation="relu")(tensor)
        tensor = layers.Conv2D(filters[level], (3, 3), padding="same", activation="relu")(tensor)
    outputs = layers.Conv2D(1, (1, 1), padding="same", activation="sigmoid")(tensor)
    return tf.keras.Model(inputs=[inputs], outputs=[outputs])


def randomise(model, rng):
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        kernel, bias = weights
        fan_in = np.prod(kernel.shape[:2]) * (kernel.shape[3] if "transpose" in layer.name else kernel.shape[2])
        kernel = rng.normal(0.0, np.sqrt(2.0 / fan_in), kernel.shape).astype(np.float32)
        bias = rng.normal(0.0, 0.1, bias.shape).astype(np.float32)
        layer.set_weights([kernel, bias])


def structured_inputs(rng):
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    images = []
    for index in range(N_INPUTS):
        ring = np.exp(-((np.hypot(rows - 12 - 3 * index, cols - 20 - 5 * index) - 8.0) ** 2) / 6.0)
        images.append(2.0 * ring - 1.0 + 0.3 * rng.standard_normal((HEIGHT, WIDTH)))
    return np.stack(images).astype(np.float32)


def keras_version():
    import keras

    return getattr(keras, "__version__", "unknown")


def main(out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    model = build_reference_topology(LEVELS, BASE_FILTERS, HEIGHT, WIDTH)
    randomise(model, rng)
    inputs = structured_inputs(rng)
    probabilities = model.predict(inputs[..., np.newaxis], verbose=0)[..., 0].astype(np.float32)
    model.save_weights(str(out / "keras_unet_small_weights.h5"))
    np.savez_compressed(
        out / "keras_unet_small_expected.npz",
        inputs=inputs,
        probabilities=probabilities,
        architecture=np.array(json.dumps({"levels": LEVELS, "base_filters": BASE_FILTERS})),
        generator=np.array("TensorFlow %s (Keras %s)" % (tf.__version__, keras_version())),
    )
    print("parameters:", model.count_params(), "probability range:", probabilities.min(), probabilities.max())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
