"""The local-plane distance to a scattered surface (thickness_local) and the slabs it keeps from reading thin."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from KneeCartilageT2Lib.thickness_local import local_surface_offset
from test_thickness_geometry import OAI_SPACING, sagittal_grid, slab_thickness


def test_the_distance_to_a_scattered_plane_is_not_its_nearest_point():
    """Points scattered +-0.15 mm about the plane z = 2 mm: the nearest one reads short, the local plane does not."""
    grid = np.stack(np.meshgrid(np.arange(-5, 5, 0.3), np.arange(-5, 5, 0.3)), -1).reshape(-1, 2)
    scatter = 0.15 * np.sign(np.sin(7.3 * grid[:, 0] + 3.1 * grid[:, 1]))
    surface = np.column_stack([grid, 2.0 + scatter])
    normals = np.tile([0.0, 0.0, 1.0], (len(surface), 1))
    queries = np.column_stack([np.linspace(-2, 2, 25), np.linspace(2, -2, 25), np.zeros(25)])
    offset, normal, nearest, _ = local_surface_offset(queries, surface, normals, cKDTree(surface), 1.0)
    assert nearest.mean() < 1.9
    assert offset.mean() == pytest.approx(2.0, abs=0.03)
    assert np.allclose(normal, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("count", [1, 2])
def test_a_foot_with_no_surface_points_near_it_keeps_the_nearest_distance(count):
    """One or two articular points in a slice, the query 1.5 mm along the surface from them and 2 mm above it:
    no point lies within the radius of the foot, so there is no local line, and the distance is the nearest
    point's 2.5 mm (signed by its side), not its height 2.0 mm along the normal (30 % short)."""
    surface = np.array([[0.0, 0.0, 2.0], [-0.3, 0.0, 2.0]])[:count]
    normals = np.tile([0.0, 0.0, 1.0], (count, 1))
    queries = np.array([[1.5, 0.0, 0.0], [1.5, 0.0, 4.0], [0.2, 0.0, 0.0]])
    offset, _, nearest, _ = local_surface_offset(queries, surface, normals, cKDTree(surface), 1.0)
    assert offset[:2] == pytest.approx([2.5, -2.5])
    assert nearest[:2] == pytest.approx([2.5, 2.5])
    assert offset[2] == pytest.approx(2.0)  # the foot among the points: the local line's height


@pytest.mark.parametrize("in_plane_deg, out_of_plane_deg", [(10, 0), (20, 0), (7, 20), (7, 30)])
def test_tilted_slabs_do_not_read_thin(in_plane_deg, out_of_plane_deg):
    """A 2.5 mm slab tilted to the OAI grid read 2-2.6 % thin (the nearest of the stair-stepped surface points
    is one that sticks out toward the bone side); averaged over sub-voxel positions it now reads within 1 %."""
    readings = [slab_thickness(2.5, _shifted(sagittal_grid(OAI_SPACING), shift), in_plane_deg, out_of_plane_deg)
                for shift in (0.0, 0.21, 0.43)]
    assert np.mean(readings) == pytest.approx(2.5, rel=0.01)


def _shifted(matrix: np.ndarray, shift_mm: float) -> np.ndarray:
    """The grid moved ``shift_mm`` along superior (RAS z), so the slab cuts the voxels at another phase."""
    moved = matrix.copy()
    moved[2, 3] += shift_mm
    return moved
