"""A small MESE phantom with known femoral cartilage, regions and T2, for the module's self-test.

Built on :mod:`KneeCartilageT2Lib.cartilage_shell` (an analytic cylindrical
cartilage shell whose 12 subregions have known T2, 30-52 ms): inside the
shell the echoes decay as ``1000 exp(-TE/T2)``, around it a fat-like
background (S0 250, T2 120 ms), plus Gaussian noise (SD 4). Coarse voxels
(0.6 x 0.6 x 3 mm) keep it small (about 15 x 90 x 90) so that the self-test
runs in seconds in Slicer and in the headless tests alike. It needs no
network and no download. Its grid is right-handed, as every volume in a
Slicer scene is (see :func:`exam_from_nodes.exam_to_sequence`).
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.geometry import Volume
from KneeCartilageT2Lib.grid_order import right_handed

ECHO_TIMES_MS = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0)
BACKGROUND_S0, BACKGROUND_T2_MS = 250.0, 120.0
CARTILAGE_S0 = 1000.0
NOISE_SD = 4.0


def phantom_spec(t2_shift_ms: float = 0.0):
    """The shell used here: coarse voxels, regional T2 of the shell model plus ``t2_shift_ms``."""
    from KneeCartilageT2Lib.cartilage_shell import DEFAULT_T2_MS, ShellSpec

    return ShellSpec(spacing_mm=(0.6, 0.6, 3.0), region_t2_ms={name: value + t2_shift_ms
                                                                 for name, value in DEFAULT_T2_MS.items()})


def shell_phantom(side: str = "right", t2_shift_ms: float = 0.0, seed: int = 0) -> Tuple[MeseExam, Volume, Dict[str, float]]:
    """``(exam, true_cartilage_mask, true_region_t2_ms)`` of the shell phantom."""
    from KneeCartilageT2Lib.cartilage_shell import build_shell

    spec = phantom_spec(t2_shift_ms)
    mask, t2, _ = build_shell(spec, side=side)
    ijk_to_ras, reversed_slices = right_handed(mask.ijk_to_ras, mask.array.shape)  # as a scene holds it
    if reversed_slices:
        mask = Volume(np.ascontiguousarray(mask.array[::-1]), ijk_to_ras)
        t2 = Volume(np.ascontiguousarray(t2.array[::-1]), ijk_to_ras)
    inside = np.asarray(mask.array) > 0
    times = np.asarray(ECHO_TIMES_MS)
    t2_map = np.where(inside, np.asarray(t2.array), BACKGROUND_T2_MS)
    s0 = np.where(inside, CARTILAGE_S0, BACKGROUND_S0)
    echoes = s0[np.newaxis] * np.exp(-times[:, None, None, None] / t2_map[np.newaxis])
    echoes += np.random.default_rng(seed).normal(0.0, NOISE_SD, echoes.shape)
    exam = MeseExam(np.abs(echoes).astype(np.float32), times, mask.ijk_to_ras, side,
                    {"source": "KneeCartilageT2 shell phantom", "patient_id": "", "study_date": ""})
    return exam, mask, dict(spec.region_t2_ms)
