"""The trainer: a tiny epoch writes a loadable model + metadata; --init and resume continue from weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.training import TrainingConfig, soft_dice_loss, train_model
from KneeCartilageT2Lib.training_data import epoch_samples, load_dataset_volumes

pytest.importorskip("torch")


@pytest.fixture
def dataset(tiny_phantom_dataset):
    return tiny_phantom_dataset


def _tiny(**changes):
    values = dict(epochs=1, levels=2, base_filters=4, crop_size=32, network_size=64, pixel_spacing_mm=1.0,
                  batch_size=4, validation_fraction=0.5, name="tiny", version="0")
    values.update(changes)
    return TrainingConfig(**values)


def _silent(_line):
    pass


def test_one_epoch_writes_a_loadable_model_with_metadata(dataset, tmp_path):
    from KneeCartilageT2Lib.model_registry import load_model

    result = train_model(dataset, tmp_path / "m.safetensors", _tiny(), log=_silent)
    assert result.model_path.is_file() and len(result.history) == 1
    assert 0.0 <= result.best_validation_dice <= 1.0
    loaded = load_model(str(result.model_path), device="cpu")
    assert loaded.spec["architecture"]["levels"] == 2 and loaded.spec["architecture"]["base_filters"] == 4
    assert loaded.spec["preprocessing"]["mode"] == "spacing"
    assert loaded.spec["preprocessing"]["pixel_spacing_mm"] == [1.0, 1.0]
    entry = json.loads(result.metadata_path.read_text())
    assert entry["name"] == "tiny" and entry["bundled_file"] == "m.safetensors" and len(entry["sha256"]) == 64
    assert entry["training"]["cases"] and entry["training"]["validation_cases"]
    calibration = entry["training"]["threshold_calibration"]
    chosen = "p%.3f/s%d" % (calibration["threshold"], calibration["min_slice_voxels"])
    assert chosen in calibration["dice_by_setting"] and len(calibration["dice_by_setting"]) == 15
    assert loaded.spec["refinement"]["probability_threshold"] == calibration["threshold"]
    assert loaded.spec["refinement"]["min_slice_voxels"] == calibration["min_slice_voxels"]
    import torch

    with torch.inference_mode():
        output = loaded(torch.zeros(1, 1, 64, 64))
    assert output.shape == (1, 1, 64, 64)


def test_init_starts_from_the_given_weights(dataset, tmp_path):
    from KneeCartilageT2Lib.model_files import read_safetensors_tensors

    first = train_model(dataset, tmp_path / "a.safetensors", _tiny(), log=_silent)
    tuned = train_model(dataset, tmp_path / "b.safetensors", _tiny(learning_rate=0.0, levels=5, base_filters=8),
                        init=str(first.model_path), log=_silent)
    before, after = read_safetensors_tensors(first.model_path), read_safetensors_tensors(tuned.model_path)
    assert before.keys() == after.keys()  # architecture taken from the init model, not the config
    convolution_weights = [key for key in before if key.endswith("weight") and before[key].ndim == 4]
    assert all(np.array_equal(before[key], after[key]) for key in convolution_weights)
    assert json.loads(tuned.metadata_path.read_text())["training"]["init"]["init_source"].endswith("a.safetensors")


def test_training_resumes_from_its_state_file(dataset, tmp_path):
    output = tmp_path / "r.safetensors"
    first = train_model(dataset, output, _tiny(epochs=1), log=_silent)
    lines = []
    resumed = train_model(dataset, output, _tiny(epochs=2), log=lines.append)
    assert any("Resuming" in line for line in lines)
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    assert resumed.history[0] == first.history[0]
    with pytest.raises(InputError, match="made with other architecture than this run.*--restart"):
        train_model(dataset, output, _tiny(epochs=3, base_filters=8), log=_silent)  # another network shape
    other = _tiny(epochs=3, validation_fraction=0.5)
    with pytest.raises(InputError, match="other train cases, validation cases than this run"):
        train_model(dataset, output, other, validation_dir=dataset, log=_silent)  # another split of the cases


def test_epoch_sampling_keeps_cartilage_slices_and_a_tenth_of_the_rest(dataset):
    volumes = load_dataset_volumes(dataset, _tiny().preprocessing())
    samples = epoch_samples(volumes, np.random.default_rng(0), keep_empty=0.0)
    with_cartilage = sum(len(volume.cartilage_slices) for volume in volumes)
    assert len(samples) == with_cartilage
    echoes = np.array([echo for _, _, echo in epoch_samples(volumes * 40, np.random.default_rng(1))])
    assert abs(np.mean(echoes == 1) - 0.6) < 0.08


def test_soft_dice_loss_is_zero_for_a_perfect_prediction():
    import torch

    target = torch.zeros(2, 1, 8, 8)
    target[:, :, 2:5, 2:6] = 1.0
    assert float(soft_dice_loss(target, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(soft_dice_loss(1.0 - target, target)) > 0.9


def test_slice_dice_weight_makes_a_missed_small_slice_count():
    """Missing a 4-pixel edge slice next to a 400-pixel central one costs ~1 % of batch Dice, ~half with per-crop Dice."""
    import torch

    target = torch.zeros(3, 1, 32, 32)
    target[0, :, 6:26, 6:26] = 1.0
    target[1, :, 10:12, 10:12] = 1.0
    prediction = target.clone()
    prediction[1] = 0.0
    batch_only = float(soft_dice_loss(prediction, target))
    mixed = float(soft_dice_loss(prediction, target, slice_weight=0.5))
    assert batch_only < 0.02
    assert mixed == pytest.approx(0.5 * batch_only + 0.5 * (1.0 - (1.0 + 1.0 / 5.0) / 2.0), abs=1e-4)
    assert float(soft_dice_loss(target, target, slice_weight=0.5)) == pytest.approx(0.0, abs=1e-6)
    empty = torch.zeros(2, 1, 8, 8)
    assert float(soft_dice_loss(empty, empty, slice_weight=0.5)) == pytest.approx(0.0, abs=1e-6)


def test_a_single_labelled_case_is_refused_without_a_validation_dataset(tmp_path):
    from KneeCartilageT2Lib.phantom_anatomy import build_anatomy
    from KneeCartilageT2Lib.phantom_output import case_plan, write_phantom_dataset
    from KneeCartilageT2Lib.phantom_synthetic import TINY_PROTOCOL, synthetic_knee_labels

    write_phantom_dataset(build_anatomy(synthetic_knee_labels(), "synthetic"), tmp_path / "one",
                          case_plan(1, 0, (TINY_PROTOCOL,)))
    with pytest.raises(InputError, match="1 labelled case.*at least 2 are needed"):  # it would validate on itself
        train_model(tmp_path / "one", tmp_path / "x.safetensors", _tiny(), log=_silent)
    assert not (tmp_path / "x.safetensors").exists()
    from KneeCartilageT2Lib.finetune import count_labelled_cases

    with pytest.raises(InputError, match="1 approved label: fine-tuning needs at least 2"):
        count_labelled_cases(tmp_path / "one")  # said before a fine-tuning process starts
    assert count_labelled_cases(tmp_path / "one", separate_validation=True) == 1


def test_empty_dataset_is_refused(tmp_path):
    from KneeCartilageT2Lib.dataset_format import create_dataset

    create_dataset(tmp_path / "empty")
    with pytest.raises(InputError):
        train_model(tmp_path / "empty", tmp_path / "x.safetensors", _tiny(), log=_silent)


def test_train_command_line(dataset, tmp_path):
    from KneeCartilageT2Lib.cli import main

    output = tmp_path / "cli.safetensors"
    status = main(["train", str(dataset), "-o", str(output), "--epochs", "1", "--levels", "2", "--base-filters", "4",
                   "--crop-size", "32", "--network-size", "64", "--pixel-spacing", "1", "--batch-size", "4"])
    assert status == 0 and output.is_file() and output.with_suffix(".json").is_file()


def _batch_norm_statistics(path):
    from KneeCartilageT2Lib.model_files import read_safetensors_tensors

    tensors = read_safetensors_tensors(path)
    return {key: tensors[key] for key in tensors if key.endswith(("running_mean", "running_var"))}


def test_fine_tuning_keeps_the_starting_model_when_no_epoch_beats_it(dataset, tmp_path):
    """Learning rate 0: no epoch can be better than "epoch 0", so the output is the base, flagged not improved.

    The batch-norm running statistics are frozen when fine-tuning, so even the
    forward passes of training leave them exactly as the base had them.
    """
    first = train_model(dataset, tmp_path / "a.safetensors", _tiny(), log=_silent)
    lines = []
    tuned = train_model(dataset, tmp_path / "b.safetensors", _tiny(learning_rate=0.0, epochs=2),
                        init=str(first.model_path), log=lines.append)
    assert tuned.best_epoch == 0 and tuned.improved_on_init is False
    assert tuned.init_validation_dice == pytest.approx(tuned.best_validation_dice)
    assert any(line.startswith("starting model: validation Dice") for line in lines)
    assert any("No epoch beat the starting model" in line for line in lines)
    spec = json.loads(tuned.metadata_path.read_text())["training"]
    assert spec["improved_on_init"] is False and spec["init"]["validation_dice"] == pytest.approx(tuned.best_validation_dice)
    before, after = _batch_norm_statistics(first.model_path), _batch_norm_statistics(tuned.model_path)
    assert before and all(np.array_equal(before[key], after[key]) for key in before)


def test_batch_norm_statistics_train_when_asked(dataset, tmp_path):
    """freeze_batch_norm=False while fine-tuning: the running statistics move even at learning rate 0."""
    from KneeCartilageT2Lib.model_files import read_safetensors_tensors
    from KneeCartilageT2Lib.training import set_training_mode

    first = train_model(dataset, tmp_path / "a.safetensors", _tiny(), log=_silent)
    output = tmp_path / "c.safetensors"
    train_model(dataset, output, _tiny(learning_rate=0.0, freeze_batch_norm=False, half_precision_weights=False),
                init=str(first.model_path), log=_silent)
    # The written file is the base (epoch 0 wins at learning rate 0); the moved statistics are in the state file.
    state = read_safetensors_tensors(output.with_suffix(".state.safetensors"))
    moved = [key for key in state if key.startswith("model.") and key.endswith("running_mean")]
    base = _batch_norm_statistics(first.model_path)
    assert moved and any(not np.allclose(state[key], base[key[len("model."):]], atol=1e-3) for key in moved)

    import torch

    from KneeCartilageT2Lib.unet import build_unet

    module = build_unet(levels=2, base_filters=4, batch_norm=True)
    set_training_mode(module, freeze_batch_norm=True)
    norms = [layer for layer in module.modules() if isinstance(layer, torch.nn.BatchNorm2d)]
    assert module.training and norms and not any(layer.training for layer in norms)
