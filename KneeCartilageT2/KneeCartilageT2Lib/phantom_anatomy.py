"""A whole-knee tissue model derived from a real bone/cartilage label map.

The real label maps label bones and cartilage only. To make a phantom look
like a knee and not like floating bones, this module derives the rest:

* cortical / subchondral bone: a 1 mm rim inside every bone (dark in MR);
* the body outline: per axial plane, the convex hull of the bones grown by a
  direction-dependent margin (thin anteriorly over patella and tibia, thick
  posteriorly where the popliteal fossa and calf muscles are, quadriceps
  above the patella), smoothed along the limb;
* a subcutaneous fat layer under the skin, muscle inside it, peri-articular
  fat (Hoffa's and popliteal fat) around the joint, the patellar tendon;
* menisci, when the label map has none: the wedge-shaped gap between the
  femur and the tibial cartilage at the edge of the plateau;
* for each cartilage voxel, its normalised depth (0 at the bone, 1 at the
  articular surface) from two distance transforms, and for the tissue
  around the cartilage the distance to it (joint fluid is put there per case).

Everything here is deterministic for a label map, so it is computed once and
reused for many phantom cases. Arrays are ``[k, j, i]`` on the label map's
grid padded along i (anterior-posterior) so the skin fits inside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple

import numpy as np

from . import phantom_tissues as T
from .errors import InputError
from .geometry import Volume, spacing_from_matrix, voxel_centers_ras
from .volume_io import read_volume

PAD_I_MM = 14.6  # room for skin in front of the patella and behind the calf
RIM_MM = 2.5


@dataclass
class KneeAnatomy:
    """Tissue model of one knee on its label-map grid (padded).

    Attributes:
        tissues: uint8 ``[k, j, i]`` tissue ids of :mod:`phantom_tissues`.
        ijk_to_ras: 4x4 geometry of ``tissues`` (mm).
        cartilage_depth: float32 ``[k, j, i]``, 0 at bone .. 1 at the articular surface in cartilage, else 0.
        rim_distance_mm: float16 ``[k, j, i]``, distance (mm) to the nearest cartilage for soft tissue
            within :data:`RIM_MM` of it, ``inf`` elsewhere (joint fluid goes there per case).
        texture: float16 ``[k, j, i]`` fine band-limited noise (unit variance, ~1 mm grain) that
            modulates proton density per case (trabecular marrow, muscle fibres).
        source: path of the label map.
        source_laterality: side of the source knee found from its medial/lateral tibial cartilage.
        notes: how labels were interpreted (meniscus/fibula assignment, synthesised parts).
    """

    tissues: np.ndarray
    ijk_to_ras: np.ndarray
    cartilage_depth: np.ndarray
    rim_distance_mm: np.ndarray
    texture: np.ndarray
    source: str = ""
    source_laterality: str = "right"
    notes: Dict[str, str] = field(default_factory=dict)

    @property
    def spacing_kji(self) -> np.ndarray:
        return spacing_from_matrix(self.ijk_to_ras)[::-1]

    def centroid_ras(self, tissue: int) -> np.ndarray:
        """RAS centroid (mm) of one tissue."""
        indices = np.argwhere(self.tissues == tissue)
        if indices.size == 0:
            raise InputError("The anatomy has no %s voxels." % T.TISSUE_NAMES[tissue])
        return voxel_centers_ras(self.ijk_to_ras, indices.mean(axis=0, keepdims=True))[0]


def load_anatomy(path) -> KneeAnatomy:
    """Read a knee label map and build its :class:`KneeAnatomy` (20-60 s for a 384 x 384 x 160 map)."""
    return build_anatomy(read_volume(path), str(path))


def build_anatomy(volume: Volume, source: str = "") -> KneeAnatomy:
    """Build the :class:`KneeAnatomy` of a label-map volume (see the module docstring)."""
    labels = np.asarray(volume.array).astype(np.int16)
    notes: Dict[str, str] = {}
    labels = _interpret_labels(labels, volume.ijk_to_ras, notes)
    labels, matrix = _pad_i(labels.astype(np.uint8), volume.ijk_to_ras)
    spacing_kji = spacing_from_matrix(matrix)[::-1]
    side = _source_laterality(labels, matrix)
    tissues = labels.copy()
    if not np.any(np.isin(labels, T.MENISCI)):
        _synthesise_menisci(tissues, spacing_kji)
        notes["menisci"] = "synthesised from the femoro-tibial gap (the label map has none)"
    body = _body_outline(tissues, spacing_kji)
    _fill_soft_tissue(tissues, body, spacing_kji)
    _add_fat_planes(tissues, spacing_kji)
    _add_cortex(tissues, spacing_kji)
    depth = _cartilage_depth(tissues, spacing_kji)
    rim = _rim_distance(tissues, spacing_kji)
    texture = _texture(tissues.shape, spacing_kji)
    return KneeAnatomy(tissues, matrix, depth, rim, texture, source, side, notes)


def _interpret_labels(labels: np.ndarray, matrix: np.ndarray, notes: Dict[str, str]) -> np.ndarray:
    """Map extra labels (8-10) to fibula / lateral / medial meniscus by position; check 1-7 exist."""
    present = set(int(v) for v in np.unique(labels)) - {0}
    for required in (T.FEMORAL_CARTILAGE, T.FEMUR, T.TIBIA):
        if required not in present:
            raise InputError(
                "The label map has no label %d (%s); phantoms need femoral cartilage 1, femur 5 and "
                "tibia 6 (labels: 1-4 cartilages, 5 femur, 6 tibia, 7 patella)." % (required, T.TISSUE_NAMES[required])
            )
    extra = sorted(present - set(range(1, 8)))
    out = np.where(np.isin(labels, list(range(1, 8))), labels, 0)
    if not extra:
        return out
    centroids = {value: voxel_centers_ras(matrix, np.argwhere(labels == value).mean(0, keepdims=True))[0] for value in extra}
    sizes = {value: int(np.count_nonzero(labels == value)) for value in extra}
    fibula = max(extra, key=lambda value: sizes[value])
    out[labels == fibula] = T.FIBULA
    medial_r = voxel_centers_ras(matrix, np.argwhere(labels == 2).mean(0, keepdims=True))[0][0]
    lateral_r = voxel_centers_ras(matrix, np.argwhere(labels == 3).mean(0, keepdims=True))[0][0]
    for value in extra:
        if value == fibula:
            continue
        r = centroids[value][0]
        tissue = T.LATERAL_MENISCUS if abs(r - lateral_r) < abs(r - medial_r) else T.MEDIAL_MENISCUS
        out[labels == value] = tissue
        notes["label_%d" % value] = T.TISSUE_NAMES[tissue]
    notes["label_%d" % fibula] = "fibula (largest extra label)"
    return out


def _pad_i(labels: np.ndarray, matrix: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    pad = int(round(PAD_I_MM / spacing_from_matrix(matrix)[0]))
    padded = np.pad(labels, ((0, 0), (0, 0), (pad, pad)))
    shifted = np.array(matrix, dtype=np.float64)
    shifted[:3, 3] -= shifted[:3, 0] * pad
    return padded, shifted


def _source_laterality(labels: np.ndarray, matrix: np.ndarray) -> str:
    """'right' when the lateral tibial cartilage lies to the patient's right of the medial one."""
    if not (np.any(labels == 2) and np.any(labels == 3)):
        return "right"
    medial = voxel_centers_ras(matrix, np.argwhere(labels == 2).mean(0, keepdims=True))[0][0]
    lateral = voxel_centers_ras(matrix, np.argwhere(labels == 3).mean(0, keepdims=True))[0][0]
    return "right" if lateral > medial else "left"


