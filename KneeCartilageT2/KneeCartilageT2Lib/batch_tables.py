"""Tidy cohort tables of ``knee-t2 batch``, in CSV and Parquet.

* ``cohort_regions``: one row per scan x region, from each scan's
  ``regions/regions.json`` (columns: scan_id, subject, visit, side, then the
  region's own fields, e.g. region, t2_mean_ms, n_voxels ..., then side_note and
  ``side_source``: where the side the scan was measured with came from, its
  ``laterality_source`` — dicom, sidecar, user or estimated; empty for a folder
  written before sources were recorded).
* ``cohort_change``: one row per subject (x side) x region, from each pair's
  ``region_change.csv`` (columns: pair_id, subject, side, baseline_visit,
  followup_visit, then the change table's own columns).
* ``status``: one row per scan and per change pair (kind, id, subject, visit,
  status done/failed/skipped, error, seconds, worker, result, and notes: the
  analysis messages joined by " | ", e.g. loader warnings, a non-sagittal
  series, a blob left out of a condyle circle, so a cohort can be screened).

Both cohort tables carry ``side_note`` (:mod:`cohort_sides`): the rows of a pair whose visits'
sides disagree; it ends ``cohort_change`` and is followed in ``cohort_regions`` by ``side_source``
(added later, so readers of the older columns find them where they were).

Rows are plain dicts; pandas writes them (Parquet through pyarrow). When
pyarrow is missing the CSV is still written and the caller is told.
"""

from __future__ import annotations

import csv
import importlib
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .atomic_files import atomic_output

REGION_TABLE_NAMES = ("regions/regions.json", "regions.json")
CHANGE_TABLE_NAME = "region_change.csv"
CHANGE_SUMMARY_NAME = "change.json"
STATUS_COLUMNS = ("kind", "id", "subject", "visit", "side", "status", "error", "seconds", "worker")
SIDE_SOURCE_COLUMN = "side_source"


def scan_region_rows(scan_dir, job) -> List[Dict[str, Any]]:
    """Rows of one scan's region table, each prefixed with the scan's identity and ending with
    ``side_source``; [] when absent."""
    path = region_table_path(scan_dir)
    if path is None:
        return []
    data = json.loads(path.read_text())
    side, source = measured_side(data)
    prefix = {"scan_id": job.scan_id, "subject": job.subject, "visit": job.visit, "side": job.side or side}
    return [dict(prefix, **dict(row, **{SIDE_SOURCE_COLUMN: source})) for row in region_records(data)]


def region_table_path(scan_dir) -> Optional[Path]:
    """A scan folder's region table (``regions/regions.json``, else ``regions.json``); None when absent."""
    return next((Path(scan_dir) / name for name in REGION_TABLE_NAMES if (Path(scan_dir) / name).is_file()), None)


def measured_side(data: Any) -> Tuple[str, str]:
    """``(side, source)`` a scan was measured with, from its region table's ``laterality`` and
    ``laterality_source`` (e.g. ``("left", "sidecar")`` for an echo stack whose sidecar names the side);
    "" for what the table does not hold."""
    if not isinstance(data, dict):
        return "", ""
    side, source = data.get("laterality"), data.get("laterality_source")
    return (side if isinstance(side, str) else "", source if isinstance(source, str) else "")


def region_records(data: Any) -> List[Dict[str, Any]]:
    """Flatten the accepted region-table shapes into one flat dict per region.

    Accepted: ``{"regions": [{"region": name, ...}, ...]}``, ``{"regions": {name: {...}}}``,
    a bare list of dicts, or a bare ``{name: {...}}`` mapping. Nested dicts become
    ``outer_inner`` columns.
    """
    if isinstance(data, dict) and "regions" in data:
        data = data["regions"]
    if isinstance(data, dict):
        data = [dict({"region": name}, **values) for name, values in data.items() if isinstance(values, dict)]
    if not isinstance(data, list):
        return []
    records = []
    for item in data:
        if isinstance(item, dict):
            if "region" not in item and "name" in item:
                item = dict(item, region=item["name"])
                item.pop("name")
            records.append(_flatten(item))
    return records


