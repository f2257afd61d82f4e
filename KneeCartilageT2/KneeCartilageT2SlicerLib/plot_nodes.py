"""Bar chart of mean T2 per subregion (vtkMRMLPlotSeriesNode + vtkMRMLPlotChartNode).

The chart reads a small table of the 12 subregions (region code, words, mean
T2, SD); one bar per subregion in the paper's order, y axis in ms. Running
again updates the same table, series and chart; a re-measurement of the same
analysis (``keep_style=True``) changes only the values, so the bar colour, plot
type, titles and legend the reader set in the Plots module stay.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Optional, Sequence

from .mrml_helpers import find_result_node, get_or_create_result_node, place_beside
from .table_nodes import table_node_from_rows

ROLE_CHART_TABLE = "SubregionT2ChartTable"
ROLE_CHART = "SubregionT2Chart"  # bar_chart(role_prefix="SubregionT2")
BAR_COLOR = (0.13, 0.27, 0.62)
SUBREGION_CODE = re.compile(r"[DS][LM][ACP]")  # layer, side, sector: the 12 smallest subregions


def subregion_rows(rows: Sequence[Mapping[str, Any]]) -> list:
    """The rows of the 12 subregions (three-letter codes such as ``DLA``), numbered 1..12 in order."""
    picked = [row for row in rows if SUBREGION_CODE.fullmatch(str(row.get("region", "")))]
    return [
        {"bar": index, "region": row["region"], "t2_mean_ms": row.get("t2_mean_ms"), "t2_sd_ms": row.get("t2_sd_ms"),
         "n_t2_voxels": row.get("n_t2_voxels")}
        for index, row in enumerate(picked, start=1)
    ]


def t2_bar_chart(rows: Sequence[Mapping[str, Any]], source_node, name: Optional[str] = None,
                 keep_style: bool = False):
    """Create or update the subregion T2 bar chart; returns the vtkMRMLPlotChartNode (``keep_style``: see
    :func:`bar_chart`)."""
    name = name or "%s T2 by subregion" % source_node.GetName()
    table = table_node_from_rows(subregion_rows(rows), source_node, ROLE_CHART_TABLE, name + " (chart data)")
    return bar_chart(table, source_node, "SubregionT2", name, "t2_mean_ms",
                     "Mean T2 by femoral cartilage subregion", "T2 (ms)", keep_style=keep_style)


def bar_chart(table, source_node, role_prefix: str, name: str, value_column: str, title: str, y_title: str,
              label_column: str = "region", index_column: str = "bar", keep_style: bool = False):
    """One bar per table row (x = ``index_column``, tick labels = ``label_column``); updated in place.

    ``keep_style`` (a re-measurement of the same analysis): an existing series and chart keep their look (bar
    colour, plot type, titles, legend, other series the reader added); only what they plot is set.
    """
    scene = source_node.GetScene()
    series_role, chart_role = role_prefix + "Series", role_prefix + "Chart"
    restyle_series = not keep_style or find_result_node(scene, "vtkMRMLPlotSeriesNode", series_role, source_node) is None
    restyle_chart = not keep_style or find_result_node(scene, "vtkMRMLPlotChartNode", chart_role, source_node) is None
    series = get_or_create_result_node(scene, "vtkMRMLPlotSeriesNode", series_role, source_node, name + " bars")
    series.SetAndObserveTableNodeID(table.GetID())
    series.SetXColumnName(index_column)
    series.SetYColumnName(value_column)
    series.SetLabelColumnName(label_column)
    if restyle_series:
        series.SetPlotType(series.PlotTypeBar)
        series.SetColor(*BAR_COLOR)
    chart = get_or_create_result_node(scene, "vtkMRMLPlotChartNode", chart_role, source_node, name)
    if restyle_chart:
        chart.RemoveAllPlotSeriesNodeIDs()
        chart.SetTitle(title)
        chart.SetXAxisTitle("Subregion (D/S deep/superficial, L/M lateral/medial, A/C/P sector)")
        chart.SetYAxisTitle(y_title)
        chart.SetLegendVisibility(False)
    if not chart.HasPlotSeriesNodeID(series.GetID()):
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
    for node in (table, series, chart):
        place_beside(node, source_node)
    return chart
