"""Tissue classes of the digital knee phantom and their MR properties at 3 T.

Class ids 1-10 are those of the source label maps (so a phantom's
``tissues.nrrd`` reads like the anatomy it came from); 11 and up are tissues
the phantom derives itself (cortex, body outline, fluid, fat).

Relaxation and proton-density values (3 T, approximate means from the
literature; per-case values are drawn uniformly within ``t2_spread_ms`` and
``pd_spread`` so a model never sees one fixed contrast):

============================  =====  =======  =============  ==============================================
tissue                        PD     T1 (ms)  T2 (ms)        source
============================  =====  =======  =============  ==============================================
femoral / tibial / patellar   0.65   1240     35 deep ->     Gold et al. AJR 2004;183:343 (T1, mean T2 ~37);
cartilage                                     50 superficial Dardzinski et al. Radiology 1997;205:546 and
                                                             Smith et al. JMRI 2001;14:50 (depth and
                                                             regional variation of T2; water 70-80 %)
meniscus                      0.35   1000     12             Rauscher et al. Radiology 2008;246:528 (T2 ~10-15)
bone marrow (fatty)           0.90   370      100            Gold 2004 (T1); apparent MESE T2 of fat is long
                                                             (J-coupling suppressed by the echo train,
                                                             Henkelman et al. MRM 1992;24:268); the GE exam
                                                             shipped with this project reads about 120 ms
cortical / subchondral bone   0.03   1000     1              Du & Bydder, NMR Biomed 2013 (T2* < 1 ms)
muscle                        0.55   1420     32             Gold 2004 (T2 ~ 32)
subcutaneous / articular fat  0.95   380      120            Gold 2004 (T1); MESE apparent T2 as marrow
joint fluid                   1.00   3620     700            Gold 2004 (synovial fluid T1 3620, T2 ~ 770)
tendon / ligament             0.15   1000     3              Du et al. (ultrashort T2 of tendon, a few ms)
air                           0      -        -              no signal
============================  =====  =======  =============  ==============================================

PD of cartilage and muscle are set below their water content so that the
contrast of the real GE exam shipped with this project is matched (muscle
about 0.4 and cartilage about 0.5 of marrow fat at TE 12.6 ms).

The signal of a voxel of one tissue at echo time TE is
``PD * (1 - exp(-TR / T1)) * exp(-TE / T2)`` (a spin echo with a long TR; the
first-echo stimulated-echo excess of real MESE trains is not modelled, so a
noiseless phantom decays exactly mono-exponentially).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np

AIR = 0
FEMORAL_CARTILAGE = 1
MEDIAL_TIBIAL_CARTILAGE = 2
LATERAL_TIBIAL_CARTILAGE = 3
PATELLAR_CARTILAGE = 4
FEMUR = 5
TIBIA = 6
PATELLA = 7
FIBULA = 8
LATERAL_MENISCUS = 9
MEDIAL_MENISCUS = 10
CORTICAL_BONE = 11
MUSCLE = 12
SUBCUTANEOUS_FAT = 13
JOINT_FLUID = 14
ARTICULAR_FAT = 15
TENDON = 16
N_TISSUES = 17

CARTILAGES = (FEMORAL_CARTILAGE, MEDIAL_TIBIAL_CARTILAGE, LATERAL_TIBIAL_CARTILAGE, PATELLAR_CARTILAGE)
BONES = (FEMUR, TIBIA, PATELLA, FIBULA)
MENISCI = (LATERAL_MENISCUS, MEDIAL_MENISCUS)

#: Bone under each cartilage plate: depth in the cartilage is measured from it.
CARTILAGE_BONE = {
    FEMORAL_CARTILAGE: FEMUR,
    MEDIAL_TIBIAL_CARTILAGE: TIBIA,
    LATERAL_TIBIAL_CARTILAGE: TIBIA,
    PATELLAR_CARTILAGE: PATELLA,
}

TISSUE_NAMES = {
    AIR: "air",
    FEMORAL_CARTILAGE: "femoral_cartilage",
    MEDIAL_TIBIAL_CARTILAGE: "medial_tibial_cartilage",
    LATERAL_TIBIAL_CARTILAGE: "lateral_tibial_cartilage",
    PATELLAR_CARTILAGE: "patellar_cartilage",
    FEMUR: "femur",
    TIBIA: "tibia",
    PATELLA: "patella",
    FIBULA: "fibula",
    LATERAL_MENISCUS: "lateral_meniscus",
    MEDIAL_MENISCUS: "medial_meniscus",
    CORTICAL_BONE: "cortical_bone",
    MUSCLE: "muscle",
    SUBCUTANEOUS_FAT: "subcutaneous_fat",
    JOINT_FLUID: "joint_fluid",
    ARTICULAR_FAT: "articular_fat",
    TENDON: "tendon",
}


@dataclass(frozen=True)
class TissueProperties:
    """Mean MR properties of one tissue at 3 T and the per-case spread drawn around them.

    Attributes:
        pd: relative proton density (free water = 1).
        t1_ms: longitudinal relaxation time (ms).
        t2_ms: transverse relaxation time (ms); for cartilage the deep-zone value.
        t2_spread_ms: per-case T2 drawn uniformly in ``t2_ms +- t2_spread_ms``.
        pd_spread: per-case PD drawn uniformly in ``pd * (1 +- pd_spread)``.
    """

    pd: float
    t1_ms: float
    t2_ms: float
    t2_spread_ms: float = 0.0
    pd_spread: float = 0.0


_CARTILAGE = TissueProperties(pd=0.65, t1_ms=1240.0, t2_ms=35.0, t2_spread_ms=3.0, pd_spread=0.08)
_MARROW = TissueProperties(pd=0.90, t1_ms=370.0, t2_ms=100.0, t2_spread_ms=20.0, pd_spread=0.08)
_MENISCUS = TissueProperties(pd=0.35, t1_ms=1000.0, t2_ms=12.0, t2_spread_ms=3.0, pd_spread=0.2)

TISSUE_PROPERTIES: Dict[int, TissueProperties] = {
    AIR: TissueProperties(pd=0.0, t1_ms=1000.0, t2_ms=1.0),
    FEMORAL_CARTILAGE: _CARTILAGE,
    MEDIAL_TIBIAL_CARTILAGE: _CARTILAGE,
    LATERAL_TIBIAL_CARTILAGE: _CARTILAGE,
    PATELLAR_CARTILAGE: _CARTILAGE,
    FEMUR: _MARROW,
    TIBIA: _MARROW,
    PATELLA: _MARROW,
    FIBULA: _MARROW,
    LATERAL_MENISCUS: _MENISCUS,
    MEDIAL_MENISCUS: _MENISCUS,
    CORTICAL_BONE: TissueProperties(pd=0.03, t1_ms=1000.0, t2_ms=1.0),
    MUSCLE: TissueProperties(pd=0.55, t1_ms=1420.0, t2_ms=32.0, t2_spread_ms=3.0, pd_spread=0.1),
    SUBCUTANEOUS_FAT: TissueProperties(pd=0.95, t1_ms=380.0, t2_ms=120.0, t2_spread_ms=20.0, pd_spread=0.08),
    JOINT_FLUID: TissueProperties(pd=1.00, t1_ms=3620.0, t2_ms=700.0, t2_spread_ms=150.0, pd_spread=0.05),
    ARTICULAR_FAT: TissueProperties(pd=0.90, t1_ms=380.0, t2_ms=110.0, t2_spread_ms=20.0, pd_spread=0.1),
    TENDON: TissueProperties(pd=0.15, t1_ms=1000.0, t2_ms=3.0, t2_spread_ms=1.0, pd_spread=0.3),
}

#: Relative proton-density texture (standard deviation of the PD modulation) per tissue.
TEXTURE_AMPLITUDE = {FEMUR: 0.06, TIBIA: 0.06, PATELLA: 0.06, FIBULA: 0.06, MUSCLE: 0.06,
                     SUBCUTANEOUS_FAT: 0.03, ARTICULAR_FAT: 0.05, MEDIAL_MENISCUS: 0.1, LATERAL_MENISCUS: 0.1,
                     FEMORAL_CARTILAGE: 0.03, MEDIAL_TIBIAL_CARTILAGE: 0.03, LATERAL_TIBIAL_CARTILAGE: 0.03,
                     PATELLAR_CARTILAGE: 0.03}


def texture_amplitudes() -> np.ndarray:
    """Lookup table indexed by tissue id of :data:`TEXTURE_AMPLITUDE` (0 for the others)."""
    table = np.zeros(N_TISSUES, dtype=np.float32)
    for tissue, amplitude in TEXTURE_AMPLITUDE.items():
        table[tissue] = amplitude
    return table


#: Cartilage T2 profile: deep zone (at the bone) to superficial zone (articular surface), ms.
CARTILAGE_T2_DEEP_MS = 35.0
CARTILAGE_T2_SUPERFICIAL_MS = 50.0


def draw_case_properties(rng: np.random.Generator) -> Dict[int, Dict[str, float]]:
    """Per-case PD, T1, T2 of every tissue, drawn around :data:`TISSUE_PROPERTIES`.

    Returns ``{tissue_id: {"pd", "t1_ms", "t2_ms"}}``. Cartilage entries carry
    the deep-zone T2; the depth profile is applied by the simulator.
    """
    drawn = {}
    for tissue in range(N_TISSUES):
        properties = TISSUE_PROPERTIES[tissue]
        t2 = properties.t2_ms + rng.uniform(-1.0, 1.0) * properties.t2_spread_ms
        pd = properties.pd * (1.0 + rng.uniform(-1.0, 1.0) * properties.pd_spread)
        drawn[tissue] = {"pd": float(pd), "t1_ms": float(properties.t1_ms), "t2_ms": float(max(t2, 0.5))}
    return drawn


def effective_pd_and_t2(properties: Dict[int, Dict[str, float]], tr_ms: float):
    """Lookup tables indexed by tissue id: T1-weighted PD ``PD (1 - exp(-TR/T1))`` and T2 (ms)."""
    pd_eff = np.zeros(N_TISSUES, dtype=np.float32)
    t2 = np.ones(N_TISSUES, dtype=np.float32)
    for tissue, values in properties.items():
        pd_eff[tissue] = values["pd"] * (1.0 - np.exp(-float(tr_ms) / values["t1_ms"]))
        t2[tissue] = values["t2_ms"]
    return pd_eff, t2
