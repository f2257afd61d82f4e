"""A one-page report of a change analysis: ``change_report.html`` in its folder.

For the reader of a follow-up: which visits were compared, which knee side
both were measured as (and how each visit's side is known: DICOM tag, echo stack
sidecar, given, or estimated with its confidence), how well they were aligned (rotation,
translation, correlation and cartilage Dice before and after), the whole plate's and each region's T2 change (follow-up minus
baseline, ms), the focal lesions (area, mean and maximum increase, region) and
the difference map with the clusters, plus the notes of both visits. Built from
the change folder's own files (``change.json``, ``region_change.csv``,
``lesions/``), so ``knee-t2 report`` rebuilds it; one
self-contained file without patient identifiers (of each visit's path only its
last part is shown, with the first digits of its images' fingerprint), like the analysis report
(:mod:`analysis_report`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from .analysis_report import REPORT_REGIONS, read_json_file, region_rows
from .atomic_files import atomic_write_text
from .csv_tables import read_csv
from .errors import InputError
from .html_pages import caveat, facts_list, figures, notes_list, number, page, table
from .region_definitions import describe_region
from .result_privacy import input_name
from .side_words import SOURCE_PHRASES, side_source_phrase

CHANGE_REPORT_NAME = "change_report.html"
PICTURES = (("lesions/lesion_map.png", "Follow-up minus baseline T2 on the unrolled plate, with the lesion clusters"),)
REPEATABILITY_NOTE = (
    "For research use. On phantom pairs of an unchanged knee (GE protocol, new noise and a rigid motion; "
    "benchmarks/bench_longitudinal_phantoms.py) the regional changes had an SD of about 0.2 ms when the slices fell "
    "on the same anatomy and about 0.6 ms when they fell differently; real re-scans vary more. Read smaller "
    "changes as no change.")


def write_change_report(change_dir, out_path=None) -> Path:
    """Write the report of the change analysis in ``change_dir`` (default ``change_dir/change_report.html``)."""
    change_dir = Path(change_dir)
    summary = read_json_file(change_dir / "change.json", "give the output folder of knee-t2 change")
    if summary.get("format") != "knee-t2 change":
        raise InputError("%s is not the summary of a knee-t2 change analysis (no \"format\": \"knee-t2 change\"); "
                         "run knee-t2 change (or knee-t2 batch) again to write it." % (change_dir / "change.json"))
    registration = summary.get("registration") or {}  # change.json's own copy: never a file left by an earlier run
    lesions_path = change_dir / "lesions" / "lesion_clusters.csv"
    analysed = bool(summary.get("lesions"))
    clusters = read_csv(lesions_path) if analysed and lesions_path.is_file() else []
    text = page(_title(summary), [
        _facts(summary, registration), notes_list("Notes", [str(text) for text in summary.get("warnings") or []]),
        _region_table(region_rows(change_dir / "region_change.csv")), _lesion_table(summary, clusters),
        figures(change_dir, PICTURES) if analysed else "", caveat(REPEATABILITY_NOTE)])
    return atomic_write_text(Path(out_path) if out_path else change_dir / CHANGE_REPORT_NAME, text)


# Names that say nothing about which visit a file is: what knee-t2 itself names every echo stack and visit folder.
GENERIC_NAMES = ("echoes.nrrd", "echoes.nii.gz", "echoes.nii", "dicom", "baseline", "followup")
VISIT_WORDS = {"baseline": "baseline", "followup": "follow-up"}
HASH_SHOWN = 8  # hex digits of the image fingerprint shown to tell visits apart


def _visit_name(summary: Dict[str, Any], key: str) -> str:
    return input_name((summary.get("inputs") or {}).get(key)) or key  # older summaries hold whole paths


def _visit_label(summary: Dict[str, Any], key: str) -> str:
    """The visit's name with its image fingerprint's first digits (``echoes.nrrd, images 1a2b3c4d``) when
    recorded: the last part of a path may be the same for both visits; the fingerprint never names a place."""
    fingerprint = (summary.get("inputs") or {}).get(key + "_sha256")
    name = _visit_name(summary, key)
    return "%s, images %s" % (name, fingerprint[:HASH_SHOWN]) if isinstance(fingerprint, str) and fingerprint else name


def _title(summary: Dict[str, Any]) -> str:
    """Baseline -> follow-up by their names; when the names are alike or generic (every phantom's and exported
    stack's ``echoes.nrrd``) by the visit and its name and image fingerprint, e.g. ``baseline (echoes.nrrd,
    images 1a2b3c4d) -> follow-up (echoes.nrrd, images 5e6f7a8b)``."""
    names = [_visit_name(summary, key) for key in ("baseline", "followup")]
    if names[0] != names[1] and not any(name.lower() in GENERIC_NAMES for name in names):
        return "Femoral cartilage T2 change \u2013 %s \u2192 %s" % tuple(names)
    return "Femoral cartilage T2 change \u2013 %s \u2192 %s" % tuple(
        "%s (%s)" % (VISIT_WORDS[key], _visit_label(summary, key)) for key in ("baseline", "followup"))


def _facts(summary: Dict[str, Any], registration: Dict[str, Any]) -> str:
    facts: List[tuple] = [("Baseline", _visit_label(summary, "baseline")),
                          ("Follow-up", _visit_label(summary, "followup")), ("Side", _side_text(summary))]
    if not registration:
        facts.append(("Registration", "none: scanner coordinates trusted (the knee assumed not to have moved)"))
    elif registration.get("kept_scanner_frame"):
        facts.append(("Registration", "scanner coordinates kept: no transform aligned the visits better "
                                      "(correlation %s)" % number(registration.get("ncc_before"), "%.3f")))
    else:
        facts.append(("Registration", "rotation %s\u00b0, translation %s mm; correlation %s \u2192 %s, cartilage "
                                      "Dice %s \u2192 %s" % (
                                          number(registration.get("rotation_deg"), "%.2f"),
                                          number(registration.get("translation_mm"), "%.2f"),
                                          number(registration.get("ncc_before"), "%.3f"),
                                          number(registration.get("ncc_after"), "%.3f"),
                                          number(registration.get("cartilage_dice_before"), "%.2f"),
                                          number(registration.get("cartilage_dice_after"), "%.2f"))))
    same_knee = summary.get("same_knee")
    if isinstance(same_knee, dict):
        facts.append(("Same knee?", _same_knee_text(same_knee)))
    facts.append(("Whole-plate T2 change", "%s ms (follow-up \u2212 baseline)"
                  % number(summary.get("delta_t2_all_ms"), "%+.2f")))
    lesions = summary.get("lesions")
    if lesions:
        facts.append(("Focal lesions", "%d, covering %s %% of the analysed plate (%s mm\u00b2)" % (
            lesions.get("n_lesions", 0), number(lesions.get("percent_plate_covered")),
            number(lesions.get("plate_area_mm2"), "%.0f"))))
        parameters = lesions.get("parameters") or {}
        rule = "increase \u2265 %s ms (mean + %s SD of the plate's change) and \u2265 %s ms" % (
            number(lesions.get("threshold_ms")), number(parameters.get("sd_factor", 1.0), "%g"),
            number(parameters.get("min_increase_ms")))
        if parameters.get("min_cell_z"):
            rule += ", and \u2265 %s \u00d7 the sampling error of its cells" % number(parameters["min_cell_z"], "%g")
        rule += "; clusters larger than %s %% of the plate" % number(
            100.0 * float(parameters.get("min_cluster_fraction", 0.01)), "%g")
        if lesions.get("cluster_mean_threshold_ms") is not None:
            rule += " whose mean increase reaches %s ms" % number(lesions["cluster_mean_threshold_ms"])
        facts.append(("Lesion threshold", rule))
    else:
        facts.append(("Focal lesions", "not analysed (see the notes)"))
    return facts_list(facts)


def _same_knee_text(check: Dict[str, Any]) -> str:
    """Whether the registered visits line up like one knee (:mod:`pair_similarity`), with its figures."""
    figures = "correlation %s, cartilage Dice %s after alignment (warned below %s and %s)" % (
        number(check.get("correlation"), "%.2f"), number(check.get("cartilage_dice"), "%.2f"),
        number(check.get("min_correlation"), "%.2f"), number(check.get("min_cartilage_dice"), "%.2f"))
    if check.get("looks_like_same_knee"):
        return "the visits line up like one knee: " + figures
    return "CHECK: the visits do not line up like one knee (%s); they may be different knees (see the notes)" % figures


def _side_text(summary: Dict[str, Any]) -> str:
    """The side both visits were measured as, then how each visit's own side is known (when recorded)."""
    text = "%s knee" % summary.get("laterality", "?")
    side = summary.get("side")
    if not isinstance(side, dict):  # a change.json written before the sides were recorded
        return text
    visits = ", ".join("%s %s" % (name, _visit_side_text(side.get(key))) for name, key in (
        ("baseline", "baseline"), ("follow-up", "followup")))
    text += " (%s)" % visits
    if side.get("sides_disagree"):
        text += " \u2013 the visits' sides disagree: see the notes"
    return text


