"""The correction loop (issue #6): measure a reader's edits, export them, pick the next case.

A reader corrects the model's femoral cartilage label; :func:`export_corrected_case`
stores the approved label (with the model's original beside it and every
earlier approval kept) in the training dataset of :mod:`dataset_format`, with
:func:`edit_statistics` recording how much the reader changed.
:func:`rank_by_uncertainty` then proposes which unlabelled case to correct
next: the one whose model output is least certain.

Uncertainty measure (default ``"entropy"``): the mean binary entropy, in bits,

    H = mean over candidate voxels of  -p log2 p - (1 - p) log2 (1 - p),

where candidates are the voxels with ``p > 0.01`` (the reference pipeline's
candidate threshold) and ``p`` is the network's cartilage probability. H is 0
when every candidate is certain (p near 0 or 1) and 1 when all are at 0.5.
The alternative ``"ambiguous_fraction"`` is the fraction of candidates with
``0.2 < p < 0.8``. A case without candidates scores 0 (the model is sure there
is no cartilage; such cases are listed last).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

import numpy as np

from .errors import InputError
from .exam import MeseExam
from .geometry import Volume
from .grid_order import reorder_onto

CANDIDATE_THRESHOLD = 0.01
# nnU-Net channels of a dataset the correction export creates: enough for the echoes a
# network uses near TE 20 ms on common MESE protocols, few enough for every one of them.
CORRECTION_CHANNELS = 4
# A label of which less than this share lies inside the exam was drawn on another exam.
MIN_LABEL_SHARE_INSIDE = 0.5
MEASURES = ("entropy", "ambiguous_fraction")
ProbabilitySource = Union[np.ndarray, Volume, str, Path, Callable[[], Any]]


@dataclass
class EditStatistics:
    """How the approved label differs from the model's original (both on the exam grid).

    Attributes:
        dice: Dice overlap 2|A and O| / (|A| + |O|); 1.0 when both are empty.
        voxels_added: voxels in the approved label but not in the original.
        voxels_removed: voxels in the original but not in the approved label.
        original_volume_mm3, approved_volume_mm3: label volumes in mm^3.
        volume_change_mm3: approved minus original volume, mm^3.
        slices_edited: number of slices (k) where the two labels differ.
    """

    dice: float
    voxels_added: int
    voxels_removed: int
    original_volume_mm3: float
    approved_volume_mm3: float
    volume_change_mm3: float
    slices_edited: int

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def edit_statistics(original: Union[np.ndarray, Volume], approved: Union[np.ndarray, Volume],
                    voxel_volume_mm3: Optional[float] = None) -> EditStatistics:
    """Compare two (slice, row, col) masks; the voxel volume comes from a Volume when not given."""
    if voxel_volume_mm3 is None:
        for item in (approved, original):
            if isinstance(item, Volume):
                voxel_volume_mm3 = item.voxel_volume_mm3
                break
        else:
            raise InputError("Give voxel_volume_mm3 (or Volumes) so that volumes can be reported in mm^3.")
    first = np.asarray(original.array if isinstance(original, Volume) else original) > 0
    second = np.asarray(approved.array if isinstance(approved, Volume) else approved) > 0
    if first.shape != second.shape:
        raise InputError("The original label %s and the approved label %s have different shapes; both must "
                         "be on the exam's grid." % (first.shape, second.shape))
    overlap = int(np.count_nonzero(first & second))
    total = int(np.count_nonzero(first)) + int(np.count_nonzero(second))
    changed = first != second
    return EditStatistics(
        dice=1.0 if total == 0 else 2.0 * overlap / total,
        voxels_added=int(np.count_nonzero(second & ~first)),
        voxels_removed=int(np.count_nonzero(first & ~second)),
        original_volume_mm3=float(np.count_nonzero(first) * voxel_volume_mm3),
        approved_volume_mm3=float(np.count_nonzero(second) * voxel_volume_mm3),
        volume_change_mm3=float((np.count_nonzero(second) - np.count_nonzero(first)) * voxel_volume_mm3),
        slices_edited=int(np.count_nonzero(changed.reshape(changed.shape[0], -1).any(axis=1))),
    )


def export_corrected_case(dataset_dir, exam: MeseExam, approved_label, original_label, reader: Optional[str] = None,
                          model_name: Optional[str] = None, model_version: Optional[str] = None,
                          case_id: Optional[str] = None, source: str = "correction", protocol: str = ""):
    """Store a reader-approved label with the model's original and the edit statistics.

    Labels are (slice, row, col) arrays or Volumes on the exam grid (use
    :func:`label_on_exam_grid` first for labels from elsewhere). Exporting the
    same exam again adds a label version; earlier versions stay on disk.
    Returns the :class:`dataset_index.CaseRecord`; its ``new_version_written``
    is False when the label (and original) were the case's current version
    already, so nothing new was stored.

    A dataset that does not exist yet is created with
    ``min(echoes, CORRECTION_CHANNELS)`` nnU-Net channels: a site's exams come
    from more than one protocol (GE 8 echoes, OAI 7, ...), and a dataset fixed
    at the first exam's echo count would refuse every later exam with fewer.
    All echoes are stored either way (those past the channels in ``imagesExtra``).
    The case's draft (:mod:`dataset_drafts`), if any, is discarded once the label is stored.
    """
    from .dataset_drafts import discard_draft
    from .dataset_format import create_dataset, load_settings, write_case

    approved = _mask_array(approved_label)
    if not approved.any():
        raise InputError(
            "The approved label is empty: there is no cartilage to export. Every knee MESE shows femoral "
            "cartilage, so an empty label would teach the model to find none; draw or restore the cartilage "
            "(Undo in the Segment Editor), then export."
        )
    original = None if original_label is None else _mask_array(original_label)
    if load_settings(Path(dataset_dir)) is None:
        create_dataset(dataset_dir, n_channels=min(exam.n_echoes, CORRECTION_CHANNELS))
    info: Dict[str, Any] = {"kind": "correction"}
    if original is not None:
        info["edit"] = edit_statistics(original, approved, exam.voxel_volume_mm3).as_dict()
    model = {"name": model_name, "version": model_version} if model_name else None
    record = write_case(dataset_dir, exam, approved, case_id=case_id, source=source, protocol=protocol,
                        original_label=original, reader=reader, model=model, label_info=info)
    discard_draft(dataset_dir, record.case_id)  # the approved version is the newer work
    return record


def label_on_exam_grid(label: Volume, exam: MeseExam) -> np.ndarray:
    """The label as a uint8 (slice, row, col) array on the exam's grid.

    The exam's own voxels listed in another order (a left-handed grid's slices
    reversed) are re-indexed exactly; a label on another grid (e.g. a cropped
    segmentation export) is resampled with nearest-neighbour interpolation,
    voxels outside it becoming 0. A label of which less than half lies inside
    the exam's field of view was drawn on another exam (or its header lost its
    geometry) and is refused with :class:`InputError`, instead of coming back
    empty or cut.
    """
    inside = (np.asarray(label.array) > 0).astype(np.uint8)
    reordered = reorder_onto(inside, label.ijk_to_ras, exam.ijk_to_ras, exam.volume_shape)
    if reordered is not None:
        return reordered
    share = share_inside_exam(inside, label.ijk_to_ras, exam)
    if share < MIN_LABEL_SHARE_INSIDE:
        raise InputError(
            "Only %.0f %% of the label's cartilage lies inside the exam's field of view: the label was made on "
            "another exam, or its file lost the image geometry (origin, spacing, directions). Use the label "
            "made on this exam, saved with its geometry (NRRD/NIfTI from Slicer or `knee-t2 segment`)." % (100 * share)
        )
    import SimpleITK as sitk

    from .volume_io import sitk_to_volume, volume_to_sitk

    moving = volume_to_sitk(label.with_array(inside))
    reference = volume_to_sitk(exam.volume_like(np.zeros(exam.volume_shape, np.uint8)))
    resampled = sitk.Resample(moving, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk_to_volume(resampled).array.astype(np.uint8)


def share_inside_exam(mask: np.ndarray, mask_ijk_to_ras: np.ndarray, exam: MeseExam) -> float:
    """The fraction of ``mask``'s non-zero voxel centres (k, j, i array) that fall in one of the exam's voxels.

    1.0 for an empty mask (nothing of it lies outside).
    """
    kji = np.argwhere(np.asarray(mask) > 0)
    if kji.size == 0:
        return 1.0
    ijk1 = np.column_stack([kji[:, ::-1].astype(np.float64), np.ones(len(kji))])
    ras_to_exam = np.linalg.inv(np.asarray(exam.ijk_to_ras, dtype=np.float64)) @ np.asarray(mask_ijk_to_ras, np.float64)
    exam_ijk = (ijk1 @ ras_to_exam.T)[:, :3]
    extent = np.array(exam.volume_shape[::-1], dtype=np.float64)
    within = np.all((exam_ijk >= -0.5) & (exam_ijk < extent - 0.5), axis=1)
    return float(np.mean(within))


def _mask_array(label) -> np.ndarray:
    array = np.asarray(label.array if isinstance(label, Volume) else label)
    return (array > 0).astype(np.uint8)


# --- next-case selection -----------------------------------------------------------------------

@dataclass
class CaseUncertainty:
    """Uncertainty of the model's output on one candidate case (higher = correct it sooner)."""

    case: str
    score: float
    measure: str
    n_candidates: int
    error: Optional[str] = None


