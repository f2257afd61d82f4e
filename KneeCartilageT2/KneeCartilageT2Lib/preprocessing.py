"""Turn a MESE exam into the U-Net's input slices, and the output back onto the exam grid.

Axis order: volumes are ``(slice, row, col)`` = ``[k, j, i]``; network batches are
``(slice, H, W)`` float32 (the caller adds the channel axis). Pixel sizes are
``(row, col)`` in mm, i.e. ``(spacing_ijk[1], spacing_ijk[0])``.

Steps, driven by the model's ``preprocessing`` metadata (:data:`REFERENCE_PREPROCESSING`):

1. Echo choice: the echo whose TE is nearest ``target_te_ms`` (20 ms), by
   absolute difference (the public reference demo forgets the absolute value
   and always takes the first echo).
2. In-plane orientation (``canonical_orientation``): when the geometry is
   known, each slice is flipped/transposed so that columns run anterior to
   posterior and rows superior to inferior, as in the OAI training data. A
   standard sagittal series is left untouched; the inverse is undone exactly.
3. Per-slice quartile normalisation on the original pixels (reference arithmetic).
4. Geometry, one of two modes:
   * ``"resize"`` (reference): each slice is stretched to ``size`` (384 x 384)
     with anti-aliasing; pixel centres stay aligned.
   * ``"spacing"`` (our models): each slice is resampled to ``pixel_spacing_mm``
     (row, col) and centre padded/cropped to ``size``, so that a 0.3125 mm OAI
     pixel and a 0.625 mm GE pixel show anatomy at the same scale. Padding uses
     the slice's darkest normalised value (air).
   Both are one affine map per axis, linear interpolation, Gaussian
   anti-aliasing (sigma = (factor - 1) / 2 pixels) whenever a side is
   downsampled; :func:`from_network_grid` applies the exact inverse map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from .errors import InputError
from .geometry import orient_inplane, sagittal_display_orientation, spacing_from_matrix, unorient_inplane

REFERENCE_PREPROCESSING: Dict[str, Any] = {
    "mode": "resize",
    "size": [384, 384],
    "target_te_ms": 20.0,
    "normalization": "quartile",
    "canonical_orientation": True,
}
GEOMETRY_MODES = ("resize", "spacing")


def select_echo_index(echo_times_ms: Sequence[float], target_ms: float = 20.0) -> int:
    """Index of the echo whose TE (ms) is nearest ``target_ms``; ties go to the earlier echo."""
    times = np.asarray(echo_times_ms, dtype=np.float64).reshape(-1)
    if times.size == 0:
        raise InputError("No echo times given: the exam needs at least one echo with a known TE (ms).")
    return int(np.argmin(np.abs(times - float(target_ms))))


def normalize_slice_quartiles(image2d: np.ndarray) -> np.ndarray:
    """Reference quartile normalisation of one slice, float32.

    ``y = 2 (x - P25) / (P75 - P25) - 1``, then clipped to ``[P3(y), P97(y)]``
    (numpy's linear percentiles, as the reference code; its median-centring
    and P75 scaling cancel out of this expression exactly). When P75 == P25
    (a blank or nearly constant slice) the full range max - min replaces the
    interquartile range; a constant slice becomes all -1.
    """
    values = np.asarray(image2d, dtype=np.float64)
    p25, p75 = np.percentile(values, [25.0, 75.0])
    spread = p75 - p25
    if not spread > 0:
        spread = float(values.max() - values.min())
    if not spread > 0:
        return np.full(values.shape, -1.0, dtype=np.float32)
    scaled = 2.0 * (values - p25) / spread - 1.0
    low, high = np.percentile(scaled, [3.0, 97.0])
    return np.clip(scaled, low, high).astype(np.float32)


def normalize_volume_quartiles(volume_kji: np.ndarray) -> np.ndarray:
    """:func:`normalize_slice_quartiles` applied to every slice of a (slice, row, col) volume."""
    volume = np.asarray(volume_kji)
    return np.stack([normalize_slice_quartiles(plane) for plane in volume]).astype(np.float32)


@dataclass
class GridContext:
    """What :func:`from_network_grid` needs to undo :func:`to_network_grid`.

    Attributes:
        original_shape: (slice, row, col) of the exam grid.
        oriented_shape: (slice, row, col) after the in-plane reorientation.
        network_shape: (H, W) of the network grid.
        scale: (row, col) original pixels per network pixel.
        transpose: whether rows and columns were swapped for orientation.
        flip_rows, flip_cols: whether the (oriented) rows/columns were reversed.
        mode: "resize" or "spacing".
        echo_index: the echo that was used (set by :func:`preprocess_exam`).
    """

    original_shape: Tuple[int, int, int]
    oriented_shape: Tuple[int, int, int]
    network_shape: Tuple[int, int]
    scale: Tuple[float, float]
    transpose: bool = False
    flip_rows: bool = False
    flip_cols: bool = False
    mode: str = "resize"
    echo_index: Optional[int] = None
    notes: list = field(default_factory=list)


def canonical_inplane_orientation(ijk_to_ras: Optional[np.ndarray]) -> Tuple[bool, bool, bool]:
    """(transpose, flip_rows, flip_cols) that make columns run posterior and rows inferior.

    See :func:`geometry.sagittal_display_orientation`; no change when the
    geometry is unknown or the slices are not sagittal.
    """
    return sagittal_display_orientation(ijk_to_ras)


def _orient(volume: np.ndarray, transpose: bool, flip_rows: bool, flip_cols: bool) -> np.ndarray:
    return orient_inplane(volume, (transpose, flip_rows, flip_cols))


def _unorient(volume: np.ndarray, context: GridContext) -> np.ndarray:
    return unorient_inplane(volume, (context.transpose, context.flip_rows, context.flip_cols))


def _resample_planes(volume: np.ndarray, out_shape: Tuple[int, int], scale: Tuple[float, float], cval: float) -> np.ndarray:
    """Sample each (row, col) plane at ``in = c_in + (out - c_out) * scale`` (linear, anti-aliased)."""
    from scipy import ndimage

    volume = np.asarray(volume, dtype=np.float32)
    sigma = [0.0] + [max(0.0, (factor - 1.0) / 2.0) for factor in scale]
    if max(sigma) > 0:
        volume = ndimage.gaussian_filter(volume, sigma=sigma, mode="nearest", truncate=3.0)
    in_centre = (np.asarray(volume.shape[1:], dtype=np.float64) - 1.0) / 2.0
    out_centre = (np.asarray(out_shape, dtype=np.float64) - 1.0) / 2.0
    matrix = np.array([1.0, scale[0], scale[1]])
    offset = np.concatenate([[0.0], in_centre - out_centre * np.asarray(scale)])
    return ndimage.affine_transform(
        volume, matrix, offset=offset, output_shape=(volume.shape[0],) + tuple(out_shape),
        order=1, mode="constant", cval=cval, prefilter=False,
    ).astype(np.float32)


def _network_size(params: Dict[str, Any]) -> Tuple[int, int]:
    size = params.get("size", REFERENCE_PREPROCESSING["size"])
    if np.ndim(size) == 0:
        size = [size, size]
    return int(size[0]), int(size[1])


def _scale_for(mode: str, oriented_rc: Tuple[int, int], spacing_rc: Tuple[float, float], size, params) -> Tuple[float, float]:
    if mode == "resize":
        return oriented_rc[0] / size[0], oriented_rc[1] / size[1]
    target = params.get("pixel_spacing_mm")
    if target is None:
        raise InputError("The model's preprocessing mode 'spacing' needs 'pixel_spacing_mm' in its metadata.")
    if np.ndim(target) == 0:
        target = [target, target]
    if min(spacing_rc) <= 0:
        raise InputError("The exam's pixel spacing %s mm is not positive; the header is corrupt." % (spacing_rc,))
    return float(target[0]) / spacing_rc[0], float(target[1]) / spacing_rc[1]


def to_network_grid(
    volume_kji: np.ndarray,
    spacing_row_col_mm: Sequence[float],
    params: Optional[Dict[str, Any]] = None,
    ijk_to_ras: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, GridContext]:
    """Normalise and resample a (slice, row, col) echo volume to the network grid.

    Returns ``(batch, context)``: ``batch`` is float32 ``(slice, H, W)``;
    ``context`` lets :func:`from_network_grid` map network outputs back.
    ``ijk_to_ras`` (optional) enables the canonical in-plane orientation.
    """
    params = dict(REFERENCE_PREPROCESSING if params is None else params)
    mode = params.get("mode", "resize")
    if mode not in GEOMETRY_MODES:
        raise InputError("Unknown preprocessing mode %r in the model metadata; expected one of %s." % (mode, GEOMETRY_MODES))
    volume = np.asarray(volume_kji, dtype=np.float32)
    if volume.ndim != 3:
        raise InputError("Expected a (slice, row, col) volume, got shape %s." % (volume.shape,))
    orientation = canonical_inplane_orientation(ijk_to_ras) if params.get("canonical_orientation", True) else (False,) * 3
    spacing_rc = (float(spacing_row_col_mm[0]), float(spacing_row_col_mm[1]))
    if orientation[0]:
        spacing_rc = (spacing_rc[1], spacing_rc[0])
    oriented = _orient(volume, *orientation)
    if params.get("normalization", "quartile") == "quartile":
        oriented = normalize_volume_quartiles(oriented)
    size = _network_size(params)
    scale = _scale_for(mode, oriented.shape[1:], spacing_rc, size, params)
    floor = oriented.reshape(oriented.shape[0], -1).min(axis=1)[:, np.newaxis, np.newaxis]
    batch = _resample_planes(oriented - floor, size, scale, 0.0) + floor
    context = GridContext(
        original_shape=tuple(int(n) for n in volume.shape),
        oriented_shape=tuple(int(n) for n in oriented.shape),
        network_shape=size,
        scale=(float(scale[0]), float(scale[1])),
        transpose=orientation[0], flip_rows=orientation[1], flip_cols=orientation[2],
        mode=mode,
    )
    return batch.astype(np.float32), context


def from_network_grid(prob_kHW: np.ndarray, context: GridContext, fill_value: float = 0.0) -> np.ndarray:
    """Map network-grid maps ``(slice, H, W)`` back to the exam grid ``(slice, row, col)``, float32.

    The inverse of :func:`to_network_grid`'s affine map, linear interpolation,
    anti-aliased when the exam grid is coarser than the network grid. Exam
    pixels outside the network's field of view get ``fill_value``.
    """
    maps = np.asarray(prob_kHW, dtype=np.float32)
    if maps.shape != (context.original_shape[0],) + tuple(context.network_shape):
        raise ValueError("network output %s does not match the context %s" % (maps.shape, context.network_shape))
    inverse_scale = (1.0 / context.scale[0], 1.0 / context.scale[1])
    oriented = _resample_planes(maps - fill_value, tuple(context.oriented_shape[1:]), inverse_scale, 0.0) + fill_value
    return _unorient(oriented, context).astype(np.float32)


def preprocess_exam(
    echoes: np.ndarray,
    echo_times_ms: Sequence[float],
    spacing_row_col_mm: Sequence[float],
    params: Optional[Dict[str, Any]] = None,
    ijk_to_ras: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, GridContext]:
    """Pick the echo nearest the model's target TE and map it to the network grid.

    ``echoes`` is ``(echo, slice, row, col)``; returns as :func:`to_network_grid`,
    with ``context.echo_index`` set.
    """
    params = dict(REFERENCE_PREPROCESSING if params is None else params)
    echoes = np.asarray(echoes)
    if echoes.ndim != 4:
        raise InputError("Expected echoes shaped (echo, slice, row, col), got %s." % (echoes.shape,))
    index = select_echo_index(echo_times_ms, float(params.get("target_te_ms", 20.0)))
    batch, context = to_network_grid(echoes[index], spacing_row_col_mm, params, ijk_to_ras)
    context.echo_index = index
    return batch, context


def spacing_row_col(ijk_to_ras: np.ndarray) -> Tuple[float, float]:
    """(row, col) pixel size in mm from an ``ijk_to_ras`` matrix."""
    spacing_ijk = spacing_from_matrix(ijk_to_ras)
    return float(spacing_ijk[1]), float(spacing_ijk[0])
