"""Train (or fine-tune) the femoral cartilage U-Net on a :mod:`dataset_format` dataset.

The recipe follows the reference model (Thomas et al.) where it is stated and
is sized for a CPU otherwise:

* soft Dice loss over the batch (optionally mixed with the mean Dice of each
  crop that holds cartilage, ``slice_dice_weight``, so that the thin
  outermost slices weigh as much as the big central ones); Adam with beta1
  0.99, beta2 0.995; the learning rate follows a cosine from
  ``learning_rate`` to 5 % of it;
* per epoch every slice with cartilage and 10 % of the slices without it;
  per slice the echo before / nearest / after TE 20 ms with probability
  0.2 / 0.6 / 0.2;
* inputs exactly as at inference (:mod:`preprocessing`, mode ``spacing``:
  quartile normalisation, canonical orientation, fixed pixel size), random
  ``crop_size`` crops around the cartilage (the network is fully
  convolutional, so it runs on the whole grid at inference); intensity
  (gamma, scale, shift, noise) and small rotation/scale augmentation, no
  flips (sagittal images have a fixed anterior/superior orientation);
* validation Dice on whole network-grid slices of the nearest echo after
  every epoch; the best epoch's weights are the ones written, with a
  probability threshold chosen on the validation exams (:mod:`training_calibration`);
* a state file after every epoch, so an interrupted run resumes where it
  stopped (:mod:`training_state`); ``init`` starts from another model's
  weights and architecture (fine-tuning).

Fine-tuning (``init``) differs in three ways, each measured on the
iterative-annotation benchmark (``benchmarks/bench_iterative_annotation.py``):
the starting model is scored on the validation cases first ("epoch 0") and
stays the output unless an epoch beats it, so a fine-tuning run can never
hand back a worse model than it started from; batch-normalisation layers keep
the running statistics of the original training (``freeze_batch_norm``; a few
corrected cases, some with edge slices of nearly no cartilage, otherwise
replace statistics learnt on thousands of slices and wreck the model); and
the result says whether it improved (:attr:`TrainingResult.improved_on_init`).

The output is a self-describing safetensors file (its spec carries the
architecture, preprocessing, refinement, recipe and measured figures) plus
``MODEL.json``, the ``models.json`` entry for it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from . import __version__
from .devices import select_device
from .errors import InputError
from .progress import CancelToken
from .training_data import (TrainingVolume, augment_intensity, crop_sample, epoch_samples, load_dataset_volumes,
                            random_affines)
from .training_calibration import mask_dice
from .training_state import load_state, model_entry, read_state_info, save_state, state_path_for


@dataclass
class TrainingConfig:
    """Hyper-parameters (lengths in mm, network sizes in pixels).

    ``freeze_batch_norm``: keep batch-norm running statistics fixed while
    training (their scale and shift still learn); None means "when
    fine-tuning" (``init`` given). ``slice_dice_weight``: share of the loss
    given to the mean per-crop Dice (0 = batch Dice only, the reference loss).
    """

    epochs: int = 20
    levels: int = 5
    base_filters: int = 16
    batch_norm: bool = True
    batch_size: int = 8
    crop_size: int = 128
    learning_rate: float = 1e-3
    betas: Sequence[float] = (0.99, 0.995)
    pixel_spacing_mm: float = 0.5
    network_size: int = 320
    target_te_ms: float = 20.0
    echo_probabilities: Sequence[float] = (0.2, 0.6, 0.2)
    keep_empty_slices: float = 0.1
    slice_dice_weight: float = 0.0
    augment: bool = True
    seed: int = 0
    threads: int = 2
    device: str = "cpu"
    max_minutes: Optional[float] = None
    validation_fraction: float = 0.1
    freeze_batch_norm: Optional[bool] = None
    half_precision_weights: bool = True
    name: str = "knee-t2-model"
    version: str = "1"
    description: str = ""
    training_data: str = ""

    def batch_norm_frozen(self, fine_tuning: bool) -> bool:
        return fine_tuning if self.freeze_batch_norm is None else bool(self.freeze_batch_norm)

    def preprocessing(self) -> Dict[str, Any]:
        return {"mode": "spacing", "pixel_spacing_mm": [self.pixel_spacing_mm] * 2,
                "size": [self.network_size] * 2, "target_te_ms": self.target_te_ms,
                "normalization": "quartile", "canonical_orientation": True}


@dataclass
class TrainingResult:
    """What a training run produced: paths, the best epoch and its validation Dice, the history."""

    model_path: Path
    metadata_path: Path
    best_epoch: int
    best_validation_dice: float
    history: List[Dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False
    init_validation_dice: Optional[float] = None

    @property
    def improved_on_init(self) -> Optional[bool]:
        """Fine-tuning only: did an epoch beat the starting model on the validation cases (None otherwise)?"""
        return None if self.init_validation_dice is None else self.best_epoch > 0


def soft_dice_loss(probabilities, target, eps: float = 1.0, slice_weight: float = 0.0):
    """1 - soft Dice over the whole batch (empty slices do not divide by zero).

    Tensors are ``(N, 1, H, W)``. With ``slice_weight`` w > 0 the loss is
    ``(1 - w) * (1 - batch Dice) + w * (1 - mean Dice of the crops whose
    label reaches 0.5 somewhere)``: batch Dice alone lets a crop with a few
    dozen cartilage pixels (the slices where cartilage wraps round the condyle
    margin) count for almost nothing next to a central slice with thousands.
    """
    intersection = (probabilities * target).sum()
    batch_loss = 1.0 - (2.0 * intersection + eps) / (probabilities.sum() + target.sum() + eps)
    if slice_weight <= 0:
        return batch_loss
    dims = tuple(range(1, target.dim()))
    has_cartilage = target.amax(dim=dims) >= 0.5
    if not bool(has_cartilage.any()):
        return batch_loss
    per_crop = (2.0 * (probabilities * target).sum(dim=dims) + eps) / (probabilities.sum(dim=dims)
                                                                        + target.sum(dim=dims) + eps)
    slice_loss = 1.0 - per_crop[has_cartilage].mean()
    return (1.0 - slice_weight) * batch_loss + slice_weight * slice_loss


def train_model(dataset_dir, output_path, config: Optional[TrainingConfig] = None, init: Optional[str] = None,
                validation_dir=None, resume: bool = True, log: Callable[[str], None] = print,
                cancel: Optional[CancelToken] = None) -> TrainingResult:
    """Train on ``dataset_dir`` and write the best model to ``output_path`` (see module docstring).

    Validation cases come from ``validation_dir`` (another dataset) or, when
    None, the last ``validation_fraction`` of the dataset's cases.
    """
    import torch

    config = config or TrainingConfig()
    torch.set_num_threads(max(1, int(config.threads)))
    torch.manual_seed(config.seed)
    output_path = Path(output_path)
    model, config, init_info = _build_model(config, init)
    freeze = config.batch_norm_frozen(init is not None)
    preprocessing = config.preprocessing()
    train, validation = _load_volumes(dataset_dir, validation_dir, preprocessing, config, log)
    device, _ = select_device(config.device)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, betas=tuple(config.betas))
    rng = np.random.default_rng(config.seed)
    state_file = state_path_for(output_path)
    start_epoch, history, best = 0, [], {"dice": -1.0, "epoch": -1, "state": None}
    init_dice: Optional[float] = None
    split = {"train_cases": [volume.case_id for volume in train],
             "validation_cases": [volume.case_id for volume in validation],
             "architecture": _architecture_of(config), "init": None if init is None else str(init)}
    if resume and state_file.is_file():
        best_state, info = _load_matching_state(state_file, model, optimizer, split)
        start_epoch, history = int(info["epoch"]) + 1, list(info["history"])
        best = {"dice": float(info["best_dice"]), "epoch": int(info["best_epoch"]), "state": best_state}
        rng.bit_generator.state = info["rng_state"]
        init_dice = info.get("init_validation_dice")
        log("Resuming from %s after epoch %d (best validation Dice %.4f)" % (state_file, start_epoch, best["dice"]))
    elif init is not None:
        best = _score_starting_model(model, validation, device, log)
        init_dice = float(best["dice"])
    started, stopped_early = time.time(), False
    for epoch in range(start_epoch, config.epochs):
        if _out_of_time(started, history[start_epoch:], config.max_minutes):
            log("Stopping before epoch %d: the time budget of %.0f min would be exceeded." % (epoch + 1, config.max_minutes))
            stopped_early = True
            break
        _set_learning_rate(optimizer, config, epoch)
        epoch_start = time.time()
        loss = _train_epoch(model, optimizer, train, config, rng, device, epoch, log, cancel, freeze)
        dice = validation_dice(model, validation, device)
        record = {"epoch": epoch + 1, "train_loss": loss, "validation_dice": dice,
                  "seconds": time.time() - epoch_start, "learning_rate": optimizer.param_groups[0]["lr"]}
        history.append(record)
        if dice > best["dice"]:
            best = {"dice": dice, "epoch": epoch + 1,
                    "state": {key: value.detach().clone() for key, value in model.state_dict().items()}}
        log("epoch %d/%d: loss %.4f, validation Dice %.4f (best %.4f @ %d), %.0f s"
            % (epoch + 1, config.epochs, loss, dice, best["dice"], best["epoch"], record["seconds"]))
        save_state(state_file, model, best["state"], optimizer,
                   {"epoch": epoch, "history": history, "best_dice": best["dice"], "best_epoch": best["epoch"],
                    "rng_state": rng.bit_generator.state, "config": _config_dict(config),
                    "init_validation_dice": init_dice, "split": split})
    if init is not None and best["epoch"] == 0:
        log("No epoch beat the starting model on the validation cases (Dice %.4f); its weights are kept." % best["dice"])
    if best["state"] is None:
        raise InputError("No epoch was trained (epochs=%d, already done?); nothing to write." % config.epochs)
    model.load_state_dict(best["state"])
    calibration = _calibrate(model, preprocessing, validation, validation_dir or dataset_dir, device, log)
    return _write_outputs(model, output_path, config, preprocessing, history, best, train, validation,
                          dict(init_info, validation_dice=init_dice) if init_info else None,
                          stopped_early, dataset_dir, calibration)


def _score_starting_model(model, validation, device, log) -> Dict[str, Any]:
    """Fine-tuning: the starting model is "epoch 0", the one to beat (its weights are the fallback output)."""
    dice = validation_dice(model, validation, device)
    log("starting model: validation Dice %.4f (an epoch must beat it to replace it)" % dice)
    return {"dice": dice, "epoch": 0, "state": {key: value.detach().clone() for key, value in model.state_dict().items()}}


def _calibrate(model, preprocessing, validation, source_dir, device, log) -> Dict[str, Any]:
    """Probability threshold and slice rule chosen on the validation exams (:mod:`training_calibration`)."""
    from .model_registry import DEFAULT_REFINEMENT
    from .training_calibration import calibrate_on_exams

    log("Choosing the probability threshold and slice rule on %d validation exams ..." % len(validation))
    spec = {"preprocessing": preprocessing, "refinement": dict(DEFAULT_REFINEMENT)}
    calibration = calibrate_on_exams(model.eval(), spec, [(source_dir, volume.case_id) for volume in validation], device)
    log("Probability threshold %.2f, slice rule %d voxels (validation Dice by setting %s; |T2 model - true mask| "
        "ms %s)" % (calibration["threshold"], calibration["min_slice_voxels"],
                    _rounded(calibration["dice_by_setting"], 4), _rounded(calibration["t2_difference_ms_by_setting"], 2)))
    return calibration


def _rounded(table: Dict[str, Optional[float]], digits: int) -> Dict[str, Optional[float]]:
    return {key: (None if value is None else round(value, digits)) for key, value in table.items()}


def _build_model(config: TrainingConfig, init: Optional[str]):
    """A fresh U-Net from the config, or (``init``) a copy of an existing model's architecture and weights."""
    from .unet import build_unet

    if init is None:
        return build_unet(config.levels, config.base_filters, config.batch_norm, 1), config, None
    from .model_registry import load_model

    loaded = load_model(init, device="cpu")
    architecture = loaded.spec["architecture"]
    module = loaded.module.train()
    preprocessing = loaded.spec.get("preprocessing", {})
    updated = TrainingConfig(**dict(_config_dict(config), levels=int(architecture["levels"]),
                                    base_filters=int(architecture["base_filters"]),
                                    batch_norm=bool(architecture.get("batch_norm", False))))
    if preprocessing.get("mode") == "spacing":
        updated.pixel_spacing_mm = float(np.atleast_1d(preprocessing["pixel_spacing_mm"])[0])
        updated.network_size = int(np.atleast_1d(preprocessing["size"])[0])
        # The grid is the base model's, not the user's choice: a crop larger than it means "the whole grid".
        updated.crop_size = min(int(updated.crop_size), updated.network_size)
    else:
        raise InputError("--init needs a model trained with fixed pixel size preprocessing (mode 'spacing'); %s "
                         "uses %r. Fine-tune one of this project's own models." % (init, preprocessing.get("mode")))
    return module, updated, {"init_model": loaded.name, "init_version": loaded.version, "init_source": loaded.source}


