"""Longitudinal change per region between two analysed visits, as a table and a bar chart.

Regional means do not depend on voxel alignment, so the change of mean T2
(and of thickness and volume) per region is follow-up minus baseline of the
two visits' region tables (the paper's four-year change; sign: positive =
T2 rose). Both visits must have been analysed with the same region mode.
Pixel-wise comparisons (focal lesion clusters) need the visits registered
and are done by the core package's longitudinal analysis.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List

from KneeCartilageT2Lib.errors import InputError

from .plot_nodes import bar_chart, subregion_rows
from .readback import result_nodes_of
from .table_nodes import rows_from_table, table_node_from_rows

ROLE_CHANGE_TABLE = "RegionChange"
ROLE_CHANGE_CHART_TABLE = "RegionChangeChartTable"
BASELINE_REFERENCE = "KneeT2.Baseline"
CHANGED_QUANTITIES = ("t2_mean_ms", "thickness_mean_mm", "volume_mm3")


def _region_rows(reference_volume, visit: str) -> Dict[str, Dict[str, Any]]:
    table = result_nodes_of(reference_volume).region_table
    if table is None:
        raise InputError("The %s visit '%s' has no region table: analyse it first." % (visit, reference_volume.GetName()))
    return {row["region"]: row for row in rows_from_table(table)}


def change_rows(baseline: Dict[str, Dict[str, Any]], followup: Dict[str, Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Per region (baseline order): both visits' values and follow-up minus baseline."""
    modes = {row.get("mode") for row in list(baseline.values()) + list(followup.values())}
    if len(modes - {None}) > 1:
        raise InputError("The two visits were measured with different region modes (%s); re-measure one of them "
                         "so that both use the same subregion definition." % ", ".join(sorted(map(str, modes))))
    rows = []
    for region, first in baseline.items():
        second = followup.get(region)
        if second is None:
            continue
        row: Dict[str, Any] = {"region": region, "description": first.get("description", region)}
        for quantity in CHANGED_QUANTITIES:
            before, after = _number(first.get(quantity)), _number(second.get(quantity))
            row["baseline_" + quantity] = before
            row["followup_" + quantity] = after
            row["change_" + quantity] = after - before
        rows.append(row)
    return rows


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def region_change_nodes(baseline_volume, followup_volume):
    """Create or update the change table (and its subregion bar chart) on the follow-up; returns the table."""
    rows = change_rows(_region_rows(baseline_volume, "baseline"), _region_rows(followup_volume, "follow-up"))
    name = "%s vs %s T2 change" % (followup_volume.GetName(), baseline_volume.GetName())
    table = table_node_from_rows(rows, followup_volume, ROLE_CHANGE_TABLE, name)
    table.SetNodeReferenceID(BASELINE_REFERENCE, baseline_volume.GetID())
    chart_rows = [dict(row, t2_mean_ms=row["change_t2_mean_ms"]) for row in rows]
    chart_table = table_node_from_rows(subregion_rows(chart_rows), followup_volume, ROLE_CHANGE_CHART_TABLE,
                                       name + " (chart data)")
    bar_chart(chart_table, followup_volume, "RegionChange", name + " by subregion", "t2_mean_ms",
              "T2 change by subregion (follow-up minus baseline)", "T2 change (ms)")
    return table

