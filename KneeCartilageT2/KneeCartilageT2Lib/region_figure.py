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
from .side_words import side_source_short

T2_COLOUR_LIMITS_MS = (20.0, 70.0)
BACKGROUND = "#d9d9d9"


FIGURE_SIZE_IN = (13.0, 10.0)
NOTES_TOP = 0.25  # the method notes start at this fraction of the table column's height (axes coordinates)
FIGURE_DPI = 100


def save_region_figure(analysis, path: Path, dpi: int = FIGURE_DPI) -> Path:
    """Draw and save the figure as PNG (13 x 10 in, 1300 x 1000 pixels at 100 dpi); returns the path.

    The layout is fixed (no constrained layout, which draws everything twice)
    and the table is one monospaced text block rather than a grid of cell
    artists, so a figure takes well under a second.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    maps = analysis.projections
    columns = _occupied_columns(maps["regions"].array)
    figure = Figure(figsize=FIGURE_SIZE_IN)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(3, 2, width_ratios=(1.55, 1.0), left=0.075, right=0.985, bottom=0.055, top=0.915,
                               wspace=0.2, hspace=0.34)
    figure.suptitle(_title(analysis), fontsize=13, fontweight="bold")
    _draw_map(figure.add_subplot(grid[0, 0]), maps["t2"], columns, "T2 (ms)", "viridis", _t2_limits(maps["t2"].array))
    _draw_map(figure.add_subplot(grid[1, 0]), maps["thickness"], columns, "Thickness (mm)", "magma",
              _thickness_limits(maps["thickness"].array))
    _draw_compartments(figure.add_subplot(grid[2, 0]), maps["regions"], columns, analysis)
    _draw_table(figure.add_subplot(grid[:, 1]), analysis)
    figure.savefig(str(path), dpi=dpi, facecolor="white")
    return Path(path)


def _title(analysis) -> str:
    """E.g. "Femoral cartilage read-out - Right knee (side from DICOM) - improved regions"; an estimated side
    is written ESTIMATED, so that a reader of the figure alone does not take it for a known one."""
    orientation = analysis.orientation
    source = side_source_short(orientation.side_source, orientation.side_confidence)
    if orientation.side_source == "estimated":
        source = source.replace("estimated", "ESTIMATED", 1)
    return "Femoral cartilage read-out - %s knee (side %s) - %s regions" % (
        orientation.laterality.capitalize(), source, analysis.mode)


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
        # three short lines: the central sectors are only ~35 mm of arc wide, and one-line labels
        # ("D 28.0 / S 37.6") of neighbouring sectors ran into each other on real segmentations
        deep, superficial = (_number(analysis.row(layer + name)["t2_mean_ms"]) for layer in "DS")
        text = "%s\nD %s\nS %s" % (name, deep, superficial)
        axis.text(x, y, text, ha="center", va="center", fontsize=8.5, fontweight="bold", linespacing=1.0,
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
    axis.set_ylabel("M-L position (mm)\nMEDIAL (-) / LATERAL (+)")
    for y, word in ((0.97, "LATERAL"), (0.03, "MEDIAL")):
        axis.text(0.01, y, word, transform=axis.transAxes, ha="left", va="top" if y > 0.5 else "bottom",
                  fontsize=9, fontweight="bold", color="black",
                  bbox=dict(boxstyle="round,pad=0.15", facecolor="white", alpha=0.7, linewidth=0))


TABLE_HEADER = (("Region", "Voxels", "Volume", "T2", "T2", "Thick", "Thick"),
                ("", "", "mm3", "mean", "SD", "mean", "max"))
TABLE_WIDTHS = (6, 7, 7, 6, 6, 7, 7)
TABLE_ROWS = ("all", "D", "S", "L", "M") + SUBREGION_NAMES


T2_VOXELS_HEADER = ("T2", "voxels")  # the column added after "Voxels" when some voxels have no valid T2
T2_VOXELS_WIDTH = 7


def table_text(analysis) -> str:
    """The 17 summary rows as aligned monospaced text (volume mm^3, T2 ms, thickness mm).

    When some cartilage voxels have no valid T2 (:func:`region_stats.t2_voxels_differ`),
    a "T2 voxels" column after "Voxels" gives the count the T2 figures come from.
    """
    from .region_stats import t2_voxel_count, t2_voxels_differ

    rows = [analysis.row(name) for name in TABLE_ROWS]
    with_t2_count = t2_voxels_differ(rows)
    widths, headers = TABLE_WIDTHS, TABLE_HEADER
    if with_t2_count:
        widths = widths[:2] + (T2_VOXELS_WIDTH,) + widths[2:]
        headers = tuple(header[:2] + (extra,) + header[2:] for header, extra in zip(headers, T2_VOXELS_HEADER))
    lines = ["".join(word.rjust(width) for word, width in zip(header, widths)) for header in headers]
    lines.append("-" * sum(widths))
    for name, row in zip(TABLE_ROWS, rows):
        counts = ("%d" % row["n_voxels"],) + (("%d" % t2_voxel_count(row),) if with_t2_count else ())
        cells = (name,) + counts + ("%.0f" % row["volume_mm3"], _number(row["t2_mean_ms"]),
                                    _number(row["t2_sd_ms"]), _number(row["thickness_mean_mm"], "%.2f"),
                                    _number(row["thickness_max_mm"], "%.2f"))
        lines.append("".join(cell.rjust(width) for cell, width in zip(cells, widths)))
        if name in ("all", "S", "M"):
            lines.append("")
    return "\n".join(lines)


def _draw_table(axis, analysis):
    axis.axis("off")
    axis.set_title("Volume in mm\u00b3, T2 in ms, thickness in mm\n(all 27 regions in regions.csv)", fontsize=10)
    table = table_text(analysis)
    width = max(len(line) for line in table.splitlines())  # the T2 voxel column, when added, takes a smaller font
    axis.text(0.02, 1.0, table, transform=axis.transAxes, family="monospace",
              fontsize=10.5 * min(1.0, sum(TABLE_WIDTHS) / float(width)), va="top", ha="left")
    method = analysis.details.get("method", {})
    lines = ["M/L split: %s." % method.get("ml_split", "?"), "Sectors: %s." % method.get("sectors", "?"),
             "Deep/superficial: %s." % method.get("layers", "?")]
    text = "\n".join(_wrap(line, 60) for line in lines)
    notes = list(analysis.warnings)[:3]
    if notes:
        text += "\n" + "\n".join(_wrap("Note: " + note, 60) for note in notes)
    notes_text = axis.text(0.0, NOTES_TOP, text, transform=axis.transAxes, fontsize=9, va="top",
                           color="darkred" if notes else "dimgray")
    _fit_above_figure_bottom(notes_text)


def _fit_above_figure_bottom(text) -> None:
    """Shrink ``text`` (drawn from its top down) until it ends above the figure's bottom edge.

    Long notes (the side estimate's explanation alone wraps to 9 lines) ran off the bottom of the
    figure at 9 points, cutting their last words (the advice to give the side).
    """
    figure = text.figure
    renderer = figure.canvas.get_renderer()
    margin_px = 0.03 * figure.dpi  # inch kept free under the last line
    for _ in range(3):  # the height does not scale exactly with the size (rounded glyph metrics)
        extent = text.get_window_extent(renderer)
        if extent.y0 >= margin_px:
            return
        room_px = extent.y1 - margin_px
        text.set_fontsize(text.get_fontsize() * room_px / extent.height)


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
