"""Is this MESE acquisition one the method handles well? Advisory notes, never refusals.

The method (network, T2 fit, read-out) was built for sagittal knee MESE
series like the OAI's (7 echoes 10-70 ms, 0.31 x 0.45 mm pixels, 3 mm slices
every 3.5 mm) and the GE protocol (8 echoes 6.3-50.5 ms, 0.625 mm pixels,
4 mm slice step). An exam outside that range still loads and is analysed;
these notes say where, and why, its results deserve a closer look:

* slice plane: the U-Net segments *sagittal* slices (slice normal along the
  patient's left-right); on coronal or axial slices its output is unreliable;
* echoes: the fit leaves the first echo out (stimulated echoes), so fewer
  than 3 remaining echoes average little noise; echoes ending before ~40 ms
  cover less than one cartilage T2 (30-60 ms) of decay;
* resolution: cartilage is ~2 mm thick, so pixels above 0.8 mm leave it
  two or three pixels across, and slices more than 4.5 mm apart add partial
  volume at every curved edge.
* signal: MESE magnitude images are never negative; a series with many
  negative voxels is a phase, real-part or subtracted series, where no voxel
  decays like T2.
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np

from .exam import MeseExam
from .geometry import direction_from_matrix, spacing_from_matrix

PLANES = ("sagittal", "coronal", "axial")  # slice normal mostly along R-L, A-P, S-I
_PLANE_AXES = ("left-right", "anterior-posterior", "superior-inferior")
MIN_FITTED_ECHOES = 3
MIN_LAST_ECHO_MS = 40.0
MAX_PIXEL_MM = 0.8
MAX_SLICE_STEP_MM = 4.5
MAX_NEGATIVE_FRACTION = 0.01  # of all echo voxels; magnitude images have none


def slice_plane(ijk_to_ras: np.ndarray) -> Tuple[str, float]:
    """(plane name, degrees between the slice normal and that plane's axis).

    The slice normal is the k (slice) axis of ``ijk_to_ras``; the plane is
    named after the RAS axis it lies closest to.
    """
    normal = direction_from_matrix(ijk_to_ras)[:, 2]
    normal = normal / np.linalg.norm(normal)
    dominant = int(np.argmax(np.abs(normal)))
    angle = float(np.degrees(np.arccos(np.clip(abs(normal[dominant]), 0.0, 1.0))))
    return PLANES[dominant], angle


def plane_note(ijk_to_ras: np.ndarray) -> List[str]:
    """A note when the slices are not sagittal (the network's plane); empty otherwise."""
    plane, angle = slice_plane(ijk_to_ras)
    if plane == "sagittal":
        return []
    return ["The slices are %s (slice normal %.0f deg from %s); the segmentation network was trained on sagittal "
            "slices, so its result here is unreliable: check it closely, or draw the cartilage and measure with "
            "that label. If the series is in fact sagittal, its orientation header is wrong (e.g. a stack saved "
            "without geometry): fix the header." % (plane, angle, _PLANE_AXES[PLANES.index(plane)])]


def tilt_note(ijk_to_ras: np.ndarray) -> List[str]:
    """A note when sagittal slices are tilted so far that no image axis is taken for medial-lateral."""
    from .orientation import ML_AXIS_MAX_TILT_DEG, knee_axes

    plane, angle = slice_plane(ijk_to_ras)
    if plane != "sagittal" or knee_axes(ijk_to_ras)[3] is not None:
        return []
    return ["The slices are tilted %.0f deg from true sagittal, more than the %.0f deg up to which the slice axis is "
            "taken as medial-lateral: the regions follow the patient's left-right axis instead, so the medial/lateral "
            "boundary and the thickness can be off; check the region maps." % (angle, ML_AXIS_MAX_TILT_DEG)]


def protocol_notes(exam: MeseExam) -> List[str]:
    """Every advisory note for ``exam`` (see the module docstring); empty for an OAI- or GE-like series."""
    notes = plane_note(exam.ijk_to_ras) + tilt_note(exam.ijk_to_ras)
    times = np.asarray(exam.echo_times_ms, dtype=np.float64)
    fitted = len(times) - 1
    if fitted < MIN_FITTED_ECHOES:
        notes.append("Only %d echo(es) remain for the fit once the first is left out (stimulated echoes); T2 "
                     "will be noisy. A MESE with 6-8 echoes is usual." % fitted)
    if times.max() < MIN_LAST_ECHO_MS:
        notes.append("The last echo is at %.3g ms, less than one cartilage T2 (30-60 ms) of decay; long T2 is "
                     "poorly determined. Echoes up to 50-70 ms are usual." % times.max())
    spacing = spacing_from_matrix(exam.ijk_to_ras)
    if max(spacing[0], spacing[1]) > MAX_PIXEL_MM:
        notes.append("Pixels are %.2g x %.2g mm: cartilage (~2 mm thick) is only a few pixels across, so edge "
                     "voxels dominate its T2 and thickness." % (spacing[1], spacing[0]))
    if spacing[2] > MAX_SLICE_STEP_MM:
        notes.append("Slices are %.2g mm apart: partial volume at every curved cartilage edge is larger than in "
                     "the OAI (3.5 mm) or GE (4 mm) protocols." % spacing[2])
    negative = float(np.mean(np.asarray(exam.echoes) < 0))
    if negative > MAX_NEGATIVE_FRACTION:
        notes.append("%.0f %% of the echo voxels are negative: T2 mapping needs magnitude images, and this looks "
                     "like a phase, real-part or subtracted series. Load the magnitude series of the MESE."
                     % (100 * negative))
    return notes
