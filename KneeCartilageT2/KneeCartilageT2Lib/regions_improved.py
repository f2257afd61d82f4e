"""Improved mode: subregions that follow each knee's own anatomy.

Medial/lateral split at the intercondylar notch. Under the notch there is
no weight-bearing cartilage: along M-L, the amount of cartilage in the
central and posterior directions (angle > -30 degrees around the global
circle) drops to (nearly) nothing between the two condyles, while the
trochlea above still bridges them. The split is the middle of the M-L run of
rows where that amount is lowest, searched in the middle 60% of the M-L
extent. Where no clear dip exists (a partial or unusual segmentation) the
mode falls back to the mid-point of the extent and says so.

Anterior/central/posterior per condyle. The two condyles are not one
cylinder: their sagittal profiles differ in radius and centre (the medial
condyle's inferior facet is flatter and its posterior facet sits
differently). A single centre therefore shifts each condyle's sector
boundaries by several degrees, in opposite directions on the two sides. Here
each condyle gets its own least-squares circle (robust to stray blobs in the
segmentation, see :mod:`circle_robust`), fitted to the sagittal projection of
its inferior and posterior facets (angles > -45 degrees around
the global centre; the trochlea is left out because it does not lie on the
condylar circle). The central (weight-bearing) sector is the tibia-facing
60 degrees, (-30, +30] around that condyle's own centre with 0 = inferior,
and anterior/posterior lie on either side, so the same anatomical band of
each condyle is called central whatever its size.

Deep/superficial at half the local thickness (normalised depth from the
bone-side and articular surfaces), and thickness along the surface normal in
mm (see :mod:`thickness`). Where the two surfaces cannot be told apart (no
bone-side or no articular face) there is no local depth: the layers are then
split at half the radial extent of each projection cell, as in reference
mode, and a warning says so.
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from .circle_robust import OUTLIER_RESIDUAL_MM, robust_circle
from .orientation import KneeOrientation
from .projection import (
    Circle,
    KneeCoordinates,
    angular_bins,
    fit_circle,
    polar_coordinates,
    row_indices,
    sagittal_mip_points,
)
from .region_definitions import CENTRAL_SECTOR_DEG, RegionPartition, lateral_side, sector_of_bins
from .regions_reference import split_layers_radially
from .thickness import cell_mean_thickness, normal_thickness

CONDYLE_FIT_MIN_ANGLE_DEG = -45.0
NOTCH_SEARCH_FRACTION = (0.2, 0.8)
NOTCH_MAX_RELATIVE_DEPTH = 0.35
MIN_CONDYLE_FIT_POINTS = 20
DEPTH_TIE_TOLERANCE = 1e-6


def improved_partition(
    coordinates: KneeCoordinates, mask: np.ndarray, ijk_to_ras: np.ndarray, orientation: KneeOrientation
) -> RegionPartition:
    """Assign every cartilage voxel to its improved-mode cell, side, sector and layer."""
    warnings = []
    global_circle = fit_circle(*sagittal_mip_points(coordinates))
    global_angle, _ = polar_coordinates(
        coordinates.anterior_mm, coordinates.superior_mm, global_circle.anterior_mm, global_circle.superior_mm
    )
    rows, row_start = row_indices(coordinates)
    n_rows = int(rows.max()) + 1
    notch = find_notch(coordinates, rows, global_angle)
    if not notch["found"]:
        warnings.append(
            "No intercondylar notch was found in the posterior cartilage; medial/lateral is split at "
            "the mid-point of the cartilage's M-L extent instead. Check that the segmentation covers "
            "both condyles."
        )
    is_lateral = lateral_side(coordinates.lateral_mm, notch["boundary_mm"])
    circles, centre_a, centre_s = _condyle_circles(coordinates, is_lateral, global_angle, global_circle, warnings)
    angle, radius = polar_coordinates(coordinates.anterior_mm, coordinates.superior_mm, centre_a, centre_s)
    cols = angular_bins(angle)
    surface = normal_thickness(mask, ijk_to_ras, orientation, coordinates.indices_kji, centre_a, centre_s)
    layers = "half of the local thickness (normalised depth between bone and articular surfaces)"
    if surface.n_bone_faces == 0 or surface.n_articular_faces == 0:
        layers = "half of the radial extent per (row, 5-degree bin) around each condyle's centre (no local depth)"
        warnings.append("The cartilage surfaces could not be told apart: thickness is unknown, and deep/superficial "
                        "is split at half the radial extent of each projection cell instead of the local depth.")
        is_deep = split_layers_radially(rows, cols, radius, n_rows)
    else:
        is_deep = deep_layer(surface.voxel_depth, rows, cols)
    cell_thickness = cell_mean_thickness(rows, cols, n_rows, surface)
    return RegionPartition(
        coordinates=coordinates,
        rows=rows,
        cols=cols,
        angle_deg=angle,
        radius_mm=radius,
        is_lateral=is_lateral,
        sector=sector_of_bins(cols),
        is_deep=is_deep,
        n_rows=n_rows,
        row_start_mm=row_start,
        ml_boundary_mm=notch["boundary_mm"],
        cell_thickness_mm=cell_thickness,
        nominal_radius_mm=global_circle.radius_mm,
        circles=circles,
        method={
            "ml_split": "intercondylar notch" if notch["found"] else "mid-point of the M-L extent (no notch found)",
            "notch": {key: value for key, value in notch.items() if key != "profile"},
            "sectors": "per-condyle circle; central (%g, %g] deg around each condyle's centre, 0 = inferior"
            % CENTRAL_SECTOR_DEG,
            "layers": layers,
            "thickness": "3D distance from each bone-side surface point to the articular surface (mm)",
            "n_bone_surface_points": surface.n_bone_faces,
            "n_articular_surface_points": surface.n_articular_faces,
        },
        warnings=warnings,
    )


def find_notch(coordinates: KneeCoordinates, rows: np.ndarray, global_angle_deg: np.ndarray) -> Dict[str, object]:
    """Locate the intercondylar notch along M-L.

    Returns a dict with ``found`` (bool), ``boundary_mm`` (lateral coordinate of the
    split), ``run_mm`` (lateral extent of the notch rows) and ``relative_depth``
    (cartilage at the notch / typical condyle row).
    """
    n_rows = int(rows.max()) + 1
    weight_bearing = np.bincount(rows[global_angle_deg > CENTRAL_SECTOR_DEG[0]], minlength=n_rows).astype(float)
    lateral_of_row = float(coordinates.lateral_mm.min()) + coordinates.row_spacing_mm * np.arange(n_rows)
    midpoint = 0.5 * (float(coordinates.lateral_mm.min()) + float(coordinates.lateral_mm.max()))
    fallback = {"found": False, "boundary_mm": midpoint, "run_mm": None, "relative_depth": None}
    low, high = float(lateral_of_row[0]), float(lateral_of_row[-1])
    window = (lateral_of_row >= low + NOTCH_SEARCH_FRACTION[0] * (high - low)) & (
        lateral_of_row <= low + NOTCH_SEARCH_FRACTION[1] * (high - low)
    )
    level = float(np.percentile(weight_bearing, 75))
    if not window.any() or level <= 0:
        return fallback
    candidates = _notch_candidates(np.where(window, weight_bearing, np.inf), np.bincount(rows, minlength=n_rows),
                                   lateral_of_row, midpoint, level)
    deepest = int(np.argmin(candidates))
    threshold = candidates[deepest] + 0.1 * level
    first, last = _run_around(candidates <= threshold, deepest)
    relative_depth = float(candidates[deepest] / level)
    condyle_level = 0.5 * level
    both_sides = weight_bearing[:first].max(initial=0) > condyle_level and weight_bearing[last + 1:].max(initial=0) > condyle_level
    if relative_depth > NOTCH_MAX_RELATIVE_DEPTH or not both_sides:
        fallback["relative_depth"] = relative_depth
        return fallback
    run = (float(lateral_of_row[first]), float(lateral_of_row[last]))
    return {"found": True, "boundary_mm": 0.5 * (run[0] + run[1]), "run_mm": run, "relative_depth": relative_depth}


def _notch_candidates(candidates: np.ndarray, cartilage_per_row: np.ndarray, lateral_of_row: np.ndarray,
                      midpoint: float, level: float) -> np.ndarray:
    """The rows the notch is looked for in, without empty rows that only stand for a missed slice.

    A real notch row usually keeps cartilage elsewhere (the trochlea above it); a row with none at all is
    as deep, and may be the notch (a trochlea the segmentation missed) or a slice missed inside a condyle.
    When a row holding cartilage is also deep enough to be the notch and lies nearer the middle of the plate
    than the deepest empty run, the empty rows are passed over: the notch sits near the middle of the
    plate's medial-lateral extent, a missed slice anywhere.
    """
    holding = np.where(cartilage_per_row > 0, candidates, np.inf)
    deepest_any = int(np.argmin(candidates))
    if cartilage_per_row[deepest_any] > 0 or not np.isfinite(holding).any():
        return candidates
    deepest_holding = int(np.argmin(holding))
    if float(holding[deepest_holding]) / level > NOTCH_MAX_RELATIVE_DEPTH:
        return candidates

    def centre_of(flags: np.ndarray, index: int) -> float:
        first, last = _run_around(flags, index)
        return 0.5 * float(lateral_of_row[first] + lateral_of_row[last])

    empty_run = centre_of(candidates <= candidates[deepest_any], deepest_any)
    holding_run = centre_of(holding <= holding[deepest_holding], deepest_holding)
    return holding if abs(holding_run - midpoint) < abs(empty_run - midpoint) else candidates


def deep_layer(depth: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Deep (True) below half the local thickness.

    Where the plate is an odd number of voxels thick along an image axis the
    middle voxel sits exactly at half depth. Those ties are shared between the
    layers in a checkerboard over the projection cells, so that neither layer
    is systematically favoured (with knee-frame cells the rule is the same for
    left and right knees and for any slice order).
    """
    tie = np.abs(depth - 0.5) <= DEPTH_TIE_TOLERANCE
    return (depth < 0.5 - DEPTH_TIE_TOLERANCE) | (tie & ((rows + cols) % 2 == 0))


