"""Estimating the knee side (right/left) from the femoral cartilage shape alone.

Used only when neither the data (DICOM Laterality) nor the user says which
knee it is. The cartilage is split at the intercondylar notch into the half
toward the patient's right and the half toward the left, and four
anatomical asymmetries vote on which half is lateral:

1. the lateral trochlear facet reaches higher (more superior) than the medial;
2. the lateral cartilage wraps further anteriorly-superiorly round the
   trochlea (smaller most-anterior angle);
3. the medial condyle reaches lower (more inferior) than the lateral in the
   usual near-extended knee position;
4. the lateral half carries more cartilage in total (larger lateral trochlear
   facet).

Each cue is scaled by a typical difference (mm, degrees or fraction) and
squashed with tanh; the mean is the shape score (+ means the right-hand half is
lateral, i.e. a right knee).

When the exam's geometry is the scanner's patient coordinates (DICOM), where
the knee lies is a fifth, physical cue with the weight of the four together:
the patient lies on the table's centre line, which passes through the
isocentre, and a knee sits 80-100 mm to its own side of the body's midline.
A cartilage centre at least ``POSITION_MIN_OFFSET_MM`` (40 mm) to the
patient's right of the isocentre votes right, as far to the left votes left;
nearer than that (the patient moved over to bring the knee to the centre of
the magnet) it abstains and the shape score stands alone. A right knee 40 mm
to the patient's left of the isocentre would need the patient lying some
12 cm off the table's centre toward the other knee. The real knees at hand
all agree: the femoral cartilage of the GE exam's right knee lies 87 mm to
the right (bootstrap model's segmentation), that of the two right-knee label
maps (scanner coordinates kept) 70 and 74 mm. Score = the mean of the shape score and the
position vote when it votes. Confidence = 0.5 + 0.4 |score| (at most 0.9).

Weakness, stated plainly: the shape cues are anatomical tendencies, checked
here on only two real right knees (and their mirror images), where all four
agreed; the position cue assumes a patient lying on the table's centre line.
Trochlear dysplasia, osteophytes, partial segmentations, strong flexion or
varus/valgus can flip single cues. The estimate is reported with its source
("estimated") and confidence; give the side whenever it is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict

import numpy as np

from .geometry import voxel_centers_ras
from .orientation import knee_orientation
from .projection import fit_circle, knee_coordinates, polar_coordinates, row_indices, sagittal_mip_points
from .regions_improved import find_notch

CUE_SCALES = {"trochlea_top_mm": 2.0, "anterior_reach_deg": 5.0, "lowest_point_mm": 2.0, "volume_fraction": 0.05}
TROCHLEA_ANGLE_DEG = -90.0
POSITION_MIN_OFFSET_MM = 40.0  # |cartilage centre R| (mm from the isocentre) from which the position votes


@dataclass
class SideEstimate:
    """Side estimated from the cartilage: ``laterality``, ``confidence`` (0.5-0.9), ``score`` (-1..1)."""

    laterality: str
    confidence: float
    score: float
    cues: Dict[str, float] = field(default_factory=dict)
    note: str = ""


def estimate_side(mask: np.ndarray, ijk_to_ras: np.ndarray, scanner_frame: bool = False) -> SideEstimate:
    """Guess right or left from the shape of a femoral cartilage mask (``[k, j, i]``).

    ``scanner_frame``: the geometry is the scanner's patient coordinates (mm from the
    isocentre, e.g. :attr:`exam.MeseExam.in_scanner_frame`), so the knee's position votes too.
    """
    provisional = knee_orientation(ijk_to_ras, "right", side_source="estimated")
    coordinates = knee_coordinates(mask, ijk_to_ras, provisional)
    circle = fit_circle(*sagittal_mip_points(coordinates))
    angle, _ = polar_coordinates(coordinates.anterior_mm, coordinates.superior_mm, circle.anterior_mm, circle.superior_mm)
    rows, _ = row_indices(coordinates)
    boundary = find_notch(coordinates, rows, angle)["boundary_mm"]
    toward_right = coordinates.lateral_mm >= boundary
    right = _half_features(coordinates, angle, toward_right)
    left = _half_features(coordinates, angle, ~toward_right)
    total = right["n_voxels"] + left["n_voxels"]
    cues = {
        "trochlea_top_mm": right["trochlea_top_mm"] - left["trochlea_top_mm"],
        "anterior_reach_deg": left["anterior_reach_deg"] - right["anterior_reach_deg"],
        "lowest_point_mm": right["lowest_point_mm"] - left["lowest_point_mm"],
        "volume_fraction": (right["n_voxels"] - left["n_voxels"]) / max(total, 1),
    }
    if min(right["n_voxels"], left["n_voxels"]) == 0:  # one half only (a plate on one or two slices): no comparison
        cues = {name: float("nan") for name in cues}
    votes = [np.tanh(value / CUE_SCALES[name]) for name, value in cues.items() if np.isfinite(value)]
    shape_score = float(np.mean(votes)) if votes else 0.0
    score, position_text = shape_score, ""
    if scanner_frame:
        offset = cartilage_centre_right_mm(mask, ijk_to_ras)
        cues["centre_right_of_isocentre_mm"] = offset
        position_vote = position_side_vote(offset)
        if position_vote != 0:
            score = 0.5 * (shape_score + position_vote)
        position_text = _position_text(offset, position_vote)
    side = "right" if score >= 0 else "left"
    confidence = 0.5 + 0.4 * min(abs(score), 1.0)
    note = (
        "anatomical cues (lateral trochlear facet higher and reaching further anteriorly, medial condyle "
        "lower, lateral half larger) point to a %s knee, score %+.2f; this rule was checked on two knees only"
        % ("right" if shape_score >= 0 else "left", shape_score)
    )
    if scanner_frame:
        note += "%s; together: %s, score %+.2f." % (position_text, side, score)
    else:
        note += "."
    return SideEstimate(side, confidence, score, {name: round(float(value), 3) for name, value in cues.items()}, note)


def cartilage_centre_right_mm(mask: np.ndarray, ijk_to_ras: np.ndarray) -> float:
    """R coordinate (mm, RAS: + toward the patient's right) of the mask's centre of mass."""
    centre_kji = np.argwhere(mask).mean(axis=0, keepdims=True)
    return float(voxel_centers_ras(ijk_to_ras, centre_kji)[0, 0])


def position_side_vote(centre_right_mm: float) -> float:
    """+1 (right knee), -1 (left) or 0 from the cartilage centre's R coordinate (mm from the isocentre)."""
    if centre_right_mm >= POSITION_MIN_OFFSET_MM:
        return 1.0
    if centre_right_mm <= -POSITION_MIN_OFFSET_MM:
        return -1.0
    return 0.0


def _position_text(offset_mm: float, vote: float) -> str:
    where = "%.0f mm to the patient's %s of the scanner's isocentre" % (abs(offset_mm), "right" if offset_mm >= 0 else "left")
    if vote == 0:
        return "; the knee lies %s, too near the centre to tell the side" % where
    return "; the knee lies %s, as a %s knee does" % (where, "right" if vote > 0 else "left")


def _half_features(coordinates, angle: np.ndarray, half: np.ndarray) -> Dict[str, float]:
    """Shape measures of one M-L half of the cartilage (knee frame, mm and degrees)."""
    if not half.any():
        return {"n_voxels": 0, "trochlea_top_mm": np.nan, "anterior_reach_deg": np.nan, "lowest_point_mm": np.nan}
    trochlea = half & (angle < TROCHLEA_ANGLE_DEG)
    return {
        "n_voxels": int(half.sum()),
        "trochlea_top_mm": float(np.percentile(coordinates.superior_mm[trochlea], 99)) if trochlea.any() else np.nan,
        "anterior_reach_deg": float(np.percentile(angle[half], 1)),
        "lowest_point_mm": float(np.percentile(coordinates.superior_mm[half], 1)),
    }