def uncertainty(probabilities: np.ndarray, measure: str = "entropy",
                candidate_threshold: float = CANDIDATE_THRESHOLD) -> CaseUncertainty:
    """Score one probability map (values in [0, 1], any shape); see the module text for the measures."""
    if measure not in MEASURES:
        raise InputError("Unknown uncertainty measure %r; use one of %s." % (measure, ", ".join(MEASURES)))
    p = np.asarray(probabilities, dtype=np.float64)
    if p.size and (np.nanmin(p) < 0.0 or np.nanmax(p) > 1.0):
        raise InputError("Probabilities must lie in [0, 1]; got %.3g..%.3g. Save the network's sigmoid output, "
                         "not logits or a label." % (np.nanmin(p), np.nanmax(p)))
    candidates = p[p > candidate_threshold]
    if candidates.size == 0:
        return CaseUncertainty("", 0.0, measure, 0)
    if measure == "entropy":
        q = np.clip(candidates, 1e-12, 1.0 - 1e-12)
        score = float(np.mean(-q * np.log2(q) - (1.0 - q) * np.log2(1.0 - q)))
    else:
        score = float(np.mean((candidates > 0.2) & (candidates < 0.8)))
    return CaseUncertainty("", score, measure, int(candidates.size))


def rank_by_uncertainty(candidates: Mapping[str, ProbabilitySource], measure: str = "entropy",
                        candidate_threshold: float = CANDIDATE_THRESHOLD) -> List[CaseUncertainty]:
    """Score every candidate case and sort, least certain first (ties by case name).

    Each value gives the case's probabilities: an array, a Volume, a path to a
    saved map (e.g. an analysis folder's ``probabilities.nrrd``) or a callable
    returning one of those (to run a model lazily). A case whose map cannot be
    had is listed last with its error instead of stopping the ranking.
    """
    results = []
    for case, source in candidates.items():
        try:
            scored = uncertainty(_probabilities_from(source), measure, candidate_threshold)
            scored.case = str(case)
        except Exception as error:  # one unreadable case must not stop the ranking
            scored = CaseUncertainty(str(case), float("nan"), measure, 0, "%s: %s" % (type(error).__name__, error))
        results.append(scored)
    return sorted(results, key=lambda item: (item.error is not None, -np.nan_to_num(item.score, nan=-1.0),
                                             item.case))


