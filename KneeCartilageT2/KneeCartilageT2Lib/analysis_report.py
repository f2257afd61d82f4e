"""A one-page report of one analysis: ``report.html`` in its result folder.

What a radiologist or a study monitor opens first: what was analysed (echoes,
grid, side and where the side came from), by which model and T2 method, what
the analysis asks the reader to check, the plate's and the 12 subregions'
T2 and thickness, and the pictures to judge the segmentation by (the fullest
slice, the slice to check, the unrolled plate with its regions).

It is built from the folder's own files (``provenance.json``,
``regions/regions.csv`` and the PNG pictures), so ``knee-t2 report`` rebuilds
it for any finished analysis, a batch's scans included. The page is one
self-contained file (pictures embedded, no script, no server), so it can be
attached to a study or mailed on its own. It carries no patient identifiers:
the exam summary holds none, and of the input's path only its last part is
shown.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .atomic_files import atomic_write_text
from .csv_tables import read_csv
from .errors import InputError
from .region_definitions import SUBREGION_NAMES, describe_region

REPORT_NAME = "report.html"
REPORT_REGIONS = ("all", "D", "S", "L", "M") + SUBREGION_NAMES
PICTURES = (("preview.png", "Fullest slice: echo image with the cartilage outline, T2 map, T2 in the cartilage"),
            ("preview_check.png", "The first slice the analysis asks you to check"),
            ("regions/regions.png", "The plate unrolled (trochlea left, posterior condyles right, lateral up): "
                                    "T2, thickness and regions"))
SIDE_SOURCES = {"user": "given by the user", "dicom": "from the DICOM Laterality tag",
                "estimated": "estimated from the cartilage's shape and position"}

_STYLE = """
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


