"""How a result node an edit left behind is marked out of date, and unmarked once current again (no Qt).

A measured result node (a projection map, the subregion T2 bar chart, the
subregion segmentation) carries the digest of the cartilage label it was
measured in (``KneeT2.MeasuredLabel``, :func:`results_nodes.label_digest`). It
is *current* while the cartilage segment marks exactly those voxels. A node
that is not is marked: ``KneeT2.OutOfDate`` = 1 and " (out of date)" after its
name, so that its old values are not read as the segment's wherever the node
is shown (Data module, plot and view selectors). Its name comes back once it is
current again (e.g. after Undo), unless the reader renamed it meanwhile. Both
attributes are saved with the scene. The suffix is marked for translation.
"""

from __future__ import annotations

from typing import Dict, List, Optional

from .mrml_helpers import MEASURED_LABEL_ATTRIBUTE
from .translation import tr as _

OUT_OF_DATE_ATTRIBUTE = "KneeT2.OutOfDate"
NAME_BEFORE_ATTRIBUTE = "KneeT2.NameBeforeOutOfDate"  # the node's name before it was marked


def out_of_date_name(name: str) -> str:
    """``name`` with the out-of-date mark after it (translated)."""
    return _("{name} (out of date)").format(name=name)


def is_out_of_date(node) -> bool:
    """Whether ``node`` is marked out of date now."""
    return node.GetAttribute(OUT_OF_DATE_ATTRIBUTE) == "1"


def measured_in(node, segment_digest: Optional[str]) -> bool:
    """Whether ``node`` was measured in the segment of digest ``segment_digest`` (None: there is no segment)."""
    return segment_digest is not None and node.GetAttribute(MEASURED_LABEL_ATTRIBUTE) == segment_digest


def set_out_of_date(node, out_of_date: bool) -> None:
    """Mark ``node`` out of date (attribute and name), or take the mark off; nothing changes when it already
    is as asked, so a node is never marked twice."""
    marked = is_out_of_date(node)
    if out_of_date and not marked:
        node.SetAttribute(NAME_BEFORE_ATTRIBUTE, node.GetName())
        node.SetAttribute(OUT_OF_DATE_ATTRIBUTE, "1")
        node.SetName(out_of_date_name(node.GetName()))
    elif not out_of_date and marked:
        before = node.GetAttribute(NAME_BEFORE_ATTRIBUTE)
        if before and node.GetName() == out_of_date_name(before):  # not renamed since
            node.SetName(before)
        node.RemoveAttribute(OUT_OF_DATE_ATTRIBUTE)
        node.RemoveAttribute(NAME_BEFORE_ATTRIBUTE)


def mark_by_digest(nodes: Dict[str, object], segment_digest: Optional[str]) -> List[str]:
    """Mark the ``nodes`` (by key) not measured in the segment of digest ``segment_digest`` out of date and unmark
    the others; returns the keys of those out of date, in the order given."""
    stale = []
    for key, node in nodes.items():
        current = measured_in(node, segment_digest)
        if not current:
            stale.append(key)
        set_out_of_date(node, not current)
    return stale
