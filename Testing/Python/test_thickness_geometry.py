"""Thickness (mm) of flat cartilage slabs whose true thickness is known, on the grids scanners use.

A slab between two parallel planes ``T`` mm apart is voxelised on a sagittal grid (columns
posterior, rows inferior, slices medial-lateral) with anisotropic voxels (OAI 0.3125 x 0.446 mm
in-plane with 3.5 mm slice steps, GE 0.625 mm with 4 mm steps), tilted within the slice plane,
out of it (toward medial-lateral), and on sheared grids whose ``ijk_to_ras`` has non-orthogonal
columns. The bone side faces a far condyle centre, so :func:`normal_thickness` tells the two
surfaces apart as it does on a knee. A slab tilted by ``a`` degrees out of the slice plane is
``T / cos a`` thick within each slice; its thickness along the normal is still ``T``.
"""

from __future__ import annotations

import numpy as np
import pytest

from slab_phantoms import GE_SPACING, OAI_SPACING, sagittal_grid, slab_middle_thickness


def slab_thickness(thickness_mm, matrix, in_plane_deg=0.0, out_of_plane_deg=0.0):
    """Mean thickness (mm) read at the bone-side points of the slab's middle (away from its edges)."""
    readings = slab_middle_thickness(thickness_mm, matrix, in_plane_deg, out_of_plane_deg)
    assert readings.size > 150
    return float(np.mean(readings))


@pytest.mark.parametrize("spacing", [OAI_SPACING, GE_SPACING], ids=["OAI", "GE"])
@pytest.mark.parametrize("thickness_mm", [2.0, 3.0])
@pytest.mark.parametrize("in_plane_deg, out_of_plane_deg", [(7, 0), (30, 0), (40, 0), (7, 20), (7, 30), (7, 40),
                                                            (25, 30)])
def test_a_tilted_slab_reads_its_thickness_along_the_normal(spacing, thickness_mm, in_plane_deg, out_of_plane_deg):
    """Out of the slice plane the slab used to read its in-slice thickness T / cos(tilt): +13 % at 30 degrees."""
    measured = slab_thickness(thickness_mm, sagittal_grid(spacing), in_plane_deg, out_of_plane_deg)
    assert measured == pytest.approx(thickness_mm, rel=0.05)


@pytest.mark.parametrize("shear", [{"k": [0.0, 0.6, 0.0]}, {"k": [0.0, 0.0, 0.8]}, {"j": [0.0, 0.12, 0.0]},
                                   {"i": [0.0, 0.0, 0.1], "k": [0.0, 0.5, 0.5]}],
                         ids=["slices-shifted-anterior", "slices-shifted-superior", "rows-sheared", "both"])
@pytest.mark.parametrize("in_plane_deg, out_of_plane_deg", [(7, 0), (20, 0), (7, 30)])
def test_a_slab_on_a_sheared_grid_reads_its_thickness(shear, in_plane_deg, out_of_plane_deg):
    measured = slab_thickness(2.5, sagittal_grid(OAI_SPACING, shear), in_plane_deg, out_of_plane_deg)
    assert measured == pytest.approx(2.5, rel=0.05)


def test_thick_slices_of_a_real_knee_read_the_thickness_of_its_thin_slices(knee_labels_dir):
    """The femoral cartilage of a real knee (0.7 mm sagittal slices) against every 5th slice of it (3.5 mm,
    the OAI step): the whole plate read 9 % thicker from the thick slices (2.34 vs 2.15 mm), where its
    surfaces tilt out of the slice plane (the condyles' flanks, the trochlea)."""
    from KneeCartilageT2Lib.geometry import Volume
    from KneeCartilageT2Lib.regions import analyse_regions
    from KneeCartilageT2Lib.volume_io import read_volume

    labels = read_volume(knee_labels_dir / "right_knee_example.nrrd")
    thin = labels.with_array((np.asarray(labels.array) == 1).astype(np.uint8))
    thick_matrix = thin.ijk_to_ras.copy()
    thick_matrix[:3, 2] *= 5
    thick = Volume(thin.array[::5], thick_matrix)
    readings = []
    for volume in (thin, thick):
        t2 = volume.with_array(np.where(volume.array > 0, 40.0, 0.0).astype(np.float32))
        readings.append(analyse_regions(volume, t2, "right").row("all")["thickness_mean_mm"])
    assert readings[1] == pytest.approx(readings[0], rel=0.04)
