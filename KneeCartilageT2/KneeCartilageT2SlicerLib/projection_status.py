"""Which projection maps of an input describe its segment as it is now; the others are marked out of date (no Qt).

A projection map (:mod:`.projection_nodes`: T2, deep/superficial T2, thickness,
compartments) is stamped, like the region table, with the digest of the label it
was measured in (``KneeT2.MeasuredLabel``, :func:`results_nodes.label_digest`).
A map is *current* while the cartilage segment marks exactly those voxels. A
re-measurement that leaves a map behind (the edited segment can no longer be
measured, or a map was not produced this time) would otherwise show its old
values as if they were the segment's; so, as the panel's status line marks an
out-of-date table, a map that is not current is marked: ``KneeT2.OutOfDate`` = 1
and " (out of date)" after its name (:mod:`.out_of_date_marks`; the name comes
back once it is current again, e.g. after Undo), and the panel's projection list
says so (:func:`projection_choices`). The chart and subregions are marked the
same way (:mod:`.results_status`). The names are marked for Slicer's translation.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from .mrml_helpers import MEASURED_LABEL_ATTRIBUTE, ROLE_ATTRIBUTE, SOURCE_REFERENCE, nodes_of_class, same_node
from .out_of_date_marks import is_out_of_date, mark_by_digest
from .projection_nodes import ROLE_PREFIX
from .translation import tr as _

MAP_ORDER = ("t2", "t2_deep", "t2_superficial", "thickness", "regions")  # as the projection list shows them
CHANGE_MAP = "t2_change"  # Compute change's difference map shares the prefix; it belongs to a visit pair


def analysis_maps(reference_volume) -> Dict[str, object]:
    """The projection map nodes of this input's analysis, by map name (``t2``, ``thickness``...)."""
    found = {}
    scene = reference_volume.GetScene()
    for class_name in ("vtkMRMLScalarVolumeNode", "vtkMRMLLabelMapVolumeNode"):
        for node in nodes_of_class(scene, class_name):
            role = node.GetAttribute(ROLE_ATTRIBUTE) or ""
            name = role[len(ROLE_PREFIX):]
            if (role.startswith(ROLE_PREFIX) and name != CHANGE_MAP
                    and same_node(node.GetNodeReference(SOURCE_REFERENCE), reference_volume)):
                found.setdefault(name, node)
    return found


def stamp_maps(reference_volume, produced: Dict[str, object], label_digest: str) -> None:
    """Record that the ``produced`` maps (by name) were measured in the label of digest ``label_digest``; the
    input's other maps lose their stamp: this regional measurement did not produce them, so their values are an
    earlier one's (other options, say) even in the same label, and they stay out of date until produced again."""
    for name, node in analysis_maps(reference_volume).items():
        if name in produced:
            node.SetAttribute(MEASURED_LABEL_ATTRIBUTE, label_digest)
        else:
            node.RemoveAttribute(MEASURED_LABEL_ATTRIBUTE)


def mark_maps(reference_volume, segment_digest: Optional[str]) -> List[str]:
    """Mark the input's maps not measured in the segment of digest ``segment_digest`` (None: there is no segment)
    out of date, and unmark the others (:func:`out_of_date_marks.set_out_of_date`); returns the names of those
    out of date."""
    return mark_by_digest(analysis_maps(reference_volume), segment_digest)


def projection_choices(reference_volume) -> List[Tuple[str, str]]:
    """``(map name, text)`` of each map the input has, for the panel's projection list: known maps in their
    usual order, then any other; a map out of date says so in its text. [] before any analysis."""
    maps = analysis_maps(reference_volume) if reference_volume is not None else {}
    names = [name for name in MAP_ORDER if name in maps] + sorted(set(maps) - set(MAP_ORDER))
    return [(name, _("{map} (out of date)").format(map=name) if is_out_of_date(maps[name]) else name)
            for name in names]
