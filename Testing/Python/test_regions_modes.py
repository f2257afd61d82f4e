"""What the improved mode does differently from the reference mode, and input checks."""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib.cartilage_shell import ShellSpec, analytic_volume_mm3, build_shell
from KneeCartilageT2Lib.errors import InputError, NoCartilageFoundError
from KneeCartilageT2Lib.geometry import Volume
from KneeCartilageT2Lib.region_definitions import SUBREGION_NAMES, SUBREGION_TABLE
from KneeCartilageT2Lib.regions import analyse_regions

COARSE = (0.3, 0.35, 2.0)


def _agreement(analysis, truth):
    names = np.array([""] + [name for _, name, _ in SUBREGION_TABLE])
    inside = truth != ""
    return float(np.mean(names[analysis.subregion_labels.array][inside] == truth[inside]))


def _worst_t2_error(analysis, spec):
    return max(abs(analysis.row(name)["t2_mean_ms"] - spec.region_t2_ms[name]) for name in SUBREGION_NAMES)


def test_improved_mode_follows_two_different_condyles_where_one_circle_cannot():
    spec = ShellSpec(spacing_mm=COARSE, lateral_axis_shift_mm=(3.0, 4.0), lateral_radius_change_mm=3.0)
    mask, t2, truth = build_shell(spec, "right")
    improved = analyse_regions(mask, t2, "right", mode="improved")
    reference = analyse_regions(mask, t2, "right", mode="reference")
    lateral_circle = improved.details["circles"]["lateral"]
    assert lateral_circle["anterior_mm"] == pytest.approx(3.0, abs=0.1)
    assert lateral_circle["superior_mm"] == pytest.approx(4.0, abs=0.1)
    assert improved.details["circles"]["medial"]["anterior_mm"] == pytest.approx(0.0, abs=0.1)
    assert _worst_t2_error(improved, spec) < 0.5
    assert _agreement(improved, truth) > 0.97
    assert _agreement(reference, truth) < _agreement(improved, truth) - 0.02
    assert _worst_volume_error(reference, spec) > 0.08 > 0.03 > _worst_volume_error(improved, spec)


def _worst_volume_error(analysis, spec):
    return max(abs(analysis.row(name)["volume_mm3"] / analytic_volume_mm3(spec, name) - 1) for name in SUBREGION_NAMES)


def test_improved_mode_splits_at_the_notch_and_reference_mode_at_the_mid_extent():
    spec = ShellSpec(spacing_mm=COARSE, lateral_range_mm=(-28.0, 16.0))
    mask, t2, truth = build_shell(spec, "left")
    improved = analyse_regions(mask, t2, "left", mode="improved")
    reference = analyse_regions(mask, t2, "left", mode="reference")
    notch = improved.details["method"]["notch"]
    assert notch["found"] and notch["relative_depth"] == pytest.approx(0.0)
    assert improved.details["ml_boundary_lateral_mm"] == pytest.approx(0.0, abs=1e-6)
    assert reference.details["ml_boundary_lateral_mm"] == pytest.approx(-6.0, abs=1e-6)
    assert _agreement(improved, truth) > 0.97
    assert improved.row("M")["volume_mm3"] == pytest.approx(analytic_volume_mm3_side(spec, "M"), rel=0.02)
    assert reference.row("M")["n_voxels"] < improved.row("M")["n_voxels"]


def analytic_volume_mm3_side(spec, side):
    return sum(analytic_volume_mm3(spec, name) for name in SUBREGION_NAMES if name[1] == side)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("reverse", [False, True])
def test_a_slice_missed_inside_a_condyle_is_not_taken_for_the_notch(side, reverse):
    """An empty slice scores as low as the notch; the notch keeps its trochlea and lies mid-plate."""
    spec = ShellSpec(spacing_mm=(0.4, 0.5, 2.0))
    mask, t2, truth = build_shell(spec, side, 0, reverse)
    array = mask.array.copy()
    missed = 4 if not reverse else array.shape[0] - 1 - 4  # 11 mm medial of the notch
    array[missed] = 0
    analysis = analyse_regions(mask.with_array(array), t2, side)
    assert analysis.details["method"]["notch"]["boundary_mm"] == pytest.approx(0.0, abs=1.0)
    names = {value: name for value, name, _ in SUBREGION_TABLE}
    inside = array > 0
    found = [names.get(int(code), "") for code in analysis.subregion_labels.array[inside]]
    assert np.mean([a[1] != b[1] for a, b in zip(found, truth[inside])]) < 0.01  # medial/lateral letter


def test_projection_rows_are_millimetres_from_the_medial_lateral_boundary():
    spec = ShellSpec(spacing_mm=COARSE)
    mask, t2, _ = build_shell(spec, "right", reverse_slices=True)
    analysis = analyse_regions(mask, t2, "right")
    projection = analysis.projections["t2"]
    np.testing.assert_allclose(projection.row_positions_mm, np.arange(-19.0, 20.0, 2.0), atol=1e-9)
    assert projection.array.shape == (20, 72)
    assert projection.col_angles_deg[0] == pytest.approx(-177.5)
    np.testing.assert_allclose(np.diff(projection.col_positions_mm), np.radians(5.0) * analysis.details["nominal_radius_mm"], rtol=1e-4)
    # Notch rows (|M-L| < 4 mm) hold only trochlea: no cartilage at or behind -45 degrees.
    notch_rows = np.abs(projection.row_positions_mm) < 4.0
    assert np.all(np.isnan(projection.array[notch_rows][:, projection.col_angles_deg > -40]))
    assert np.nanmean(analysis.projections["thickness"].array) == pytest.approx(spec.thickness_mm, abs=0.1)
    codes = analysis.projections["regions"].array
    assert set(np.unique(codes[projection.row_positions_mm < 0])) == {0, 4, 5, 6}
    assert set(np.unique(codes[projection.row_positions_mm > 0])) == {0, 1, 2, 3}


