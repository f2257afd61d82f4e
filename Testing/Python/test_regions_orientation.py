"""Knee directions from geometry and side, and the side estimate from cartilage shape."""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.geometry import make_ijk_to_ras
from KneeCartilageT2Lib.orientation import knee_axes, knee_orientation
from KneeCartilageT2Lib.side_estimate import estimate_side

MIRROR_X = np.diag([-1.0, 1.0, 1.0, 1.0])


def rotation(axis, degrees):
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    angle = np.radians(degrees)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross


def sagittal_matrix(rotation_matrix=np.eye(3), spacing=(0.5, 0.6, 3.0)):
    """Columns toward posterior, rows toward inferior, slices toward patient left (like the GE exam)."""
    directions = rotation_matrix @ np.column_stack([[0, -1, 0], [0, 0, -1], [-1, 0, 0]]).astype(float)
    return make_ijk_to_ras(spacing, directions, (10.0, 20.0, 30.0))


def test_right_knee_medial_is_patient_left_and_left_knee_medial_is_patient_right():
    matrix = sagittal_matrix()
    right, left = knee_orientation(matrix, "right"), knee_orientation(matrix, "left")
    np.testing.assert_allclose(right.medial_ras, [-1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(left.medial_ras, [1, 0, 0], atol=1e-12)
    for orientation in (right, left):
        np.testing.assert_allclose(orientation.superior_ras, [0, 0, 1], atol=1e-12)
        np.testing.assert_allclose(orientation.anterior_ras, [0, 1, 0], atol=1e-12)
        assert orientation.ml_voxel_axis == "k"


@pytest.mark.parametrize("about, degrees", [((0, 0, 1), 15.0), ((0, 0, 1), -25.0), ((0, 1, 0), 12.0), ((1, 0, 0), 20.0)])
def test_oblique_sagittal_uses_the_slice_normal_and_keeps_a_right_handed_frame(about, degrees):
    turn = rotation(about, degrees)
    matrix = sagittal_matrix(turn)
    right, superior, anterior, axis = knee_axes(matrix)
    slice_normal = matrix[:3, 2] / np.linalg.norm(matrix[:3, 2])
    assert axis == "k"
    np.testing.assert_allclose(right, slice_normal * np.sign(slice_normal[0]), atol=1e-12)
    frame = np.column_stack([right, anterior, superior])
    np.testing.assert_allclose(frame.T @ frame, np.eye(3), atol=1e-12)
    assert np.linalg.det(frame) == pytest.approx(1.0)
    assert superior[2] > 0.9 and anterior[1] > 0.85
    # Slice order and in-plane flips change nothing.
    flipped = matrix.copy()
    flipped[:3, 2] *= -1
    flipped[:3, 0] *= -1
    np.testing.assert_allclose(knee_axes(flipped)[0], right, atol=1e-12)


@pytest.mark.parametrize("shift_mm", [(0.0, 0.6, 0.0), (0.0, 0.0, 0.6), (0.0, 0.4, -0.4)],
                         ids=["anterior", "superior", "both"])
def test_a_sheared_sagittal_grid_takes_the_normal_of_its_slices_as_medial_lateral(shift_mm):
    """Each slice shifted in its plane (a sheared grid, e.g. gantry tilt): the slice axis is no longer the
    slices' normal. Taking the slice axis (tilted 9.7 degrees here) spread one slice over 2-3 projection
    rows and moved subregion T2 by up to 1 ms on the analytic shell."""
    from KneeCartilageT2Lib.cartilage_shell import ShellSpec, shell_geometry, true_regions
    from KneeCartilageT2Lib.geometry import Volume, voxel_centers_ras
    from KneeCartilageT2Lib.projection import knee_coordinates, row_indices
    from KneeCartilageT2Lib.region_definitions import SUBREGION_NAMES
    from KneeCartilageT2Lib.regions import analyse_regions

    spec = ShellSpec(spacing_mm=(0.3125, 0.446, 3.5))
    shape, matrix, (lateral, anterior, superior) = shell_geometry(spec, "right")
    matrix[:3, 2] += np.column_stack([lateral, anterior, superior]) @ np.asarray(shift_mm)
    pad = 30  # voxels added in-plane so the shifted slices still hold the whole shell
    shape = (shape[0], shape[1] + 2 * pad, shape[2] + 2 * pad)
    matrix[:3, 3] -= matrix[:3, :3] @ np.array([pad, pad, 0.0])
    position = voxel_centers_ras(matrix, np.indices(shape).reshape(3, -1).T)
    inside, names = true_regions(spec, position @ lateral, position @ anterior, position @ superior)
    t2 = np.zeros(inside.size, np.float32)
    for name, value in spec.region_t2_ms.items():
        t2[names == name] = value
    mask = Volume(inside.reshape(shape).astype(np.uint8), matrix)

    right, _, _, axis = knee_axes(matrix)
    slice_normal = np.cross(matrix[:3, 0], matrix[:3, 1])
    assert axis == "k"
    np.testing.assert_allclose(right, slice_normal / np.linalg.norm(slice_normal), atol=1e-12)
    coordinates = knee_coordinates(mask.array, matrix, knee_orientation(matrix, "right"))
    rows, _ = row_indices(coordinates)
    for k in np.unique(coordinates.indices_kji[:, 0]):
        assert np.unique(rows[coordinates.indices_kji[:, 0] == k]).size == 1
    assert coordinates.row_spacing_mm == pytest.approx(3.5)
    analysis = analyse_regions(mask, mask.with_array(t2.reshape(shape)), "right")
    for name in SUBREGION_NAMES:
        assert analysis.row(name)["t2_mean_ms"] == pytest.approx(spec.region_t2_ms[name], abs=0.3), name


def test_axial_acquisition_takes_the_image_axis_along_left_right():
    matrix = make_ijk_to_ras((0.4, 0.4, 2.0), rotation((0, 0, 1), 10.0) @ np.diag([1.0, -1.0, 1.0]))
    right, superior, anterior, axis = knee_axes(matrix)
    assert axis == "i"
    np.testing.assert_allclose(right, [np.cos(np.radians(10)), np.sin(np.radians(10)), 0], atol=1e-12)
    np.testing.assert_allclose(superior, [0, 0, 1], atol=1e-12)


def test_strongly_oblique_geometry_falls_back_to_patient_left_right():
    matrix = sagittal_matrix(rotation((0, 0, 1), 50.0))
    right, _, anterior, axis = knee_axes(matrix)
    assert axis is None
    np.testing.assert_allclose(right, [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(anterior, [0, 1, 0], atol=1e-12)


def test_unknown_side_and_bad_source_are_refused_with_advice():
    with pytest.raises(InputError, match="--laterality"):
        knee_orientation(sagittal_matrix(), "unknown")
    with pytest.raises(InputError, match="side_source"):
        knee_orientation(sagittal_matrix(), "right", side_source="guess")


def test_orientation_summary_is_json_friendly():
    summary = knee_orientation(sagittal_matrix(), "L", side_source="dicom").to_dict()
    assert summary["laterality"] == "left" and summary["side_source"] == "dicom"
    assert summary["medial_ras"] == [1.0, 0.0, 0.0]


def _femoral_cartilage(knee_labels_dir, name):
    from KneeCartilageT2Lib.volume_io import read_volume

    volume = read_volume(knee_labels_dir / name)
    # Every other voxel in-plane and every third slice: a coarser, MESE-like sampling.
    mask = volume.array[::3, ::2, ::2] == 1
    matrix = volume.ijk_to_ras.copy()
    matrix[:3, 0] *= 2
    matrix[:3, 1] *= 2
    matrix[:3, 2] *= 3
    return mask, matrix


@pytest.mark.parametrize("name", ["right_knee_example.nrrd", "SAG_3D_DESS_RIGHT_bones_cart_men_fib-label.nrrd"])
def test_side_estimate_on_real_right_knees_and_their_mirror_images(knee_labels_dir, name):
    mask, matrix = _femoral_cartilage(knee_labels_dir, name)
    right = estimate_side(mask, matrix)
    left = estimate_side(mask, MIRROR_X @ matrix)
    assert right.laterality == "right" and left.laterality == "left"
    assert right.confidence > 0.75 and left.confidence > 0.75
    assert right.cues["trochlea_top_mm"] > 0 > left.cues["trochlea_top_mm"]


def test_real_ge_exam_slices_run_medial_to_lateral_for_its_right_knee(ge_exam_dir):
    """The data README states that this right knee's slice order runs medial to lateral."""
    from KneeCartilageT2Lib.exam_loader import load_exam

    exam = load_exam(ge_exam_dir)
    orientation = knee_orientation(exam.ijk_to_ras, "right")
    assert orientation.ml_voxel_axis == "k"
    step_along_lateral = exam.ijk_to_ras[:3, 2] @ orientation.lateral_ras
    assert step_along_lateral == pytest.approx(4.0, abs=0.01)
    assert orientation.anterior_ras[1] > 0.99 and orientation.superior_ras[2] > 0.98


def test_a_plate_on_one_slice_gives_no_confident_side():
    from KneeCartilageT2Lib.cartilage_shell import ShellSpec, build_shell

    mask, _, _ = build_shell(ShellSpec(spacing_mm=(0.5, 0.5, 2.0)), "left")
    one_slice = np.zeros_like(mask.array)
    one_slice[3] = mask.array[3]  # all the cartilage in one half: nothing to compare the halves by
    estimate = estimate_side(one_slice > 0, mask.ijk_to_ras)
    assert estimate.confidence == pytest.approx(0.5) and estimate.score == pytest.approx(0.0)
