"""Network input preparation: echo choice, quartile normalisation, grids and their inverses."""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib import preprocessing as pp
from KneeCartilageT2Lib.geometry import make_ijk_to_ras


def test_echo_nearest_20_ms_uses_the_absolute_difference():
    # the reference demo's signed difference would always pick the first echo
    assert pp.select_echo_index([10.0, 20.0, 30.0, 40.0]) == 1
    assert pp.select_echo_index([6.312 * n for n in range(1, 9)]) == 2  # 18.9 ms beats 25.2 ms
    assert pp.select_echo_index([25.0, 30.0, 35.0]) == 0
    assert pp.select_echo_index([8.0, 16.0, 24.0], target_ms=23.0) == 2


def test_quartile_normalisation_follows_the_reference_formula():
    image = np.arange(100, dtype=np.float64).reshape(10, 10)
    result = pp.normalize_slice_quartiles(image)
    p25, p75 = 24.75, 74.25  # numpy linear percentiles of 0..99
    scaled = 2.0 * (image - p25) / (p75 - p25) - 1.0
    low, high = 2.0 * (2.97 - p25) / 49.5 - 1.0, 2.0 * (96.03 - p25) / 49.5 - 1.0
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, np.clip(scaled, low, high), atol=1e-6)
    assert result[0, 0] == pytest.approx(low, abs=1e-6) and result[9, 9] == pytest.approx(high, abs=1e-6)
    assert result[2, 5] == pytest.approx(2.0 * (25 - p25) / 49.5 - 1.0, abs=1e-6)


def test_normalisation_is_invariant_to_intensity_scale_and_guards_flat_slices():
    rng = np.random.default_rng(0)
    image = rng.gamma(2.0, 50.0, (32, 32))
    np.testing.assert_allclose(pp.normalize_slice_quartiles(image), pp.normalize_slice_quartiles(7.5 * image + 3.0), atol=1e-5)
    assert np.all(pp.normalize_slice_quartiles(np.full((8, 8), 42.0)) == -1.0)
    mostly_flat = np.zeros((10, 10))
    mostly_flat[0, :3] = 100.0
    assert np.all(np.isfinite(pp.normalize_slice_quartiles(mostly_flat)))


def _smooth_volume(shape):
    rows, cols = np.mgrid[0 : shape[1], 0 : shape[2]]
    plane = np.sin(rows / shape[1] * np.pi) * np.cos(cols / shape[2] * np.pi * 0.7) * 50 + 100
    return np.stack([plane * (1 + 0.1 * k) for k in range(shape[0])]).astype(np.float32)


def test_resize_mode_round_trip_restores_shape_and_smooth_content():
    volume = _smooth_volume((3, 256, 200))
    batch, context = pp.to_network_grid(volume, (0.625, 0.625), {"mode": "resize", "size": [384, 384], "normalization": "none"})
    assert batch.shape == (3, 384, 384) and batch.dtype == np.float32
    back = pp.from_network_grid(batch, context)
    assert back.shape == volume.shape
    inner = (slice(None), slice(4, -4), slice(4, -4))
    assert np.abs(back[inner] - volume[inner]).max() < 0.5  # of a 100 +/- 50 signal


def test_native_384_slices_pass_through_resize_mode_unchanged():
    volume = np.random.default_rng(1).random((2, 384, 384)).astype(np.float32)
    batch, context = pp.to_network_grid(volume, (0.3125, 0.3125))
    np.testing.assert_allclose(batch, pp.normalize_volume_quartiles(volume), atol=1e-6)
    np.testing.assert_allclose(pp.from_network_grid(batch, context), batch, atol=1e-6)


def _disk(shape, spacing_mm, radius_mm):
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    centre = (np.asarray(shape) - 1) / 2.0
    distance = np.hypot((rows - centre[0]) * spacing_mm, (cols - centre[1]) * spacing_mm)
    return (distance < radius_mm).astype(np.float32)[np.newaxis] * 100.0 + 1.0


def test_spacing_mode_shows_the_same_anatomy_at_the_same_scale():
    params = {"mode": "spacing", "pixel_spacing_mm": [0.5, 0.5], "size": [160, 160], "normalization": "none"}
    coarse, _ = pp.to_network_grid(_disk((256, 256), 0.625, 30.0), (0.625, 0.625), params)
    fine, _ = pp.to_network_grid(_disk((384, 384), 0.3125, 30.0), (0.3125, 0.3125), params)
    area_mm2 = np.pi * 30.0 ** 2
    for batch in (coarse, fine):
        assert (batch > 50).sum() * 0.25 == pytest.approx(area_mm2, rel=0.03)
    assert np.mean(np.abs((coarse > 50).astype(float) - (fine > 50))) < 0.01