def test_without_a_notch_improved_mode_falls_back_to_the_mid_extent_and_says_so():
    spec = ShellSpec(spacing_mm=COARSE, notch_range_mm=(0.0, 0.0))
    mask, t2, _ = build_shell(spec, "right")
    analysis = analyse_regions(mask, t2, "right")
    assert not analysis.details["method"]["notch"]["found"]
    assert any("notch" in warning for warning in analysis.warnings)
    assert analysis.details["ml_boundary_lateral_mm"] == pytest.approx(0.0, abs=1e-6)


def test_without_surfaces_told_apart_improved_mode_splits_the_layers_radially_and_says_so():
    """A solid disc of 'cartilage' (a wrong label, say) has no bone-side surface, so no local depth. Every
    voxel used to be called superficial: the S row repeated the whole plate and D was empty."""
    from KneeCartilageT2Lib.geometry import make_ijk_to_ras, voxel_centers_ras

    shape = (10, 80, 80)
    matrix = make_ijk_to_ras((0.5, 0.5, 3.0), np.column_stack([[0, -1, 0], [0, 0, -1], [1, 0, 0]]).astype(float))
    position = voxel_centers_ras(matrix, np.indices(shape).reshape(3, -1).T)
    centre = voxel_centers_ras(matrix, np.array([[0, 40.3, 40.6]]))[0]
    radius = np.hypot(position[:, 1] - centre[1], position[:, 2] - centre[2]).reshape(shape)
    mask = Volume((radius < 15.0).astype(np.uint8), matrix)
    t2 = mask.with_array(np.where(radius < 7.5, 30.0, 50.0).astype(np.float32) * mask.array)
    improved = analyse_regions(mask, t2, "right")
    reference = analyse_regions(mask, t2, "right", mode="reference")
    assert improved.details["method"]["n_bone_surface_points"] == 0
    assert any("split at half the radial extent" in warning for warning in improved.warnings)
    for layer in ("D", "S"):  # the same rule as the reference mode, around each condyle's own circle
        assert improved.row(layer)["n_voxels"] == pytest.approx(reference.row(layer)["n_voxels"], rel=0.02)
        assert improved.row(layer)["t2_mean_ms"] == pytest.approx(reference.row(layer)["t2_mean_ms"], abs=0.5)
    assert improved.row("D")["t2_mean_ms"] < 35.0 < 45.0 < improved.row("S")["t2_mean_ms"]


def test_unknown_side_is_estimated_and_reported():
    mask, t2, _ = build_shell(ShellSpec(spacing_mm=(0.5, 0.5, 2.0)), "right")
    analysis = analyse_regions(mask, t2, "unknown", laterality_source="estimated")
    assert analysis.orientation.side_source == "estimated"
    assert 0.5 <= analysis.orientation.side_confidence <= 0.9
    assert any("estimated" in warning for warning in analysis.warnings)


def test_bad_inputs_are_refused_with_advice():
    mask, t2, _ = build_shell(ShellSpec(spacing_mm=(0.5, 0.5, 2.0)), "right")
    with pytest.raises(InputError, match="mode"):
        analyse_regions(mask, t2, "right", mode="fancy")
    shifted = Volume(t2.array, t2.ijk_to_ras + _translation(1.0))
    with pytest.raises(InputError, match="same geometry"):
        analyse_regions(mask, shifted, "right")
    with pytest.raises(InputError, match="different sizes"):
        analyse_regions(mask, Volume(t2.array[:-1], t2.ijk_to_ras), "right")
    labels = mask.array.copy()
    labels[0, 0, 0] = 5
    with pytest.raises(InputError, match="cartilage-label"):
        analyse_regions(mask.with_array(labels), t2, "right")
    assert analyse_regions(mask.with_array(labels), t2, "right", cartilage_label=1).row("all")["n_voxels"] == mask.array.sum()
    with pytest.raises(NoCartilageFoundError):
        analyse_regions(mask.with_array(np.zeros_like(mask.array)), t2, "right")


def _translation(mm):
    matrix = np.zeros((4, 4))
    matrix[0, 3] = mm
    return matrix


@pytest.mark.parametrize("thickness_voxels", [1, 2, 3])
def test_surface_points_of_a_thin_slab_lie_on_its_faces(thickness_voxels):
    """A slab one voxel thick used to read a fifth of that (the smoothed mask barely reaches 0.5 inside it)."""
    from KneeCartilageT2Lib.geometry import make_ijk_to_ras
    from KneeCartilageT2Lib.thickness import boundary_faces

    mask = np.zeros((3, 24, 24), bool)
    mask[:, 10:10 + thickness_voxels, :] = True  # flat along slices and columns, thin along rows
    faces = boundary_faces(mask, make_ijk_to_ras((0.5, 0.5, 3.0)), skip_axis_kji=0)
    middle = (faces.voxel_kji[:, 2] > 6) & (faces.voxel_kji[:, 2] < 18) & (np.abs(faces.normal_ras[:, 1]) > 0.9)
    rows_mm = faces.centre_ras[middle, 1]
    assert rows_mm.max() - rows_mm.min() == pytest.approx(0.5 * thickness_voxels, abs=0.15)