def bounding_box(mask: np.ndarray, margin_kji) -> Tuple[slice, ...]:
    """The (k, j, i) slices of ``mask``'s bounding box grown by ``margin_kji`` voxels, inside the volume."""
    indices = np.argwhere(mask)
    low = np.maximum(indices.min(axis=0) - margin_kji, 0)
    high = np.minimum(indices.max(axis=0) + margin_kji + 1, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(low, high))


def _distance_to(mask: np.ndarray, spacing_kji) -> np.ndarray:
    """Distance (mm) of every voxel to the nearest voxel of ``mask`` (0 inside it)."""
    from scipy import ndimage

    if not np.any(mask):
        return np.full(mask.shape, np.inf, dtype=np.float32)
    return ndimage.distance_transform_edt(~mask, sampling=spacing_kji).astype(np.float32)


def _margin_voxels(spacing_kji, mm: float) -> np.ndarray:
    return np.ceil(mm / np.asarray(spacing_kji)).astype(int)


def _synthesise_menisci(tissues: np.ndarray, spacing_kji) -> None:
    """Fill the wedge between femur and tibial plateau, outside the contact zone, with meniscus."""
    tibial = np.isin(tissues, (T.MEDIAL_TIBIAL_CARTILAGE, T.LATERAL_TIBIAL_CARTILAGE))
    if not np.any(tibial):
        return
    box = bounding_box(tibial, _margin_voxels(spacing_kji, 8.0))
    sub = tissues[box]
    free = sub == 0
    d_tibial = _distance_to(np.isin(sub, (T.MEDIAL_TIBIAL_CARTILAGE, T.LATERAL_TIBIAL_CARTILAGE)), spacing_kji)
    d_femur = _distance_to(np.isin(sub, (T.FEMORAL_CARTILAGE, T.FEMUR)), spacing_kji)
    d_medial = _distance_to(sub == T.MEDIAL_TIBIAL_CARTILAGE, spacing_kji)
    d_lateral = _distance_to(sub == T.LATERAL_TIBIAL_CARTILAGE, spacing_kji)
    wedge = free & (d_tibial <= 3.0) & (d_femur <= 4.5) & (d_tibial + d_femur >= 2.0)
    wedge &= np.minimum(d_medial, d_lateral) <= 3.0
    wedge &= ~_below_plateau(sub)
    sub[wedge & (d_lateral < d_medial)] = T.LATERAL_MENISCUS
    sub[wedge & (d_lateral >= d_medial)] = T.MEDIAL_MENISCUS