def _visit_side_text(side: Any) -> str:
    if not isinstance(side, dict):
        return "not recorded"
    laterality, source = side.get("laterality", "?"), side.get("source")
    if source in SOURCE_PHRASES:
        return "%s (%s)" % (laterality, side_source_phrase(source, side.get("confidence")))
    return "unknown"


def _region_table(rows: Dict[str, Dict[str, str]]) -> str:
    header = ("Region", "Baseline T2 (ms)", "Follow-up T2 (ms)", "Change (ms)", "Voxels baseline",
              "Voxels follow-up")
    lines = [(name, describe_region(name), (
        number(row.get("t2_baseline_ms")), number(row.get("t2_followup_ms")), number(row.get("delta_t2_ms"), "%+.2f"),
        row.get("n_voxels_baseline", "-"), row.get("n_voxels_followup", "-")))
        for name, row in ((name, rows.get(name)) for name in REPORT_REGIONS) if row is not None]
    return ("<h2>T2 change by region</h2>" + table(header, lines)
            + caveat("All 27 regions are in region_change.csv; each visit is measured in its own regions, the "
                     "follow-up's in the baseline's frame."))


def _lesion_table(summary: Dict[str, Any], clusters: List[Dict[str, str]]) -> str:
    if not summary.get("lesions"):
        return ""
    if not clusters:
        return "<h2>Focal lesions</h2><p>No cluster of raised T2 reached the size and increase thresholds.</p>"
    header = ("Lesion", "Region", "Area (mm\u00b2)", "Footprint (mm\u00b2)", "% of plate", "Mean increase (ms)",
              "Max increase (ms)")
    lines = [(str(row.get("label")), "cluster %s" % row.get("label"), (
        row.get("region", "-"), number(row.get("coverage_area_mm2"), "%.0f"), number(row.get("area_mm2"), "%.0f"),
        number(row.get("percent_of_plate")), number(row.get("mean_delta_t2_ms")), number(row.get("max_delta_t2_ms"))))
        for row in clusters]
    rim = summary["lesions"].get("coverage_rim_mm") or []
    one_cell = (summary["lesions"].get("parameters") or {}).get("coverage_rim_mm") is None
    around = (" and those up to %s \u00d7 %s mm beside it%s" % (
        number(rim[0], "%.1f"), number(rim[1], "%.1f"),
        " (one projection cell across slices \u00d7 along the arc)" if one_cell else "")) if len(rim) == 2 else ""
    return ("<h2>Focal lesions</h2>" + table(header, lines)
            + caveat("Area: the cluster's pixels%s, weighted by how much of the lesion's increase they show (edge "
                     "cells count in part); footprint: the pixels above the threshold (the published measure)."
                     % around))
