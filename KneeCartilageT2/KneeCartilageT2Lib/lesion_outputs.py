"""Writing a focal lesion analysis: figure (PNG), maps (NRRD) and tables (CSV/JSON).

The maps are 2D images on the common 1 mm grid of :mod:`lesions`, stored as
one-slice volumes like the region read-out's projection maps
(:func:`region_maps.projection_volume`): i = arc position (mm, 0 inferior,
+ posterior), j = M-L position (mm from the medial/lateral boundary,
+ lateral). This is a nominal map frame, not patient space; a reader opens the
difference map and overlays the cluster label map on it (same geometry). The
clusters carried back onto the baseline cartilage voxels (patient space,
baseline grid) are written separately by the change report.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Dict

import numpy as np

from .csv_tables import write_csv, write_json
from .lesions import LesionResult
from .projection import ProjectionMap
from .volume_io import write_volume

CLUSTER_COLUMNS = (
    "label", "area_mm2", "coverage_area_mm2", "percent_of_plate", "mean_delta_t2_ms", "max_delta_t2_ms", "region",
    "centroid_row_mm", "centroid_col_mm", "n_pixels",
)


def lesion_map(result: LesionResult, array: np.ndarray, name: str, unit: str) -> ProjectionMap:
    """One array of the lesion grid as a :class:`ProjectionMap` (for writing or plotting)."""
    return ProjectionMap(np.asarray(array), result.row_positions_mm, result.col_positions_mm, name, unit)


def write_lesion_outputs(result: LesionResult, out_dir, title: str = "") -> Dict[str, Path]:
    """Write ``lesions.json``, ``lesion_clusters.csv``, ``lesion_map.png`` and the NRRD maps."""
    from .region_maps import projection_volume

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "clusters_csv": write_csv(out / "lesion_clusters.csv", [asdict(c) for c in result.clusters], CLUSTER_COLUMNS),
        "figure": write_lesion_figure(result, out / "lesion_map.png", title),
    }
    maps = {
        "delta_t2_map": (result.difference_ms, "delta_t2_map_ms.nrrd", "ms"),
        "baseline_t2_map": (result.baseline_ms, "baseline_t2_map_ms.nrrd", "ms"),
        "followup_t2_map": (result.followup_ms, "followup_t2_map_ms.nrrd", "ms"),
        "cluster_map": (result.cluster_labels, "lesion_clusters_map.nrrd", "label"),
        "analysed_plate_map": (result.mask.astype(np.uint8), "analysed_plate_map.nrrd", "label"),
    }
    for key, (array, name, unit) in maps.items():
        if array is not None:
            paths[key] = write_volume(projection_volume(lesion_map(result, array, key, unit)), out / name)
    files = {key: path.name for key, path in paths.items()}
    paths["json"] = write_json(out / "lesions.json", dict(result.summary(), files=files, map_axes={
        "i": "arc position (mm) at the nominal radius; 0 = inferior, negative anterior, positive posterior",
        "j": "M-L position (mm) from the medial/lateral boundary; negative medial, positive lateral",
        "difference": "follow-up minus baseline T2 (ms), NaN where either visit has no cartilage",
    }))
    return paths


def _extent(result: LesionResult):
    half = 0.5 * result.parameters.pixel_mm
    cols, rows = result.col_positions_mm, result.row_positions_mm
    return [cols[0] - half, cols[-1] + half, rows[0] - half, rows[-1] + half]


def write_lesion_figure(result: LesionResult, path, title: str = "", dpi: int = 110) -> Path:
    """Baseline, follow-up and difference maps with the analysed plate and the clusters outlined."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(16.0, 5.0), constrained_layout=True)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 3)
    extent = _extent(result)
    t2_values = [a[np.isfinite(a)] for a in (result.baseline_ms, result.followup_ms) if a is not None]
    pooled = np.concatenate(t2_values) if t2_values else np.array([0.0, 100.0])
    low, high = (np.percentile(pooled, [2, 98]) if pooled.size else (0.0, 100.0))
    for axis, array, name in ((axes[0], result.baseline_ms, "Baseline T2"), (axes[1], result.followup_ms, "Follow-up T2")):
        if array is None:
            axis.set_visible(False)
            continue
        image = axis.imshow(np.ma.masked_invalid(array), origin="lower", extent=extent, cmap="inferno",
                            vmin=low, vmax=high, interpolation="nearest", aspect="equal")
        axis.set_title("%s (ms)" % name)
        figure.colorbar(image, ax=axis, shrink=0.6, label="T2 (ms)")
    _draw_difference(figure, axes[2], result, extent)
    for axis in axes:
        axis.set_xlabel("arc (mm): anterior \u2190 0 = inferior \u2192 posterior")
        axis.set_ylabel("M-L (mm): medial \u2190 \u2192 lateral")
    figure.suptitle(title or _summary_title(result), fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(str(path), dpi=dpi)
    return path


def _draw_difference(figure, axis, result: LesionResult, extent) -> None:
    difference = result.difference_ms
    finite = np.abs(difference[np.isfinite(difference)])
    limit = max(5.0, float(np.percentile(finite, 99))) if finite.size else 10.0
    image = axis.imshow(np.ma.masked_invalid(difference), origin="lower", extent=extent, cmap="RdBu_r",
                        vmin=-limit, vmax=limit, interpolation="nearest", aspect="equal")
    figure.colorbar(image, ax=axis, shrink=0.6, label="follow-up - baseline (ms)")
    x, y = result.col_positions_mm, result.row_positions_mm
    if result.mask.any():
        axis.contour(x, y, result.mask.astype(float), levels=[0.5], colors=["#555555"], linewidths=0.8,
                     linestyles="dashed")
    for cluster in result.clusters:
        axis.contour(x, y, (result.cluster_labels == cluster.label).astype(float), levels=[0.5],
                     colors=["black"], linewidths=1.4)
        axis.annotate(str(cluster.label), (cluster.centroid_col_mm, cluster.centroid_row_mm), ha="center",
                      va="center", fontsize=9, fontweight="bold")
    axis.set_title("T2 change; analysed plate dashed, lesions black", fontsize=10)


def _summary_title(result: LesionResult) -> str:
    return ("Focal T2 increase: %d lesion(s) covering %.1f%% of the analysed plate (%.0f mm\u00b2); threshold "
            "%.1f ms = mean %.1f + %.1f x SD %.1f ms; clusters > %.1f%% of the plate"
            % (len(result.clusters), result.percent_plate_covered, result.plate_area_mm2, result.threshold_ms,
               result.mean_delta_ms, result.parameters.sd_factor, result.sd_delta_ms,
               100 * result.parameters.min_cluster_fraction))
