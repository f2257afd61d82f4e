"""Digital knee phantoms: a simulated sagittal MESE exam of a real knee anatomy with known T2.

:func:`simulate_phantom` turns a :class:`~phantom_anatomy.KneeAnatomy` (a real
bone/cartilage label map grown into a whole-knee tissue model) into the
echo images a scanner running a real protocol (:mod:`phantom_protocols`)
would produce, together with the truth: the femoral cartilage label on the
MESE grid, every tissue, and the T2 (ms) that was simulated.

Physics and geometry, in order:

1. Tissue properties per case (PD, T1, T2 drawn around literature values,
   :mod:`phantom_tissues`); cartilage T2 rises with normalised depth from
   ~35 ms at the bone to ~50 ms at the surface, plus a smooth regional
   variation; optional focal lesions of raised T2 in the femoral cartilage;
   joint fluid of a per-case thickness around the cartilage; optionally a
   smooth random change of the femoral cartilage thickness
   (:mod:`phantom_thickness`).
2. The slice grid: sagittal slices (normal along the knee's left-right axis,
   the anatomy's own slice axis), columns toward posterior, rows toward
   inferior, centred near the femoral cartilage with a random offset.
3. A random smooth spatial transform (rotation, scaling, a cosine-sum
   deformation) from the slice grid into the anatomy, so that one anatomy
   yields many different knees.
4. Partial volume: every MESE voxel averages the
   magnitude signal ``PD (1 - exp(-TR/T1)) exp(-TE/T2)`` of sub-samples spread over its
   in-plane pixel and through its slab (the slice thickness, not the spacing).
5. A smooth multiplicative coil sensitivity, then Rician noise at the asked
   SNR (mean femoral cartilage signal at the first echo over sigma).
6. Left knees are the exact mirror image (R -> -R) of the right-knee
   simulation with the same seed; slices are reversed so the grid stays
   right-handed.

Everything random is drawn from independent streams of ``numpy``'s
``SeedSequence(seed)`` so the same seed gives the same phantom, and changing
for example the number of lesions does not change the anatomy's deformation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from . import __version__
from . import phantom_tissues as T
from .errors import InputError
from .exam import MeseExam, normalize_laterality
from .geometry import voxel_centers_ras
from .phantom_anatomy import KneeAnatomy
from .phantom_fields import CosineField, random_cosine_field
from .phantom_protocols import MIRROR_RAS, MeseProtocol, get_protocol, mirror_to_left, orthonormal_axes, slice_grid
from .phantom_thickness import vary_femoral_thickness
from .progress import CancelToken, ProgressCallback, no_progress
from .result_privacy import input_name

SUBSAMPLE_TARGET_MM = 0.6  # through-slab sub-sample spacing (the label maps have 0.7 mm slices)


@dataclass
class PhantomOptions:
    """What to simulate. Lengths in mm, times in ms.

    Attributes:
        protocol: ``"oai"``, ``"ge"`` or a :class:`MeseProtocol`.
        seed: random seed; the phantom is a deterministic function of it.
        laterality: ``"right"`` or ``"left"`` (left = mirror image of right).
        snr: mean femoral cartilage signal at the first echo / noise sigma; 0 = noiseless.
        lesions: number of focal lesions of raised T2 in the femoral cartilage.
        deformation_mm: amplitude of the smooth random deformation per axis.
        max_rotation_deg: in-plane (sagittal) rotation range +-; out-of-plane is a third of it.
        extra_rotation_deg: a fixed rotation (degrees) added to the random one: in-plane (about
            the slice normal), about the grid's column (anterior-posterior) axis and about its row
            (superior-inferior) axis. For asking how a model copes with a knee turned by a known angle.
        scale_jitter: anatomy size change range +- (fraction).
        centre_jitter_mm: random shift of the slice grid's centre, +- per axis.
        thickness_variation_mm: femoral cartilage grows or thins by a smooth random field within
            +- this (mm; :mod:`phantom_thickness`); 0 keeps the anatomy's own thickness.
        bias_amplitude: coil sensitivity varies within 1 +- this.
        effusion_mm: thickness of the fluid layer on the cartilage; None draws it in [0, 2].
        vary_tissues: draw per-case tissue properties (False: literature means).
        intensity_scale: signal of free water at TE 0 (scanner units), before a per-case +-30 %.
        noise_seed: seed of the Rician noise alone; None: drawn from ``seed`` like every other
            stream (so a seed keeps its phantom). Another noise seed with the same ``seed`` gives the
            same knee, slice grid and tissues with new noise: a test-retest pair.
    """

    protocol: Union[str, MeseProtocol] = "ge"
    seed: int = 0
    laterality: str = "right"
    snr: float = 40.0
    lesions: int = 0
    deformation_mm: float = 2.0
    max_rotation_deg: float = 8.0
    extra_rotation_deg: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale_jitter: float = 0.08
    centre_jitter_mm: float = 4.0
    thickness_variation_mm: float = 0.0
    bias_amplitude: float = 0.2
    effusion_mm: Optional[float] = None
    vary_tissues: bool = True
    intensity_scale: float = 6000.0
    noise_seed: Optional[int] = None


@dataclass
class Phantom:
    """A simulated exam and its truth, all on the MESE grid ``(slice, row, col)``.

    Attributes:
        exam: the echo images (float32), echo times, geometry and laterality.
        label: uint8, 1 where the femoral cartilage fills at least half of the voxel.
        cartilage_fraction: float32 partial-volume fraction of femoral cartilage.
        tissues: uint8 dominant tissue id (:mod:`phantom_tissues`).
        t2_truth_ms: float32 mean simulated T2 of the dominant tissue's part of each voxel.
        lesion_label: uint8 lesion number (1..K) where a lesion fills at least half of a cartilage voxel.
        parameters: every parameter (written as ``phantom.json``).
    """

    exam: MeseExam
    label: np.ndarray
    cartilage_fraction: np.ndarray
    tissues: np.ndarray
    t2_truth_ms: np.ndarray
    lesion_label: np.ndarray
    parameters: Dict[str, Any] = field(default_factory=dict)


def simulate_phantom(anatomy: KneeAnatomy, options: Optional[PhantomOptions] = None,
                     progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> Phantom:
    """Simulate one MESE exam of ``anatomy``; see the module docstring for the model."""
    options = options or PhantomOptions()
    report = progress or no_progress
    protocol = options.protocol if isinstance(options.protocol, MeseProtocol) else get_protocol(options.protocol)
    side = normalize_laterality(options.laterality)
    if side == "unknown":
        raise InputError("A phantom needs a knee side: laterality 'right' or 'left'.")
    if options.snr < 0 or options.lesions < 0:
        raise InputError("SNR and the number of lesions must not be negative.")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(options.seed)).spawn(7)]
    tissue_rng, cartilage_rng, lesion_rng, geometry_rng, bias_rng, noise_rng, thickness_rng = streams
    if options.noise_seed is not None:  # the other streams stay those of the seed: same knee, new noise
        noise_rng = np.random.default_rng(np.random.SeedSequence(int(options.noise_seed)).spawn(7)[5])

    anatomy_matrix = anatomy.ijk_to_ras if anatomy.source_laterality == "right" else MIRROR_RAS @ anatomy.ijk_to_ras
    properties = T.draw_case_properties(tissue_rng) if options.vary_tissues else _mean_properties()
    effusion = float(tissue_rng.uniform(0.0, 2.0)) if options.effusion_mm is None else float(options.effusion_mm)
    tissues = np.where(anatomy.rim_distance_mm <= effusion, np.uint8(T.JOINT_FLUID), anatomy.tissues)
    tissues, depth, thickness = vary_femoral_thickness(tissues, anatomy.cartilage_depth, anatomy_matrix,
                                                       float(options.thickness_variation_mm), thickness_rng)
    shaped = replace(anatomy, tissues=tissues, cartilage_depth=depth)
    pd_lut, t2_lut = T.effective_pd_and_t2(properties, protocol.tr_ms)
    pd_map, t2_map = pd_lut[tissues], t2_lut[tissues]
    pd_map *= np.maximum(1.0 + T.texture_amplitudes()[tissues] * anatomy.texture, 0.0)
    report(0.1, "cartilage T2")
    profile = _apply_cartilage_t2(t2_map, tissues, shaped, anatomy_matrix, properties, cartilage_rng)
    lesion_map, lesions = _apply_lesions(t2_map, tissues, shaped, anatomy_matrix, options.lesions, lesion_rng)

    grid_matrix, transform = _draw_geometry(anatomy, anatomy_matrix, protocol, options, geometry_rng)
    sampled = _sample_grid(protocol, grid_matrix, transform, anatomy_matrix, tissues, pd_map, t2_map, lesion_map,
                           len(lesions), report, cancel)
    bias_field = random_cosine_field(bias_rng, options.bias_amplitude, grid_matrix[:3, 3], 80.0, 250.0)
    scale = options.intensity_scale * float(bias_rng.uniform(0.7, 1.3))
    echoes = sampled["signal"] * (scale * (1.0 + _grid_field(bias_field, grid_matrix, protocol)))[np.newaxis]
    label = (sampled["cartilage_fraction"] >= 0.5).astype(np.uint8)
    sigma = _add_rician_noise(echoes, label, options.snr, noise_rng)
    arrays = {"echoes": echoes.astype(np.float32), "label": label, **{k: sampled[k] for k in
              ("cartilage_fraction", "tissues", "t2_truth_ms", "lesion_label")}}
    matrix = grid_matrix
    if side == "left":
        arrays = {key: np.ascontiguousarray(value[..., ::-1, :, :]) for key, value in arrays.items()}
        matrix = mirror_to_left(grid_matrix, protocol.n_slices)
    _locate_lesions(lesions, arrays["lesion_label"], matrix, protocol)
    parameters = _parameters(anatomy, protocol, options, side, properties, effusion, profile, lesions, transform,
                             bias_field, scale, sigma, matrix)
    parameters["cartilage_thickness_change"] = thickness
    exam = MeseExam(arrays["echoes"], np.asarray(protocol.echo_times_ms), matrix, side,
                    {"generator": "knee-t2 phantom", "protocol": protocol.name, "seed": int(options.seed),
                     "vendor": "KneeCartilageT2 phantom", "repetition_time_ms": protocol.tr_ms})
    report(1.0, "phantom done")
    return Phantom(exam, arrays["label"], arrays["cartilage_fraction"], arrays["tissues"], arrays["t2_truth_ms"],
                   arrays["lesion_label"], parameters)


def _mean_properties() -> Dict[int, Dict[str, float]]:
    return {tissue: {"pd": p.pd, "t1_ms": p.t1_ms, "t2_ms": p.t2_ms} for tissue, p in T.TISSUE_PROPERTIES.items()}


# --- cartilage T2 ----------------------------------------------------------------------------------

def _apply_cartilage_t2(t2_map, tissues, anatomy, matrix, properties, rng) -> Dict[str, Any]:
    """T2 = deep + (superficial - deep) * depth**exponent + regional field, in every cartilage voxel."""
    deep = properties[T.FEMORAL_CARTILAGE]["t2_ms"]
    superficial = deep + (T.CARTILAGE_T2_SUPERFICIAL_MS - T.CARTILAGE_T2_DEEP_MS) + float(rng.uniform(-4.0, 4.0))
    exponent = float(rng.uniform(0.8, 1.5))
    flat = np.flatnonzero(np.isin(tissues, T.CARTILAGES))
    kji = np.stack(np.unravel_index(flat, tissues.shape), axis=1)
    ras = voxel_centers_ras(matrix, kji)
    regional = random_cosine_field(rng, float(rng.uniform(1.0, 4.0)), ras.mean(axis=0), 25.0, 80.0)
    depth = anatomy.cartilage_depth.ravel()[flat]
    values = deep + (superficial - deep) * depth ** exponent + regional(ras)
    t2_map.ravel()[flat] = np.maximum(values, 5.0).astype(np.float32)
    return {"t2_deep_ms": deep, "t2_superficial_ms": superficial, "depth_exponent": exponent,
            "regional_field": regional.to_dict()}


def _apply_lesions(t2_map, tissues, anatomy, matrix, count, rng):
    """Raise T2 in ``count`` spherical lesions centred in the femoral cartilage's middle zone."""
    lesion_map = np.zeros(tissues.shape, dtype=np.uint8)
    lesions: List[Dict[str, Any]] = []
    if count == 0:
        return lesion_map, lesions
    femoral = np.flatnonzero(tissues == T.FEMORAL_CARTILAGE)
    depth = anatomy.cartilage_depth.ravel()[femoral]
    candidates = femoral[(depth > 0.3) & (depth < 0.7)]
    if candidates.size == 0:
        candidates = femoral
    kji_all = np.stack(np.unravel_index(femoral, tissues.shape), axis=1)
    ras_all = voxel_centers_ras(matrix, kji_all)
    for number in range(1, int(count) + 1):
        centre_flat = int(candidates[rng.integers(candidates.size)])
        centre = voxel_centers_ras(matrix, np.array([np.unravel_index(centre_flat, tissues.shape)]))[0]
        radius = float(rng.uniform(2.5, 5.0))
        delta = float(rng.uniform(8.0, 20.0))
        distance = np.linalg.norm(ras_all - centre, axis=1)
        weight = np.clip((radius + 0.5 - distance) / 1.0, 0.0, 1.0)
        inside = weight > 0
        t2_map.ravel()[femoral[inside]] += (delta * weight[inside]).astype(np.float32)
        lesion_map.ravel()[femoral[distance <= radius]] = number
        lesions.append({"number": number, "anatomy_centre_ras_mm": np.round(centre, 3).tolist(),
                        "radius_mm": radius, "delta_t2_ms": delta,
                        "nominal_area_mm2": float(np.pi * radius ** 2)})
    return lesion_map, lesions


