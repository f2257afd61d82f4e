"""An agreement study: two or more segmentation sets of the same scans, compared end to end.

The first set is the reference (e.g. Reader 1); every other set (the model,
Reader 2, ...) is compared with it, as in the paper's tables:

1. Segmentation: per scan Dice, Jaccard, Hausdorff / HD95 / mean symmetric
   surface distance (mm) and volumes (:mod:`agreement`); a summary per set.
2. Regional mean T2 (27 regions): per scan values of each set, then per region
   Spearman, MAE, bias, limits of agreement and RMS-CV (:mod:`agreement_stats`)
   with Bland-Altman plots. Values come from the scans' region tables when
   every set has one; otherwise they are measured here on each set's mask with
   one shared T2 map (the reference's ``t2.nrrd``, else the other set's), so
   that only the segmentation differs.
3. Longitudinal change: per region ``delta_t2_ms`` from ``region_change.csv``
   folders, and from visit pairs (``--pairs``: follow-up minus baseline of each
   set's regional values); same statistics without RMS-CV.
4. With three or more sets, a STAPLE consensus per scan and each set's
   sensitivity, specificity and Dice against it.

Masks on different grids are resampled onto the reference grid (nearest
neighbour, scanner coordinates).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .agreement import segmentation_agreement, staple_consensus
from .agreement_io import ScanFiles, discover_scans, load_mask, scan_laterality, set_names
from .agreement_stats import agreement_by_quantity, paired_values, too_few_scans_note
from .csv_tables import read_csv, write_csv, write_json
from .errors import InputError, KneeT2Error
from .failed_scans import failed_scans_heading
from .geometry import Volume
from .progress import ProgressCallback, no_progress
from .volume_io import read_t2_map, write_volume

Values = Dict[str, Dict[str, float]]  # scan id -> region -> value


@dataclass
class StudyOptions:
    """Choices of an agreement study."""

    label_value: Optional[int] = None  # femoral cartilage label (default: 1 or the only label)
    region_mode: str = "improved"
    laterality: Optional[str] = None  # for scans whose side is not recorded
    pairs: List[Tuple[str, str]] = field(default_factory=list)  # (baseline scan id, follow-up scan id)
    staple_threshold: float = 0.5
    plots: bool = True  # Bland-Altman PNGs (one 27-panel figure per compared set and quantity)


@dataclass
class SetData:
    name: str
    scans: Dict[str, ScanFiles]
    masks: Dict[str, Volume] = field(default_factory=dict)
    t2_values: Values = field(default_factory=dict)
    change_values: Values = field(default_factory=dict)


def run_agreement_study(folders: Sequence, out_dir, names: Optional[Sequence[str]] = None,
                        options: Optional[StudyOptions] = None,
                        progress: Optional[ProgressCallback] = None) -> Dict[str, object]:
    """Run the whole study and write its tables and plots into ``out_dir``; returns the summary."""
    options = options or StudyOptions()
    report = progress or no_progress
    folders = [Path(folder) for folder in folders]
    if len(folders) < 2:
        raise InputError("Give at least two segmentation sets to compare (reference first).")
    notes: List[str] = []
    sets = []
    for name, folder in zip(set_names(folders, names), folders):
        unfinished: List[str] = []
        failed: Dict[str, str] = {}
        sets.append(SetData(name, discover_scans(folder, unfinished, failed)))
        if failed:
            notes.append("%s: %s: %s." % (name, failed_scans_heading(len(failed)),
                                          "; ".join("%s (%s)" % item for item in failed.items())))
        if unfinished:
            notes.append("%s: left out %d unfinished scan folder(s) (no DONE.json: interrupted, or still being "
                         "written): %s." % (name, len(unfinished), ", ".join(unfinished)))
    reference = sets[0]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report(0.05, "Loading segmentations")
    _load_masks(sets, options, notes)
    report(0.25, "Segmentation agreement")
    segmentation_rows = _segmentation_rows(sets)
    report(0.45, "Regional T2")
    _region_values(sets, options, notes)
    _change_values(sets, options)
    report(0.75, "Agreement statistics")
    summary = {
        "reference": reference.name,
        "sets": [s.name for s in sets],
        "n_scans": {s.name: len(s.masks) for s in sets},
        "segmentation": _write_segmentation(out, segmentation_rows, sets),
        "regional_t2": _write_measurements(out, sets, "t2_values", "region_t2", "mean T2", True, options.plots),
        "regional_change": _write_measurements(out, sets, "change_values", "region_change", "T2 change",
                                               False, options.plots),
    }
    if len(sets) >= 3:
        report(0.85, "STAPLE consensus")
        summary["staple"] = _write_staple(out, sets, options, notes)
    notes.extend(_too_few_scans_notes(summary))
    summary["notes"] = notes
    write_json(out / "agreement.json", summary)
    report(1.0, "Agreement study written")
    return summary


def _load_masks(sets: List[SetData], options: StudyOptions, notes: List[str]) -> None:
    reference = sets[0]
    for scan_id, files in reference.scans.items():
        if files.label is not None:
            reference.masks[scan_id] = load_mask(files, options.label_value)
    for other in sets[1:]:
        for scan_id, files in other.scans.items():
            if files.label is None:
                continue
            mask = load_mask(files, options.label_value)
            target = reference.masks.get(scan_id)
            if target is not None and not mask.same_geometry(target, tolerance_mm=1e-2):
                mask = _resample_onto(mask, target)
                notes.append("%s/%s was resampled onto the reference grid (nearest neighbour)." % (other.name, scan_id))
            other.masks[scan_id] = mask


def _resample_onto(mask: Volume, reference: Volume) -> Volume:
    from .resampling import resample_label_onto

    return resample_label_onto(mask, reference, np.eye(4))


def _too_few_scans_notes(summary: Dict[str, object]) -> List[str]:
    """Notes naming the statistics left empty because a comparison had too few scans (one per comparison)."""
    notes = []
    for entry in summary["segmentation"]:
        notes.append(too_few_scans_note("%s vs %s, segmentation" % (entry["compared"], entry["reference"]),
                                        entry["n_scans"], with_spearman=False))
    for key, what in (("regional_t2", "regional T2"), ("regional_change", "T2 change")):
        largest: Dict[tuple, int] = {}
        for entry in summary[key]:
            pair = (entry["compared"], entry["reference"])
            largest[pair] = max(largest.get(pair, 0), int(entry["n"]))
        notes += [too_few_scans_note("%s vs %s, %s" % (pair + (what,)), n) for pair, n in largest.items()]
    return [note for note in notes if note]


def _segmentation_rows(sets: List[SetData]) -> List[dict]:
    reference, rows = sets[0], []
    for other in sets[1:]:
        for scan_id in sorted(set(reference.masks) & set(other.masks)):
            truth, compared = reference.masks[scan_id], other.masks[scan_id]
            metrics = segmentation_agreement(truth.array > 0, compared.array > 0, truth.spacing_ijk[::-1],
                                             truth.voxel_volume_mm3)
            rows.append(dict({"reference": reference.name, "compared": other.name, "scan_id": scan_id},
                             **metrics.as_dict()))
    return rows


SEGMENTATION_METRICS = ("dice", "jaccard", "hausdorff_mm", "hausdorff95_mm", "mean_surface_distance_mm",
                        "volume_a_ml", "volume_b_ml", "volume_difference_percent")


def _write_segmentation(out: Path, rows: List[dict], sets: List[SetData]) -> List[dict]:
    columns = ["reference", "compared", "scan_id"] + list(SEGMENTATION_METRICS)
    write_csv(out / "segmentation_agreement.csv", rows, columns)
    summary = []
    for other in sets[1:]:
        chosen = [row for row in rows if row["compared"] == other.name]
        entry = {"reference": sets[0].name, "compared": other.name, "n_scans": len(chosen)}
        for metric in SEGMENTATION_METRICS:
            values = np.array([row[metric] for row in chosen], dtype=np.float64)
            values = values[np.isfinite(values)]
            entry[metric + "_mean"] = float(values.mean()) if values.size else float("nan")
            entry[metric + "_sd"] = float(values.std(ddof=1)) if values.size > 1 else float("nan")
        summary.append(entry)
    write_csv(out / "segmentation_summary.csv", summary)
    return summary


def _region_values(sets: List[SetData], options: StudyOptions, notes: List[str]) -> None:
    reference = sets[0]
    for scan_id in sorted(reference.masks):
        holders = [s for s in sets if scan_id in s.masks]
        if len(holders) < 2:
            continue
        if all(s.scans[scan_id].regions is not None for s in holders):
            for s in holders:
                s.t2_values[scan_id] = _table_values(s.scans[scan_id].regions)
            continue
        t2 = _shared_t2(holders, scan_id)
        if t2 is None:
            continue
        side = options.laterality or scan_laterality(reference.scans[scan_id])
        for s in holders:
            try:
                analysis = _analyse(s.masks[scan_id], t2, side, options.region_mode)
            except KneeT2Error as error:
                notes.append("%s/%s: no regional T2 (%s)" % (s.name, scan_id, error))
                continue
            side = analysis.orientation.laterality  # the reference's (possibly estimated) side for all
            s.t2_values[scan_id] = {row["region"]: float(row["t2_mean_ms"]) for row in analysis.rows}


def _table_values(path: Path) -> Dict[str, float]:
    import json

    document = json.loads(Path(path).read_text())
    rows = document.get("regions", []) if isinstance(document, dict) else []
    return {row["region"]: (np.nan if row.get("t2_mean_ms") is None else float(row["t2_mean_ms"])) for row in rows}


def _shared_t2(holders: List[SetData], scan_id: str) -> Optional[Volume]:
    reference_mask = holders[0].masks[scan_id]
    for s in holders:
        path = s.scans[scan_id].t2
        if path is not None:
            t2 = read_t2_map(path)  # refuses a probability or label map saved as t2.nrrd
            if t2.same_geometry(reference_mask, tolerance_mm=1e-2):
                return t2
            return _resample_t2(t2, reference_mask)
    return None


def _resample_t2(t2: Volume, reference: Volume) -> Volume:
    from .resampling import resample_t2_onto

    resampled = resample_t2_onto(t2, reference, np.eye(4))
    return resampled.with_array(np.nan_to_num(resampled.array, nan=0.0))


def _analyse(mask: Volume, t2: Volume, side: str, mode: str):
    from .regions import analyse_regions

    return analyse_regions(mask, t2, side or "unknown", mode=mode, laterality_source="user")


def _change_values(sets: List[SetData], options: StudyOptions) -> None:
    for s in sets:
        for scan_id, files in s.scans.items():
            if files.change is not None:
                s.change_values[scan_id] = {row["region"]: _number(row.get("delta_t2_ms"))
                                            for row in read_csv(files.change)}
        for baseline_id, followup_id in options.pairs:
            before, after = s.t2_values.get(baseline_id), s.t2_values.get(followup_id)
            if before and after:
                s.change_values["%s->%s" % (baseline_id, followup_id)] = {
                    region: after.get(region, np.nan) - value for region, value in before.items()}


def _number(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def _quantity_order(values: Values) -> List[str]:
    from .region_definitions import REGION_ORDER

    present = {name for regions in values.values() for name in regions}
    return [name for name in REGION_ORDER if name in present] + sorted(present - set(REGION_ORDER))


def _write_measurements(out: Path, sets: List[SetData], attribute: str, stem: str, label: str,
                        with_cv: bool, plots: bool) -> List[dict]:
    from .agreement_plots import write_bland_altman_grid

    reference = sets[0]
    reference_values: Values = getattr(reference, attribute)
    long_rows = [{"set": s.name, "scan_id": scan, "region": region, "value_ms": value}
                 for s in sets for scan, regions in sorted(getattr(s, attribute).items())
                 for region, value in regions.items()]
    if not long_rows:
        return []
    write_csv(out / ("%s_values.csv" % stem), long_rows, ["set", "scan_id", "region", "value_ms"])
    table = []
    for other in sets[1:]:
        other_values: Values = getattr(other, attribute)
        order = _quantity_order(reference_values)
        results = agreement_by_quantity(reference_values, other_values, order, with_cv=with_cv)
        table += [dict({"reference": reference.name, "compared": other.name}, **_renamed(asdict(r))) for r in results]
        panels = {name: paired_values(reference_values, other_values, name) for name in order}
        if plots and any(a.size for a, _ in panels.values()):
            write_bland_altman_grid(out / ("bland_altman_%s_%s_vs_%s.png" % (stem, other.name, reference.name)),
                                    panels, order, "ms", "%s: %s (B) vs %s (A)" % (label, other.name, reference.name))
    write_csv(out / ("%s_agreement.csv" % stem), table)
    return table


def _renamed(entry: dict) -> dict:
    """Agreement fields with their units: values in ms, RMS-CV in %."""
    renamed = {}
    for key, value in entry.items():
        if key == "quantity":
            renamed["region"] = value
        elif key in ("mean_a", "mean_b", "mae", "bias", "sd_difference", "loa_lower", "loa_upper"):
            renamed[key + "_ms"] = value
        else:
            renamed[key] = value
    return renamed


def _write_staple(out: Path, sets: List[SetData], options: StudyOptions, notes: List[str]) -> List[dict]:
    rows = []
    common = sorted(set.intersection(*[set(s.masks) for s in sets]))
    if not common:
        notes.append("No scan is segmented in every set: no STAPLE consensus.")
        return []
    for scan_id in common:
        masks = [s.masks[scan_id].array > 0 for s in sets]
        result = staple_consensus(masks, [s.name for s in sets], threshold=options.staple_threshold)
        reference = sets[0].masks[scan_id]
        write_volume(reference.with_array(result.consensus.astype(np.uint8)), out / "staple" / ("%s.nrrd" % scan_id))
        rows += [dict({"scan_id": scan_id}, **asdict(rater)) for rater in result.raters]
    write_csv(out / "staple_raters.csv", rows)
    summary = []
    for s in sets:
        chosen = [row for row in rows if row["rater"] == s.name]
        entry = {"rater": s.name, "n_scans": len(chosen)}
        for key in ("sensitivity", "specificity", "dice", "staple_sensitivity", "staple_specificity"):
            values = np.array([row[key] for row in chosen], dtype=np.float64)  # NaN: a scan with an empty consensus
            entry[key + "_mean"] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        summary.append(entry)
    write_csv(out / "staple_summary.csv", summary)
    return summary