def _below_plateau(sub: np.ndarray) -> np.ndarray:
    """Voxels at or below (larger row j = inferior) the top of the tibia in their (k, i) column."""
    tibia = sub == T.TIBIA
    has = tibia.any(axis=1)
    top = np.where(has, tibia.argmax(axis=1), sub.shape[1])
    rows = np.arange(sub.shape[1])[np.newaxis, :, np.newaxis]
    return rows >= top[:, np.newaxis, :]


def _body_outline(tissues: np.ndarray, spacing_kji) -> np.ndarray:
    """Body mask: per axial plane (fixed j), the bones' convex hull grown by a direction-dependent margin."""
    from scipy import ndimage

    bones = np.isin(tissues, T.BONES + T.CARTILAGES + T.MENISCI)
    step = 2
    coarse = bones[:, ::step, ::step]
    spacing = np.array([spacing_kji[0], spacing_kji[1] * step, spacing_kji[2] * step])
    patella_rows = np.nonzero((tissues == T.PATELLA).any(axis=(0, 2)))[0]
    patella_top_mm = (patella_rows.min() if patella_rows.size else 0) * spacing_kji[1]
    body = np.zeros(coarse.shape, dtype=np.float32)
    for row in range(coarse.shape[1]):
        plane = coarse[:, row, :]
        if not plane.any():
            continue
        above_patella_mm = patella_top_mm - row * spacing[1]
        body[:, row, :] = _grown_hull(plane, spacing[[0, 2]], above_patella_mm)
    body = ndimage.gaussian_filter(body, sigma=(3.0 / spacing[0], 9.0 / spacing[1], 3.0 / spacing[2])) > 0.5
    full = np.repeat(np.repeat(body, step, axis=1), step, axis=2)[:, : tissues.shape[1], : tissues.shape[2]]
    return full | bones


