"""Small CSV/JSON table writers shared by the longitudinal and agreement reports.

Tables are lists of dicts; column names carry their units (``t2_baseline_ms``,
``hausdorff95_mm``) so a spreadsheet needs no legend. Floats are written with
a fixed number of decimals, NaN/None as an empty cell. Files are written
atomically (temporary name, then rename).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

from .atomic_files import atomic_output, atomic_write_json


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
    with atomic_output(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(list(columns))
        for row in rows:
            writer.writerow([_cell(row.get(column), decimals) for column in columns])
    return path


def read_csv(path) -> List[Dict[str, str]]:
    """Rows of a CSV file as dicts of strings."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def write_json(path, data: Any) -> Path:
    """Write JSON (indented, NaN as null) atomically."""
    return atomic_write_json(path, data)
