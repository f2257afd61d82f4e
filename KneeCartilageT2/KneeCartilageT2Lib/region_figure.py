"""The one-page figure of the regional read-out, for a radiologist.

Drawn with matplotlib's object API (no pyplot), so it never touches the
global backend of a host application such as Slicer. Three maps of the
unrolled femoral cartilage drawn to physical scale (mm on
both axes; anterior/trochlea on the left, posterior condyles on the right,
lateral at the top, medial at the bottom): T2, thickness, and the six
compartments with their deep/superficial T2. Region boundaries are outlined
on every map, and a table lists the 12 subregions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .region_definitions import CENTRAL_SECTOR_DEG, COMPARTMENT_TABLE, SUBREGION_NAMES

T2_COLOUR_LIMITS_MS = (20.0, 70.0)
BACKGROUND = "#d9d9d9"


def save_region_figure(analysis, path: Path, dpi: int = 130) -> Path:
    """Draw and save the figure as PNG; returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    maps = analysis.projections
    columns = _occupied_columns(maps["regions"].array)
    figure = Figure(figsize=(15, 11.5), constrained_layout=True)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(3, 2, width_ratios=(1.55, 1.0))
    figure.suptitle(_title(analysis), fontsize=13, fontweight="bold")
    _draw_map(figure.add_subplot(grid[0, 0]), maps["t2"], columns, "T2 (ms)", "viridis", _t2_limits(maps["t2"].array))
    _draw_map(figure.add_subplot(grid[1, 0]), maps["thickness"], columns, "Thickness (mm)", "magma",
              _thickness_limits(maps["thickness"].array))
    _draw_compartments(figure.add_subplot(grid[2, 0]), maps["regions"], columns, analysis)
    _draw_table(figure.add_subplot(grid[:, 1]), analysis)
    figure.savefig(str(path), dpi=dpi, facecolor="white")
    return Path(path)


def _title(analysis) -> str:
    orientation = analysis.orientation
    source = {"dicom": "from DICOM", "user": "given by user", "estimated": "ESTIMATED from shape"}[orientation.side_source]
    side = "%s knee (side %s" % (orientation.laterality.capitalize(), source)
    if orientation.side_source == "estimated":
        side += ", confidence %.2f" % orientation.side_confidence
    return "Femoral cartilage read-out - %s) - %s regions" % (side, analysis.mode)


def _extent(projection, columns):
    x, y = projection.col_positions_mm[columns], projection.row_positions_mm
    dx = float(x[1] - x[0]) if len(x) > 1 else 1.0
    dy = float(y[1] - y[0]) if len(y) > 1 else 1.0
    return [x[0] - dx / 2, x[-1] + dx / 2, y[0] - dy / 2, y[-1] + dy / 2]


def _draw_map(axis, projection, columns, label, colour_map, limits):
    import matplotlib

    colours = matplotlib.colormaps[colour_map].with_extremes(bad=BACKGROUND)
    data = np.ma.masked_invalid(projection.array[:, columns])
    image = axis.imshow(data, origin="lower", extent=_extent(projection, columns), cmap=colours,
                        vmin=limits[0], vmax=limits[1], interpolation="nearest", aspect="equal")
    bar_axis = axis.inset_axes([1.02, 0.0, 0.035, 1.0])
    bar = axis.figure.colorbar(image, cax=bar_axis)
    bar.set_label(label)
    axis.set_title(label.split(" (")[0] + " map")
    _outline_regions(axis, projection)
    _label_axes(axis)


def _draw_compartments(axis, projection, columns, analysis):
    from matplotlib.colors import ListedColormap

    palette = [BACKGROUND] + ["#%02x%02x%02x" % rgb for _, _, rgb in COMPARTMENT_TABLE]
    codes = np.nan_to_num(projection.array[:, columns]).astype(int)
    extent = _extent(projection, columns)
    axis.imshow(codes, origin="lower", extent=extent, cmap=ListedColormap(palette), vmin=-0.5, vmax=6.5,
                interpolation="nearest", aspect="equal")
    axis.set_title("Regions: mean T2 deep / superficial (ms)")
    _outline_regions(axis, projection)
    _label_axes(axis)
    for value, name, _ in COMPARTMENT_TABLE:
        rows, cols = np.nonzero(codes == value)
        if rows.size == 0:
            continue
        x = float(np.median(projection.col_positions_mm[columns][cols]))
        y = float(np.median(projection.row_positions_mm[rows]))
        text = "%s\nD %s / S %s" % (name, _number(analysis.row("D" + name)["t2_mean_ms"]), _number(analysis.row("S" + name)["t2_mean_ms"]))
        axis.text(x, y, text, ha="center", va="center", fontsize=9, fontweight="bold",
                  bbox=dict(boxstyle="round,pad=0.2", facecolor="white", alpha=0.75, linewidth=0))


