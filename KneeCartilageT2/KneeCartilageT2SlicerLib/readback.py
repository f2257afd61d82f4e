"""Read results back from the scene into core objects (after a reload or the reader's edits).

Everything the module needs to re-measure or export lives in nodes, so it
survives saving and re-opening the scene: the T2 fit is rebuilt from the T2
and r^2 maps (valid where T2 > 0), the model's original label from its
hidden labelmap, provenance from the segmentation's attribute.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

import numpy as np

from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.geometry import Volume

from .mrml_helpers import find_result_node
from .plot_nodes import ROLE_CHART
from .results_nodes import (
    ECHO_TIMES_USED_ATTRIBUTE,
    PROVENANCE_ATTRIBUTE,
    ROLE_MODEL_LABEL,
    T2_METHOD_ATTRIBUTE,
    ResultNodes,
)
from .segmentation_nodes import ROLE_CARTILAGE, SEGMENTATION_CLASS
from .subregion_nodes import ROLE_SUBREGIONS
from .table_nodes import ROLE_REGION_TABLE, TABLE_CLASS
from .translation import tr as _
from .volume_nodes import (LABELMAP_VOLUME, ROLE_PROBABILITY, ROLE_R2_MAP, ROLE_T2_MAP, ROLE_T2_STATUS, SCALAR_VOLUME,
                           node_to_volume)


def result_nodes_of(reference_volume) -> ResultNodes:
    """The result nodes already in the scene for ``reference_volume`` (missing ones are None)."""
    scene = reference_volume.GetScene()

    def find(class_name, role):
        return find_result_node(scene, class_name, role, reference_volume)

    return ResultNodes(
        reference_volume=reference_volume,
        segmentation=find(SEGMENTATION_CLASS, ROLE_CARTILAGE),
        model_label=find(LABELMAP_VOLUME, ROLE_MODEL_LABEL),
        t2_map=find(SCALAR_VOLUME, ROLE_T2_MAP),
        r2_map=find(SCALAR_VOLUME, ROLE_R2_MAP),
        t2_status=find(LABELMAP_VOLUME, ROLE_T2_STATUS),
        probability=find(SCALAR_VOLUME, ROLE_PROBABILITY),
        region_table=find(TABLE_CLASS, ROLE_REGION_TABLE),
        chart=find("vtkMRMLPlotChartNode", ROLE_CHART),
        subregions=find(SEGMENTATION_CLASS, ROLE_SUBREGIONS),
    )


def t2_fit_from_nodes(t2_node, r2_node=None, status_node=None):
    """A ``T2FitResult`` rebuilt from the T2 map (ms, 0 = no fit) and r^2 nodes; s0 is not kept (zeros).

    ``status_node``: the fit's status labelmap (:func:`results_nodes.t2_status_node`), so that the regions
    measured again still split the voxels without a valid T2 by reason; the result's ``status`` stays None
    (the split is then left blank, not guessed) without it, or when it lies on other voxels than the T2 map.
    """
    from KneeCartilageT2Lib.t2_fitting import T2FitResult

    if t2_node is None:
        raise InputError(_("No T2 map found for this input: run 'Segment & measure' first."))
    t2 = node_to_volume(t2_node).array.astype(np.float32)
    r2 = node_to_volume(r2_node).array.astype(np.float32) if r2_node is not None else np.zeros_like(t2)
    status = node_to_volume(status_node).array.astype(np.uint8) if status_node is not None else None
    if status is not None and status.shape != t2.shape:
        status = None
    used = [float(v) for v in (t2_node.GetAttribute(ECHO_TIMES_USED_ATTRIBUTE) or "").split(",") if v.strip()]
    return T2FitResult(t2_ms=t2, s0=np.zeros_like(t2), r2=r2, valid=t2 > 0,
                       method=t2_node.GetAttribute(T2_METHOD_ATTRIBUTE) or "mono", echo_times_used_ms=np.asarray(used),
                       parameters={"rebuilt_from": t2_node.GetName()}, status=status)


def model_label_of(reference_volume) -> Optional[Volume]:
    """The model's unedited label for this input, or None when the label did not come from the model."""
    node = find_result_node(reference_volume.GetScene(), LABELMAP_VOLUME, ROLE_MODEL_LABEL, reference_volume)
    return node_to_volume(node) if node is not None else None


def provenance_of(segmentation_node) -> Dict[str, Any]:
    """The provenance recorded with a cartilage segmentation ({} when there is none)."""
    text = segmentation_node.GetAttribute(PROVENANCE_ATTRIBUTE) if segmentation_node is not None else None
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}