def change_rows(pair_dir, pair) -> List[Dict[str, Any]]:
    """Rows of one pair's ``region_change.csv``, each prefixed with the pair's identity.

    The side is the manifest's; for a pair whose rows gave none, the side the
    change was measured with, as its ``change.json`` records it (``side``:
    the side used, with its source and confidence), as the scan rows take
    theirs from ``regions.json``.
    """
    path = Path(pair_dir) / CHANGE_TABLE_NAME
    if not path.is_file():
        return []
    prefix = {"pair_id": pair.pair_id, "subject": pair.subject, "side": pair.side or _change_side(Path(pair_dir)),
              "baseline_visit": pair.baseline.visit, "followup_visit": pair.followup.visit}
    with open(path, newline="", encoding="utf-8") as stream:
        return [dict(prefix, **{key: _number(value) for key, value in row.items()}) for row in csv.DictReader(stream)]


def _change_side(pair_dir: Path) -> str:
    """``"right"``/``"left"``: the side a pair's change was measured with (its ``change.json``); "" when it is
    not recorded or the file cannot be read (the pair's rows are kept, without a side)."""
    try:
        data = json.loads((pair_dir / CHANGE_SUMMARY_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing or damaged: the rows stay, without a side
        return ""
    if not isinstance(data, dict):
        return ""
    side = data.get("side")
    laterality = side.get("laterality") if isinstance(side, dict) else data.get("laterality")
    return laterality if laterality in ("right", "left") else ""


def write_table(rows: List[Dict[str, Any]], out_base, columns: Optional[List[str]] = None) -> List[str]:
    """Write ``out_base.csv`` and ``out_base.parquet``; returns notes (e.g. Parquet skipped)."""
    import pandas as pd

    out_base = Path(out_base)
    out_base.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=columns) if columns is not None or not rows else pd.DataFrame(rows)
    _keep_integer_counts(frame, rows)
    _replace_after(out_base.with_suffix(".csv"), lambda path: frame.to_csv(path, index=False))
    try:
        importlib.import_module("pyarrow")  # only to know whether pandas can write Parquet
    except ImportError:
        return ["pyarrow is not installed: wrote %s.csv only (pip install pyarrow for Parquet)" % out_base.name]
    for column in frame.columns:  # Parquet needs one type per column: text wins over numbers
        if frame[column].dtype == object and frame[column].map(lambda value: isinstance(value, str)).any():
            frame[column] = frame[column].map(_text_or_none)
    _replace_after(out_base.with_suffix(".parquet"), lambda path: frame.to_parquet(path, index=False))
    return []


def _keep_integer_counts(frame, rows: List[Dict[str, Any]]) -> None:
    """Give a column whose given values are all integers pandas' nullable integer type, in place.

    Rows that lack a count (scans measured before ``n_t2_no_fit`` / ``n_t2_out_of_range`` were recorded, mixed
    with newer ones) made pandas store the column as floats, so the CSV wrote "12.0"; now it writes "12", and
    an empty cell where the count is unknown (Parquet: an integer column with nulls)."""
    for column in frame.columns:
        values = [row[column] for row in rows if row.get(column) is not None]
        if values and all(_is_integer(value) for value in values) and frame[column].dtype.kind == "f":
            frame[column] = frame[column].astype("Int64")


def _is_integer(value: Any) -> bool:
    import numpy as np

    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _text_or_none(value: Any) -> Optional[str]:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


def _replace_after(path: Path, writer) -> None:
    """Run ``writer(temporary_path)`` and put the finished file in place of ``path`` atomically."""
    with atomic_output(path) as temporary:
        writer(temporary)


def _flatten(item: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    flat: Dict[str, Any] = {}
    for key, value in item.items():
        name = "%s_%s" % (prefix, key) if prefix else str(key)
        if isinstance(value, dict):
            flat.update(_flatten(value, name))
        elif isinstance(value, (list, tuple)):
            flat[name] = json.dumps(value)
        else:
            flat[name] = value
    return flat


def _number(text: str) -> Any:
    if text is None or text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
