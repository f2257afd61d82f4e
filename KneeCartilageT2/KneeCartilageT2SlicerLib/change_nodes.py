"""Longitudinal change between two analysed visits, shown as nodes.

The computing is :func:`KneeCartilageT2Lib.longitudinal.compute_change`
(rigid registration of the follow-up onto the baseline, per-region
follow-up minus baseline T2, focal clusters of raised T2 on the unrolled
surface). This file builds its inputs from the visits' result nodes (the
possibly edited cartilage segment, the T2 map, the echo nearest 20 ms for
registration) and shows its outputs: the change table and a bar chart of
the subregions (on the follow-up), the registration as a linear transform
("follow-up to baseline": put the follow-up under it to overlay the
visits), the T2 difference map and the clusters of raised T2 on the
baseline cartilage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

import numpy as np

from KneeCartilageT2Lib.errors import InputError, KneeT2Error

from .exam_from_nodes import exam_from_node
from .mrml_helpers import get_or_create_result_node, matrix_to_vtk, place_beside
from .plot_nodes import bar_chart, subregion_rows
from .readback import result_nodes_of
from .results_nodes import ANALYSED_SIDE_ATTRIBUTE, ANALYSED_SIDE_CONFIDENCE_ATTRIBUTE, ANALYSED_SIDE_SOURCE_ATTRIBUTE
from .segmentation_nodes import read_segment
from .table_nodes import table_node_from_rows
from .translation import tr as _
from .volume_nodes import LABELMAP_VOLUME, node_to_volume, result_volume_node

ROLE_CHANGE_TABLE = "RegionChange"
ROLE_CHANGE_CHART_TABLE = "RegionChangeChartTable"
ROLE_REGISTRATION = "FollowupToBaseline"
ROLE_CLUSTERS = "T2IncreaseClusters"
ROLE_DIFFERENCE_MAP = "Projection.t2_change"
BASELINE_REFERENCE = "KneeT2.Baseline"
ANATOMY_TE_MS = 20.0
DIVERGING_COLOR_NODE_ID = "vtkMRMLColorTableNodefMRI"  # built-in blue (decrease) to red/yellow (increase)


@dataclass
class ChangeNodes:
    """The nodes showing one baseline -> follow-up comparison."""

    table: Any
    chart: Any
    transform: Any = None
    clusters: Any = None
    difference_map: Any = None
    result: Any = None
    warnings: List[str] = field(default_factory=list)


def visit_from_nodes(reference_volume):
    """A ``longitudinal.VisitData`` from an analysed input's nodes (edited segment, T2 map, anatomy, side)."""
    from KneeCartilageT2Lib.longitudinal import VisitData

    results = result_nodes_of(reference_volume)
    if results.segmentation is None or results.t2_map is None:
        raise InputError(_("'{name}' has not been analysed: run 'Segment & measure' on it first.").format(
            name=reference_volume.GetName()))
    anatomy, data_side, data_source = None, "unknown", "dicom"
    try:
        exam = exam_from_node(reference_volume)
        anatomy = exam.echo_volume(exam.echo_index_nearest(ANATOMY_TE_MS))
        data_side, data_source = exam.laterality, exam.laterality_source
    except KneeT2Error:
        pass  # echo times not stored with the node: register on the cartilage label instead
    side, source, estimate = analysed_side(reference_volume, data_side, data_source)
    return VisitData(label=read_segment(results.segmentation, reference_volume), t2=node_to_volume(results.t2_map),
                     anatomy=anatomy, laterality=side, laterality_source=source, source=reference_volume.GetName(),
                     side_estimate=estimate)


