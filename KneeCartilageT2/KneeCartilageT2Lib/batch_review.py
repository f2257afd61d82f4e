"""Which scans of a cohort a person should look at first: ``review.csv`` and ``review.html``.

After ``knee-t2 batch`` nobody checks thousands of segmentations one by one.
Each finished scan carries cheap plausibility indicators
(:mod:`segmentation_quality`, in ``provenance.json``) and its plate figures
(``regions/regions.json``). This module compares them within each protocol
(scans with the same echo times: T2 and the network's behaviour depend on it)
and orders the scans:

1. **check first**: the analysis failed, found no cartilage, or found a plate
   on a single slice (femoral cartilage spans many slices: a failed segmentation);
2. **check**: an indicator is far from its protocol's other scans (robust z,
   ``|x - median| / (1.4826 MAD)``, at least :data:`OUTLIER_Z`: the usual
   cut-off for the modified z-score), or the plate has empty slices inside it
   or filled slices cut off from it, or ends abruptly (a margin slice probably
   missed, or one the refinement's minimum-area slice rule emptied: told apart,
   the latter is no miss of the model) or at the series' first or last slice
   (:mod:`slice_coverage`). A slice finding shared by more than a quarter of a
   protocol's scans is a habit of the model, the slice rule or the protocol on
   this cohort: it is told once (:func:`cohort_notes`) instead of flagging most
   of the cohort;
3. **routine**: the rest.

Within a group the larger deviation comes first; routine scans are ordered by
the network's uncertainty, least certain first. Every flag is spelled out in
``reasons``. Indicators compared: plate volume (mm^3), plate mean T2 (ms),
mean thickness (mm), network uncertainty (bits) and the share of the plate in
its largest piece (only a low value is flagged); each with a smallest spread
(:data:`INDICATORS`), so that tiny differences are never flagged. A protocol with fewer than
:data:`MIN_GROUP` finished scans gets no z-scores (too few to say what is usual).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .batch_tables import REGION_TABLE_NAMES, SIDE_SOURCE_COLUMN, measured_side, region_records, region_table_path
from .analysis_report import REPORT_NAME
from .pipeline import CHECK_PREVIEW, DONE_MARKER

FINISHED_STATUSES = ("done", "skipped")  # a batch "skips" a scan that an earlier run finished
OUTLIER_Z = 3.5
MIN_GROUP = 8
PRIORITIES = ("check first", "check", "routine")

# indicator key -> (words for people, unit, which side is flagged: "both", "high" or "low",
#                   smallest spread: absolute, and relative to the median). The smallest spread keeps
# differences too small to matter from being flagged when the other scans happen to be very alike
# (e.g. every plate in one piece: a share of 0.98 is not an outlier).
INDICATORS: Dict[str, Tuple[str, str, str, float, float]] = {
    "volume_mm3": ("plate volume", "mm3", "both", 0.0, 0.05),
    "t2_mean_ms": ("plate mean T2", "ms", "both", 1.0, 0.0),
    "thickness_mean_mm": ("mean thickness", "mm", "both", 0.05, 0.0),
    "uncertainty_bits": ("network uncertainty", "bits", "high", 0.01, 0.0),
    "largest_component_fraction": ("share of the plate in its largest piece", "", "low", 0.02, 0.0),
}

# Findings about the plate's slices (:mod:`slice_coverage`): flagged per scan while they are exceptions. When more
# than SYSTEMATIC_SHARE of a protocol's compared scans (at least MIN_GROUP) share one, it is a habit of the model or
# of the protocol on this cohort rather than a fault of single scans: it is told once (:func:`cohort_notes`) and no
# longer puts each scan among those to check. key -> (words for one scan, words for the cohort).
_RETRAIN = "check a few (their preview_check.png shows the first slice), correct them and fine-tune the model on them"
SLICE_FINDINGS: Dict[str, Tuple[str, str]] = {
    "gap_slices": ("%d empty slice(s) inside the plate",
                   "empty slices inside the plate in %d of %d scans: the model probably misses the same part of "
                   "the plate (often the trochlea or the notch margins) in this cohort; " + _RETRAIN),
    "detached_slices": ("%d slice(s) with cartilage cut off from the plate",
                        "slices with cartilage cut off from the plate in %d of %d scans: the model probably marks "
                        "the same tissue outside the plate in this cohort; " + _RETRAIN),
    "abrupt_ends": ("the plate ends abruptly at %d end(s): a margin slice may be missed",
                    "the plate ends abruptly in %d of %d scans: the model probably misses the condyle-margin "
                    "slices in this cohort; " + _RETRAIN),
    "rule_emptied_ends": ("the plate ends abruptly at %d end(s) because the minimum-area slice rule removed the "
                          "network's cartilage in the next slice: restore it if it is real",
                          "in %d of %d scans the minimum-area slice rule removed the network's cartilage in the "
                          "slice beyond an abrupt plate end: the model found these margin slices, but the rule's "
                          "minimum may be too high for them with this protocol; check a few (their "
                          "preview_check.png shows the slice) and restore the cartilage where it is real"),
    "edge_ends": ("the plate reaches the series' first or last slice at %d end(s): it may go on outside the scan",
                  "the plate reaches the series' first or last slice in %d of %d scans: the slices probably do "
                  "not cover the whole plate with this protocol, and the plate figures leave the rest out"),
}
SYSTEMATIC_SHARE = 0.25
# findings about the plate's ends: for a plate on a single slice they only repeat that it failed (its two ends are
# its two sides), so there they are neither listed nor counted towards a cohort note
END_FINDINGS = ("abrupt_ends", "rule_emptied_ends", "edge_ends")
SINGLE_SLICE_REASON = ("the plate lies on a single slice: femoral cartilage spans many sagittal slices, so the "
                       "segmentation most likely failed")

REVIEW_COLUMNS = (["rank", "priority", "id", "subject", "visit", "side", "status", "reasons", "protocol",
                   "n_voxels", "n_slices", "gap_slices", "detached_slices", "abrupt_ends", "rule_emptied_ends",
                   "edge_ends", "single_slice_plate", "n_components"] + list(INDICATORS)
                  + ["z_" + key for key in INDICATORS] + ["preview", "check_preview", "report", "error", "notes",
                                                          SIDE_SOURCE_COLUMN])  # added later: last


def robust_z(values: Sequence[Optional[float]], min_spread: float = 0.0,
             min_relative_spread: float = 0.0) -> List[Optional[float]]:
    """Modified z-scores ``(x - median) / (1.4826 MAD)``; None for missing values or no spread.

    When more than half the values are equal (MAD 0) the mean absolute deviation
    (times 1.2533, its normal-consistency factor) is used instead. The spread is
    at least ``min_spread`` and ``min_relative_spread`` times the median's size.
    """
    present = np.array([float(value) for value in values if value is not None and np.isfinite(value)])
    if present.size == 0:
        return [None] * len(values)
    centre = float(np.median(present))
    spread = 1.4826 * float(np.median(np.abs(present - centre)))
    if spread <= 0:
        spread = 1.2533 * float(np.mean(np.abs(present - centre)))
    spread = max(spread, float(min_spread), float(min_relative_spread) * abs(centre))
    if spread <= 0:
        return [None] * len(values)
    return [None if value is None or not np.isfinite(value) else round((float(value) - centre) / spread, 2)
            for value in values]


def read_scan_indicators(scan_dir) -> Dict[str, Any]:
    """Indicators of one finished scan folder (missing files give missing values, never an error).

    A number that is not finite (NaN or infinity, as a file written by another
    tool may hold) is a missing value too: it cannot be compared or shown.
    """
    scan_dir = Path(scan_dir)
    row: Dict[str, Any] = {}
    provenance = _read_json(scan_dir / "provenance.json")
    quality = provenance.get("quality") or {}
    table = next((scan_dir / name for name in REGION_TABLE_NAMES if (scan_dir / name).is_file()), None)
    regions = region_records(_read_json(table, dict_only=False)) if table is not None else []
    plate = next((item for item in regions if item.get("region") == "all"), {})
    for key in ("n_slices", "gap_slices", "detached_slices", "abrupt_ends", "rule_emptied_ends", "edge_ends",
                "single_slice_plate", "n_components", "largest_component_fraction", "uncertainty_bits"):
        row[key] = _finite(quality.get(key))
    for key in ("t2_mean_ms", "thickness_mean_mm"):
        row[key] = _finite(plate.get(key))
    # size from either file when the other lacks it (a folder written before the quality figures existed)
    row["n_voxels"] = _first_given(_finite(quality.get("n_voxels")), _finite(plate.get("n_voxels")))
    row["volume_mm3"] = _first_given(_finite(plate.get("volume_mm3")), _finite(quality.get("volume_mm3")))
    row["protocol"] = protocol_key(provenance.get("echo_times_ms"))
    if (scan_dir / "preview.png").is_file():
        row["preview"] = "scans/%s/preview.png" % scan_dir.name
    if (scan_dir / CHECK_PREVIEW).is_file():
        row["check_preview"] = "scans/%s/%s" % (scan_dir.name, CHECK_PREVIEW)
    if (scan_dir / REPORT_NAME).is_file():
        row["report"] = "scans/%s/%s" % (scan_dir.name, REPORT_NAME)
    return row


def protocol_key(echo_times_ms) -> str:
    """A protocol's name in the review: its echo count and first-last echo time, e.g. ``8 echoes 6.3-50.5 ms``."""
    if not echo_times_ms:
        return "unknown protocol"
    times = [float(t) for t in echo_times_ms]
    return "%d echoes %.1f-%.1f ms" % (len(times), times[0], times[-1])


