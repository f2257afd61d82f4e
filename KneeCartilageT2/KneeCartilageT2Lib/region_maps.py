"""Writing the regional read-out: tables, label map, projection maps, figure.

:func:`write_region_outputs` writes into one folder:

* ``regions.csv`` - one row per region (27), units in the column names;
* ``regions.json`` - the same rows plus side, directions, fitted circles,
  boundaries, warnings and the label/colour tables (NaN written as null);
* ``subregions.nrrd`` - uint8 label map of the 12 subregions in the input geometry;
* ``projection_<name>.nrrd`` - each 2D projection map as a one-slice volume
  whose i axis is arc position and j axis M-L position, spacing in mm (a
  nominal frame, not patient space);
* ``regions.png`` - the figure (see :mod:`region_figure`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np

from . import csv_tables
from .atomic_files import atomic_write_json
from .errors import InputError
from .geometry import Volume, make_ijk_to_ras
from .projection import ProjectionMap
from .region_definitions import COMPARTMENT_TABLE, SUBREGION_TABLE, describe_region
from .region_stats import ROW_KEYS
from .volume_io import write_volume

PathLike = Union[str, os.PathLike]
FORMAT_NAME = "knee-t2 regions"
FORMAT_VERSION = 1
UNITS = {
    "volume_mm3": "mm^3", "t2_mean_ms": "ms", "t2_median_ms": "ms", "t2_sd_ms": "ms",
    "thickness_mean_mm": "mm", "thickness_max_mm": "mm",
}
MAP_FILE_NAMES = {
    "t2": "projection_t2_ms.nrrd",
    "t2_deep": "projection_t2_deep_ms.nrrd",
    "t2_superficial": "projection_t2_superficial_ms.nrrd",
    "thickness": "projection_thickness_mm.nrrd",
    "regions": "projection_regions.nrrd",
}


REGION_FILES = ("regions.csv", "regions.json", "regions.png", "subregions.nrrd") + tuple(MAP_FILE_NAMES.values())


def refuse_foreign_region_folder(out_dir: PathLike) -> None:
    """Refuse a folder holding files of the region outputs' names that no earlier region read-out wrote.

    ``regions.json`` of this format (written last) marks an earlier read-out, which may be replaced;
    anything else of those names (a table of the reader's own, say) is never written over.
    """
    out = Path(out_dir)
    if not out.is_dir():
        return
    try:
        if json.loads((out / "regions.json").read_text(encoding="utf-8")).get("format") == FORMAT_NAME:
            return
    except (OSError, ValueError, AttributeError):
        pass
    clashes = [name for name in REGION_FILES if (out / name).exists()]
    if clashes:
        raise InputError("%s already holds %s, not written by knee-t2 regions: writing there would replace them. "
                         "Choose an empty or new folder." % (out, ", ".join(clashes)))


def write_region_outputs(analysis, out_dir: PathLike, metadata: Optional[dict] = None, figure: bool = True) -> Dict[str, Path]:
    """Write every output of a :class:`~.regions.RegionAnalysis`; returns the paths by kind.

    ``metadata`` (e.g. input file names, software version) is stored in regions.json as given: name
    inputs there by the last part of their paths (:mod:`result_privacy`), never by paths that may
    name the patient.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": write_csv(analysis.rows, out / "regions.csv")}
    paths["subregions"] = write_volume(analysis.subregion_labels, out / "subregions.nrrd")
    for name, projection in analysis.projections.items():
        paths["projection_" + name] = write_volume(projection_volume(projection), out / MAP_FILE_NAMES[name])
    if figure:
        from .region_figure import save_region_figure

        paths["figure"] = save_region_figure(analysis, out / "regions.png")
    paths["json"] = write_json(analysis, out / "regions.json", metadata, {key: path.name for key, path in paths.items()})
    return paths


def write_csv(rows, path: Path) -> Path:
    """The 27 rows as CSV (4 decimals); NaN (no valid voxels) as an empty cell."""
    entries = [dict(row, description=describe_region(row["region"])) for row in rows]
    return csv_tables.write_csv(path, entries, list(ROW_KEYS) + ["description"])


def write_json(analysis, path: Path, metadata: Optional[dict], files: Dict[str, str]) -> Path:
    """Rows, orientation, method details, tables and file names as strict JSON (NaN -> null)."""
    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "mode": analysis.mode,
        "laterality": analysis.orientation.laterality,
        "laterality_source": analysis.orientation.side_source,
        "units": UNITS,
        "regions": [{**row, "description": describe_region(row["region"])} for row in analysis.rows],
        "orientation": analysis.orientation.to_dict(),
        "details": analysis.details,
        "warnings": list(analysis.warnings),
        "subregion_table": [_table_entry(entry) for entry in SUBREGION_TABLE],
        "compartment_table": [_table_entry(entry) for entry in COMPARTMENT_TABLE],
        "projection_axes": {
            "rows": "M-L position (mm) from the medial/lateral boundary; negative medial, positive lateral",
            "columns": "arc position (mm) at the nominal radius; 0 = inferior, negative anterior, positive posterior",
        },
        "files": files,
        "metadata": metadata or {},
    }
    return atomic_write_json(path, document)


def projection_volume(projection: ProjectionMap) -> Volume:
    """A projection map as a one-slice Volume: i = arc (mm), j = M-L (mm), spacing in mm."""
    columns, rows = projection.col_positions_mm, projection.row_positions_mm
    column_step = float(columns[1] - columns[0]) if len(columns) > 1 else 1.0
    row_step = float(rows[1] - rows[0]) if len(rows) > 1 else 1.0
    matrix = make_ijk_to_ras((column_step, row_step, 1.0), origin_ras=(float(columns[0]), float(rows[0]), 0.0))
    if projection.unit == "label":
        array = np.nan_to_num(projection.array).astype(np.uint8)
    else:
        array = projection.array.astype(np.float32)
    return Volume(array[np.newaxis], matrix)


def _table_entry(entry) -> dict:
    value, name, rgb = entry
    return {"value": value, "name": name, "description": describe_region(name), "rgb": list(rgb)}
