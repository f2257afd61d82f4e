"""Keep the measurements in step with the reader's edits of the cartilage segment (no Qt).

Every measurement stamps its region table with a digest of the label it was
measured in (:func:`results_nodes.label_digest`). After an edit the panel asks
:func:`measurement_state`: *current* while the segment still marks exactly
those voxels, *stale* once it does not (or when the table predates the stamp),
*none* before any measurement. A stale table, chart, T2 projection and
subregion set are then either re-measured at once, which costs a fraction of
a second because the T2 fit is reused (the panel's "Update measurements as I
edit"), or marked out of date until the reader presses Recompute.

:class:`SegmentEditWatcher` tells the panel when the segment's voxels may have
changed. It observes the node's ``vtkSegmentation`` for the source-representation
event (new voxels for a segment: Segment Editor effects and scripted array
edits write them through the same segmentations logic; the scripted path is
tested headless, the editor's own effects have not run here) and for segments
added or removed. Colour or name changes fire other events and are ignored,
and a false alarm costs one digest comparison (4 ms on the GE exam), because
the state, not the event, decides.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Tuple

import slicer

from KneeCartilageT2Lib.errors import KneeT2Error

from .readback import result_nodes_of
from .results_nodes import MEASURED_LABEL_ATTRIBUTE, label_digest
from .segmentation_nodes import read_segment
from .translation import tr as _

NO_MEASUREMENT, CURRENT, STALE = "none", "current", "stale"

# Slicer 5.3+ names the event "SourceRepresentationModified"; earlier releases "MasterRepresentationModified".
_VOXEL_EVENT_NAMES = ("SourceRepresentationModified", "MasterRepresentationModified")
_SEGMENT_LIST_EVENT_NAMES = ("SegmentAdded", "SegmentRemoved")


def measurement_state(reference_volume) -> str:
    """``"current"``, ``"stale"`` or ``"none"``: do the input's measurements describe its segment as it is now?"""
    if reference_volume is None:
        return NO_MEASUREMENT
    results = result_nodes_of(reference_volume)
    if results.region_table is None:
        return NO_MEASUREMENT
    if results.segmentation is None:
        return STALE  # the segmentation was deleted: the table describes nothing in the scene
    measured = results.region_table.GetAttribute(MEASURED_LABEL_ATTRIBUTE)
    if not measured:
        return STALE  # measured before labels were stamped: a recompute makes sure
    try:
        now = read_segment(results.segmentation, reference_volume).array
    except (KneeT2Error, RuntimeError):  # the 'Femoral cartilage' segment was removed or renamed, or cannot be read
        return STALE
    return CURRENT if label_digest(now) == measured else STALE


def segment_digest(reference_volume) -> Optional[str]:
    """:func:`results_nodes.label_digest` of the input's cartilage segment as it is now; None when there is none
    (no segmentation, the segment removed or renamed, or unreadable)."""
    segmentation = result_nodes_of(reference_volume).segmentation
    if segmentation is None:
        return None
    try:
        return label_digest(read_segment(segmentation, reference_volume).array)
    except (KneeT2Error, RuntimeError):
        return None


def _segmentation_events() -> List[int]:
    voxels = getattr(slicer.vtkSegmentation, _VOXEL_EVENT_NAMES[0], None)
    if voxels is None:
        voxels = getattr(slicer.vtkSegmentation, _VOXEL_EVENT_NAMES[1], None)
    events = [voxels] + [getattr(slicer.vtkSegmentation, name, None) for name in _SEGMENT_LIST_EVENT_NAMES]
    return [int(event) for event in events if event is not None]


class SegmentEditWatcher:
    """Calls ``on_edit()`` (no arguments) each time the watched segmentation's voxels or segments change.

    One segmentation node is watched at a time; :meth:`watch` moves the
    observers to another node, :meth:`stop` removes them. The callback should
    be cheap (the panel restarts a short timer), because a paint stroke or a
    scripted edit may fire several events.
    """

    def __init__(self, on_edit: Callable[[], None]) -> None:
        self._on_edit = on_edit
        self._node = None
        self._tags: List[Tuple[object, int]] = []  # (observed vtkSegmentation, observer tag)

    @property
    def watched(self):
        """The segmentation node being watched, or None."""
        return self._node

    def watch(self, segmentation_node) -> None:
        """Watch ``segmentation_node`` (None: watch nothing); watching the same node again changes nothing."""
        if segmentation_node is self._node:
            return
        self.stop()
        if segmentation_node is None:
            return
        self._node = segmentation_node
        segmentation = segmentation_node.GetSegmentation()  # its own events, as Slicer's developers observe them
        for event in _segmentation_events():
            self._tags.append((segmentation, segmentation.AddObserver(event, self._fire)))

    def stop(self) -> None:
        for node, tag in self._tags:
            node.RemoveObserver(tag)
        self._tags, self._node = [], None

    def _fire(self, caller=None, event=None) -> None:
        self._on_edit()


def edit_status_text(state: str) -> str:
    """The panel's one line on whether the results shown describe the segment as it is now."""
    if state == CURRENT:
        return _("Measurements match the segment.")
    if state == STALE:
        return _("The segment was edited: the table, chart and maps are out of date. Press Recompute "
                 "(or tick 'Update measurements as I edit').")
    return ""