def build_review(out_dir, statuses: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Rows of :data:`REVIEW_COLUMNS`, ordered for review, from a batch folder and its scan statuses.

    ``statuses`` are the batch's status rows (``kind`` "scan" rows are used: id,
    subject, visit, side, status, error, notes), as in ``status.csv``. A scan
    counts as finished when its status is done or skipped (finished by an
    earlier run) and its folder holds ``DONE.json``. A finished scan's
    ``side`` is the manifest's, else the one it was measured with, and its
    ``side_source`` (last column) where the measured side came from, as in
    ``cohort_regions``; an unfinished scan's side is the manifest's ("user").
    """
    out_dir = Path(out_dir)
    rows = []
    for status in statuses:
        if str(status.get("kind", "scan")) != "scan":
            continue
        identifier = str(status.get("id", ""))
        row: Dict[str, Any] = {key: status.get(key) for key in ("id", "subject", "visit", "side", "status", "error",
                                                                 "notes")}
        row[SIDE_SOURCE_COLUMN] = "user" if row.get("side") else ""  # the manifest's, until a measurement says
        scan_dir = out_dir / "scans" / identifier
        if row["status"] in FINISHED_STATUSES:
            if (scan_dir / DONE_MARKER).is_file():
                row["status"] = "done"
                row.update(read_scan_indicators(scan_dir))
                side, source = _measured_side(scan_dir)
                row["side"], row[SIDE_SOURCE_COLUMN] = row.get("side") or side, source
            else:
                row["status"] = "missing"
                row["error"] = ("its folder scans/%s has no %s (a later run interrupted, or the folder moved or "
                                "deleted?): run the batch again for this scan" % (identifier, DONE_MARKER))
        rows.append(row)
    _score(rows)
    rows.sort(key=_order)
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def _measured_side(scan_dir: Path) -> Tuple[str, str]:
    """``(side, source)`` a finished scan was measured with, from its region table as ``cohort_regions`` takes
    them: the side for a scan without a manifest side (e.g. an echo stack's sidecar side, or an estimate), and
    where it came from (dicom, sidecar, user or estimated), so that an estimated side is told from a known one;
    "" for what the table does not hold (absent, unreadable, or written before sources were recorded)."""
    table = region_table_path(scan_dir)
    return measured_side(_read_json(table, dict_only=False)) if table is not None else ("", "")


def cohort_notes(rows: Sequence[Dict[str, Any]]) -> List[str]:
    """Findings shared by so many scans of a protocol that they are told once (:data:`SLICE_FINDINGS`)."""
    return ["%s: %s." % (protocol, SLICE_FINDINGS[key][1] % counts)
            for (protocol, key), counts in sorted(_systematic_findings(_protocol_groups(rows)).items())]


def _protocol_groups(rows: Sequence[Dict[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
    """Finished scans with cartilage, by protocol: the scans compared with each other."""
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for row in rows:
        if row.get("status") == "done" and row.get("n_voxels") is not None and row["n_voxels"] > 0:
            groups.setdefault(str(row.get("protocol")), []).append(row)
    return groups


def _systematic_findings(groups: Dict[str, List[Dict[str, Any]]]) -> Dict[Tuple[str, str], Tuple[int, int]]:
    """(protocol, finding) -> (scans with it, scans compared), for findings too common to flag scan by scan."""
    found = {}
    for protocol, members in groups.items():
        for key in SLICE_FINDINGS:
            count = sum(1 for row in members if _finding(row, key))
            if len(members) >= MIN_GROUP and count > SYSTEMATIC_SHARE * len(members):
                found[(protocol, key)] = (count, len(members))
    return found


def _score(rows: List[Dict[str, Any]]) -> None:
    """Fill priority, reasons and z-scores of every row (see the module docstring)."""
    groups = _protocol_groups(rows)
    systematic = _systematic_findings(groups)
    for members in groups.values():
        if len(members) < MIN_GROUP:
            continue
        for key, (_, _, _, floor, relative_floor) in INDICATORS.items():
            for row, z in zip(members, robust_z([row.get(key) for row in members], floor, relative_floor)):
                row["z_" + key] = z
    for row in rows:
        reasons: List[str] = []
        if row.get("status") != "done":
            reasons.append("analysis %s: %s" % (row.get("status") or "missing", row.get("error") or "no reason given"))
            row["priority"] = PRIORITIES[0]
        elif row.get("n_voxels") == 0:
            reasons.append("no cartilage found")
            row["priority"] = PRIORITIES[0]
        elif row.get("single_slice_plate") and row.get("n_voxels") is not None:
            reasons.extend([SINGLE_SLICE_REASON] + _indicator_reasons(row)
                           + [SLICE_FINDINGS[key][0] % row[key] for key in SLICE_FINDINGS if _finding(row, key)])
            row["priority"] = PRIORITIES[0]
        elif row.get("n_voxels") is None:
            reasons.append("finished, but without figures to compare (no provenance.json quality or region table)")
            row["priority"] = PRIORITIES[1]
        else:
            reasons.extend(_indicator_reasons(row))
            common = []
            for key, (words, _) in SLICE_FINDINGS.items():
                if _finding(row, key):
                    text = words % row[key]
                    if (str(row.get("protocol")), key) in systematic:
                        common.append(text + " (as in many scans of this protocol: see the cohort notes)")
                    else:
                        reasons.append(text)
            row["priority"] = PRIORITIES[1] if reasons else PRIORITIES[2]
            reasons.extend(common)
            group_size = len(groups[str(row.get("protocol"))])
            if group_size < MIN_GROUP:
                reasons.append("only %d finished scan(s) with this protocol: not compared (needs %d)"
                               % (group_size, MIN_GROUP))
        row["reasons"] = "; ".join(reasons)


def _finding(row: Dict[str, Any], key: str) -> bool:
    """Whether the scan has slice finding ``key`` (the end findings of a single-slice plate excepted)."""
    return bool(row.get(key)) and not (key in END_FINDINGS and row.get("single_slice_plate"))


def _flaggable_scores(row: Dict[str, Any]):
    """(indicator, z) pairs on the side each indicator is flagged (a very certain network is no concern)."""
    for key, (_, _, side, _, _) in INDICATORS.items():
        z = row.get("z_" + key)
        if z is not None and not (side == "high" and z < 0) and not (side == "low" and z > 0):
            yield key, z


def _indicator_reasons(row: Dict[str, Any]) -> List[str]:
    reasons = []
    for key, z in _flaggable_scores(row):
        words, unit = INDICATORS[key][:2]
        if abs(z) < OUTLIER_Z:
            continue
        value = row.get(key)
        shown = ("%.3g %s" % (value, unit)).strip() if value is not None else "?"
        reasons.append("%s %s (%s than usual for the protocol, robust z %+.1f)"
                       % (words, shown, "higher" if z > 0 else "lower", z))
    return reasons


def _order(row: Dict[str, Any]):
    uncertainty = row.get("uncertainty_bits")
    if not isinstance(uncertainty, (int, float)) or not np.isfinite(uncertainty):
        uncertainty = None  # NaN (a file written by another tool) would make the order arbitrary
    rank = PRIORITIES.index(row["priority"])
    deviation = 0.0  # routine scans: by uncertainty alone
    if row["priority"] != PRIORITIES[-1]:
        deviation = max([abs(z) for _, z in _flaggable_scores(row)] + [0.0])
    return (rank, -deviation,
            -(uncertainty if uncertainty is not None else -1.0), str(row.get("id")))


def _finite(value: Any) -> Any:
    """``value``, or None when it is a float that is not finite (NaN, infinity)."""
    return None if isinstance(value, float) and not np.isfinite(value) else value


def _first_given(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


def _read_json(path: Path, dict_only: bool = True) -> Any:
    """The file's JSON ({} when it cannot be read, or is not an object and ``dict_only``)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) or not dict_only else {}