def _grown_hull(plane: np.ndarray, spacing_ki, above_patella_mm: float) -> np.ndarray:
    """Convex hull of ``plane`` (k, i) grown by margins: anterior thin, posterior thick, quadriceps above the patella."""
    from scipy import ndimage
    from scipy.spatial import ConvexHull

    points = np.argwhere(plane).astype(np.float64)
    grid = np.stack(np.meshgrid(np.arange(plane.shape[0]), np.arange(plane.shape[1]), indexing="ij"), axis=-1)
    hull = plane.copy()
    if len(points) >= 4 and np.ptp(points[:, 0]) > 0 and np.ptp(points[:, 1]) > 0:
        equations = ConvexHull(points).equations
        signed = grid.reshape(-1, 2) @ equations[:, :2].T + equations[:, 2]
        hull = (signed <= 1e-9).all(axis=1).reshape(plane.shape)
    distance = ndimage.distance_transform_edt(~hull, sampling=spacing_ki)
    offset_mm = (grid - points.mean(axis=0)) * np.asarray(spacing_ki)
    unit = offset_mm / np.maximum(np.linalg.norm(offset_mm, axis=-1, keepdims=True), 1e-6)
    anterior_mm = 6.0 + 18.0 * np.clip(above_patella_mm / 20.0, 0.0, 1.0)
    posterior_mm, side_mm = 42.0, 12.0
    posterior = np.clip(unit[..., 1], 0.0, None) ** 2
    anterior = np.clip(-unit[..., 1], 0.0, None) ** 2
    margin = side_mm * unit[..., 0] ** 2 + posterior_mm * posterior + anterior_mm * anterior
    return (distance <= margin).astype(np.float32)


def _fill_soft_tissue(tissues: np.ndarray, body: np.ndarray, spacing_kji) -> None:
    """Muscle inside the body, a subcutaneous fat layer, peri-articular fat, the patellar tendon."""
    from scipy import ndimage

    free = body & (tissues == 0)
    step = 2
    coarse_spacing = np.array([spacing_kji[0], spacing_kji[1] * step, spacing_kji[2] * step])
    depth_in_body = ndimage.distance_transform_edt(body[:, ::step, ::step], sampling=coarse_spacing)
    near_cartilage = _distance_to(np.isin(tissues[:, ::step, ::step], T.CARTILAGES + T.MENISCI), coarse_spacing)
    near_bone = _distance_to(np.isin(tissues[:, ::step, ::step], T.BONES), coarse_spacing)
    subcutaneous = _upsample(depth_in_body <= 5.0, tissues.shape)
    articular = _upsample((near_cartilage <= 9.0) & (near_bone <= 12.0), tissues.shape)
    tissues[free] = T.MUSCLE
    tissues[free & articular] = T.ARTICULAR_FAT
    tissues[free & subcutaneous] = T.SUBCUTANEOUS_FAT
    _add_patellar_tendon(tissues, free, spacing_kji)


def _upsample(coarse: np.ndarray, shape) -> np.ndarray:
    full = np.repeat(np.repeat(coarse, 2, axis=1), 2, axis=2)
    return full[:, : shape[1], : shape[2]]


def _add_patellar_tendon(tissues: np.ndarray, free: np.ndarray, spacing_kji) -> None:
    """A 4-5 mm thick dark band from the patella's lower pole down the front of the tibia."""
    patella = tissues == T.PATELLA
    tibia = tissues == T.TIBIA
    if not (patella.any() and tibia.any()):
        return
    p = np.argwhere(patella)
    bottom = p[p[:, 1] == p[:, 1].max()].mean(axis=0)
    t = np.argwhere(tibia)
    front = t[:, 2].min()
    tuberosity = t[t[:, 2] <= front + 3].mean(axis=0)
    tuberosity[1] = min(tuberosity[1] + 4.0 / spacing_kji[1], tissues.shape[1] - 1)
    k0, k1 = bottom[0] - 12.0 / spacing_kji[0], bottom[0] + 12.0 / spacing_kji[0]
    kk, jj, ii = np.nonzero(free)
    inside = (kk >= k0) & (kk <= k1) & (jj >= bottom[1]) & (jj <= tuberosity[1])
    kk, jj, ii = kk[inside], jj[inside], ii[inside]
    fraction = (jj - bottom[1]) / max(tuberosity[1] - bottom[1], 1.0)
    centre_i = bottom[2] + fraction * (tuberosity[2] - 4.0 / spacing_kji[2] - bottom[2])
    band = np.abs((ii - centre_i) * spacing_kji[2]) <= 2.3
    tissues[kk[band], jj[band], ii[band]] = T.TENDON


