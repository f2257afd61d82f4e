"""Regional read-out against an analytic cartilage shell with exactly known answers.

The shell (cartilage_shell.py) has inner/outer radii 20/22.5 mm (thickness
2.5 mm), a 12-value T2 pattern (one value per deep/superficial x medial/
lateral x anterior/central/posterior subregion), an intercondylar notch
band, and anisotropic 0.2 x 0.25 x 2 mm voxels.
"""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib.cartilage_shell import ShellSpec, analytic_volume_mm3, build_shell
from KneeCartilageT2Lib.region_definitions import REGION_ORDER, SUBREGION_NAMES, SUBREGION_TABLE
from KneeCartilageT2Lib.regions import analyse_regions

SPEC = ShellSpec()
COARSE_SPEC = ShellSpec(spacing_mm=(0.3, 0.35, 2.0))
OBLIQUE_DEG = 8.0


@pytest.fixture(scope="module")
def phantoms():
    """Fine right knee (accuracy); coarser right, mirrored-left and reversed-slice twins (invariance)."""
    return {
        "right": build_shell(SPEC, "right", OBLIQUE_DEG),
        "coarse right": build_shell(COARSE_SPEC, "right", OBLIQUE_DEG),
        "left": build_shell(COARSE_SPEC, "left", OBLIQUE_DEG),
        "reversed": build_shell(COARSE_SPEC, "right", OBLIQUE_DEG, reverse_slices=True),
    }


@pytest.fixture(scope="module")
def analyses(phantoms):
    results = {}
    for mode in ("reference", "improved"):
        for variant, (mask, t2, _) in phantoms.items():
            side = "left" if variant == "left" else "right"
            results[mode, variant] = analyse_regions(mask, t2, side, mode=mode)
    return results


@pytest.mark.parametrize("mode", ["reference", "improved"])
def test_subregion_t2_thickness_and_volume_match_the_analytic_truth(analyses, mode):
    analysis = analyses[mode, "right"]
    assert [row["region"] for row in analysis.rows] == list(REGION_ORDER)
    for name in SUBREGION_NAMES:
        row = analysis.row(name)
        assert row["t2_mean_ms"] == pytest.approx(SPEC.region_t2_ms[name], abs=0.5), name
        assert row["thickness_mean_mm"] == pytest.approx(SPEC.thickness_mm, abs=0.1), name
        assert row["volume_mm3"] == pytest.approx(analytic_volume_mm3(SPEC, name), rel=0.02), name
    assert analysis.row("all")["volume_mm3"] == pytest.approx(analytic_volume_mm3(SPEC, "all"), rel=0.01)
    assert analysis.row("all")["thickness_max_mm"] < SPEC.thickness_mm + 0.2


@pytest.mark.parametrize("mode", ["reference", "improved"])
def test_combined_regions_are_the_voxel_weighted_means_of_their_subregions(analyses, mode):
    analysis = analyses[mode, "right"]
    for combined in ("D", "S", "L", "M", "DL", "SM", "LA", "MC", "MP"):
        parts = [analysis.row(name) for name in SUBREGION_NAMES if set(combined) <= set(name)]
        weights = np.array([row["n_t2_voxels"] for row in parts], float)
        expected = np.sum(weights * [row["t2_mean_ms"] for row in parts]) / weights.sum()
        assert analysis.row(combined)["t2_mean_ms"] == pytest.approx(expected, abs=1e-9), combined
        assert analysis.row(combined)["n_voxels"] == sum(row["n_voxels"] for row in parts)


@pytest.mark.parametrize("mode", ["reference", "improved"])
@pytest.mark.parametrize("variant", ["left", "reversed"])
def test_mirrored_left_knee_and_reversed_slices_give_identical_results(analyses, phantoms, mode, variant):
    base, other = analyses[mode, "coarse right"], analyses[mode, variant]
    for first, second in zip(base.rows, other.rows):
        assert first["n_voxels"] == second["n_voxels"], first["region"]
        for key in ("t2_mean_ms", "t2_sd_ms", "thickness_mean_mm", "thickness_max_mm"):
            assert first[key] == pytest.approx(second[key], rel=1e-9, abs=1e-9), (first["region"], key)
    for name in ("t2", "thickness", "regions"):
        np.testing.assert_allclose(base.projections[name].array, other.projections[name].array, rtol=1e-9, atol=1e-9)
    labels = other.subregion_labels.array
    base_labels = base.subregion_labels.array
    if variant == "reversed":
        labels = labels[::-1]
    np.testing.assert_array_equal(labels, base_labels)


@pytest.mark.parametrize("mode", ["reference", "improved"])
def test_subregion_label_map_agrees_with_the_truth_voxel_by_voxel(analyses, phantoms, mode):
    _, _, truth = phantoms["right"]
    labels = analyses[mode, "right"].subregion_labels.array
    names = np.array([""] + [name for _, name, _ in SUBREGION_TABLE])
    assert analyses[mode, "right"].subregion_labels.array.dtype == np.uint8
    agreement = np.mean(names[labels][truth != ""] == truth[truth != ""])
    assert agreement > 0.98
    assert not np.any(labels[truth == ""])


def test_medial_is_medial_on_the_left_knee(analyses, phantoms):
    """Medial voxels of the left phantom lie toward patient right (+x), i.e. toward the midline."""
    mask, _, _ = phantoms["left"]
    labels = analyses["improved", "left"].subregion_labels.array
    from KneeCartilageT2Lib.geometry import voxel_centers_ras

    medial = voxel_centers_ras(mask.ijk_to_ras, np.argwhere((labels >= 4) & (labels <= 6)))
    lateral = voxel_centers_ras(mask.ijk_to_ras, np.argwhere((labels >= 1) & (labels <= 3)))
    assert medial[:, 0].mean() > lateral[:, 0].mean() + 10.0


def test_invalid_t2_voxels_count_for_volume_but_not_for_t2():
    spec = ShellSpec(spacing_mm=(0.4, 0.5, 2.0))
    mask, t2, truth = build_shell(spec, "right")
    labels = analyse_regions(mask, t2, "right", mode="reference").subregion_labels.array
    values = t2.array.copy()
    dmc = np.flatnonzero(labels == SUBREGION_NAMES.index("DMC") + 1)
    values.flat[dmc] = np.where(np.arange(dmc.size) % 2 == 0, 0.0, np.nan)
    sla = np.flatnonzero(labels == SUBREGION_NAMES.index("SLA") + 1)
    values.flat[sla[::3]] = -5.0
    analysis = analyse_regions(mask, t2.with_array(values), "right", mode="reference")
    row = analysis.row("DMC")
    assert row["n_voxels"] == dmc.size and row["n_t2_voxels"] == 0 and np.isnan(row["t2_mean_ms"])
    assert row["volume_mm3"] == pytest.approx(dmc.size * mask.voxel_volume_mm3)
    assert analysis.row("SLA")["n_t2_voxels"] == sla.size - sla[::3].size
    assert analysis.row("SLA")["t2_mean_ms"] == pytest.approx(spec.region_t2_ms["SLA"], abs=0.5)
    assert analysis.row("all")["n_t2_voxels"] == analysis.row("all")["n_voxels"] - dmc.size - sla[::3].size
