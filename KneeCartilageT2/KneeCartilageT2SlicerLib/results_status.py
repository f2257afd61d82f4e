"""Which measured results of an input describe its segment as it is now; the others are marked out of date (no Qt).

A regional measurement makes the region table, the subregion T2 bar chart, the
subregion segmentation and the projection maps. When an edit cannot
be measured (too little cartilage left, say) or the reader has not updated yet,
they keep the previous segment's values; the panel's status line says so, and
so do the nodes themselves, wherever they are shown: each is stamped with the
digest of the label it was measured in and marked as :mod:`.out_of_date_marks`
describes (the maps through :mod:`.projection_status`, which also lists them).
"""

from __future__ import annotations

from typing import List, Optional

from .mrml_helpers import MEASURED_LABEL_ATTRIBUTE, find_result_node
from .out_of_date_marks import mark_by_digest
from .plot_nodes import ROLE_CHART
from .projection_status import mark_maps, stamp_maps
from .segmentation_nodes import SEGMENTATION_CLASS
from .subregion_nodes import ROLE_SUBREGIONS
from .table_nodes import ROLE_REGION_TABLE

CHART_CLASS = "vtkMRMLPlotChartNode"
TABLE_CLASS = "vtkMRMLTableNode"


def region_result_nodes(reference_volume) -> dict:
    """The input's region table, subregion bar chart and subregion segmentation by key (``table``, ``chart``,
    ``subregions``); a node the scene does not hold is left out."""
    scene = reference_volume.GetScene()
    found = {"table": find_result_node(scene, TABLE_CLASS, ROLE_REGION_TABLE, reference_volume),
             "chart": find_result_node(scene, CHART_CLASS, ROLE_CHART, reference_volume),
             "subregions": find_result_node(scene, SEGMENTATION_CLASS, ROLE_SUBREGIONS, reference_volume)}
    return {key: node for key, node in found.items() if node is not None}


def stamp_results(reference_volume, projections: dict, label_digest: str) -> None:
    """Record that this measurement made the chart, the subregions and the ``projections`` maps (by name) in the
    label of digest ``label_digest`` (:func:`projection_status.stamp_maps` for the maps)."""
    for node in region_result_nodes(reference_volume).values():
        node.SetAttribute(MEASURED_LABEL_ATTRIBUTE, label_digest)
    stamp_maps(reference_volume, projections, label_digest)


def mark_results(reference_volume, segment_digest: Optional[str]) -> List[str]:
    """Mark the input's chart, subregions and maps not measured in the segment of digest ``segment_digest``
    (None: there is no segment) out of date and unmark the others; returns the keys of those out of date
    (``table``, ``chart``, ``subregions``, then the map names). A chart or subregion set from before the stamp was
    recorded counts as out of date until measured again, as the maps do."""
    return mark_by_digest(region_result_nodes(reference_volume), segment_digest) + mark_maps(reference_volume,
                                                                                         segment_digest)
