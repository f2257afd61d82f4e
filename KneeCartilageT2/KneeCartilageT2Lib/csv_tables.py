"""Small CSV/JSON table writers shared by the longitudinal and agreement reports.

Tables are lists of dicts; column names carry their units (``t2_baseline_ms``,
``hausdorff95_mm``) so a spreadsheet needs no legend. Floats are written with
a fixed number of decimals, NaN/None as an empty cell. Files are written
atomically (temporary name, then rename).
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np


def _cell(value: Any, decimals: int) -> Any:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return "" if not math.isfinite(float(value)) else ("%.*f" % (decimals, float(value)))
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_csv(path, rows: Iterable[Dict[str, Any]], columns: Optional[Sequence[str]] = None,
              decimals: int = 4) -> Path:
    """Write rows (dicts) as CSV; ``columns`` fixes the order (default: keys of the first row)."""
    rows = list(rows)
    if columns is None:
        columns = list(rows[0].keys()) if rows else []
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name("." + path.name + ".partial")
    with open(temporary, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(list(columns))
        for row in rows:
            writer.writerow([_cell(row.get(column), decimals) for column in columns])
    os.replace(temporary, path)
    return path


def read_csv(path) -> List[Dict[str, str]]:
    """Rows of a CSV file as dicts of strings."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays and NaN (to None) recursively for json.dumps."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path, data: Any) -> Path:
    """Write JSON (indented, NaN as null) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name("." + path.name + ".partial")
    temporary.write_text(json.dumps(jsonable(data), indent=2))
    os.replace(temporary, path)
    return path