# --- geometry ---------------------------------------------------------------------------------------

@dataclass
class _Transform:
    """Slice-grid RAS point x -> anatomy RAS point ``centre + linear (x - centre) + displacement(x)``."""

    centre: np.ndarray
    linear: np.ndarray
    displacement: List[CosineField]
    rotation_deg: List[float]
    scales: List[float]

    def apply(self, points: np.ndarray) -> np.ndarray:
        moved = (points - self.centre) @ self.linear.T + self.centre
        for axis, field_component in enumerate(self.displacement):
            moved[..., axis] += field_component(points)
        return moved


def _draw_geometry(anatomy, matrix, protocol, options, rng):
    """The slice grid (right knee) and the random transform into the anatomy."""
    directions = matrix[:3, :3] / np.linalg.norm(matrix[:3, :3], axis=0)
    col_axis, row_axis = directions[:, 0], directions[:, 1]
    axes = orthonormal_axes(np.column_stack([col_axis, row_axis, np.cross(col_axis, row_axis)]))
    femoral = np.argwhere(anatomy.tissues == T.FEMORAL_CARTILAGE)
    centre = voxel_centers_ras(matrix, femoral.mean(axis=0, keepdims=True))[0]
    offset = rng.uniform(-1.0, 1.0, size=3) * options.centre_jitter_mm * np.array([1.0, 1.0, 0.5])
    grid_matrix = slice_grid(protocol, axes, centre + axes @ offset)
    in_plane = float(rng.uniform(-1.0, 1.0)) * options.max_rotation_deg
    tilts = rng.uniform(-1.0, 1.0, size=2) * options.max_rotation_deg / 3.0
    extra = [float(angle) for angle in options.extra_rotation_deg]  # after the draws: seeds keep their phantoms
    in_plane, tilts = in_plane + extra[0], tilts + np.array(extra[1:])
    rotation = _rotation(axes[:, 2], in_plane) @ _rotation(axes[:, 0], tilts[0]) @ _rotation(axes[:, 1], tilts[1])
    scales = (1.0 + rng.uniform(-1.0, 1.0) * options.scale_jitter) * (1.0 + rng.uniform(-0.4, 0.4, 3) * options.scale_jitter)
    linear = rotation @ axes @ np.diag(scales) @ axes.T
    displacement = [random_cosine_field(rng, options.deformation_mm, centre, 40.0, 120.0) for _ in range(3)]
    transform = _Transform(centre, linear, displacement, [in_plane, float(tilts[0]), float(tilts[1])], scales.tolist())
    return grid_matrix, transform