def _add_fat_planes(tissues: np.ndarray, spacing_kji, seed: int = 2024) -> None:
    """Thin fat sheets between muscles: a level set of a smooth random field, inside muscle only."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    step = 4
    coarse_shape = tuple(int(np.ceil(n / step)) for n in tissues.shape)
    noise = rng.normal(size=coarse_shape).astype(np.float32)
    coarse_spacing = np.asarray(spacing_kji) * step
    smooth = ndimage.gaussian_filter(noise, sigma=14.0 / coarse_spacing)
    smooth /= smooth.std()
    full = ndimage.zoom(smooth, step, order=1)[: tissues.shape[0], : tissues.shape[1], : tissues.shape[2]]
    planes = (np.abs(full) < 0.04) & (tissues == T.MUSCLE)
    tissues[planes] = T.SUBCUTANEOUS_FAT


def _texture(shape, spacing_kji, seed: int = 7) -> np.ndarray:
    """Unit-variance noise smoothed to about 1 mm grain, float16."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(size=shape, dtype=np.float32)
    smooth = ndimage.gaussian_filter(noise, sigma=0.8 / np.asarray(spacing_kji), truncate=2.5)
    smooth /= smooth.std()
    return smooth.astype(np.float16)


def _add_cortex(tissues: np.ndarray, spacing_kji, thickness_mm: float = 1.0) -> None:
    """Turn the outer ``thickness_mm`` of every bone into cortical bone."""
    from scipy import ndimage

    bones = np.isin(tissues, T.BONES)
    box = bounding_box(bones, np.array([1, 1, 1]))
    radius = np.maximum(np.round(thickness_mm / np.asarray(spacing_kji)).astype(int), 1)
    axes = [np.arange(-r, r + 1) * s for r, s in zip(radius, spacing_kji)]
    grid = np.meshgrid(*axes, indexing="ij")
    ball = sum(g ** 2 for g in grid) <= (thickness_mm + 1e-6) ** 2
    inner = ndimage.binary_erosion(bones[box], structure=ball, border_value=1)
    rim = bones[box] & ~inner
    sub = tissues[box]
    sub[rim] = T.CORTICAL_BONE


def _cartilage_depth(tissues: np.ndarray, spacing_kji) -> np.ndarray:
    """Normalised depth per cartilage voxel: d_bone / (d_bone + d_surface), 0 at bone, 1 at surface."""
    depth = np.zeros(tissues.shape, dtype=np.float32)
    for cartilage, bone in T.CARTILAGE_BONE.items():
        mask = tissues == cartilage
        if not mask.any():
            continue
        box = bounding_box(mask, _margin_voxels(spacing_kji, 4.0))
        inside = tissues[box] == cartilage
        depth[box][inside] = normalised_cartilage_depth(tissues[box], cartilage, bone, spacing_kji)[inside]
    return depth


def normalised_cartilage_depth(sub_tissues: np.ndarray, cartilage: int, bone: int, spacing_kji) -> np.ndarray:
    """d_bone / (d_bone + d_surface) over a box, clipped to [0, 1]: 0 at the bone, 1 at the articular surface.

    Meaningful in the voxels of ``cartilage``; ``bone`` (with the cortex) is the bone it sits on.
    """
    bone_mask = np.isin(sub_tissues, (bone, T.CORTICAL_BONE))
    d_bone = _distance_to(bone_mask, spacing_kji)
    d_surface = _distance_to(~(bone_mask | (sub_tissues == cartilage)), spacing_kji)
    return np.clip(d_bone / np.maximum(d_bone + d_surface, 1e-6), 0.0, 1.0)


def _rim_distance(tissues: np.ndarray, spacing_kji) -> np.ndarray:
    """Distance (mm) to the nearest cartilage for soft tissue within RIM_MM of it; inf elsewhere."""
    rim = np.full(tissues.shape, np.inf, dtype=np.float16)
    cartilage = np.isin(tissues, T.CARTILAGES)
    box = bounding_box(cartilage, _margin_voxels(spacing_kji, RIM_MM + 1.0))
    sub = tissues[box]
    distance = _distance_to(np.isin(sub, T.CARTILAGES), spacing_kji)
    soft = np.isin(sub, (T.MUSCLE, T.ARTICULAR_FAT, T.SUBCUTANEOUS_FAT, 0)) & (distance <= RIM_MM)
    values = np.full(sub.shape, np.inf, dtype=np.float16)
    values[soft] = distance[soft]
    rim[box] = values
    return rim


def anatomy_volume(anatomy: KneeAnatomy) -> Volume:
    """The tissue labels as a :class:`Volume` (for inspection)."""
    return Volume(anatomy.tissues, anatomy.ijk_to_ras.copy())
