"""Side notes of the cohort tables: rows whose knee side a change pair found in doubt.

A scan's rows in ``cohort_regions`` carry the side that scan was measured with: the manifest's, the
exam's Laterality, or, with neither, the side estimated from its own cartilage. When the two visits of
a pair have estimated sides that disagree without either being confident, the change only warns
(:mod:`visit_sides`) and measures both visits as one side, while each scan's own rows keep their own
estimate: read alone, one subject then seems to have a left and a right knee. Such rows get a
``side_note`` naming the disagreement and the side the pair's change used (the ``side`` value is left
as measured: the region values were measured with it). The pair's rows in ``cohort_change`` get the
same note. The column is added after the existing ones, so a reader of the earlier columns is not
affected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

from .side_words import SHORT_SOURCE_PHRASES, side_source_short

SIDE_NOTE_COLUMN = "side_note"
CHANGE_SUMMARY_NAME = "change.json"
SIDE_HINT = "give the knee side in the manifest's side column"


def pair_side_notes(changes_dir, pairs: Iterable[Any]) -> Dict[str, str]:
    """``{scan_id or pair_id: note}`` for the pairs whose ``change.json`` records visit sides that disagree
    (``side.sides_disagree``): the pair's own note under its pair_id, and each scan's under its scan_id
    (notes of a scan in several pairs joined by " | "). Pairs without a readable ``change.json`` give none."""
    notes: Dict[str, List[str]] = {}
    for pair in pairs:
        side = _recorded_side(Path(changes_dir) / pair.pair_id)
        if not side.get("sides_disagree"):
            continue
        used = side.get("laterality")
        own = {name: side.get(name) if isinstance(side.get(name), dict) else {} for name in ("baseline", "followup")}
        notes.setdefault(pair.pair_id, []).append(
            "visit sides disagree (baseline %s, follow-up %s): both measured as a %s knee here; %s"
            % (_describe(own["baseline"]), _describe(own["followup"]), used, SIDE_HINT))
        for name, job in (("baseline", pair.baseline), ("followup", pair.followup)):
            notes.setdefault(job.scan_id, []).append(
                "side %s, which the other visit of pair %s contradicts (its change measured both as a %s knee); %s"
                % (_describe(own[name]), pair.pair_id, used, SIDE_HINT))
    return {key: " | ".join(texts) for key, texts in notes.items()}


def add_side_notes(rows: List[Dict[str, Any]], notes: Dict[str, str], key: str) -> None:
    """Give every row a ``side_note`` (last column): ``notes[row[key]]``, or "" for a row no pair doubted."""
    for row in rows:
        row[SIDE_NOTE_COLUMN] = notes.get(row.get(key), "")


def _recorded_side(pair_dir: Path) -> Dict[str, Any]:
    try:
        data = json.loads((pair_dir / CHANGE_SUMMARY_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    side = data.get("side") if isinstance(data, dict) else None
    return side if isinstance(side, dict) else {}


def _describe(visit: Dict[str, Any]) -> str:
    """"left (estimated from the cartilage, confidence 0.55)", "right (from DICOM)", or "unknown": the short
    words of :func:`side_words.side_source_short`."""
    side, source = visit.get("laterality") or "unknown", visit.get("source")
    if side == "unknown" or source not in SHORT_SOURCE_PHRASES:
        return side
    return "%s (%s)" % (side, side_source_short(source, visit.get("confidence")))


def columns_with_note_last(rows: List[Dict[str, Any]], after: Sequence[str] = ()) -> Optional[List[str]]:
    """The rows' columns in order of first appearance, ``side_note`` last (rows whose region tables have
    different fields would otherwise put some after it) but for the columns ``after`` it (added later, so
    that the older columns keep their places); None for no rows (the table writer's default)."""
    if not rows:
        return None
    last = [SIDE_NOTE_COLUMN] + list(after)
    columns: Dict[str, None] = {}
    for row in rows:
        columns.update((key, None) for key in row if key not in last)
    return list(columns) + last