def test_spacing_mode_pads_with_the_darkest_value_and_inverts_exactly_on_the_grid():
    volume = _smooth_volume((2, 90, 120))
    params = {"mode": "spacing", "pixel_spacing_mm": [0.6, 0.6], "size": [96, 96], "normalization": "quartile"}
    batch, context = pp.to_network_grid(volume, (0.6, 0.6), params)
    normalised = pp.normalize_volume_quartiles(volume)
    # same pixel size: a pure centre pad (rows) / crop (cols) by whole pixels
    np.testing.assert_allclose(batch[:, 0, :], normalised.min(axis=(1, 2))[:, None] * np.ones((1, 96)), atol=1e-5)
    np.testing.assert_allclose(batch[:, 48, :], normalised[:, 45, 12:108], atol=1e-5)
    back = pp.from_network_grid(batch, context, fill_value=-5.0)
    np.testing.assert_allclose(back[:, :, 12:108], normalised[:, :, 12:108], atol=1e-5)
    assert np.all(back[:, :, :10] == -5.0)


def test_reoriented_geometry_gives_the_same_network_input_and_maps_back():
    volume = _smooth_volume((2, 60, 80))
    posterior, inferior, right = (0.0, -1.0, 0.0), (0.0, 0.0, -1.0), (1.0, 0.0, 0.0)
    standard = make_ijk_to_ras((0.5, 0.5, 3.0), np.column_stack([posterior, inferior, right]))
    # the same anatomy stored transposed, rows reversed: columns run inferior, rows anterior
    stored = np.ascontiguousarray(np.swapaxes(volume, 1, 2)[:, ::-1, :])
    other = make_ijk_to_ras((0.5, 0.5, 3.0), np.column_stack([inferior, (0.0, 1.0, 0.0), right]))
    assert pp.canonical_inplane_orientation(standard) == (False, False, False)
    params = {"mode": "resize", "size": [64, 96], "normalization": "quartile"}
    batch_a, context_a = pp.to_network_grid(volume, (0.5, 0.5), params, standard)
    batch_b, context_b = pp.to_network_grid(stored, (0.5, 0.5), params, other)
    np.testing.assert_allclose(batch_a, batch_b, atol=1e-5)
    assert context_b.transpose and context_b.flip_cols and not context_b.flip_rows
    back_a, back_b = pp.from_network_grid(batch_a, context_a), pp.from_network_grid(batch_b, context_b)
    assert back_b.shape == stored.shape
    np.testing.assert_allclose(back_b, np.swapaxes(back_a, 1, 2)[:, ::-1, :], atol=1e-5)


def test_preprocess_exam_picks_the_echo_and_records_it():
    echoes = np.stack([np.full((2, 32, 32), value, np.float32) + np.arange(32)[None, None, :] for value in (10, 20, 30)])
    batch, context = pp.preprocess_exam(echoes, [8.0, 19.0, 33.0], (1.0, 1.0), {"mode": "resize", "size": [32, 32]})
    assert context.echo_index == 1 and batch.shape == (2, 32, 32)


def test_real_ge_exam_uses_the_18_9_ms_echo_in_its_stored_orientation(ge_exam_dir):
    from KneeCartilageT2Lib.exam_loader import load_exam

    exam = load_exam(ge_exam_dir)
    spacing = pp.spacing_row_col(exam.ijk_to_ras)
    assert spacing == pytest.approx((0.625, 0.625))
    batch, context = pp.preprocess_exam(exam.echoes, exam.echo_times_ms, spacing, None, exam.ijk_to_ras)
    assert context.echo_index == 2  # TE 18.936 ms
    assert (context.transpose, context.flip_rows, context.flip_cols) == (False, False, False)  # like OAI
    assert batch.shape == (24, 384, 384)
    # spacing mode at OAI's 0.3125 mm: GE pixels become exactly 2 x 2 network pixels
    params = {"mode": "spacing", "pixel_spacing_mm": [0.3125, 0.3125], "size": [512, 512]}
    _, context = pp.preprocess_exam(exam.echoes, exam.echo_times_ms, spacing, params, exam.ijk_to_ras)
    assert context.scale == pytest.approx((0.5, 0.5))
