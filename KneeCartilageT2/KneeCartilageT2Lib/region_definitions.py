"""Names, order, label values and colours of the femoral cartilage regions.

Naming follows the primary paper and its code: layer (D deep, S superficial),
then side (L lateral, M medial), then sector (A anterior, C central,
P posterior), e.g. ``DLA`` = deep lateral anterior. The 27 statistics are
reported in the order of the paper's tables; the 12 smallest subregions get
label values 1..12 in the subregion label map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

from .projection import ANGULAR_BIN_DEG, Circle, KneeCoordinates

CENTRAL_SECTOR_DEG = (-30.0, 30.0)
SECTORS = ("A", "C", "P")
SIDES = ("L", "M")
LAYERS = ("D", "S")

SUBREGION_NAMES = tuple(layer + side + sector for layer in LAYERS for side in SIDES for sector in SECTORS)
COMPARTMENT_NAMES = tuple(side + sector for side in SIDES for sector in SECTORS)
REGION_ORDER = (
    ("all", "D", "S", "L", "M", "DL", "SL", "DM", "SM") + COMPARTMENT_NAMES + SUBREGION_NAMES
)

# (value, name, rgb): lateral greens/blues/purples, medial oranges/reds/browns; deep darker.
SUBREGION_TABLE = (
    (1, "DLA", (0, 140, 70)),
    (2, "DLC", (20, 80, 190)),
    (3, "DLP", (110, 40, 160)),
    (4, "DMA", (215, 135, 0)),
    (5, "DMC", (185, 30, 30)),
    (6, "DMP", (135, 70, 30)),
    (7, "SLA", (120, 210, 140)),
    (8, "SLC", (120, 170, 240)),
    (9, "SLP", (190, 140, 230)),
    (10, "SMA", (250, 205, 110)),
    (11, "SMC", (245, 130, 120)),
    (12, "SMP", (215, 165, 120)),
)
COMPARTMENT_TABLE = (
    (1, "LA", (60, 175, 105)),
    (2, "LC", (70, 125, 215)),
    (3, "LP", (150, 90, 195)),
    (4, "MA", (235, 170, 55)),
    (5, "MC", (215, 80, 75)),
    (6, "MP", (175, 118, 75)),
)

REGION_DESCRIPTIONS = {
    "all": "whole femoral cartilage plate",
    "D": "deep half", "S": "superficial half", "L": "lateral", "M": "medial",
    "A": "anterior", "C": "central", "P": "posterior",
}


def describe_region(name: str) -> str:
    """Plain-words name, e.g. 'DLA' -> 'deep lateral anterior'."""
    if name == "all":
        return REGION_DESCRIPTIONS["all"]
    words = {"D": "deep", "S": "superficial", "L": "lateral", "M": "medial",
             "A": "anterior", "C": "central", "P": "posterior"}
    return " ".join(words[letter] for letter in name)


def region_members(name: str, is_lateral, sector, is_deep) -> np.ndarray:
    """Bool array: which voxels belong to region ``name`` (one of :data:`REGION_ORDER`)."""
    members = np.ones(np.shape(is_lateral), bool)
    if name == "all":
        return members
    for letter in name:
        if letter in LAYERS:
            members &= is_deep if letter == "D" else ~is_deep
        elif letter in SIDES:
            members &= is_lateral if letter == "L" else ~is_lateral
        else:
            members &= sector == SECTORS.index(letter)
    return members


def sector_of_bins(columns: np.ndarray) -> np.ndarray:
    """0 anterior, 1 central, 2 posterior for angular bins (central = (-30, +30] degrees)."""
    upper_edge = -180.0 + ANGULAR_BIN_DEG * (np.asarray(columns) + 1)
    tolerance = 1e-9
    return np.where(
        upper_edge <= CENTRAL_SECTOR_DEG[0] + tolerance, 0, np.where(upper_edge <= CENTRAL_SECTOR_DEG[1] + tolerance, 1, 2)
    )


def subregion_codes(is_lateral, sector, is_deep) -> np.ndarray:
    """Label value 1..12 (see :data:`SUBREGION_TABLE`) of each voxel."""
    return (np.where(is_deep, 0, 6) + np.where(is_lateral, 0, 3) + np.asarray(sector) + 1).astype(np.uint8)


def compartment_codes(is_lateral, sector) -> np.ndarray:
    """Label value 1..6 (see :data:`COMPARTMENT_TABLE`) of each voxel or cell."""
    return (np.where(is_lateral, 0, 3) + np.asarray(sector) + 1).astype(np.uint8)


@dataclass
class RegionPartition:
    """Where every cartilage voxel sits: projection cell, side, sector, layer.

    Attributes:
        coordinates: the voxels in the knee frame (:class:`KneeCoordinates`).
        rows, cols: ``(N,)`` projection row (M-L bin) and angular bin of each voxel.
        angle_deg, radius_mm: ``(N,)`` polar position around the voxel's condyle centre.
        is_lateral, is_deep: ``(N,)`` bool; sector: ``(N,)`` 0 A, 1 C, 2 P.
        n_rows: number of projection rows; row_start_mm: lateral coordinate of row 0 (mm).
        ml_boundary_mm: lateral coordinate (mm) of the medial/lateral boundary.
        cell_thickness_mm: ``(n_rows, 72)`` cartilage thickness per cell (mm), NaN where unknown.
        nominal_radius_mm: radius (mm) that converts column angles to arc length.
        circles: fitted circles by name (``"global"``, and ``"medial"``/``"lateral"`` in improved mode).
        method: how boundaries were found (JSON-friendly), for the report.
        warnings: sentences for the user about anything that fell back or looks doubtful.
    """

    coordinates: KneeCoordinates
    rows: np.ndarray
    cols: np.ndarray
    angle_deg: np.ndarray
    radius_mm: np.ndarray
    is_lateral: np.ndarray
    sector: np.ndarray
    is_deep: np.ndarray
    n_rows: int
    row_start_mm: float
    ml_boundary_mm: float
    cell_thickness_mm: np.ndarray
    nominal_radius_mm: float
    circles: Dict[str, Circle] = field(default_factory=dict)
    method: Dict[str, object] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)

    def row_positions_mm(self) -> np.ndarray:
        """M-L position of each row relative to the M/L boundary (mm, + lateral)."""
        return self.row_start_mm + self.coordinates.row_spacing_mm * np.arange(self.n_rows) - self.ml_boundary_mm


def lateral_side(lateral_mm: np.ndarray, boundary_mm: float, tolerance_mm: float = 1e-3) -> np.ndarray:
    """True for voxels on the lateral side of the boundary; voxels on it count as lateral."""
    return np.asarray(lateral_mm) >= boundary_mm - tolerance_mm
