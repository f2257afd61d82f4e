"""Result rows -> vtkMRMLTableNode, with typed columns, units and descriptions.

Rows are mappings (column -> value), e.g. the 27 rows of
``RegionAnalysis.rows``. Column types follow the values (text, integer,
real; ``None`` becomes NaN in a real column) and units follow the column-name suffix
(``_ms`` -> ms, ``_mm`` -> mm, ``_mm3`` -> mm3, ``_percent`` -> %), so that
the table view and CSV export are self-explanatory. A value not known
(``None``) in a column of counts, or a column with no value at all (e.g.
``n_t2_no_fit`` when the T2 fit's status is not known), shows blank, never
``0`` or ``nan``. Running again rewrites the same table node.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence

import vtk

from .mrml_helpers import get_or_create_result_node, place_beside

TABLE_CLASS = "vtkMRMLTableNode"
ROLE_REGION_TABLE = "RegionTable"
UNIT_SUFFIXES = (("_mm3", "mm3"), ("_ms", "ms"), ("_mm", "mm"), ("_ml", "ml"), ("_percent", "%"), ("_deg", "deg"))
COLUMN_DESCRIPTIONS = {
    "region": "Region code: layer (D deep, S superficial), side (L lateral, M medial), sector (A/C/P)",
    "description": "Region in words",
    "mode": "Subregion definition: improved (anatomical) or reference (paper)",
    "n_voxels": "Cartilage voxels in the region",
    "n_t2_voxels": "Voxels with a valid T2 fit",
    "volume_mm3": "Cartilage volume",
    "t2_mean_ms": "Mean T2",
    "t2_median_ms": "Median T2",
    "t2_sd_ms": "Standard deviation of T2",
    "thickness_mean_mm": "Mean cartilage thickness",
    "thickness_max_mm": "Maximum cartilage thickness",
    "n_t2_no_fit": ("Cartilage voxels without T2: no signal above the noise, the fit failed, "
                    "or outside the fitted voxels"),
    "n_t2_out_of_range": "Cartilage voxels whose T2 fell outside the valid range (above it: fluid)",
}


def column_unit(name: str) -> str:
    for suffix, unit in UNIT_SUFFIXES:
        if name.endswith(suffix):
            return unit
    return ""


def _column_kind(values: Sequence[Any]) -> str:
    """``text``, ``integer`` or ``real``; a column with no value (None or NaN only), or counts with a value not
    known, are text, so that the missing values show blank."""
    if all(_missing(value) for value in values):
        return "text"
    present = [value for value in values if value is not None]
    if all(isinstance(value, str) for value in present):
        return "text"
    if all(isinstance(value, (bool, int)) or (hasattr(value, "dtype") and value.dtype.kind in "biu")
           for value in present):
        return "integer" if len(present) == len(values) else "text"
    if all(_is_number(value) for value in present):
        return "real"
    return "text"


def _missing(value: Any) -> bool:
    """None, or a real NaN (a value not known)."""
    if value is None:
        return True
    try:
        return not isinstance(value, str) and math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _is_number(value: Any) -> bool:
    try:
        float(value)
        return not isinstance(value, str)
    except (TypeError, ValueError):
        return False


def _make_column(name: str, values: Sequence[Any]):
    kind = _column_kind(values)
    if kind == "integer":
        array = vtk.vtkIntArray()
        for value in values:
            array.InsertNextValue(int(value))  # every value is known (_column_kind)
    elif kind == "real":
        array = vtk.vtkDoubleArray()
        for value in values:
            array.InsertNextValue(float(value) if value is not None else math.nan)
    else:
        array = vtk.vtkStringArray()
        for value in values:
            array.InsertNextValue("" if _missing(value) else str(value))  # a count as its digits
    array.SetName(name)
    return array


def fill_table(table_node, rows: Sequence[Mapping[str, Any]], columns: Optional[List[str]] = None,
               descriptions: Optional[Dict[str, str]] = None) -> None:
    """Replace the table's content by ``rows`` (columns in ``columns`` order, default: first row's keys)."""
    columns = list(columns) if columns is not None else (list(rows[0].keys()) if rows else [])
    descriptions = dict(COLUMN_DESCRIPTIONS, **(descriptions or {}))
    was_modifying = table_node.StartModify()
    table_node.RemoveAllColumns()
    for name in columns:
        table_node.AddColumn(_make_column(name, [row.get(name) for row in rows]))
        table_node.SetColumnUnitLabel(name, column_unit(name))
        if name in descriptions:
            table_node.SetColumnDescription(name, descriptions[name])
    table_node.SetUseColumnTitleAsColumnHeader(True)
    table_node.EndModify(was_modifying)
    table_node.Modified()


def rows_from_table(table_node) -> List[Dict[str, Any]]:
    """The table's content as a list of dicts (numbers as float/int, text as str)."""
    table = table_node.GetTable()
    names = [table.GetColumnName(index) for index in range(table.GetNumberOfColumns())]
    rows = []
    for row in range(table.GetNumberOfRows()):
        entry = {}
        for index, name in enumerate(names):
            column = table.GetColumn(index)
            value = column.GetValue(row)
            entry[name] = value if isinstance(column, vtk.vtkStringArray) else (
                int(value) if isinstance(column, vtk.vtkIntArray) else float(value))
        rows.append(entry)
    return rows


def table_node_from_rows(rows: Sequence[Mapping[str, Any]], source_node, role: str, name: str,
                         columns: Optional[List[str]] = None):
    """Create or update the table of ``role`` computed from ``source_node``; returns the table node."""
    node = get_or_create_result_node(source_node.GetScene(), TABLE_CLASS, role, source_node, name)
    fill_table(node, rows, columns)
    place_beside(node, source_node)
    return node


def region_table_node(rows: Sequence[Mapping[str, Any]], source_node, name: Optional[str] = None):
    """The regional statistics table (27 regions): region, words, voxels, volume, T2, thickness."""
    enriched = [dict(row, description=_describe(row.get("region", ""))) for row in rows]
    columns = None
    if enriched:
        keys = [key for key in enriched[0] if key != "description"]
        columns = keys[:1] + ["description"] + keys[1:]
    return table_node_from_rows(enriched, source_node, ROLE_REGION_TABLE,
                                name or "%s cartilage regions" % source_node.GetName(), columns)


def _describe(region: str) -> str:
    try:
        from KneeCartilageT2Lib.region_definitions import describe_region

        return describe_region(region)
    except (ImportError, KeyError):
        return region