def _loss_description(config: TrainingConfig) -> str:
    if config.slice_dice_weight <= 0:
        return "soft Dice (batch)"
    return "soft Dice: %.2f x batch + %.2f x mean per crop with cartilage" % (1.0 - config.slice_dice_weight,
                                                                          config.slice_dice_weight)


def _config_dict(config: TrainingConfig) -> Dict[str, Any]:
    values = asdict(config)
    values["betas"] = list(config.betas)
    values["echo_probabilities"] = list(config.echo_probabilities)
    return values


def _architecture_of(config) -> Dict[str, Any]:
    return {"levels": config.levels, "base_filters": config.base_filters, "batch_norm": config.batch_norm}


def _load_matching_state(state_file: Path, model, optimizer, split: Dict[str, Any]):
    """The saved training state, when it was saved for the same cases, network and starting model.

    Resuming after the dataset grew would compare validation Dice across different validation cases (and
    train on a former validation case); another network shape cannot take the saved weights at all.
    """
    saved = read_state_info(state_file).get("split")
    if saved is not None and saved != split:
        changed = [key.replace("_", " ") for key in ("train_cases", "validation_cases", "architecture", "init")
                   if saved.get(key) != split.get(key)]
        raise InputError("The saved training state %s was made with other %s than this run (the dataset or the "
                         "settings changed since). Start over with --restart (or delete that file)."
                         % (state_file, ", ".join(changed)))
    try:
        return load_state(state_file, model, optimizer)
    except RuntimeError as error:  # e.g. weights of another network shape (a state from before splits were saved)
        raise InputError("The saved training state %s does not fit this network (%s). Start over with --restart "
                         "(or delete that file)." % (state_file, str(error).splitlines()[0])) from None


