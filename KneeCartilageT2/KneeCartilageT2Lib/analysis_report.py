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

import json
from pathlib import Path
from typing import Any, Dict, List

from .atomic_files import atomic_write_text
from .csv_tables import read_csv
from .errors import InputError
from .html_pages import caveat, facts_list, figures, notes_list, number, page, table
from .region_definitions import SUBREGION_NAMES, describe_region
from .result_privacy import input_name
from .side_words import side_source_phrase

REPORT_NAME = "report.html"
REPORT_REGIONS = ("all", "D", "S", "L", "M") + SUBREGION_NAMES
PICTURES = (("preview.png", "Fullest slice: echo image with the cartilage outline, T2 map, T2 in the cartilage"),
            ("preview_check.png", "The first slice the analysis asks you to check"),
            ("regions/regions.png", "The plate unrolled (trochlea left, posterior condyles right, lateral up): "
                                    "T2, thickness and regions"))


def write_report(result_dir, out_path=None) -> Path:
    """Write the report of the finished analysis in ``result_dir`` (default ``result_dir/report.html``)."""
    result_dir = Path(result_dir)
    provenance = read_json_file(result_dir / "provenance.json",
                                "give the output folder of analyse or demo, or of one batch scan (OUTDIR/scans/<scan id>)")
    rows = region_rows(result_dir / "regions" / "regions.csv")
    text = page(_title(provenance), [_facts(provenance), _notes(provenance), _table(rows),
                                     figures(result_dir, PICTURES), _caveats(provenance)])
    return atomic_write_text(Path(out_path) if out_path else result_dir / REPORT_NAME, text)


def read_json_file(path: Path, what_to_give: str) -> Dict[str, Any]:
    """A result folder's JSON file, or an InputError that says which folder to give instead."""
    if not path.is_file():
        raise InputError("%s holds no analysis (no %s): %s." % (path.parent, path.name, what_to_give))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise InputError("%s is not valid JSON (%s); run the analysis again." % (path, error))


def region_rows(path: Path) -> Dict[str, Dict[str, str]]:
    """A region table's rows by region name ({} when the file is absent)."""
    return {row["region"]: row for row in read_csv(path)} if path.is_file() else {}


def _input_name(provenance: Dict[str, Any]) -> str:
    """The last part of the input's path (never the whole path: it may name the patient; older folders hold it)."""
    return input_name(provenance.get("source"))


def _title(provenance: Dict[str, Any]) -> str:
    return "Femoral cartilage T2 \u2013 %s" % (_input_name(provenance) or "exam")


def _facts(provenance: Dict[str, Any]) -> str:
    exam = provenance.get("exam") or {}
    times = provenance.get("echo_times_ms") or exam.get("echo_times_ms") or []
    t2 = provenance.get("t2") or {}
    parameters = t2.get("parameters") or {}
    regions = provenance.get("regions") or {}
    segmentation = provenance.get("segmentation")
    facts: List[tuple] = [("Input", _input_name(provenance) or "-")]
    scanner = " ".join(str(exam[key]) for key in ("Manufacturer", "ManufacturerModelName") if exam.get(key))
    if exam.get("MagneticFieldStrength"):
        scanner += " %s T" % number(exam["MagneticFieldStrength"], "%g")
    if scanner.strip():
        facts.append(("Scanner", scanner.strip()))
    facts.append(("Echoes", "%d, TE %s ms" % (len(times), ", ".join(number(t) for t in times))))
    if exam.get("shape_slice_row_col"):
        shape, pixel = exam["shape_slice_row_col"], exam.get("pixel_mm_row_col") or ["?", "?"]
        facts.append(("Grid", "%d %s slices of %d \u00d7 %d, pixel %s \u00d7 %s mm, slice step %s mm" % (
            shape[0], exam.get("slice_plane", ""), shape[1], shape[2], number(pixel[0], "%.3g"),
            number(pixel[1], "%.3g"), number(exam.get("slice_step_mm"), "%.3g"))))
    if regions.get("laterality"):
        facts.append(("Side", "%s knee (%s)" % (regions["laterality"], side_source_phrase(
            regions.get("laterality_source"), detail=True))))
    label_source = provenance.get("label_source")
    if segmentation:
        model = "model %s v%s on %s" % (segmentation.get("model_name"), segmentation.get("model_version"),
                                        segmentation.get("device"))
        facts.append(("Segmentation", model + (", then corrected by a reader" if label_source == "corrected" else "")))
    else:
        facts.append(("Segmentation", {"corrected": "corrected by a reader", "given": "label given as input"}.get(
            label_source, str(label_source or "-"))))
    fit = str(t2.get("method", "-"))
    if "exclude_first_echo" in parameters:
        fit += " (first echo left out)" if parameters["exclude_first_echo"] else " (all echoes)"
    if parameters.get("valid_rule"):
        fit += ", valid: %s" % parameters["valid_rule"]
    facts.append(("T2 fit", fit))
    facts.append(("Regions", str(regions.get("mode") or "-")))
    facts.append(("Analysed", "%s by knee-t2 %s" % (provenance.get("created", "-"), provenance.get("tool_version", "?"))))
    return facts_list(facts)


def _notes(provenance: Dict[str, Any]) -> str:
    exam = provenance.get("exam") or {}
    texts = [str(text) for text in list(provenance.get("messages") or []) + list(exam.get("warnings") or [])
             + list(exam.get("notes") or [])]
    return notes_list("Analysis notes", texts)


def _table(rows: Dict[str, Dict[str, str]]) -> str:
    if not rows:
        return '<h2>Regions</h2><p class="check">No regional read-out: no cartilage was found.</p>'
    header = ("Region", "Voxels", "Volume (mm\u00b3)", "T2 voxels", "T2 mean (ms)", "T2 SD (ms)", "T2 median (ms)",
              "Thickness mean (mm)", "Thickness max (mm)")
    lines = [(name, describe_region(name), (
        row.get("n_voxels"), number(row.get("volume_mm3"), "%.0f"), row.get("n_t2_voxels") or "-",
        number(row.get("t2_mean_ms")), number(row.get("t2_sd_ms")), number(row.get("t2_median_ms")),
        number(row.get("thickness_mean_mm"), "%.2f"), number(row.get("thickness_max_mm"), "%.2f")))
        for name, row in ((name, rows.get(name)) for name in REPORT_REGIONS) if row is not None]
    return ("<h2>Femoral cartilage: T2 and thickness</h2>" + table(header, lines)
            + caveat("D/S deep/superficial half, L/M lateral/medial, A/C/P anterior/central/posterior. T2 voxels: "
                     "those with a valid T2, the ones the T2 mean, SD and median come from. All 27 regions are in "
                     "regions/regions.csv."))


def _caveats(provenance: Dict[str, Any]) -> str:
    segmentation = provenance.get("segmentation") or {}
    text = ("For research use. T2 depends on the protocol (echo times, slice profile, field strength): compare "
            "values within one protocol.")
    if str(segmentation.get("model_name", "")).startswith("knee-t2-bootstrap"):
        text += (" The segmentation comes from the bootstrap model, trained on digital phantoms only: check it "
                 "slice by slice and correct it before trusting the figures.")
    return caveat(text)
