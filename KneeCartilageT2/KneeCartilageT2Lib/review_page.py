"""Writes a cohort's review (:mod:`batch_review`) as ``review.csv`` and a static ``review.html``.

The page is one self-contained file beside ``scans/``: a card per scan in
review order, with its preview picture (linked, loaded lazily, so a page of
thousands of scans opens quickly), its figures and why it is flagged. It needs
no server and no script; open it in any browser from the batch folder. No
patient identifiers are written (scan ids, subjects and visits are the
manifest's own labels).
"""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Sequence

from .atomic_files import atomic_write_text
from .batch_review import MIN_GROUP, OUTLIER_Z, PRIORITIES, REVIEW_COLUMNS, cohort_notes
from .batch_tables import SIDE_SOURCE_COLUMN
from .csv_tables import write_csv
from .side_words import side_source_short

REVIEW_CSV = "review.csv"
REVIEW_HTML = "review.html"

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { width: 330px; border: 1px solid #ccc; border-radius: 6px; padding: 8px; font-size: 13px; }
.card img { width: 100%; background: #000; }
.check-first { border: 3px solid #c0392b; }
.check { border: 3px solid #e67e22; }
.reasons { color: #8e2b12; }
table.figures td { padding: 0 6px 0 0; }
"""


def write_review(out_dir, rows: Sequence[Dict[str, Any]], title: str = "Cohort review") -> List[Path]:
    """Write ``review.csv`` and ``review.html`` into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    csv_path = write_csv(out_dir / REVIEW_CSV, rows, REVIEW_COLUMNS)
    html_path = atomic_write_text(out_dir / REVIEW_HTML, review_html(rows, title))
    return [csv_path, html_path]


def review_html(rows: Sequence[Dict[str, Any]], title: str = "Cohort review") -> str:
    """The review page as HTML text (rows already in review order)."""
    counts = Counter(row.get("priority") for row in rows)
    summary = ", ".join("%d %s" % (counts.get(priority, 0), priority) for priority in PRIORITIES)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>%s</title><style>%s</style></head><body>'
        % (html.escape(title), _STYLE),
        "<h1>%s</h1>" % html.escape(title),
        "<p>%d scan(s): %s. Flagged: a failed analysis, no cartilage or a plate on a single slice (<b>check "
        "first</b>); a figure at robust z &ge; %.1f from the other scans of the same protocol, or empty slices "
        "inside the plate, filled slices cut off from it, a plate that ends abruptly (a margin slice probably "
        "missed, or one whose cartilage the minimum-area slice rule removed) or at the series' first or "
        "last slice (<b>check</b>). "
        "Protocols with fewer than %d finished scans are not compared. Routine scans follow, least certain "
        "network output first. The same table is in %s.</p>"
        % (len(rows), html.escape(summary), OUTLIER_Z, MIN_GROUP, REVIEW_CSV),
    ]
    notes = cohort_notes(rows)
    if notes:
        parts.append("<p><b>Cohort notes</b> (findings too common to flag scan by scan):</p><ul>%s</ul>"
                     % "".join("<li>%s</li>" % html.escape(note) for note in notes))
    parts.append('<div class="cards">')
    parts.extend(_card(row) for row in rows)
    parts.append("</div></body></html>")
    return "\n".join(parts) + "\n"


def _card(row: Dict[str, Any]) -> str:
    priority = str(row.get("priority", ""))
    heading = "#%s %s" % (row.get("rank", ""), row.get("id", ""))
    identity = " ".join(str(row[key]) for key in ("subject", "visit", "side") if row.get(key))
    if row.get("side") and row.get(SIDE_SOURCE_COLUMN):  # an estimated side must not read as a known one
        identity += " (side %s)" % side_source_short(row[SIDE_SOURCE_COLUMN])
    lines = ['<div class="card %s">' % priority.replace(" ", "-"),
             "<b>%s</b> &middot; %s<br><small>%s</small>" % (html.escape(heading), html.escape(priority),
                                                              html.escape(identity))]
    for key, what in (("preview", "preview of"), ("check_preview", "slice to check in")):
        if row.get(key):
            source = html.escape(str(row[key]), quote=True)
            lines.append('<a href="%s"><img src="%s" loading="lazy" alt="%s %s"></a>'
                         % (source, source, what, html.escape(str(row.get("id", "")), quote=True)))
    figures = [("volume", row.get("volume_mm3"), "%.0f mm&sup3;"), ("mean T2", row.get("t2_mean_ms"), "%.1f ms"),
               ("thickness", row.get("thickness_mean_mm"), "%.2f mm"),
               ("uncertainty", row.get("uncertainty_bits"), "%.3f bits"), ("slices", row.get("n_slices"), "%d"),
               ("pieces", row.get("n_components"), "%d")]
    cells = ["<tr><td>%s</td><td>%s</td></tr>" % (name, pattern % value)
             for name, value, pattern in figures if value is not None]
    if cells:
        lines.append('<table class="figures">%s</table>' % "".join(cells))
    if row.get("reasons"):
        lines.append('<div class="reasons">%s</div>' % html.escape(str(row["reasons"])))
    if row.get("notes"):
        lines.append("<details><summary>analysis notes</summary>%s</details>" % html.escape(str(row["notes"])))
    if row.get("report"):
        lines.append('<a href="%s">full report</a>' % html.escape(str(row["report"]), quote=True))
    lines.append("</div>")
    return "\n".join(lines)
