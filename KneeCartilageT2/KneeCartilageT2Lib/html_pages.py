"""Pieces of the self-contained HTML pages the analyses write (``report.html``, ``change_report.html``).

One look for every page, pictures embedded as data URIs (a page can be mailed
or attached on its own), every text escaped. No script, no server.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any, Iterable, List, Optional, Sequence, Tuple

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 1300px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.4em; }
table { border-collapse: collapse; font-size: 14px; }
td, th { padding: 2px 10px; text-align: right; border-bottom: 1px solid #ddd; }
th { background: #f2f2f2; } td.name, th.name { text-align: left; }
tr.summary td { font-weight: bold; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; font-size: 14px; }
dt { color: #555; } dd { margin: 0; }
.check { color: #8e2b12; } .caveat { color: #555; font-size: 13px; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ccc; }
figcaption { font-size: 13px; color: #555; }
"""


def page(title: str, parts: Iterable[str]) -> str:
    """A whole HTML document: the title as heading, then ``parts`` (HTML, empty ones skipped)."""
    head = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>%s</title><style>%s</style>'
            '</head><body>' % (html.escape(title), STYLE))
    return "\n".join([head, "<h1>%s</h1>" % html.escape(title)] + [part for part in parts if part]
                     + ["</body></html>"])


def facts_list(facts: Sequence[Tuple[str, Any]]) -> str:
    """A definition list of (label, value) pairs."""
    return "<dl>%s</dl>" % "".join("<dt>%s</dt><dd>%s</dd>" % (html.escape(str(key)), html.escape(str(value)))
                                   for key, value in facts)


def notes_list(heading: str, texts: Sequence[str]) -> str:
    """The notes of an analysis; those asking the reader to check something in red. Repeats are shown once."""
    unique: List[str] = []
    for text in texts:
        if text not in unique:
            unique.append(text)
    if not unique:
        return "<h2>%s</h2><p>The analysis raised nothing to check.</p>" % html.escape(heading)
    items = "".join('<li%s>%s</li>' % (' class="check"' if "check" in text.lower() else "", html.escape(text))
                    for text in unique)
    return ('<h2>%s</h2><p class="caveat">Notes asking you to check something are in red.</p><ul>%s</ul>'
            % (html.escape(heading), items))


def table(header: Sequence[str], rows: Sequence[Tuple[str, str, Sequence[Any]]]) -> str:
    """A table whose first column names the row: rows are (name, tooltip, cells); the row named 'all' is bold."""
    lines = ["<table><tr>%s</tr>" % "".join('<th%s>%s</th>' % (' class="name"' if i == 0 else "", html.escape(text))
                                             for i, text in enumerate(header))]
    for name, tooltip, cells in rows:
        lines.append('<tr%s><td class="name" title="%s">%s</td>%s</tr>' % (
            ' class="summary"' if name == "all" else "", html.escape(tooltip), html.escape(name),
            "".join("<td>%s</td>" % html.escape(str(cell)) for cell in cells)))
    lines.append("</table>")
    return "\n".join(lines)


def figures(result_dir: Path, pictures: Sequence[Tuple[str, str]]) -> str:
    """The PNG files of ``pictures`` ((path under ``result_dir``, caption)) that exist, embedded with captions."""
    parts = []
    for name, caption in pictures:
        path = Path(result_dir) / name
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            parts.append('<figure><img alt="%s" src="data:image/png;base64,%s"><figcaption>%s</figcaption></figure>'
                         % (html.escape(caption), data, html.escape(caption)))
    return "".join(parts)


def caveat(text: str) -> str:
    return '<p class="caveat">%s</p>' % html.escape(text)


def number(value: Optional[Any], pattern: str = "%.1f") -> str:
    """``pattern % value``, or '-' for a missing or non-numeric value."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        return "-"
    return "-" if result != result else pattern % result
