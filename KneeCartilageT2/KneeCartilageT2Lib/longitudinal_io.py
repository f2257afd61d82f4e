"""Visits in, change report out: the file side of :mod:`longitudinal`.

A visit is given either as the output folder of a previous analysis
(``label.nrrd``, ``t2.nrrd``, ``anatomy.nrrd``, ``provenance.json`` as written by
:func:`pipeline.write_analysis`), or as an exam (DICOM folder or 4D echo
stack) that is analysed here: with a given segmentation the T2 map is fitted
inside it and the regions measured (:func:`pipeline.measure`), without one
the full pipeline (network included) runs.

:func:`write_change_outputs` writes the change report folder:

* ``region_change.csv`` / ``region_change.json``: one row per region (27):
  ``t2_baseline_ms, t2_followup_ms, delta_t2_ms, n_voxels_baseline, n_voxels_followup, ...``;
* ``registration.json`` (transform as 4x4 RAS matrices, rotation in degrees,
  translation in mm, quality) and ``registration.tfm`` (ITK; in Slicer it moves
  the follow-up onto the baseline);
* ``followup_label_on_baseline.nrrd`` and ``followup_t2_on_baseline_ms.nrrd``:
  the follow-up resampled onto the baseline grid, to overlay on the baseline;
* ``lesions/``: see :mod:`lesion_outputs`, plus ``lesion_clusters_3d.nrrd``
  (cluster labels on the baseline cartilage voxels, baseline grid);
* ``change.json``: inputs, side (``laterality``, and ``side``: the source and
  confidence of the side used and of each visit's own side), ``same_knee`` (do the
  registered visits line up like one knee: :mod:`pair_similarity`), options, warnings
  and the headline numbers; the inputs by the last part of their paths
  (:func:`result_privacy.paths_record`: a full path may name the patient) and
  their image fingerprints (:func:`change_inputs`);
* ``change_report.html``: the one page to read (:mod:`change_report`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from .atomic_files import remove_path
from .csv_tables import write_csv, write_json
from .errors import InputError
from .longitudinal import CHANGE_COLUMNS, ChangeResult, VisitData
from .side_estimate import SideEstimate
from .visit_sides import KNOWN_SOURCES, recorded_estimate
from .volume_io import read_volume, write_volume


def is_analysis_folder(path) -> bool:
    """True for a folder holding ``label.nrrd`` and ``t2.nrrd`` (a previous analysis)."""
    path = Path(path)
    return path.is_dir() and (path / "label.nrrd").is_file() and (path / "t2.nrrd").is_file()


def load_visit_folder(folder, laterality: Optional[str] = None) -> VisitData:
    """A :class:`VisitData` from an analysis output folder; ``laterality`` overrides the recorded side.

    A side the earlier analysis only estimated stays unknown, with that estimate (side and confidence,
    :func:`recorded_side_estimate`) carried along for the change's side check.
    """
    from .pipeline import refuse_unfinished

    folder = Path(folder)
    if not is_analysis_folder(folder):
        raise InputError(
            "%s is not an analysis folder (it needs label.nrrd and t2.nrrd). Give an exam (DICOM folder "
            "or echo stack) or an analysis folder (of `knee-t2 analyse` or `demo`, one batch scan, or a change's baseline/)."
            % folder
        )
    refuse_unfinished(folder)
    label = read_volume(folder / "label.nrrd")
    t2 = read_volume(folder / "t2.nrrd")
    anatomy = read_volume(folder / "anatomy.nrrd") if (folder / "anatomy.nrrd").is_file() else None
    side, source = recorded_side(folder)
    if laterality and laterality != "unknown":
        side, source = laterality, "user"
    estimate = recorded_side_estimate(folder) if side == "unknown" else None
    label = label.with_array((np.asarray(label.array) != 0).astype(np.uint8))
    provenance = _read_json(folder / "provenance.json")
    scanner_frame = provenance.get("scanner_frame") is True
    fingerprint = provenance.get("source_sha256")
    return VisitData(label, t2, anatomy, side, source, None, str(folder), scanner_frame, estimate,
                     fingerprint=fingerprint if isinstance(fingerprint, str) else "")


def recorded_side(folder: Path):
    """(side, source) recorded by a previous analysis; estimated sides count as unknown.

    The data's own side (``provenance.json`` ``laterality``) is credited to where the regions recorded it came
    from (``"dicom"`` or ``"sidecar"``), else (older folders) to the DICOM tag.
    """
    provenance = _read_json(folder / "provenance.json")
    options = provenance.get("options", {}) if isinstance(provenance.get("options"), dict) else {}
    regions = _read_json(folder / "regions" / "regions.json")
    if options.get("laterality") in ("right", "left"):
        return options["laterality"], "user"
    if provenance.get("laterality") in ("right", "left"):
        data_source = regions.get("laterality_source") if regions.get("laterality") == provenance["laterality"] else None
        return provenance["laterality"], data_source if data_source in ("dicom", "sidecar") else "dicom"
    if regions.get("laterality") in ("right", "left") and regions.get("laterality_source") in KNOWN_SOURCES:
        return regions["laterality"], regions["laterality_source"]
    return "unknown", "user"


def recorded_side_estimate(folder: Path) -> Optional[SideEstimate]:
    """The side an earlier analysis estimated from the cartilage, with its confidence and evidence, from
    ``regions/regions.json`` (``laterality_source`` ``"estimated"``, ``orientation.side_confidence``).

    None when the folder records no estimate or not its confidence (an older analysis): the change then
    estimates the side again from the folder's label, so a confidence is always at hand.
    """
    regions = _read_json(Path(folder) / "regions" / "regions.json")
    if regions.get("laterality_source") != "estimated":
        return None
    orientation = regions.get("orientation") if isinstance(regions.get("orientation"), dict) else {}
    note = orientation.get("note") if isinstance(orientation.get("note"), str) else ""
    return recorded_estimate(regions.get("laterality"), orientation.get("side_confidence"), note)


def _read_json(path: Path) -> Dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def analyse_visit_exam(exam, segmentation=None, options=None, out_dir=None, progress=None,
                       record_full_paths: bool = False) -> VisitData:
    """Analyse an exam (with a given segmentation Volume, or with the network) into a VisitData.

    When ``out_dir`` is given the visit's own analysis folder is written there too (naming the exam
    by the last part of its path, or by its full path with ``record_full_paths``: see
    :func:`pipeline.write_analysis`).
    """
    from . import pipeline
    from .result_privacy import exam_fingerprint

    options = options or pipeline.AnalysisOptions()
    if segmentation is not None:
        from .correction import label_on_exam_grid
        from .t2_fitting import fit_exam

        label = label_on_exam_grid(segmentation, exam)
        if not label.any():
            raise InputError("The segmentation given for %s is empty on the exam's grid." % exam.metadata.get("source", "an exam"))
        fit = fit_exam(exam, method=options.t2_method, t2_range_ms=tuple(options.t2_range_ms),
                       mask=_dilated(label))
        result = pipeline.measure(exam, label, t2=fit, options=options, label_source="given", progress=progress)
    else:
        result = pipeline.analyse_exam(exam, options, progress)
    if out_dir is not None:
        pipeline.write_analysis(result, out_dir, record_full_paths=record_full_paths)
    side, source = pipeline.laterality_for(exam, options)
    t2 = exam.volume_like(np.where(result.t2.valid, result.t2.t2_ms, 0.0).astype(np.float32))
    anatomy = exam.echo_volume(exam.echo_index_nearest(pipeline.ANATOMY_TARGET_TE_MS))
    side = side if source in KNOWN_SOURCES else "unknown"
    return VisitData(result.label, t2, anatomy, side, source if side != "unknown" else "user", result.regions,
                     str(exam.metadata.get("source", "")), exam.in_scanner_frame,
                     t2_status=getattr(result.t2, "status", None), fingerprint=exam_fingerprint(exam))


def _dilated(label: np.ndarray) -> np.ndarray:
    """The label grown by one voxel in-plane: fitting there lets registration resample T2 at edges."""
    from scipy import ndimage

    structure = np.zeros((3, 3, 3), bool)
    structure[1] = True
    return ndimage.binary_dilation(label > 0, structure=structure)


def change_inputs(paths: Dict[str, Any], baseline: VisitData, followup: VisitData,
                  record_full_paths: bool = False) -> Dict[str, Any]:
    """What ``change.json`` records as the inputs: each path given by its last part
    (:func:`result_privacy.paths_record`; in full on opt-in) and, where known, each visit's image
    fingerprint as ``baseline_sha256`` / ``followup_sha256``: it tells apart two visits whose files are
    named alike (every echo stack ``echoes.nrrd``) without naming where they lie."""
    from .result_privacy import FINGERPRINT_SUFFIX, paths_record

    record: Dict[str, Any] = paths_record(paths, record_full_paths)
    for key, visit in (("baseline", baseline), ("followup", followup)):
        if visit.fingerprint:
            record[key + FINGERPRINT_SUFFIX] = visit.fingerprint
    return record


def change_table_rows(result: ChangeResult):
    return [{key: row[key] for key in CHANGE_COLUMNS} for row in result.rows]


# An earlier run's files this run may not rewrite, and its summary and page (written last): an interrupted
# rewrite then leaves no change.json, instead of the earlier run's beside this run's tables.
STALE_OUTPUTS = ("registration.json", "registration.tfm", "lesions", "change.json", "change_report.html")


def write_change_outputs(result: ChangeResult, out_dir, metadata: Optional[Dict[str, Any]] = None) -> Dict[str, Path]:
    """Write the change report folder (see the module doc); returns the paths by kind.

    ``metadata`` is what ``change.json`` records as the inputs, written as given: make it with
    :func:`result_privacy.paths_record`, so that it names each input by the last part of its path.
    """
    from .lesion_outputs import write_lesion_outputs
    from .resampling import write_transform

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in STALE_OUTPUTS:  # an earlier run's registration, lesions or summary must not outlive this one
        remove_path(out / stale)
    rows = change_table_rows(result)
    paths = {"region_change_csv": write_csv(out / "region_change.csv", rows, CHANGE_COLUMNS)}
    paths["region_change_json"] = write_json(out / "region_change.json", {
        "format": "knee-t2 region change", "format_version": 1, "laterality": result.laterality,
        "definition": "delta_t2_ms = follow-up mean T2 - baseline mean T2 of the region (ms)",
        "region_mode": result.options.region_mode, "regions": rows,
    })
    if result.registration is not None:
        paths["registration_json"] = write_json(out / "registration.json", result.registration.to_dict())
        paths["registration_tfm"] = write_transform(result.registration.baseline_to_followup_ras,
                                                      out / "registration.tfm")
    paths["followup_label"] = write_volume(result.followup_label_on_baseline, out / "followup_label_on_baseline.nrrd")
    paths["followup_t2"] = write_volume(result.followup_t2_on_baseline, out / "followup_t2_on_baseline_ms.nrrd")
    if result.lesions is not None:
        for key, path in write_lesion_outputs(result.lesions, out / "lesions").items():
            paths["lesions_" + key] = path
        paths["lesions_3d"] = write_volume(result.lesion_labels_3d, out / "lesions" / "lesion_clusters_3d.nrrd")
    from .change_report import CHANGE_REPORT_NAME, write_change_report

    listed = dict(paths, report=out / CHANGE_REPORT_NAME)  # the page is made from change.json, so written after it
    paths["summary"] = write_json(out / "change.json", change_summary(result, metadata, listed, out))
    paths["report"] = write_change_report(out)
    return paths


def change_summary(result: ChangeResult, metadata, paths, out: Path) -> Dict[str, Any]:
    """Headline numbers, options, warnings and file names of a change report.

    ``files`` lists every output of the folder by kind (``paths``, relative
    to ``out``), the page ``change_report.html`` included, which is written
    from this summary right after it.
    """
    options = asdict(result.options)
    return {
        "format": "knee-t2 change", "format_version": 1,
        "laterality": result.laterality,
        "side": None if result.side is None else result.side.to_dict(),
        "delta_t2_all_ms": result.delta("all"),
        "lesions": None if result.lesions is None else {
            key: value for key, value in result.lesions.summary().items() if key != "clusters"},
        "registration": None if result.registration is None else {
            key: result.registration.to_dict()[key] for key in (
                "rotation_deg", "translation_mm", "ncc_before", "ncc_after",
                "cartilage_dice_before", "cartilage_dice_after", "kept_scanner_frame")},
        "same_knee": None if result.same_knee is None else result.same_knee.to_dict(),
        "options": options,
        "warnings": list(result.warnings),
        "inputs": metadata or {},
        "files": {key: str(path.relative_to(out)) for key, path in paths.items()},
    }
