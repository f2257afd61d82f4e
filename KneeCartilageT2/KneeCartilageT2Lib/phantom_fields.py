"""Smooth random fields for the phantom: regional T2 variation, deformation, coil inhomogeneity.

A field is a short sum of random plane-wave cosines in patient space (RAS,
mm). It is smooth by construction (no wavelength below ``min_wavelength_mm``),
can be evaluated exactly at any set of points (no grid, no interpolation),
and is fully determined by the random generator that drew it, so a phantom
is reproducible from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import numpy as np


@dataclass
class CosineField:
    """``f(x) = amplitude * sum_n weight_n cos(2 pi k_n . (x - centre) + phase_n) / norm``.

    ``wave_vectors`` are in cycles/mm (N, 3); the weights sum to 1, so the
    field never leaves ``[-amplitude, +amplitude]``.
    """

    wave_vectors: np.ndarray
    phases: np.ndarray
    weights: np.ndarray
    centre: np.ndarray
    amplitude: float

    def __call__(self, points_ras: np.ndarray) -> np.ndarray:
        """Field values at (..., 3) RAS points (mm), float32 of shape (...)."""
        points = np.asarray(points_ras, dtype=np.float64)
        shifted = points.reshape(-1, 3) - self.centre
        total = np.zeros(shifted.shape[0], dtype=np.float64)
        for vector, phase, weight in zip(self.wave_vectors, self.phases, self.weights):
            total += weight * np.cos(2.0 * np.pi * (shifted @ vector) + phase)
        return (self.amplitude * total).reshape(points.shape[:-1]).astype(np.float32)

    def to_dict(self) -> Dict[str, List]:
        return {
            "wave_vectors_per_mm": np.round(self.wave_vectors, 6).tolist(),
            "phases_rad": np.round(self.phases, 6).tolist(),
            "weights": np.round(self.weights, 6).tolist(),
            "centre_ras_mm": np.round(self.centre, 4).tolist(),
            "amplitude": float(self.amplitude),
        }


def random_cosine_field(rng: np.random.Generator, amplitude: float, centre_ras, min_wavelength_mm: float = 30.0,
                        max_wavelength_mm: float = 120.0, n_waves: int = 4) -> CosineField:
    """Draw a smooth field with values within ``+-amplitude`` and wavelengths in the given range (mm)."""
    directions = rng.normal(size=(n_waves, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    wavelengths = rng.uniform(min_wavelength_mm, max_wavelength_mm, size=n_waves)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=n_waves)
    weights = rng.uniform(0.5, 1.0, size=n_waves)
    weights /= weights.sum()
    return CosineField(directions / wavelengths[:, np.newaxis], phases, weights,
                       np.asarray(centre_ras, dtype=np.float64), float(amplitude))
