"""Rigid registration of a follow-up onto its baseline: known motion recovered, sides checked."""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib.geometry import Volume, make_ijk_to_ras, voxel_centers_ras
from KneeCartilageT2Lib.registration import register_rigid, rotation_angle_axis
from KneeCartilageT2Lib.resampling import resample_label_onto, resample_t2_onto

SHAPE = (24, 64, 64)  # slices, rows, cols: sagittal-like, thick slices


def rigid_ras(angles_deg, translation_mm):
    ax, ay, az = np.radians(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    matrix = np.eye(4)
    matrix[:3, :3] = rz @ ry @ rx
    matrix[:3, 3] = translation_mm
    return matrix


def sagittal_geometry():
    # columns run inferior, rows posterior, slices lateral->medial-ish (like the GE exam), 2 mm slices
    matrix = make_ijk_to_ras((0.8, 0.8, 2.0), np.array([[0, 0, -1], [0, -1, 0], [-1, 0, 0]], float).T)
    matrix[:3, 3] = -matrix[:3, :3] @ (np.array(SHAPE[::-1]) - 1) / 2.0
    return matrix


class SmoothScene:
    """A smooth analytic image (sum of Gaussian blobs, mm) so any pose can be sampled exactly."""

    def __init__(self, seed=1):
        rng = np.random.default_rng(seed)
        self.centres = rng.uniform(-20, 20, (25, 3))
        self.widths = rng.uniform(3, 7, 25)
        self.amplitudes = rng.uniform(-1, 1, 25)

    def sample(self, points_ras):
        squared = ((points_ras[:, None, :] - self.centres[None]) ** 2).sum(-1)
        return (self.amplitudes * np.exp(-squared / (2 * self.widths ** 2))).sum(-1)


def grid_points(matrix):
    indices = np.stack(np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij"), -1).reshape(-1, 3)
    return voxel_centers_ras(matrix, indices)


def test_known_rigid_motion_is_recovered_within_half_a_millimetre_and_degree():
    scene, matrix = SmoothScene(), sagittal_geometry()
    points = grid_points(matrix)
    motion = rigid_ras((3.0, -2.0, 2.5), (2.0, -1.5, 1.0))  # baseline point -> follow-up point
    inverse = np.linalg.inv(motion)
    baseline = Volume(scene.sample(points).reshape(SHAPE).astype(np.float32), matrix)
    followup_values = scene.sample(points @ inverse[:3, :3].T + inverse[:3, 3])
    noise = np.random.default_rng(2).normal(0, 0.01, followup_values.shape)
    followup = Volume((followup_values + noise).reshape(SHAPE).astype(np.float32), matrix)
    mask = np.zeros(SHAPE, bool)
    mask[8:16, 20:44, 20:44] = True

    result = register_rigid(baseline, followup, baseline_mask=mask)

    estimated = result.baseline_to_followup_ras
    rotation_error = rotation_angle_axis(estimated[:3, :3].T @ motion[:3, :3])[0]
    moved_true = points @ motion[:3, :3].T + motion[:3, 3]
    moved_estimated = points @ estimated[:3, :3].T + estimated[:3, 3]
    assert rotation_error < 0.5
    assert np.linalg.norm(moved_true - moved_estimated, axis=1).max() < 0.5
    assert result.rotation_deg == pytest.approx(rotation_angle_axis(motion[:3, :3])[0], abs=0.5)
    assert result.ncc_after > 0.99 > result.ncc_before
    assert np.allclose(result.followup_to_baseline_ras @ estimated, np.eye(4), atol=1e-9)


def test_resampling_moves_labels_and_keeps_invalid_t2_out():
    matrix = sagittal_geometry()
    shift = np.eye(4)
    shift[:3, 3] = matrix[:3, :3] @ np.array([2.0, 0.0, 0.0])  # two columns along i
    label = np.zeros(SHAPE, np.uint8)
    label[10:14, 30:34, 30:34] = 1
    moved = resample_label_onto(Volume(label, matrix), Volume(label, matrix), shift).array
    assert moved.dtype == np.uint8 and moved.sum() == label.sum()
    assert np.array_equal(moved[:, :, 28:32], label[:, :, 30:34])

    t2 = np.full(SHAPE, 40.0, np.float32)
    t2[:, :, 32:] = 0.0  # invalid fits (0) next to valid ones
    half = np.eye(4)
    half[:3, 3] = matrix[:3, :3] @ np.array([0.5, 0.0, 0.0])
    resampled = resample_t2_onto(Volume(t2, matrix), Volume(t2, matrix), half).array
    finite = resampled[np.isfinite(resampled)]
    assert np.allclose(finite, 40.0)  # no blending with the zeros
    assert np.isnan(resampled[5, 5, 40]) and resampled[5, 5, 10] == pytest.approx(40.0)