def _rotation(axis: np.ndarray, degrees: float) -> np.ndarray:
    """Rodrigues rotation matrix about a unit axis."""
    angle = np.deg2rad(degrees)
    x, y, z = axis
    cross = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross


def _grid_field(field_function: CosineField, grid_matrix, protocol) -> np.ndarray:
    kji = np.stack(np.meshgrid(*[np.arange(n) for n in protocol.shape_kji], indexing="ij"), axis=-1).reshape(-1, 3)
    return field_function(voxel_centers_ras(grid_matrix, kji)).reshape(protocol.shape_kji)


# --- partial-volume sampling ---------------------------------------------------------------------------

def _subsample_offsets(protocol: MeseProtocol, anatomy_spacing_mm: float) -> np.ndarray:
    """(N, 3) sub-sample offsets in MESE index units (i, j, k) covering a pixel and the slab."""
    counts_ij = [max(1, int(np.ceil(s / anatomy_spacing_mm - 0.25))) for s in (protocol.col_spacing_mm, protocol.row_spacing_mm)]
    count_k = max(1, int(np.ceil(protocol.slice_thickness_mm / SUBSAMPLE_TARGET_MM)))
    slab = protocol.slice_thickness_mm / protocol.slice_spacing_mm
    axes = [(np.arange(n) + 0.5) / n - 0.5 for n in counts_ij] + [slab * ((np.arange(count_k) + 0.5) / count_k - 0.5)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def _sample_grid(protocol, grid_matrix, transform, anatomy_matrix, tissues, pd_map, t2_map, lesion_map, n_lesions,
                 report, cancel) -> Dict[str, np.ndarray]:
    """Average the tissue signal over each MESE voxel's sub-samples, slice by slice."""
    n_k, n_j, n_i = protocol.shape_kji
    times = np.asarray(protocol.echo_times_ms, dtype=np.float32)
    inverse = np.linalg.inv(anatomy_matrix)
    offsets = _subsample_offsets(protocol, float(np.min(np.linalg.norm(anatomy_matrix[:3, :3], axis=0)[:2])))
    step = inverse[:3, :3] @ transform.linear @ grid_matrix[:3, :3] @ offsets.T  # (3, N) anatomy index units
    shape = tissues.shape
    out = {"signal": np.zeros((len(times), n_k, n_j, n_i), np.float32),
           "cartilage_fraction": np.zeros((n_k, n_j, n_i), np.float32),
           "tissues": np.zeros((n_k, n_j, n_i), np.uint8), "t2_truth_ms": np.zeros((n_k, n_j, n_i), np.float32),
           "lesion_label": np.zeros((n_k, n_j, n_i), np.uint8)}
    jj, ii = np.meshgrid(np.arange(n_j), np.arange(n_i), indexing="ij")
    for k in range(n_k):
        if cancel is not None:
            cancel.raise_if_cancelled()
        ijk = np.stack([ii.ravel(), jj.ravel(), np.full(ii.size, k), np.ones(ii.size)], axis=0).astype(np.float64)
        centres = (grid_matrix @ ijk)[:3].T
        anatomy_index = (inverse[:3, :3] @ transform.apply(centres).T) + inverse[:3, 3:4]  # (3, P) as i, j, k
        points = anatomy_index[:, np.newaxis, :] + step[:, :, np.newaxis]  # (3, N, P)
        ai, aj, ak = (np.rint(points[axis]).astype(np.int64) for axis in range(3))
        valid = (ai >= 0) & (ai < shape[2])
        flat = np.ravel_multi_index((np.clip(ak, 0, shape[0] - 1), np.clip(aj, 0, shape[1] - 1),
                                     np.clip(ai, 0, shape[2] - 1)), shape)
        tissue = np.where(valid, tissues.ravel()[flat], 0)
        pd = np.where(valid, pd_map.ravel()[flat], 0.0).astype(np.float32)
        t2 = t2_map.ravel()[flat]
        for echo, te in enumerate(times):
            out["signal"][echo, k] = (pd * np.exp(-te / t2)).mean(axis=0).reshape(n_j, n_i)
        _slice_truth(out, k, tissue, t2, lesion_map.ravel()[flat] * valid, n_lesions, (n_j, n_i))
        report(0.2 + 0.7 * (k + 1) / n_k, "simulating slice %d of %d" % (k + 1, n_k))
    return out


def _slice_truth(out, k, tissue, t2, lesion, n_lesions, plane_shape) -> None:
    """Dominant tissue, its mean T2, the femoral cartilage fraction and lesion labels of one slice."""
    present = np.unique(tissue)
    fractions = np.stack([(tissue == value).mean(axis=0) for value in present])
    dominant = present[np.argmax(fractions, axis=0)]
    members = tissue == dominant[np.newaxis]
    t2_truth = (t2 * members).sum(axis=0) / np.maximum(members.sum(axis=0), 1)
    femoral = (tissue == T.FEMORAL_CARTILAGE).mean(axis=0)
    out["tissues"][k] = dominant.reshape(plane_shape)
    out["t2_truth_ms"][k] = np.where(dominant == T.AIR, 0.0, t2_truth).reshape(plane_shape)
    out["cartilage_fraction"][k] = femoral.reshape(plane_shape)
    for number in range(1, n_lesions + 1):
        covered = ((lesion == number) & (tissue == T.FEMORAL_CARTILAGE)).mean(axis=0) >= 0.5 * np.maximum(femoral, 1e-6)
        out["lesion_label"][k][(covered & (femoral >= 0.5)).reshape(plane_shape)] = number


def _add_rician_noise(echoes: np.ndarray, label: np.ndarray, snr: float, rng) -> float:
    """Add Rician noise in place; sigma = mean first-echo cartilage signal / snr. Returns sigma."""
    if not snr or snr <= 0:
        return 0.0
    reference = float(echoes[0][label > 0].mean()) if np.any(label) else float(np.percentile(echoes[0], 90))
    sigma = reference / float(snr)
    real = echoes + rng.normal(0.0, sigma, size=echoes.shape).astype(np.float32)
    imaginary = rng.normal(0.0, sigma, size=echoes.shape).astype(np.float32)
    np.sqrt(real * real + imaginary * imaginary, out=echoes)
    return sigma


def _locate_lesions(lesions, lesion_label, matrix, protocol) -> None:
    """Add each lesion's centroid (RAS, final grid), voxel count and volume on the MESE grid."""
    voxel_mm3 = protocol.col_spacing_mm * protocol.row_spacing_mm * protocol.slice_spacing_mm
    for lesion in lesions:
        voxels = np.argwhere(lesion_label == lesion["number"])
        lesion["voxels_on_grid"] = int(len(voxels))
        lesion["volume_on_grid_mm3"] = float(len(voxels) * voxel_mm3)
        lesion["centre_ras_mm"] = (np.round(voxel_centers_ras(matrix, voxels.mean(0, keepdims=True))[0], 3).tolist()
                                   if len(voxels) else None)


def _parameters(anatomy, protocol, options, side, properties, effusion, profile, lesions, transform, bias_field,
                scale, sigma, matrix) -> Dict[str, Any]:
    option_values = asdict(options)
    option_values["protocol"] = protocol.name
    return {
        "generator": "KneeCartilageT2 %s phantom" % __version__,
        # the label map by the last part of its path, as result files name their inputs (result_privacy)
        "anatomy": {"source": input_name(anatomy.source), "source_laterality": anatomy.source_laterality,
                    "notes": anatomy.notes},
        "options": option_values,
        "laterality": side,
        "protocol": protocol.to_dict(),
        "ijk_to_ras": np.round(matrix, 6).tolist(),
        "tissue_properties": {T.TISSUE_NAMES[t]: values for t, values in properties.items()},
        "tissue_ids": {name: tissue for tissue, name in T.TISSUE_NAMES.items()},
        "effusion_mm": effusion,
        "cartilage_t2": profile,
        "lesions": lesions,
        "transform": {"centre_ras_mm": np.round(transform.centre, 3).tolist(),
                      "rotation_deg_inplane_tilt1_tilt2": transform.rotation_deg, "scales": transform.scales,
                      "displacement_fields": [f.to_dict() for f in transform.displacement]},
        "coil_sensitivity": bias_field.to_dict(),
        "intensity_scale": scale,
        "noise_sigma": sigma,
        "signal_model": "S = scale * coil * mean_subsamples[PD (1 - exp(-TR/T1)) exp(-TE/T2)], Rician noise",
        "t2_truth_definition": "mean simulated T2 over the sub-samples of the voxel's dominant tissue (ms)",
        "label_definition": "femoral cartilage partial-volume fraction >= 0.5",
    }
