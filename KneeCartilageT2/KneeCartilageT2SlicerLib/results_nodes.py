"""Put an ``AnalysisResult`` (:mod:`KneeCartilageT2Lib.pipeline`) into the scene.

One call creates or updates every result node of one input: the femoral
cartilage segmentation, the model's unedited label (kept hidden, for the
correction export), the T2 and r^2 maps, the cartilage probability, the
regional table, the subregion T2 bar chart, the subregion segmentation and
the projection maps. Nodes are found again by role, so a second run updates
them in place. Provenance (model, device, T2 method, options) travels with
the segmentation node as JSON in the ``KneeT2.Provenance`` attribute; the
region table records which label it was measured from (``KneeT2.MeasuredLabel``,
a digest of the label's voxels), as does each projection map, so the panel can
tell when an edit has left the measurements behind (:mod:`.edit_tracking`); the
chart, subregions and maps a measurement did not produce are marked out of date (:mod:`.results_status`). A new analysis shows every
node with its defaults (T2 window 0-100 ms or up to the 'Valid T2' upper limit,
:func:`t2_colors.t2_window_for_range`); a re-measurement of the same analysis
(``keep_display=True``, after the reader's edits) changes only values, so the
window/level, colour tables, visibility, segment looks and chart style the
reader chose stay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from KneeCartilageT2Lib.geometry import Volume

from .mrml_helpers import MEASURED_LABEL_ATTRIBUTE, find_result_node, place_beside, set_input_attribute
from .plot_nodes import t2_bar_chart
from .results_status import mark_results, stamp_results
from .projection_nodes import projection_nodes
from .segmentation_nodes import cartilage_segmentation_node
from .subregion_nodes import subregion_segmentation_node
from .t2_colors import t2_window_for_range
from .table_nodes import region_table_node
from .volume_nodes import (
    LABELMAP_VOLUME,
    ROLE_PROBABILITY,
    ROLE_T2_STATUS,
    r2_map_node,
    result_volume,
    result_volume_node,
    set_fixed_window,
    t2_map_node,
)

ROLE_MODEL_LABEL = "ModelLabel"
ANALYSED_ATTRIBUTE = "KneeT2.Analysed"  # on the reference volume: lets the visit selectors list analysed inputs
ANALYSED_SIDE_ATTRIBUTE = "KneeT2.AnalysedSide"  # the knee side the regions were measured with
ANALYSED_SIDE_SOURCE_ATTRIBUTE = "KneeT2.AnalysedSideSource"  # where that side came from: dicom, user or estimated
ANALYSED_SIDE_CONFIDENCE_ATTRIBUTE = "KneeT2.AnalysedSideConfidence"  # 1 when known, the estimator's 0.5-0.9 else
PROVENANCE_ATTRIBUTE = "KneeT2.Provenance"
T2_METHOD_ATTRIBUTE = "KneeT2.T2Method"
ECHO_TIMES_USED_ATTRIBUTE = "KneeT2.EchoTimesUsedMs"


@dataclass
class ResultNodes:
    """The nodes showing one analysis; ``None`` for parts that were not produced."""

    reference_volume: Any
    segmentation: Any = None
    model_label: Any = None
    t2_map: Any = None
    r2_map: Any = None
    t2_status: Any = None  # hidden labelmap of the fit's t2_status codes; None when the fit's status is not known
    probability: Any = None
    region_table: Any = None
    chart: Any = None
    subregions: Any = None
    projections: Dict[str, Any] = field(default_factory=dict)
    messages: List[str] = field(default_factory=list)


def present_analysis(result, reference_volume, laterality: Optional[str] = None,
                     write_segmentation: bool = True, keep_display: bool = False) -> ResultNodes:
    """Create or update the result nodes of ``result`` beside ``reference_volume``.

    ``write_segmentation=False`` leaves the cartilage segment as it is (a
    re-measurement after the reader's edits must not overwrite them).
    ``keep_display=True`` (a re-measurement of the analysis shown) leaves the
    display of nodes that exist already as the reader set it; nodes made now
    get the defaults.
    """
    side, side_source, confidence = (laterality, "user", 1.0) if laterality else _result_side(result)
    set_input_attribute(reference_volume, ANALYSED_ATTRIBUTE, "1")  # lasts while the reader pages through echoes
    if side:
        set_input_attribute(reference_volume, ANALYSED_SIDE_ATTRIBUTE, str(side))
    # how the side is known, for the change between visits (an estimate is checked, not trusted); None removes
    # what an earlier analysis of this input recorded
    set_input_attribute(reference_volume, ANALYSED_SIDE_SOURCE_ATTRIBUTE, side_source)
    set_input_attribute(reference_volume, ANALYSED_SIDE_CONFIDENCE_ATTRIBUTE,
                        None if confidence is None else "%.3f" % confidence)
    nodes = ResultNodes(reference_volume=reference_volume, messages=list(getattr(result, "messages", [])))
    label = result.label
    if write_segmentation:
        nodes.segmentation = cartilage_segmentation_node(label, reference_volume, side)
        nodes.segmentation.SetAttribute(PROVENANCE_ATTRIBUTE, json.dumps(result.provenance, default=str))
    if getattr(result, "label_source", "") == "model":
        nodes.model_label = model_label_node(label, reference_volume)
    window = t2_window_for_range(analysis_t2_range(result))
    nodes.t2_map, nodes.r2_map = _t2_nodes(result.t2, label, reference_volume, window, keep_display)
    nodes.t2_status = t2_status_node(getattr(result.t2, "status", None), label, reference_volume)
    if result.probabilities is not None:
        nodes.probability, new_display = result_volume(
            _float_volume(result.probabilities), reference_volume, ROLE_PROBABILITY,
            "%s cartilage probability" % reference_volume.GetName())
        if new_display or not keep_display:
            set_fixed_window(nodes.probability, 0.0, 1.0)
    digest = label_digest(label.array)
    if result.regions is not None:
        _present_regions(nodes, result.regions, reference_volume, side, window, keep_display)
        nodes.region_table.SetAttribute(MEASURED_LABEL_ATTRIBUTE, digest)
        stamp_results(reference_volume, nodes.projections, digest)
    mark_results(reference_volume, digest)  # a chart, subregion set or map left with earlier values is marked so
    return nodes


def label_digest(mask) -> str:
    """A fingerprint of a label's voxels (non-zero = inside) and its (slice, row, col) shape: two labels
    get the same digest exactly when they mark the same voxels (the drafts' digest, one definition)."""
    from KneeCartilageT2Lib.draft_files import voxel_digest

    return voxel_digest(mask)


def model_label_node(label: Volume, reference_volume):
    """The model's unedited label as a hidden labelmap: the "original" of a correction export."""
    node = result_volume_node(label.with_array(np.asarray(label.array, dtype=np.uint8)), reference_volume,
                              ROLE_MODEL_LABEL, "%s model label (original)" % reference_volume.GetName(),
                              LABELMAP_VOLUME)
    node.SetHideFromEditors(True)
    return node


def t2_status_node(status, label: Volume, reference_volume):
    """The T2 fit's status codes (:mod:`KneeCartilageT2Lib.t2_status`, uint8, ``(slice, row, col)``) as a hidden
    labelmap beside the T2 map, or None when the fit's status is not known.

    It lets a re-measurement after the reader's edits (which reuses the T2 map, not the fit) still tell the
    cartilage voxels without a T2 (``n_t2_no_fit``) from those whose T2 fell outside the range
    (``n_t2_out_of_range``). A fit without status (one rebuilt from a scene saved before the status was kept)
    removes the node an earlier fit left, so that it never describes another T2 map.
    """
    scene = reference_volume.GetScene()
    if status is None:
        old = find_result_node(scene, LABELMAP_VOLUME, ROLE_T2_STATUS, reference_volume)
        if old is not None:
            scene.RemoveNode(old)
        return None
    node = result_volume_node(label.with_array(np.asarray(status, dtype=np.uint8)), reference_volume, ROLE_T2_STATUS,
                              "%s T2 fit status" % reference_volume.GetName(), LABELMAP_VOLUME)
    node.SetHideFromEditors(True)
    return node


def analysis_t2_range(result) -> Optional[Tuple[float, float]]:
    """The valid T2 range ``(low, high]`` (ms) the result's T2 map was fitted with: the fit's own record, else
    the analysis options in its provenance (a re-measurement keeps the first run's, whose T2 map it reuses);
    None when neither says (a scene saved before the range was recorded)."""
    parameters = getattr(result.t2, "parameters", None) or {}
    options = (getattr(result, "provenance", None) or {}).get("options") or {}
    found = parameters.get("t2_range_ms") or options.get("t2_range_ms")
    return (float(found[0]), float(found[1])) if found else None


def _t2_nodes(t2_fit, label: Volume, reference_volume, window_ms, keep_display: bool):
    valid = np.asarray(t2_fit.valid, dtype=bool)
    t2_values = np.where(valid, t2_fit.t2_ms, 0.0).astype(np.float32)
    t2_node = t2_map_node(label.with_array(t2_values), reference_volume, window_ms=window_ms, keep_display=keep_display)
    t2_node.SetAttribute(T2_METHOD_ATTRIBUTE, str(t2_fit.method))
    used = getattr(t2_fit, "echo_times_used_ms", None)
    if used is not None:
        t2_node.SetAttribute(ECHO_TIMES_USED_ATTRIBUTE, ",".join("%.6g" % t for t in np.ravel(used)))
    r2_node = r2_map_node(label.with_array(np.where(valid, t2_fit.r2, 0.0).astype(np.float32)), reference_volume,
                          keep_display=keep_display)
    return t2_node, r2_node


def _present_regions(nodes: ResultNodes, regions, reference_volume, side: Optional[str], t2_window_ms,
                     keep_display: bool) -> None:
    nodes.region_table = region_table_node(regions.rows, reference_volume)
    nodes.chart = t2_bar_chart(regions.rows, reference_volume, keep_style=keep_display)
    nodes.subregions = subregion_segmentation_node(regions.subregion_labels, reference_volume, side,
                                                   keep_display=keep_display)
    nodes.projections = projection_nodes(regions.projections, reference_volume, t2_window_ms, keep_display)
    for node in [nodes.region_table, nodes.subregions] + list(nodes.projections.values()):
        place_beside(node, reference_volume)


def _float_volume(volume: Volume) -> Volume:
    return volume.with_array(np.asarray(volume.array, dtype=np.float32))


def _result_side(result):
    """``(side, source, confidence)`` the regions were measured with; without regions the exam's side with
    source and confidence None (not known how it was decided)."""
    regions = getattr(result, "regions", None)
    orientation = getattr(regions, "orientation", None)
    side = getattr(orientation, "laterality", None)
    if side:
        return side, orientation.side_source, float(orientation.side_confidence)
    exam = getattr(result, "exam", None)
    return getattr(exam, "laterality", None), None, None
