"""Real sagittal MESE acquisition protocols the phantom simulates, and their slice grids.

* ``oai``: the Osteoarthritis Initiative T2 map (Siemens Trio 3 T; Thomas et
  al. Table 1): 7 echoes TE 10..70 ms, TR 2700 ms, 384 (frequency, columns,
  0.3125 mm) x 269 (phase, rows, 0.446 mm) over a 120 mm field of view,
  21 slices of 3 mm with a 0.5 mm gap (3.5 mm slice spacing).
* ``ge``: the GE Discovery MR750 exam shipped as sample data: 8 echoes TE
  6.312..50.496 ms, TR 2450 ms, 256 x 256 at 0.625 mm, 24 slices of 3 mm at
  4 mm spacing.

Grid axes follow the stored orientation of both real series: columns (i)
run toward posterior, rows (j) toward inferior, slices (k) along the knee's
left-right axis; the simulated grid is built for a right knee (k toward the
patient's right = lateral) and mirrored for a left knee by
:func:`mirror_to_left`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, Tuple

import numpy as np

from .errors import InputError
from .geometry import make_ijk_to_ras


@dataclass(frozen=True)
class MeseProtocol:
    """A sagittal 2D multi-echo spin-echo protocol.

    Attributes:
        name: short key (``oai`` / ``ge``).
        echo_times_ms: echo times (ms), increasing.
        tr_ms: repetition time (ms).
        columns, rows: in-plane matrix (i = col, j = row).
        col_spacing_mm, row_spacing_mm: in-plane pixel size (mm).
        n_slices: number of slices.
        slice_thickness_mm: excited slab thickness (mm).
        slice_spacing_mm: centre-to-centre slice distance (mm, thickness + gap).
        description: what the protocol is.
    """

    name: str
    echo_times_ms: Tuple[float, ...]
    tr_ms: float
    columns: int
    rows: int
    col_spacing_mm: float
    row_spacing_mm: float
    n_slices: int
    slice_thickness_mm: float
    slice_spacing_mm: float
    description: str

    @property
    def shape_kji(self) -> Tuple[int, int, int]:
        """(slice, row, col) of one echo volume."""
        return (self.n_slices, self.rows, self.columns)

    @property
    def spacing_ijk(self) -> Tuple[float, float, float]:
        return (self.col_spacing_mm, self.row_spacing_mm, self.slice_spacing_mm)

    def to_dict(self) -> Dict:
        values = asdict(self)
        values["echo_times_ms"] = list(self.echo_times_ms)
        return values


PROTOCOLS: Dict[str, MeseProtocol] = {
    "oai": MeseProtocol(
        name="oai",
        echo_times_ms=(10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0),
        tr_ms=2700.0,
        columns=384, rows=269, col_spacing_mm=0.3125, row_spacing_mm=0.446,
        n_slices=21, slice_thickness_mm=3.0, slice_spacing_mm=3.5,
        description="OAI sagittal MESE T2 map (Siemens Trio 3 T)",
    ),
    "ge": MeseProtocol(
        name="ge",
        echo_times_ms=tuple(round(6.312 * n, 3) for n in range(1, 9)),
        tr_ms=2450.0,
        columns=256, rows=256, col_spacing_mm=0.625, row_spacing_mm=0.625,
        n_slices=24, slice_thickness_mm=3.0, slice_spacing_mm=4.0,
        description="GE Discovery MR750 3 T sagittal MESE T2 map",
    ),
}


def get_protocol(name: str) -> MeseProtocol:
    """The protocol called ``name``; :class:`InputError` listing the choices otherwise."""
    key = str(name).strip().lower()
    if key not in PROTOCOLS:
        raise InputError("Unknown phantom protocol %r: choose one of %s." % (name, ", ".join(sorted(PROTOCOLS))))
    return PROTOCOLS[key]


def orthonormal_axes(directions: np.ndarray) -> np.ndarray:
    """The rotation matrix nearest to 3 direction columns (polar decomposition), right-handed."""
    u, _, vt = np.linalg.svd(np.asarray(directions, dtype=np.float64))
    rotation = u @ vt
    if np.linalg.det(rotation) < 0:
        rotation[:, 2] *= -1.0
    return rotation


def slice_grid(protocol: MeseProtocol, axes_ras: np.ndarray, centre_ras) -> np.ndarray:
    """``ijk_to_ras`` of the protocol's grid with unit axis columns ``axes_ras``, centred on ``centre_ras``."""
    spacing = np.asarray(protocol.spacing_ijk, dtype=np.float64)
    half_extent = (np.array([protocol.columns, protocol.rows, protocol.n_slices], dtype=np.float64) - 1.0) / 2.0
    origin = np.asarray(centre_ras, dtype=np.float64) - axes_ras @ (spacing * half_extent)
    return make_ijk_to_ras(spacing, axes_ras, origin)


MIRROR_RAS = np.diag([-1.0, 1.0, 1.0, 1.0])


def mirror_to_left(ijk_to_ras: np.ndarray, n_slices: int) -> np.ndarray:
    """Geometry of the left-knee mirror image of a right-knee grid whose slice order is reversed.

    The array of the mirror image is ``array[::-1]`` (slices reversed); with
    this matrix its voxel (i, j, k) sits at the reflection (R -> -R) of the
    right-knee voxel (i, j, n - 1 - k). The result stays right-handed.
    """
    flip_slices = np.eye(4)
    flip_slices[2, 2] = -1.0
    flip_slices[2, 3] = float(n_slices - 1)
    return MIRROR_RAS @ np.asarray(ijk_to_ras, dtype=np.float64) @ flip_slices
