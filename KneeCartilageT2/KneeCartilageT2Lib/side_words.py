"""Where a knee side came from, in words for readers: one phrase per ``laterality_source`` value.

The analyses record the source of the side they measured with as a code (``regions.json`` and
``provenance.json`` ``laterality_source``, ``change.json`` ``side.source``): ``"dicom"`` (the DICOM
Laterality tag), ``"sidecar"`` (the Laterality field of an echo stack's JSON sidecar), ``"user"``
(given on the command line, in a batch manifest or in Slicer) or ``"estimated"`` (from the cartilage).
The console, the analysis report, the change report and the messages about two visits' sides
(:mod:`visit_sides`) word them all with :func:`side_source_phrase`, so a reader sees one wording wherever the
side is named. Where room is short (the figure's title, a cohort table's cell: :mod:`region_figure`,
:mod:`cohort_sides`) :func:`side_source_short` says the same in fewer words.
"""

from __future__ import annotations

from typing import Any, Optional

SOURCE_PHRASES = {
    "dicom": "from the DICOM Laterality tag",
    "sidecar": "from the Laterality field of the echo stack's JSON sidecar",
    "user": "given by the user",
    "estimated": "estimated from the cartilage",
}
SHORT_SOURCE_PHRASES = dict(SOURCE_PHRASES, dicom="from DICOM", sidecar="from the JSON sidecar")
ESTIMATE_DETAIL = "its shape, and where the knee lay in the scanner when that is known"


def side_source_phrase(source: Optional[str], confidence: Any = None, detail: bool = False) -> str:
    """``"from the DICOM Laterality tag"``, ``"estimated from the cartilage, confidence 0.62"`` ...

    Args:
        source: a ``laterality_source`` code; None or "" reads "source not recorded" (folders written before
            sources were recorded), an unknown code is shown as it is.
        confidence: an estimate's confidence (0.5-0.9), added to an estimated side when it is a number.
        detail: for an estimated side, also say what the estimate reads (its shape and position).
    """
    return _phrase(SOURCE_PHRASES, source, confidence, detail)


def side_source_short(source: Optional[str], confidence: Any = None) -> str:
    """The short form of :func:`side_source_phrase` (``"from DICOM"``, ``"from the JSON sidecar"``, ``"given by
    the user"``, ``"estimated from the cartilage, confidence 0.62"``), for a title or a table cell."""
    return _phrase(SHORT_SOURCE_PHRASES, source, confidence, False)


def _phrase(phrases, source: Optional[str], confidence: Any, detail: bool) -> str:
    if not source:
        return "source not recorded"
    phrase = phrases.get(str(source), str(source))
    if source == "estimated":
        if detail:
            phrase += ": " + ESTIMATE_DETAIL
        if isinstance(confidence, (int, float)) and not isinstance(confidence, bool):
            phrase += ", confidence %.2f" % confidence
    return phrase
