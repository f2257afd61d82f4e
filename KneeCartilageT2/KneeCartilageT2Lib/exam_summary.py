"""What an exam is, in a few lines: the facts a reader checks before trusting an analysis.

:func:`summarise_exam` gathers them as JSON-ready values (no patient
identifiers: name, ID and dates stay out, so a cohort's summaries can be
shared); :func:`format_summary` prints them for people. Used by
``knee-t2 inspect``, which screens a cohort's inputs before a long batch run.
"""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from .acquisition_checks import protocol_notes, slice_plane
from .exam import MeseExam
from .geometry import spacing_from_matrix

_SCANNER_KEYS = ("Manufacturer", "ManufacturerModelName", "MagneticFieldStrength", "SeriesNumber",
                 "SeriesDescription", "RepetitionTime", "SliceThickness")


def summarise_exam(exam: MeseExam) -> Dict[str, Any]:
    """JSON-ready facts about ``exam`` (lengths in mm, times in ms; shape is (slice, row, col))."""
    spacing = spacing_from_matrix(exam.ijk_to_ras)
    plane, obliquity = slice_plane(exam.ijk_to_ras)
    metadata = exam.metadata or {}
    summary: Dict[str, Any] = {
        "source": str(metadata.get("source", "")),
        "format": str(metadata.get("source_format", "")),
        "echo_times_ms": [round(float(t), 4) for t in exam.echo_times_ms],
        "shape_slice_row_col": [int(n) for n in exam.volume_shape],
        "pixel_mm_row_col": [round(float(spacing[1]), 4), round(float(spacing[0]), 4)],
        "slice_step_mm": round(float(spacing[2]), 4),
        "slice_plane": plane,
        "obliquity_deg": round(obliquity, 1),
        "laterality": exam.laterality,
        "scanner_frame": bool(exam.in_scanner_frame),
        "intensity_scaling": _intensity_scaling(metadata),
        "warnings": [str(text) for text in metadata.get("warnings") or []],
        "notes": protocol_notes(exam),
    }
    for key in _SCANNER_KEYS:
        value = metadata.get(key)
        if value not in (None, ""):
            summary[key] = value
    return summary


def format_summary(summary: Dict[str, Any]) -> str:
    """The summary as indented lines under the input's name."""
    times = summary["echo_times_ms"]
    scanner = " ".join(str(summary[key]) for key in ("Manufacturer", "ManufacturerModelName") if key in summary)
    if "MagneticFieldStrength" in summary:
        scanner += " %sT" % _number(summary["MagneticFieldStrength"])
    series = ""
    if "SeriesNumber" in summary or "SeriesDescription" in summary:
        series = "series %s" % summary.get("SeriesNumber", "?")
        if summary.get("SeriesDescription"):
            series += ' "%s"' % summary["SeriesDescription"]
    lines: List[str] = [
        "%s: %s" % (summary["source"] or "(exam)", ", ".join(part for part in (summary["format"].upper(), scanner.strip(),
                                                                                series) if part)),
        "  %d echoes, TE %s ms" % (len(times), ", ".join(_number(t) for t in times)),
        "  %d %s slices (%.0f deg oblique) of %d x %d, pixel %s x %s mm, slice step %s mm%s" % (
            summary["shape_slice_row_col"][0], summary["slice_plane"], summary["obliquity_deg"],
            summary["shape_slice_row_col"][1], summary["shape_slice_row_col"][2],
            _number(summary["pixel_mm_row_col"][0]), _number(summary["pixel_mm_row_col"][1]),
            _number(summary["slice_step_mm"]),
            ", thickness %s mm" % _number(summary["SliceThickness"]) if "SliceThickness" in summary else ""),
        "  side: %s%s" % (summary["laterality"], "" if summary["laterality"] != "unknown"
                          else " (estimated from the cartilage at analysis; give --laterality if you know it)"),
        "  scanner coordinates: %s" % ("yes" if summary["scanner_frame"] else "no (positions may have been moved)"),
    ]
    if summary["intensity_scaling"]:
        lines.append("  intensity scaling: %s" % summary["intensity_scaling"])
    lines += ["  warning: %s" % text for text in summary["warnings"]]
    lines += ["  note: %s" % text for text in summary["notes"]]
    return "\n".join(lines)


def _intensity_scaling(metadata: Dict[str, Any]) -> str:
    """How stored DICOM values became the echoes (empty for other formats)."""
    if metadata.get("intensity_scaling"):
        return str(metadata["intensity_scaling"])
    return "stored x RescaleSlope + RescaleIntercept" if metadata.get("source_format") == "dicom" else ""


def _number(value: Any) -> str:
    try:
        return "%g" % float(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        return str(value)