def _run_around(flags: np.ndarray, index: int) -> Tuple[int, int]:
    first, last = index, index
    while first > 0 and flags[first - 1]:
        first -= 1
    while last < len(flags) - 1 and flags[last + 1]:
        last += 1
    return first, last


def _condyle_circles(coordinates, is_lateral, global_angle, global_circle: Circle, warnings):
    """Per-condyle circles and each voxel's centre (anterior, superior) in mm."""
    circles = {"global": global_circle}
    centre_a = np.full(coordinates.n_voxels, global_circle.anterior_mm)
    centre_s = np.full(coordinates.n_voxels, global_circle.superior_mm)
    facets = global_angle > CONDYLE_FIT_MIN_ANGLE_DEG
    for name, side in (("lateral", is_lateral), ("medial", ~is_lateral)):
        points = sagittal_mip_points(coordinates, side & facets)
        if points[0].shape[0] < MIN_CONDYLE_FIT_POINTS:
            warnings.append("Too little %s condyle cartilage for its own circle; the global circle is used." % name)
            circles[name] = global_circle
            continue
        circles[name], left_out = robust_circle(*points)
        _note_left_out(warnings, name + " condyle", left_out)
        centre_a[side] = circles[name].anterior_mm
        centre_s[side] = circles[name].superior_mm
    return circles, centre_a, centre_s


def _note_left_out(warnings, which: str, left_out: int) -> None:
    if left_out:
        warnings.append(
            "%d projected cartilage pixels lie more than %g mm from the %s circle and were left out of its fit; "
            "check the segmentation there for false positives." % (left_out, OUTLIER_RESIDUAL_MM, which))