def _outline_regions(axis, projection):
    """White lines at the M/L boundary (0 mm) and at the -30/+30 degree sector edges."""
    radius = _nominal_radius(projection)
    for angle in CENTRAL_SECTOR_DEG:
        axis.axvline(np.radians(angle) * radius, color="white", linewidth=1.6)
        axis.axvline(np.radians(angle) * radius, color="black", linewidth=0.6, linestyle="--")
    axis.axhline(0.0, color="white", linewidth=1.6)
    axis.axhline(0.0, color="black", linewidth=0.6, linestyle="--")


def _label_axes(axis):
    axis.set_xlabel("Arc position (mm)   <- ANTERIOR (trochlea)  |  0 = inferior  |  POSTERIOR ->")
    axis.set_ylabel("M-L position (mm)   MEDIAL (-)  /  LATERAL (+)")
    for y, word in ((0.97, "LATERAL"), (0.03, "MEDIAL")):
        axis.text(0.01, y, word, transform=axis.transAxes, ha="left", va="top" if y > 0.5 else "bottom",
                  fontsize=9, fontweight="bold", color="black",
                  bbox=dict(boxstyle="round,pad=0.15", facecolor="white", alpha=0.7, linewidth=0))


def _draw_table(axis, analysis):
    axis.axis("off")
    header = ["Region", "Voxels", "Volume", "T2 mean", "T2 SD", "Thickness mean", "Thickness max"]
    lines = []
    for name in ("all", "D", "S", "L", "M") + SUBREGION_NAMES:
        row = analysis.row(name)
        lines.append([name, "%d" % row["n_voxels"], "%.0f" % row["volume_mm3"], _number(row["t2_mean_ms"]),
                      _number(row["t2_sd_ms"]), _number(row["thickness_mean_mm"], "%.2f"), _number(row["thickness_max_mm"], "%.2f")])
    table = axis.table(cellText=lines, colLabels=header, cellLoc="center", bbox=[0.0, 0.3, 1.0, 0.7],
                       colWidths=[0.1, 0.12, 0.12, 0.12, 0.1, 0.22, 0.22])
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    axis.set_title("Volume in mm\u00b3, T2 in ms, thickness in mm (27 regions in regions.csv)", fontsize=10)
    method = analysis.details.get("method", {})
    lines = ["M/L split: %s." % method.get("ml_split", "?"), "Sectors: %s." % method.get("sectors", "?"),
             "Deep/superficial: %s." % method.get("layers", "?")]
    text = "\n".join(_wrap(line) for line in lines)
    notes = list(analysis.warnings)[:3]
    if notes:
        text += "\n" + "\n".join(_wrap("Note: " + note) for note in notes)
    axis.text(0.0, 0.27, text, transform=axis.transAxes, fontsize=8.5, va="top",
              color="darkred" if notes else "dimgray")


def _occupied_columns(region_codes: np.ndarray) -> np.ndarray:
    used = np.nonzero(np.nansum(region_codes, axis=0) > 0)[0]
    if used.size == 0:
        return np.arange(region_codes.shape[1])
    return np.arange(max(used[0] - 1, 0), min(used[-1] + 2, region_codes.shape[1]))


def _nominal_radius(projection) -> float:
    angles = projection.col_angles_deg
    return float(projection.col_positions_mm[-1] / np.radians(angles[-1]))


def _t2_limits(values: np.ndarray):
    finite = values[np.isfinite(values)]
    if finite.size < 10:
        return T2_COLOUR_LIMITS_MS
    low, high = np.percentile(finite, [2, 98])
    return (min(low, T2_COLOUR_LIMITS_MS[0]), max(high, T2_COLOUR_LIMITS_MS[1]))


def _thickness_limits(values: np.ndarray):
    finite = values[np.isfinite(values)]
    return (0.0, max(float(np.percentile(finite, 99)) if finite.size else 1.0, 1.0))


def _number(value, pattern: str = "%.1f") -> str:
    return "-" if value is None or not np.isfinite(value) else pattern % value


def _wrap(text: str, width: int = 85) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