def _load_volumes(dataset_dir, validation_dir, preprocessing, config, log):
    log("Loading dataset %s ..." % dataset_dir)
    volumes = load_dataset_volumes(dataset_dir, preprocessing)
    if validation_dir is not None:
        validation = load_dataset_volumes(validation_dir, preprocessing)
        train = volumes
    else:
        if len(volumes) < 2:
            raise InputError(
                "%s holds %d labelled case(s): at least 2 are needed, one held back to check each epoch (and, when "
                "fine-tuning, that the new model beats its base) on a case it was not trained on. Export another "
                "corrected case, or give a separate validation dataset (--validation)." % (dataset_dir, len(volumes)))
        count = max(1, int(round(len(volumes) * config.validation_fraction)))
        train, validation = volumes[:-count], volumes[-count:]
    if not any(len(volume.cartilage_slices) for volume in train):
        raise InputError("The training cases contain no cartilage label; check the dataset's labelsTr.")
    log("%d training cases (%d cartilage slices), %d validation cases"
        % (len(train), sum(len(v.cartilage_slices) for v in train), len(validation)))
    return train, validation


def _out_of_time(started: float, history: List[Dict[str, float]], max_minutes: Optional[float]) -> bool:
    if not max_minutes or not history:
        return False
    last = history[-1]["seconds"]
    return (time.time() - started + last) / 60.0 > max_minutes