def write_report(result_dir, out_path=None) -> Path:
    """Write the report of the finished analysis in ``result_dir`` (default ``result_dir/report.html``)."""
    result_dir = Path(result_dir)
    provenance_path = result_dir / "provenance.json"
    if not provenance_path.is_file():
        raise InputError("%s holds no analysis (no provenance.json): give the output folder of demo or of one "
                         "batch scan (OUTDIR/scans/<scan id>)." % result_dir)
    try:
        provenance = json.loads(provenance_path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise InputError("%s is not valid JSON (%s); re-run the analysis." % (provenance_path, error))
    rows = _region_rows(result_dir / "regions" / "regions.csv")
    text = report_html(provenance, rows, _embedded_pictures(result_dir), title=_title(provenance))
    return atomic_write_text(Path(out_path) if out_path else result_dir / REPORT_NAME, text)


def report_html(provenance: Dict[str, Any], rows: Dict[str, Dict[str, str]], pictures: Sequence[tuple],
                title: str = "Femoral cartilage T2") -> str:
    """The report as HTML text. ``rows``: regions.csv rows by region name; ``pictures``: (caption, data URI)."""
    parts = ['<!DOCTYPE html>',
             '<html lang="en"><head><meta charset="utf-8"><title>%s</title><style>%s</style></head><body>'
             % (html.escape(title), _STYLE),
             "<h1>%s</h1>" % html.escape(title),
             _facts(provenance),
             _checks(provenance),
             _table(rows),
             "".join('<figure><img alt="%s" src="%s"><figcaption>%s</figcaption></figure>'
                     % (html.escape(caption), uri, html.escape(caption)) for caption, uri in pictures),
             _caveats(provenance),
             "</body></html>"]
    return "\n".join(part for part in parts if part)


def _title(provenance: Dict[str, Any]) -> str:
    name = Path(str(provenance.get("source") or "")).name
    return "Femoral cartilage T2 \u2013 %s" % (name or "exam")


def _facts(provenance: Dict[str, Any]) -> str:
    exam = provenance.get("exam") or {}
    times = provenance.get("echo_times_ms") or exam.get("echo_times_ms") or []
    t2 = provenance.get("t2") or {}
    parameters = t2.get("parameters") or {}
    regions = provenance.get("regions") or {}
    segmentation = provenance.get("segmentation")
    facts: List[tuple] = [("Input", Path(str(provenance.get("source") or "")).name or "-")]
    scanner = " ".join(str(exam[key]) for key in ("Manufacturer", "ManufacturerModelName") if exam.get(key))
    if exam.get("MagneticFieldStrength"):
        scanner += " %s T" % _number(exam["MagneticFieldStrength"], "%g")
    if scanner.strip():
        facts.append(("Scanner", scanner.strip()))
    facts.append(("Echoes", "%d, TE %s ms" % (len(times), ", ".join(_number(t, "%.1f") for t in times))))
    if exam.get("shape_slice_row_col"):
        shape, pixel = exam["shape_slice_row_col"], exam.get("pixel_mm_row_col") or ["?", "?"]
        facts.append(("Grid", "%d %s slices of %d \u00d7 %d, pixel %s \u00d7 %s mm, slice step %s mm" % (
            shape[0], exam.get("slice_plane", ""), shape[1], shape[2], _number(pixel[0], "%.3g"),
            _number(pixel[1], "%.3g"), _number(exam.get("slice_step_mm"), "%.3g"))))
    if regions.get("laterality"):
        facts.append(("Side", "%s knee (%s)" % (regions["laterality"], SIDE_SOURCES.get(
            regions.get("laterality_source"), regions.get("laterality_source") or "source not recorded"))))
    label_source = provenance.get("label_source")
    by_reader = {"corrected": "corrected by a reader", "given": "label given as input"}.get(
        label_source, str(label_source or "-"))
    if segmentation:
        model = "model %s v%s on %s" % (segmentation.get("model_name"), segmentation.get("model_version"),
                                        segmentation.get("device"))
        facts.append(("Segmentation", model + (", then corrected by a reader" if label_source == "corrected" else "")))
    else:
        facts.append(("Segmentation", by_reader))
    fit = str(t2.get("method", "-"))
    if "exclude_first_echo" in parameters:
        fit += " (first echo left out)" if parameters["exclude_first_echo"] else " (all echoes)"
    if parameters.get("valid_rule"):
        fit += ", valid: %s" % parameters["valid_rule"]
    facts.append(("T2 fit", fit))
    facts.append(("Regions", str(regions.get("mode") or "-")))
    facts.append(("Analysed", "%s by knee-t2 %s" % (provenance.get("created", "-"), provenance.get("tool_version", "?"))))
    return "<dl>%s</dl>" % "".join("<dt>%s</dt><dd>%s</dd>" % (html.escape(key), html.escape(str(value)))
                                   for key, value in facts)


def _checks(provenance: Dict[str, Any]) -> str:
    messages = [str(message) for message in provenance.get("messages") or []]
    exam = provenance.get("exam") or {}
    notes = [str(note) for note in list(exam.get("warnings") or []) + list(exam.get("notes") or [])]
    if not messages and not notes:
        return "<h2>Analysis notes</h2><p>The analysis raised nothing to check.</p>"
    texts = messages + [text for text in notes if text not in messages]
    items = "".join('<li%s>%s</li>' % (' class="check"' if "check" in text.lower() else "", html.escape(text))
                    for text in texts)
    return "<h2>Analysis notes</h2><p class=\"caveat\">Notes asking you to check something are in red.</p><ul>%s</ul>" \
        % items


def _table(rows: Dict[str, Dict[str, str]]) -> str:
    if not rows:
        return "<h2>Regions</h2><p class=\"check\">No regional read-out: no cartilage was found.</p>"
    header = ("Region", "Voxels", "Volume (mm\u00b3)", "T2 mean (ms)", "T2 SD (ms)", "T2 median (ms)",
              "Thickness mean (mm)", "Thickness max (mm)")
    lines = ["<h2>Femoral cartilage: T2 and thickness</h2><table><tr>%s</tr>"
             % "".join('<th%s>%s</th>' % (' class="name"' if i == 0 else "", html.escape(text))
                       for i, text in enumerate(header))]
    for name in REPORT_REGIONS:
        row = rows.get(name)
        if row is None:
            continue
        cells = (row.get("n_voxels"), _number(row.get("volume_mm3"), "%.0f"), _number(row.get("t2_mean_ms")),
                 _number(row.get("t2_sd_ms")), _number(row.get("t2_median_ms")),
                 _number(row.get("thickness_mean_mm"), "%.2f"), _number(row.get("thickness_max_mm"), "%.2f"))
        lines.append('<tr%s><td class="name" title="%s">%s</td>%s</tr>' % (
            ' class="summary"' if name == "all" else "", html.escape(describe_region(name)), html.escape(name),
            "".join("<td>%s</td>" % html.escape(str(cell)) for cell in cells)))
    lines.append("</table><p class=\"caveat\">D/S deep/superficial half, L/M lateral/medial, A/C/P anterior/"
                 "central/posterior. All 27 regions are in regions/regions.csv.</p>")
    return "\n".join(lines)


def _caveats(provenance: Dict[str, Any]) -> str:
    segmentation = provenance.get("segmentation") or {}
    text = ("For research use. T2 depends on the protocol (echo times, slice profile, field strength): compare "
            "values within one protocol.")
    if str(segmentation.get("model_name", "")).startswith("knee-t2-bootstrap"):
        text += (" The segmentation comes from the bootstrap model, trained on digital phantoms only: check it "
                 "slice by slice and correct it before trusting the figures.")
    return '<p class="caveat">%s</p>' % html.escape(text)


def _region_rows(path: Path) -> Dict[str, Dict[str, str]]:
    return {row["region"]: row for row in read_csv(path)} if path.is_file() else {}


def _embedded_pictures(result_dir: Path) -> List[tuple]:
    pictures = []
    for name, caption in PICTURES:
        path = result_dir / name
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            pictures.append((caption, "data:image/png;base64," + data))
    return pictures


def _number(value: Optional[Any], pattern: str = "%.1f") -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "-"
    return "-" if number != number else pattern % number
