"""Finding and loading the segmentation sets that ``knee-t2 agreement`` compares.

Accepted layout of each set folder (scans are matched across sets by id):

* ``SET/<scan_id>/label.nrrd`` (also ``.nii.gz``, ``.nii``, ``.mha``): one folder per scan, as
  written by ``knee-t2 analyse``, ``demo``, ``batch`` (``OUTDIR/scans``) or the pipeline. Optional in the same folder:
  ``t2.nrrd`` (T2 map, ms, 0 = invalid), a region table ``regions/regions.json`` (or
  ``regions.json``), and ``provenance.json`` (knee side). A scan folder whose analysis did not
  finish (``provenance.json`` of knee-t2 but no ``DONE.json``) is left out and named, and so is a scan
  folder a batch marked failed (``FAILED.json``, even beside a ``DONE.json`` of an earlier run).
* ``SET/<scan_id>.nrrd`` (or ``.nii.gz``, ``.nii``, ``.mha``): flat label maps, one per scan.
* ``SET/<pair_id>/region_change.csv`` (as written by ``knee-t2 change``): a longitudinal
  change result; compared between sets on ``delta_t2_ms`` per region.

The femoral cartilage is the voxels equal to ``label_value`` (default: 1, or the only non-zero
value when a map has exactly one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from .errors import InputError
from .geometry import Volume
from .volume_io import read_label_volume

LABEL_SUFFIXES = (".nrrd", ".nii.gz", ".nii", ".mha")
REGION_TABLE_NAMES = ("regions/regions.json", "regions.json")
CHANGE_TABLE_NAME = "region_change.csv"


@dataclass
class ScanFiles:
    """Files found for one scan id in one set (None = absent)."""

    scan_id: str
    label: Optional[Path] = None
    t2: Optional[Path] = None
    regions: Optional[Path] = None
    change: Optional[Path] = None
    provenance: Optional[Path] = None


def _first_existing(folder: Path, names) -> Optional[Path]:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


def _strip_suffix(name: str) -> Optional[str]:
    lower = name.lower()
    for suffix in LABEL_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return None


def discover_scans(folder, unfinished: Optional[List[str]] = None,
                   failed: Optional[Dict[str, str]] = None) -> Dict[str, ScanFiles]:
    """Scan id -> files of one set folder (layout in the module doc).

    A scan folder holding an analysis whose writing did not finish (no
    ``DONE.json``: a batch still running or interrupted) is left out, as
    batch, report and to-dicom leave it out: its label and T2 map may belong
    to two runs. Its name is appended to ``unfinished`` when a list is given.
    A scan folder the batch marked failed (``FAILED.json``) is left out too, as
    ``next-case`` leaves it out: whatever label it holds is an earlier run's. Its
    name and recorded error go into ``failed`` when a dict is given.
    """
    from .failed_scans import failure_text, is_failed_scan
    from .pipeline import DONE_MARKER, is_unfinished

    folder = Path(folder)
    left_out: List[str] = []
    failures: Dict[str, str] = {}
    if folder.is_file():
        raise InputError("%s is a file: each SET_DIR is a folder of one reader's (or the model's) label maps, one "
                         "per scan (SET/<scan id>.nrrd or SET/<scan id>/label.nrrd), matched by scan id across "
                         "the sets." % folder)
    if not folder.is_dir():
        raise InputError("Segmentation set folder not found: %s" % folder)
    refuse_result_folder(folder)
    scans: Dict[str, ScanFiles] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if is_failed_scan(entry):
                failures[entry.name] = failure_text(entry)
                continue
            if is_unfinished(entry):
                left_out.append(entry.name)
                continue
            files = ScanFiles(
                scan_id=entry.name,
                label=_first_existing(entry, ["label" + suffix for suffix in LABEL_SUFFIXES]),
                t2=_first_existing(entry, ["t2" + suffix for suffix in LABEL_SUFFIXES]),
                regions=_first_existing(entry, REGION_TABLE_NAMES),
                change=_first_existing(entry, [CHANGE_TABLE_NAME]),
                provenance=_first_existing(entry, ["provenance.json"]),
            )
            if files.label is not None or files.change is not None:
                scans[entry.name] = files
        elif entry.is_file():
            scan_id = _strip_suffix(entry.name)
            if scan_id and not scan_id.lower().endswith(".seg") and scan_id not in scans:
                scans[scan_id] = ScanFiles(scan_id=scan_id, label=entry)
    if not scans and (left_out or failures):
        reasons = ["the batch could not analyse %s (FAILED.json: %s)"
                   % (", ".join(failures), "; ".join("%s: %s" % item for item in failures.items()))] if failures else []
        if left_out:
            reasons.append("the analyses of %s did not finish (no %s: interrupted, or still being written)"
                           % (", ".join(left_out), DONE_MARKER))
        raise InputError("No finished scan in %s: %s. Let the batch finish (or run it again once the cause is "
                         "fixed), then compare." % (folder, "; ".join(reasons)))
    if not scans:
        raise InputError(
            "No segmentations found in %s: expected <scan_id>/label.nrrd folders or <scan_id>.nrrd "
            "label maps (see `knee-t2 agreement --help`)." % folder
        )
    if unfinished is not None:
        unfinished.extend(left_out)
    if failed is not None:
        failed.update(failures)
    return scans


def refuse_result_folder(folder: Path) -> None:
    """Refuse one analysis folder or a batch output folder given where a set folder belongs.

    Read as a set, an analysis folder's own volumes (``anatomy.nrrd``, ``t2.nrrd``...) would be
    taken for flat label maps of scans named ``anatomy``, ``t2``..., and refused one by one as
    not being label maps, which does not say what to give instead.
    """
    if (folder / "provenance.json").is_file() and _first_existing(folder, ["label" + s for s in LABEL_SUFFIXES]):
        raise InputError(
            "%s is one analysis folder, not a set of scans: each SET_DIR holds one reader's (or the model's) "
            "segmentations, one sub-folder (or label map) per scan, matched by name across the sets. Put each "
            "analysis of the exam in its own set folder under the same scan name (e.g. A/knee1/ and B/knee1/) "
            "and give the set folders (a batch's OUTDIR/scans is such a set)." % folder)
    if (folder / "scans").is_dir() and (folder / "status.csv").is_file():
        raise InputError("%s is a batch output folder: give its scans/ folder (%s) as the set."
                         % (folder, folder / "scans"))


def cartilage_mask(label: Volume, label_value: Optional[int] = None, source: str = "") -> np.ndarray:
    """Boolean femoral cartilage mask of a label map (see the module doc for the default value)."""
    array = np.asarray(label.array)
    if label_value is not None:
        return array == label_value
    values = np.unique(array[array != 0])
    if values.size == 1:
        return array == values[0]
    if values.size == 0 or 1 in values:
        return array == 1
    raise InputError(
        "The label map %s has several labels (%s) and none is 1: give --label-value with the "
        "femoral cartilage label." % (source, ", ".join(str(v) for v in values[:10]))
    )


def load_mask(files: ScanFiles, label_value: Optional[int] = None):
    """(mask volume as uint8 0/1, its geometry) of one scan."""
    if files.label is None:
        raise InputError("Scan %s has no label map." % files.scan_id)
    label = read_label_volume(files.label)
    return label.with_array(cartilage_mask(label, label_value, str(files.label)).astype(np.uint8))


def scan_laterality(files: ScanFiles) -> str:
    """The knee side recorded in the scan's provenance.json or region table, else 'unknown'."""
    for path in (files.provenance, files.regions):
        if path is None:
            continue
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            continue
        for key in ("laterality",):
            value = data.get(key) if isinstance(data, dict) else None
            if isinstance(value, str) and value in ("right", "left"):
                return value
        regions = data.get("regions") if isinstance(data, dict) else None
        if isinstance(regions, dict) and regions.get("laterality") in ("right", "left"):
            return regions["laterality"]
    return "unknown"


def set_names(folders: List[Path], names: Optional[List[str]] = None) -> List[str]:
    """Display names of the sets: given names, else folder names made unique."""
    if names:
        if len(names) != len(folders):
            raise InputError("Give one name per segmentation set (%d names for %d sets)." % (len(names), len(folders)))
        return list(names)
    result: List[str] = []
    for folder in folders:
        base = Path(folder).resolve().name or "set"
        name, suffix = base, 2
        while name in result:
            name, suffix = "%s_%d" % (base, suffix), suffix + 1
        result.append(name)
    return result