def _set_learning_rate(optimizer, config: TrainingConfig, epoch: int) -> None:
    progress = epoch / max(config.epochs - 1, 1)
    factor = 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress))
    for group in optimizer.param_groups:
        group["lr"] = config.learning_rate * factor


def _train_epoch(model, optimizer, volumes: Sequence[TrainingVolume], config, rng, device, epoch, log, cancel,
                 freeze_batch_norm: bool = False) -> float:
    import torch
    import torch.nn.functional as F

    set_training_mode(model, freeze_batch_norm)
    samples = epoch_samples(volumes, rng, config.keep_empty_slices, config.echo_probabilities)
    losses, started = [], time.time()
    n_batches = max(1, math.ceil(len(samples) / config.batch_size))
    for batch_number in range(n_batches):
        if cancel is not None:
            cancel.raise_if_cancelled()
        chunk = samples[batch_number * config.batch_size:(batch_number + 1) * config.batch_size]
        pairs = [crop_sample(volumes[v], k, e, config.crop_size, rng) for v, k, e in chunk]
        images = np.stack([augment_intensity(p[0], rng) if config.augment else p[0] for p in pairs])[:, np.newaxis]
        labels = np.stack([p[1] for p in pairs])[:, np.newaxis]
        x, y = torch.from_numpy(images).to(device), torch.from_numpy(labels).to(device)
        if config.augment:
            theta = torch.from_numpy(random_affines(len(chunk), rng)).to(device)
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
            y = F.grid_sample(y, grid, mode="bilinear", padding_mode="border", align_corners=False)
        loss = soft_dice_loss(model(x), y, slice_weight=config.slice_dice_weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.item()))
        if (batch_number + 1) % 20 == 0 or batch_number + 1 == n_batches:
            elapsed = time.time() - started
            log("  epoch %d batch %d/%d loss %.4f (%.1f s/batch, epoch ETA %.0f s)"
                % (epoch + 1, batch_number + 1, n_batches, np.mean(losses[-20:]), elapsed / (batch_number + 1),
                   elapsed / (batch_number + 1) * (n_batches - batch_number - 1)))
    return float(np.mean(losses)) if losses else float("nan")


