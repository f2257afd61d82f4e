"""Training samples for the U-Net: exams mapped to the network grid, per-epoch slice choice, crops.

Every exam goes through the inference preprocessing (:mod:`preprocessing`:
per-slice quartile normalisation, in-plane reorientation, resampling to the
model's fixed pixel size, centre pad/crop), so the network trains on exactly
what it will see. Per case three echo images are kept: the echo nearest the
target TE (20 ms) and its two neighbours, for the reference echo
augmentation (echo before / nearest / after with probability 0.2 / 0.6 / 0.2
per slice and epoch). Labels are mapped with the same geometry (anti-aliased,
so they are soft at the edges) and kept as float16 to save memory.

Arrays are ``(slice, H, W)``; images of a volume are ``(3, slice, H, W)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .errors import InputError
from .exam import MeseExam
from .preprocessing import select_echo_index, spacing_row_col, to_network_grid
from .progress import ProgressCallback, no_progress


@dataclass
class TrainingVolume:
    """One case on the network grid.

    Attributes:
        case_id: dataset case id.
        images: float16 ``(3, slice, H, W)``: echoes nearest-1, nearest, nearest+1 to the target TE.
        label: float16 ``(slice, H, W)`` femoral cartilage in [0, 1] (soft at edges).
        echo_times_ms: TE of the three images (ms).
        protocol: protocol name from the dataset index.
    """

    case_id: str
    images: np.ndarray
    label: np.ndarray
    echo_times_ms: Tuple[float, float, float]
    protocol: str = ""

    @property
    def cartilage_slices(self) -> np.ndarray:
        return np.nonzero((self.label >= 0.5).any(axis=(1, 2)))[0]


def exam_to_volume(exam: MeseExam, label_kji: np.ndarray, preprocessing: Dict[str, Any], case_id: str = "",
                   protocol: str = "") -> TrainingVolume:
    """Map an exam and its label onto the network grid of ``preprocessing`` (see module docstring)."""
    label_kji = np.asarray(label_kji)
    if tuple(label_kji.shape) != tuple(exam.volume_shape):
        raise InputError("Case %s: label shape %s differs from the exam's %s." % (case_id, label_kji.shape, exam.volume_shape))
    spacing = spacing_row_col(exam.ijk_to_ras)
    nearest = select_echo_index(exam.echo_times_ms, float(preprocessing.get("target_te_ms", 20.0)))
    indices = [int(np.clip(nearest + offset, 0, exam.n_echoes - 1)) for offset in (-1, 0, 1)]
    images = [to_network_grid(exam.echoes[index], spacing, preprocessing, exam.ijk_to_ras)[0] for index in indices]
    label_params = dict(preprocessing, normalization="none")
    label, _ = to_network_grid((label_kji > 0).astype(np.float32), spacing, label_params, exam.ijk_to_ras)
    return TrainingVolume(case_id, np.stack(images).astype(np.float16), np.clip(label, 0, 1).astype(np.float16),
                          tuple(float(exam.echo_times_ms[index]) for index in indices), protocol)


def load_dataset_volumes(dataset_dir, preprocessing: Dict[str, Any], case_ids: Optional[Iterable[str]] = None,
                         progress: Optional[ProgressCallback] = None) -> List[TrainingVolume]:
    """Every labelled case of a :mod:`dataset_format` dataset (or the listed ones) on the network grid."""
    from .dataset_format import list_cases, read_case

    report = progress or no_progress
    records = [record for record in list_cases(dataset_dir) if record.is_labelled]
    if case_ids is not None:
        wanted = set(case_ids)
        records = [record for record in records if record.case_id in wanted]
    if not records:
        raise InputError("Dataset %s has no labelled cases to train on; add cases with `knee-t2 phantom --cases N` "
                         "or the correction export." % dataset_dir)
    volumes = []
    for number, record in enumerate(records):
        exam, label, _ = read_case(dataset_dir, record.case_id)
        volumes.append(exam_to_volume(exam, label.array, preprocessing, record.case_id, record.protocol))
        report((number + 1) / len(records), "loading case %s (%d/%d)" % (record.case_id, number + 1, len(records)))
    return volumes


def epoch_samples(volumes: Sequence[TrainingVolume], rng: np.random.Generator, keep_empty: float = 0.1,
                  echo_probabilities: Sequence[float] = (0.2, 0.6, 0.2)) -> List[Tuple[int, int, int]]:
    """(volume, slice, echo choice) triples for one epoch, shuffled.

    Every slice with cartilage is used; each slice without is kept with
    probability ``keep_empty``; each sample's echo is drawn with ``echo_probabilities``.
    """
    samples = []
    for number, volume in enumerate(volumes):
        has_cartilage = (volume.label >= 0.5).any(axis=(1, 2))
        keep = has_cartilage | (rng.random(len(has_cartilage)) < keep_empty)
        for slice_index in np.nonzero(keep)[0]:
            samples.append((number, int(slice_index), int(rng.choice(3, p=echo_probabilities))))
    order = rng.permutation(len(samples))
    return [samples[index] for index in order]


def crop_sample(volume: TrainingVolume, slice_index: int, echo_choice: int, size: int,
                rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """A ``size`` x ``size`` (image, label) float32 crop: around the cartilage (jittered), or anywhere central."""
    image = volume.images[echo_choice, slice_index]
    label = volume.label[slice_index]
    height, width = label.shape
    if size > min(height, width):
        raise InputError("Crop size %d exceeds the network grid %dx%d." % (size, height, width))
    cartilage = np.argwhere(label >= 0.5)
    if len(cartilage):
        centre = cartilage.mean(axis=0) + rng.uniform(-0.25, 0.25, 2) * size
    else:
        centre = np.array([height, width]) / 2.0 + rng.uniform(-0.25, 0.25, 2) * np.array([height, width])
    top = int(np.clip(round(centre[0] - size / 2), 0, height - size))
    left = int(np.clip(round(centre[1] - size / 2), 0, width - size))
    window = (slice(top, top + size), slice(left, left + size))
    return image[window].astype(np.float32), label[window].astype(np.float32)


def augment_intensity(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random gamma (0.7-1.5 on the min-max range), scale 0.9-1.1, shift +-0.1, Gaussian noise sd 0-0.05."""
    low, high = float(image.min()), float(image.max())
    if high > low:
        unit = (image - low) / (high - low)
        image = low + (high - low) * unit ** float(np.exp(rng.uniform(np.log(0.7), np.log(1.5))))
    image = image * float(rng.uniform(0.9, 1.1)) + float(rng.uniform(-0.1, 0.1))
    sigma = float(rng.uniform(0.0, 0.05))
    return (image + rng.normal(0.0, sigma, image.shape)).astype(np.float32) if sigma > 0 else image.astype(np.float32)


def random_affines(batch_size: int, rng: np.random.Generator, max_rotation_deg: float = 10.0,
                   scale_range: float = 0.1) -> np.ndarray:
    """(N, 2, 3) affine matrices (normalised coordinates, for torch ``affine_grid``): rotation and scale."""
    angles = np.deg2rad(rng.uniform(-max_rotation_deg, max_rotation_deg, batch_size))
    scales = rng.uniform(1.0 - scale_range, 1.0 + scale_range, batch_size)
    theta = np.zeros((batch_size, 2, 3), dtype=np.float32)
    theta[:, 0, 0] = np.cos(angles) / scales
    theta[:, 0, 1] = -np.sin(angles) / scales
    theta[:, 1, 0] = np.sin(angles) / scales
    theta[:, 1, 1] = np.cos(angles) / scales
    return theta