def propose_next_case(candidates: Mapping[str, ProbabilitySource], measure: str = "entropy") -> Optional[CaseUncertainty]:
    """The least certain scorable case, or None when there is none."""
    ranked = [item for item in rank_by_uncertainty(candidates, measure) if item.error is None]
    return ranked[0] if ranked else None


def unlabelled_dataset_candidates(dataset_dir, predictor: Callable[[MeseExam], Any]) -> Dict[str, Callable[[], Any]]:
    """Cases of a dataset without an approved label, each scored by running ``predictor(exam)``."""
    from .dataset_format import list_cases, read_case

    def loader(case_id):
        return lambda: predictor(read_case(dataset_dir, case_id)[0])

    return {record.case_id: loader(record.case_id) for record in list_cases(dataset_dir) if not record.is_labelled}


def analysis_folder_candidates(folder, probabilities_name: str = "probabilities.nrrd") -> Dict[str, Path]:
    """Sub-folders of ``folder`` (e.g. batch ``scans/``) that hold a saved probability map of a finished analysis.

    A scan the batch marked failed (``FAILED.json``: :func:`failed_analysis_folders` names them) and an
    analysis whose writing did not finish (no ``DONE.json``: :func:`unfinished_analysis_folders`) are left
    out: the probability map in such a folder may be an earlier run's, or one of a run that failed later on.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError("%s is not a folder of analysis results." % root)
    return {child.name: child / probabilities_name for child in sorted(root.iterdir())
            if (child / probabilities_name).is_file() and not _failed(child) and not _unfinished(child)}


def unfinished_analysis_folders(folder) -> List[str]:
    """Names of the sub-folders of ``folder`` holding an analysis whose writing did not finish (no ``DONE.json``);
    a scan the batch marked failed is named by :func:`failed_analysis_folders` instead."""
    root = Path(folder)
    return [child.name for child in sorted(root.iterdir()) if child.is_dir() and not _failed(child)
            and _unfinished(child)] if root.is_dir() else []


def failed_analysis_folders(folder) -> Dict[str, str]:
    """The sub-folders of ``folder`` whose scan failed in a batch (``FAILED.json``), each with the error it records
    (:func:`failed_scans.failed_scan_folders`; the batch's ``status.csv`` has the same line)."""
    from .failed_scans import failed_scan_folders

    return failed_scan_folders(folder)


def _failed(folder: Path) -> bool:
    from .failed_scans import is_failed_scan

    return is_failed_scan(folder)


def _unfinished(folder: Path) -> bool:
    from .pipeline import is_unfinished

    return is_unfinished(folder)


def exam_folder_candidates(folder, predictor: Callable[[MeseExam], Any]) -> Dict[str, Callable[[], Any]]:
    """Each exam in ``folder`` (DICOM sub-folder, 4D NRRD/NIfTI file, per-echo set listed once, phase parts left
    out) scored by ``predictor``."""
    from .echo_set_io import is_later_echo_of_a_set, is_non_magnitude_name
    from .exam_loader import load_exam
    from .volume_io import has_volume_suffix

    root = Path(folder)
    if not root.is_dir():
        raise InputError("%s is not a folder of exams." % root)
    children = sorted(root.iterdir())
    files = [child for child in children if child.is_file()]
    entries = [child for child in children if child.is_dir() or (
        child.is_file() and has_volume_suffix(child) and not is_non_magnitude_name(child)
        and not is_later_echo_of_a_set(child, files))]

    def loader(path):
        return lambda: predictor(load_exam(path))

    return {entry.name: loader(entry) for entry in entries}


def model_predictor(options=None) -> Callable[[MeseExam], np.ndarray]:
    """A predictor returning this project's raw network probabilities (slice, row, col) for an exam."""

    def predict(exam: MeseExam) -> np.ndarray:
        from .pipeline import AnalysisOptions, predict_stage

        probabilities, _ = predict_stage(exam, options or AnalysisOptions())
        return np.asarray(probabilities)

    return predict


def _probabilities_from(source: ProbabilitySource) -> np.ndarray:
    if callable(source) and not isinstance(source, (np.ndarray, Volume)):
        source = source()
    if isinstance(source, (str, Path)):
        from .volume_io import read_volume

        source = read_volume(source)
    if isinstance(source, Volume):
        return np.asarray(source.array)
    return np.asarray(source)