def set_training_mode(model, freeze_batch_norm: bool) -> None:
    """``model.train()``; with ``freeze_batch_norm`` the batch-norm layers stay in eval mode (running statistics fixed)."""
    import torch

    model.train()
    if freeze_batch_norm:
        for layer in model.modules():
            if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
                layer.eval()


def validation_dice(model, volumes: Sequence[TrainingVolume], device, threshold: float = 0.5) -> float:
    """Mean per-case Dice (p >= threshold vs label >= 0.5) on whole network-grid slices of the nearest echo."""
    if not volumes:
        return float("nan")
    return float(np.mean([mask_dice(probabilities >= threshold, volume.label >= 0.5)
                          for volume, probabilities in zip(volumes, _predict(model, volumes, device))]))


def _predict(model, volumes: Sequence[TrainingVolume], device, batch_size: int = 8) -> List[np.ndarray]:
    import torch

    model.eval()
    outputs = []
    with torch.inference_mode():
        for volume in volumes:
            images = volume.images[1].astype(np.float32)
            probabilities = np.zeros(images.shape, dtype=np.float32)
            for start in range(0, images.shape[0], batch_size):
                chunk = torch.from_numpy(images[start:start + batch_size, np.newaxis]).to(device)
                probabilities[start:start + batch_size] = model(chunk)[:, 0].float().cpu().numpy()
            outputs.append(probabilities)
    model.train()
    return outputs


def _write_outputs(model, output_path: Path, config, preprocessing, history, best, train, validation, init_info,
                   stopped_early, dataset_dir, calibration) -> TrainingResult:
    from .model_files import save_model_safetensors, sha256_of_file
    from .model_registry import DEFAULT_REFINEMENT

    if config.half_precision_weights:
        model = model.half()
    spec = {
        "name": config.name, "version": config.version,
        "description": config.description or "2D U-Net for femoral cartilage trained with knee-t2 train",
        "architecture": dict(model.architecture),
        "preprocessing": preprocessing,
        "refinement": dict(DEFAULT_REFINEMENT, probability_threshold=calibration["threshold"],
                           min_slice_voxels=calibration["min_slice_voxels"]),
        "training_data": config.training_data or "dataset %s" % Path(dataset_dir).name,
        "training": {
            "tool_version": __version__, "recipe": _config_dict(config), "loss": _loss_description(config),
            "optimizer": "Adam betas %s, cosine learning rate" % list(config.betas),
            "cases": [volume.case_id for volume in train],
            "validation_cases": [volume.case_id for volume in validation],
            "epochs_run": len(history), "best_epoch": best["epoch"], "best_validation_dice": best["dice"],
            "history": history, "stopped_early": stopped_early, "init": init_info,
            "weights_dtype": "float16" if config.half_precision_weights else "float32",
            "threshold_calibration": calibration,
        },
    }
    if init_info is not None:
        spec["training"]["improved_on_init"] = best["epoch"] > 0
    path = save_model_safetensors(model, output_path, spec)
    model.float()
    entry = model_entry(config.name, config.version, spec, path.name, sha256_of_file(path), path.stat().st_size)
    metadata_path = path.with_suffix(".json")
    metadata_path.write_text(json.dumps(entry, indent=2) + "\n")
    return TrainingResult(path, metadata_path, best["epoch"], best["dice"], history, stopped_early,
                          None if init_info is None else init_info.get("validation_dice"))