def analysed_side(reference_volume, data_side: str = "unknown", data_source: str = "dicom"):
    """``(laterality, source, side_estimate)`` of an analysed input for the change between visits.

    The side the regions were measured with counts as known when it came from the data or the panel's
    'Knee side' (its recorded source); else the side in the data (``data_source``: the DICOM Laterality,
    ``"dicom"``, or an echo stack's sidecar, ``"sidecar"``); else a side the
    analysis only estimated stays unknown with that estimate (side and confidence) so that the change
    checks it against the other visit. An input analysed before the source was recorded: its side is
    estimated again from the cartilage.
    """
    from KneeCartilageT2Lib.visit_sides import recorded_estimate

    side = reference_volume.GetAttribute(ANALYSED_SIDE_ATTRIBUTE) or "unknown"
    source = reference_volume.GetAttribute(ANALYSED_SIDE_SOURCE_ATTRIBUTE)
    if source in ("dicom", "sidecar", "user") and side in ("right", "left"):
        return side, source, None
    if data_side in ("right", "left"):
        return data_side, data_source, None
    if source == "estimated":
        return "unknown", "user", recorded_estimate(
            side, reference_volume.GetAttribute(ANALYSED_SIDE_CONFIDENCE_ATTRIBUTE), "recorded by its analysis")
    return "unknown", "user", None


def region_change_nodes(baseline_volume, followup_volume, options=None, progress=None) -> ChangeNodes:
    """Compute the change between two analysed visits and create or update its nodes."""
    from KneeCartilageT2Lib.longitudinal import compute_change
    from KneeCartilageT2Lib.longitudinal_io import change_table_rows

    if baseline_volume.GetID() == followup_volume.GetID():
        raise InputError(_("Baseline and follow-up are the same node; select two visits of the same knee."))
    result = compute_change(visit_from_nodes(baseline_volume), visit_from_nodes(followup_volume), options, progress)
    name = "%s vs %s T2 change" % (followup_volume.GetName(), baseline_volume.GetName())
    table = table_node_from_rows(change_table_rows(result), followup_volume, ROLE_CHANGE_TABLE, name)
    table.SetNodeReferenceID(BASELINE_REFERENCE, baseline_volume.GetID())
    chart_rows = [dict(row, t2_mean_ms=row["delta_t2_ms"]) for row in result.rows]
    chart_table = table_node_from_rows(subregion_rows(chart_rows), followup_volume, ROLE_CHANGE_CHART_TABLE,
                                       name + " (chart data)")
    chart = bar_chart(chart_table, followup_volume, "RegionChange", name + " by subregion", "t2_mean_ms",
                      "T2 change by subregion (follow-up minus baseline)", "T2 change (ms)")
    nodes = ChangeNodes(table, chart, result=result, warnings=list(result.warnings))
    nodes.transform = _registration_node(result, followup_volume)
    if result.lesions is not None:
        nodes.difference_map = _difference_map(result.lesions, baseline_volume)
    if result.lesion_labels_3d is not None:
        nodes.clusters = result_volume_node(_uint8(result.lesion_labels_3d), baseline_volume, ROLE_CLUSTERS,
                                            "%s T2 increase clusters" % name, LABELMAP_VOLUME)
    return nodes


def _registration_node(result, followup_volume) -> Optional[Any]:
    if result.registration is None:
        return None
    scene = followup_volume.GetScene()
    node = get_or_create_result_node(scene, "vtkMRMLLinearTransformNode", ROLE_REGISTRATION, followup_volume,
                                     "%s to baseline" % followup_volume.GetName())
    node.SetMatrixTransformToParent(matrix_to_vtk(result.registration.followup_to_baseline_ras))
    place_beside(node, followup_volume)
    return node


def _difference_map(lesions, baseline_volume):
    from KneeCartilageT2Lib.projection import ProjectionMap

    from .projection_nodes import projection_volume
    from .t2_colors import apply_t2_window

    difference = ProjectionMap(np.asarray(lesions.difference_ms, dtype=np.float32), lesions.row_positions_mm,
                               lesions.col_positions_mm, "t2_change", "ms")
    node = result_volume_node(projection_volume(difference), baseline_volume, ROLE_DIFFERENCE_MAP,
                              "%s T2 change map" % baseline_volume.GetName())
    if node.GetScene().GetNodeByID(DIVERGING_COLOR_NODE_ID) is not None:
        node.GetDisplayNode().SetAndObserveColorNodeID(DIVERGING_COLOR_NODE_ID)
    apply_t2_window(node, (-15.0, 15.0))
    return node


def _uint8(volume):
    return volume.with_array(np.asarray(volume.array).astype(np.uint8))
