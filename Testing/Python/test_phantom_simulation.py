"""Digital knee phantom: determinism, mirror symmetry, T2 truth, decay physics, protocol geometry.

Uses the small stylised knee of :mod:`phantom_synthetic` (about a second to
build) so the physics is tested without the large real label maps.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from KneeCartilageT2Lib import phantom_tissues as T
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.geometry import voxel_centers_ras
from KneeCartilageT2Lib.phantom import PhantomOptions, simulate_phantom
from KneeCartilageT2Lib.phantom_anatomy import build_anatomy
from KneeCartilageT2Lib.phantom_protocols import get_protocol, slice_grid
from KneeCartilageT2Lib.phantom_synthetic import TINY_PROTOCOL, synthetic_knee_labels


@pytest.fixture(scope="module")
def anatomy():
    return build_anatomy(synthetic_knee_labels(), "synthetic")


def _phantom(anatomy, **kwargs):
    return simulate_phantom(anatomy, PhantomOptions(protocol=TINY_PROTOCOL, **kwargs))


def test_same_seed_gives_identical_phantom_and_another_seed_does_not(anatomy):
    first, again, other = _phantom(anatomy, seed=11, lesions=1), _phantom(anatomy, seed=11, lesions=1), _phantom(anatomy, seed=12)
    assert np.array_equal(first.exam.echoes, again.exam.echoes)
    assert np.array_equal(first.label, again.label)
    assert first.parameters["lesions"] == again.parameters["lesions"]
    assert not np.array_equal(first.exam.echoes, other.exam.echoes)
    assert first.label.sum() > 200


def test_left_knee_is_the_mirror_image_of_the_right(anatomy):
    right, left = _phantom(anatomy, seed=4, lesions=1), _phantom(anatomy, seed=4, lesions=1, laterality="left")
    assert right.exam.laterality == "right" and left.exam.laterality == "left"
    assert np.array_equal(left.exam.echoes, right.exam.echoes[:, ::-1])
    assert np.array_equal(left.label, right.label[::-1]) and left.label.sum() == right.label.sum()
    n_slices = right.label.shape[0]
    probe = np.array([[2, 10, 20], [5, 40, 33]])
    mirrored = voxel_centers_ras(right.exam.ijk_to_ras, np.column_stack([n_slices - 1 - probe[:, 0], probe[:, 1:]]))
    assert np.allclose(voxel_centers_ras(left.exam.ijk_to_ras, probe), mirrored * [-1, 1, 1], atol=1e-9)
    assert np.linalg.det(left.exam.ijk_to_ras[:3, :3]) > 0
    # the lateral tibial cartilage lies toward the patient's left in a left knee
    lateral = np.argwhere(left.tissues == T.LATERAL_TIBIAL_CARTILAGE).mean(axis=0, keepdims=True)
    medial = np.argwhere(left.tissues == T.MEDIAL_TIBIAL_CARTILAGE).mean(axis=0, keepdims=True)
    assert voxel_centers_ras(left.exam.ijk_to_ras, lateral)[0, 0] < voxel_centers_ras(left.exam.ijk_to_ras, medial)[0, 0]
    assert left.parameters["lesions"][0]["centre_ras_mm"][0] == pytest.approx(-right.parameters["lesions"][0]["centre_ras_mm"][0])


def test_cartilage_t2_rises_from_deep_to_superficial(anatomy):
    phantom = _phantom(anatomy, seed=2, snr=0)
    tissues, label, t2 = phantom.tissues, phantom.label > 0, phantom.t2_truth_ms
    bone = np.isin(tissues, (T.FEMUR, T.CORTICAL_BONE))
    soft = ~np.isin(tissues, T.CARTILAGES + T.BONES + (T.CORTICAL_BONE,))
    near_bone, near_soft = _touching(bone), _touching(soft)
    deep, superficial = label & near_bone & ~near_soft, label & near_soft & ~near_bone
    assert deep.sum() > 20 and superficial.sum() > 20
    assert t2[superficial].mean() - t2[deep].mean() > 4.0
    assert 25.0 < t2[label].min() and t2[label].max() < 75.0


def _touching(mask):
    """Voxels with an in-plane 4-neighbour in ``mask``."""
    out = np.zeros_like(mask)
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    out[:, :, 1:] |= mask[:, :, :-1]
    out[:, :, :-1] |= mask[:, :, 1:]
    return out


def test_noiseless_echo_decay_matches_the_t2_truth(anatomy):
    phantom = _phantom(anatomy, seed=6, snr=0)
    pure = phantom.cartilage_fraction >= 0.999
    assert pure.sum() > 50
    times = phantom.exam.echo_times_ms
    decays = np.log(phantom.exam.echoes[:, pure])  # (echo, voxel)
    slopes = np.polyfit(times, decays, 1)[0]
    fitted = -1.0 / slopes
    error = np.abs(fitted - phantom.t2_truth_ms[pure])
    assert np.median(error) < 0.3 and error.max() < 2.0
    muscle = (phantom.tissues == T.MUSCLE) & (phantom.t2_truth_ms > 0)
    ratio = phantom.exam.echoes[2, muscle] / phantom.exam.echoes[0, muscle]
    expected = np.exp(-(times[2] - times[0]) / phantom.parameters["tissue_properties"]["muscle"]["t2_ms"])
    assert np.median(np.abs(ratio - expected)) < 0.01


def test_noise_level_follows_the_requested_snr(anatomy):
    quiet, noisy = _phantom(anatomy, seed=8, snr=0), _phantom(anatomy, seed=8, snr=20)
    label = quiet.label > 0
    sigma = noisy.parameters["noise_sigma"]
    assert sigma == pytest.approx(noisy.exam.echoes[0][label].mean() / 20.0, rel=0.1)
    assert np.std(noisy.exam.echoes[0][label] - quiet.exam.echoes[0][label]) == pytest.approx(sigma, rel=0.2)


def test_lesions_raise_t2_where_recorded(anatomy):
    phantom = _phantom(anatomy, seed=9, snr=0, lesions=2)
    lesions = phantom.parameters["lesions"]
    assert len(lesions) == 2
    inside = phantom.lesion_label > 0
    assert inside.sum() > 0 and not np.any(inside & (phantom.label == 0))
    assert phantom.t2_truth_ms[inside].mean() > phantom.t2_truth_ms[(phantom.label > 0) & ~inside].mean() + 5.0
    for lesion in lesions:
        assert 8.0 <= lesion["delta_t2_ms"] <= 20.0 and lesion["nominal_area_mm2"] > 0


@pytest.mark.parametrize("name, shape, spacing, n_echoes", [
    ("oai", (21, 269, 384), (0.3125, 0.446, 3.5), 7),
    ("ge", (24, 256, 256), (0.625, 0.625, 4.0), 8),
])
def test_protocol_grids_are_sagittal_with_exact_spacing(name, shape, spacing, n_echoes):
    protocol = get_protocol(name)
    assert protocol.shape_kji == shape and len(protocol.echo_times_ms) == n_echoes
    axes = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    matrix = slice_grid(protocol, axes, (10.0, 20.0, 30.0))
    assert np.allclose(np.linalg.norm(matrix[:3, :3], axis=0), spacing)
    centre = voxel_centers_ras(matrix, (np.array([shape]) - 1) / 2.0)[0]
    assert np.allclose(centre, (10.0, 20.0, 30.0))
    assert matrix[0, 2] > 0 and matrix[1, 0] < 0 and matrix[2, 1] < 0  # slices L->R, cols to posterior, rows down


def test_simulated_grid_follows_the_anatomy_axes(anatomy):
    phantom = _phantom(anatomy, seed=1)
    directions = phantom.exam.ijk_to_ras[:3, :3] / np.linalg.norm(phantom.exam.ijk_to_ras[:3, :3], axis=0)
    assert abs(directions[0, 2]) > 0.99  # slice normal along left-right
    assert np.allclose(np.linalg.norm(phantom.exam.ijk_to_ras[:3, :3], axis=0), TINY_PROTOCOL.spacing_ijk)
    assert phantom.exam.echoes.shape == (5,) + TINY_PROTOCOL.shape_kji


def test_a_fixed_extra_rotation_turns_the_knee_without_changing_the_random_draws(anatomy):
    plain, turned = _phantom(anatomy, seed=5, snr=0.0), _phantom(anatomy, seed=5, snr=0.0,
                                                                  extra_rotation_deg=(0.0, 0.0, 10.0))
    angles = plain.parameters["transform"]["rotation_deg_inplane_tilt1_tilt2"]
    assert turned.parameters["transform"]["rotation_deg_inplane_tilt1_tilt2"] == pytest.approx(
        [angles[0], angles[1], angles[2] + 10.0])
    assert turned.parameters["transform"]["scales"] == plain.parameters["transform"]["scales"]
    assert not np.array_equal(turned.label, plain.label)
    same = _phantom(anatomy, seed=5, snr=0.0, extra_rotation_deg=(0.0, 0.0, 0.0))
    assert np.array_equal(same.exam.echoes, plain.exam.echoes)


def test_bad_options_are_refused(anatomy):
    with pytest.raises(InputError):
        _phantom(anatomy, laterality="unknown")
    with pytest.raises(InputError):
        simulate_phantom(anatomy, PhantomOptions(protocol="siemens"))


def test_written_phantom_loads_as_an_exam(anatomy, tmp_path):
    from KneeCartilageT2Lib.exam_loader import load_exam
    from KneeCartilageT2Lib.phantom_output import write_phantom
    from KneeCartilageT2Lib.volume_io import read_volume

    phantom = _phantom(anatomy, seed=3, lesions=1, laterality="left")
    write_phantom(phantom, tmp_path / "case", dicom=True)
    exam = load_exam(tmp_path / "case" / "echoes.nrrd")
    assert np.allclose(exam.echoes, phantom.exam.echoes, rtol=1e-5)
    assert np.allclose(exam.echo_times_ms, TINY_PROTOCOL.echo_times_ms)
    label = read_volume(tmp_path / "case" / "label.nrrd")
    assert np.allclose(label.ijk_to_ras, phantom.exam.ijk_to_ras, atol=1e-6)
    assert np.array_equal(label.array, phantom.label)
    parameters = json.loads((tmp_path / "case" / "phantom.json").read_text())
    assert parameters["laterality"] == "left" and parameters["options"]["seed"] == 3
    dicom = load_exam(tmp_path / "case" / "dicom")
    assert dicom.laterality == "left" and np.allclose(dicom.ijk_to_ras, phantom.exam.ijk_to_ras, atol=1e-3)
