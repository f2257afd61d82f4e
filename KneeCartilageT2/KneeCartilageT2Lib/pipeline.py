"""End-to-end analysis of one MESE exam: T2 map -> segmentation -> regions -> files.

The same three calls serve the CLI, the Slicer module, the batch engine and
the correction loop:

* :func:`analyse_exam` runs everything on a loaded exam (network included).
* :func:`measure` re-measures an exam from a given cartilage label (a reader's
  correction) without running the network.
* :func:`write_analysis` writes a result folder; ``DONE.json`` is written last,
  so a folder without it is incomplete and will be recomputed by batch runs.
"""

from __future__ import annotations

import datetime
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from . import __version__
from .analysis_report import REPORT_NAME
from .atomic_files import atomic_write_json, jsonable, remove_path
from .errors import InputError, NoCartilageFoundError
from .exam import MeseExam, validate_exam
from .geometry import Volume
from .measurement_method import MEASUREMENT_METHOD
from .progress import CancelToken, ProgressCallback, no_progress, scaled_progress
from .result_privacy import input_name, source_record
from .segmentation_quality import segmentation_quality
from .slice_coverage import nearest_filled_slice, slice_coverage_messages, slices_to_check
from .slice_rule import SliceRule

DONE_MARKER = "DONE.json"
TOOL_NAME = "knee-t2"  # provenance.json's "tool": marks a folder as this tool's analysis
CHECK_PREVIEW = "preview_check.png"  # the first slice a reader should check (slice_coverage.slices_to_check)
ANATOMY_TARGET_TE_MS = 20.0


@dataclass
class AnalysisOptions:
    """Choices a user can make; every one is recorded in the result's provenance."""

    model: Optional[str] = None  # model name from the model list, or a weights path; None = default
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    t2_method: str = "mono"  # mono | loglinear | noise-floor
    t2_range_ms: Tuple[float, float] = (0.0, 100.0)  # valid T2 (low, high]: the T2 map and the label's T2 rule
    region_mode: str = "improved"  # improved | reference
    laterality: Optional[str] = None  # overrides the data's side when given

    def as_dict(self) -> Dict[str, Any]:
        return {
            "model": self.model,
            "device": self.device,
            "t2_method": self.t2_method,
            "t2_range_ms": list(self.t2_range_ms),
            "region_mode": self.region_mode,
            "laterality": self.laterality,
        }


@dataclass
class AnalysisResult:
    """Everything one analysis produced, on the exam's grid (slice, row, col)."""

    exam: MeseExam
    label: Volume  # femoral cartilage mask, uint8 0/1
    t2: Any  # t2_fitting.T2FitResult
    regions: Any = None  # regions.RegionAnalysis, None when no cartilage was found
    probabilities: Optional[Volume] = None
    label_source: str = "model"  # model | corrected | given
    provenance: Dict[str, Any] = field(default_factory=dict)
    messages: List[str] = field(default_factory=list)
    slice_rule: Optional[SliceRule] = None  # what the refinement's slice rule emptied (None: not known)

    @property
    def status(self) -> str:
        return "ok" if self.regions is not None else "no_cartilage"


def laterality_for(exam: MeseExam, options: AnalysisOptions) -> Tuple[str, str]:
    """(side, source): the user's choice wins, then the data's (the DICOM tag, ``"dicom"``, or an echo stack's
    sidecar, ``"sidecar"``: :attr:`exam.MeseExam.laterality_source`), else 'unknown' (estimated later)."""
    if options.laterality and options.laterality != "unknown":
        return options.laterality, "user"
    if exam.laterality != "unknown":
        return exam.laterality, exam.laterality_source
    return "unknown", "estimated"


def fit_t2_map(exam: MeseExam, options: AnalysisOptions, progress=None, cancel=None):
    """The T2 map (:class:`t2_fitting.T2FitResult`, ms, (slice, row, col)) of the whole exam with the chosen method."""
    from .t2_fitting import fit_exam

    return fit_exam(exam, method=options.t2_method, t2_range_ms=tuple(options.t2_range_ms),
                    progress=progress, cancel=cancel)


def measure(
    exam: MeseExam,
    label: np.ndarray,
    t2=None,
    options: Optional[AnalysisOptions] = None,
    label_source: str = "corrected",
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    slice_rule: Optional[SliceRule] = None,
) -> AnalysisResult:
    """Measure T2 and regions inside a given cartilage label, without running the network.

    ``label`` is a (slice, row, col) array on the exam grid (non-zero = cartilage).
    ``t2`` is a previous T2FitResult of the same exam (re-fitted when None).
    ``slice_rule``: what the refinement's slice rule removed when the model made
    the label this one was corrected from (:meth:`SliceRule.from_provenance`), so
    that the slice checks still tell a slice it emptied from one the network missed.
    """
    options = options or AnalysisOptions()
    report = progress or no_progress
    validate_exam(exam)
    if tuple(np.shape(label)) != exam.volume_shape:
        raise InputError(
            "The cartilage label has shape %s but the exam has %s (slice, row, col); "
            "export the segmentation on the exam's grid." % (tuple(np.shape(label)), exam.volume_shape)
        )
    if t2 is None:
        t2 = fit_t2_map(exam, options, scaled_progress(report, 0.0, 0.6), cancel)
    label_volume = exam.volume_like((np.asarray(label) > 0).astype(np.uint8))
    result = AnalysisResult(exam=exam, label=label_volume, t2=t2, label_source=label_source,
                            messages=input_warnings(exam) + slice_coverage_messages(label_volume.array, slice_rule),
                            slice_rule=slice_rule)
    _measure_regions(result, options, scaled_progress(report, 0.6, 1.0))
    result.provenance = _provenance(exam, options, result, None)
    return result


def input_warnings(exam: MeseExam) -> List[str]:
    """What the loader noticed about the input (files not used, laterality tags that disagree...).

    They lead the result's messages, so they reach provenance.json, the
    command line and the Slicer panel instead of staying in the metadata.
    """
    return ["Input: %s" % warning for warning in exam.metadata.get("warnings") or []]


def predict_stage(
    exam: MeseExam,
    options: Optional[AnalysisOptions] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> Tuple[np.ndarray, str]:
    """The network half of :func:`analyse_exam`: ``(probabilities (slice,row,col), device text)``.

    Batch runs send this stage to GPU workers and :func:`finish_stage` to CPU workers.
    """
    from .inference import predict_probabilities
    from .model_registry import load_model

    from .t2_fitting import fitted_echo_rows

    options = options or AnalysisOptions()
    validate_exam(exam)
    fitted_echo_rows(exam.n_echoes)  # the CPU half fits T2: refuse before the network runs
    model = load_model(options.model, device=options.device)
    return predict_probabilities(exam, model, device=options.device, progress=progress, cancel=cancel)


def finish_stage(
    exam: MeseExam,
    probabilities: np.ndarray,
    device_description: str = "",
    options: Optional[AnalysisOptions] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> AnalysisResult:
    """The CPU half: T2 map, refinement of given network probabilities, regions.

    Only the model's spec is needed here (:func:`model_registry.describe_model`):
    no torch, no weights on this machine.
    """
    from .model_registry import describe_model

    options = options or AnalysisOptions()
    model = describe_model(options.model)
    return _analyse(exam, options, progress, cancel, model, probabilities=(probabilities, device_description))


def analyse_exam(
    exam: MeseExam,
    options: Optional[AnalysisOptions] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> AnalysisResult:
    """The one-click analysis: T2 map, network segmentation with refinement, regions."""
    return _analyse(exam, options or AnalysisOptions(), progress, cancel, model=None)


def _analyse(exam: MeseExam, options: AnalysisOptions, progress, cancel, model, probabilities=None) -> AnalysisResult:
    from .inference import segment_exam, segmentation_from_probabilities
    from .model_registry import load_model

    report = progress or no_progress
    validate_exam(exam)
    report(0.0, "Fitting T2")
    t2 = fit_t2_map(exam, options, scaled_progress(report, 0.0, 0.3), cancel)
    if model is None:
        model = load_model(options.model, device=options.device)
    if probabilities is None:
        segmentation = segment_exam(exam, model, device=options.device, t2_ms=t2.t2_ms,
                                    progress=scaled_progress(report, 0.3, 0.85), cancel=cancel,
                                    t2_range_ms=tuple(options.t2_range_ms))
    else:
        segmentation = segmentation_from_probabilities(exam, probabilities[0], model, probabilities[1], t2.t2_ms,
                                                       t2_range_ms=tuple(options.t2_range_ms))
    label_volume = exam.volume_like(segmentation.label.astype(np.uint8))
    result = AnalysisResult(
        exam=exam,
        label=label_volume,
        t2=t2,
        probabilities=exam.volume_like(segmentation.probabilities.astype(np.float32)),
        label_source="model",
        messages=input_warnings(exam) + list(segmentation.messages),
        slice_rule=SliceRule.from_parameters(segmentation.parameters),
    )
    _measure_regions(result, options, scaled_progress(report, 0.85, 1.0))
    result.provenance = _provenance(exam, options, result, segmentation)
    report(1.0, "Done")
    return result


def _measure_regions(result: AnalysisResult, options: AnalysisOptions, report: ProgressCallback) -> None:
    from .regions import analyse_regions

    if not np.any(result.label.array):
        result.messages.append("No cartilage found: the segmentation is empty, so no regions were measured.")
        return
    side, source = laterality_for(result.exam, options)
    report(0.0, "Measuring subregions")
    t2_volume = result.exam.volume_like(np.where(result.t2.valid, result.t2.t2_ms, 0.0).astype(np.float32))
    try:
        result.regions = analyse_regions(result.label, t2_volume, side, mode=options.region_mode,
                                         laterality_source=source, scanner_frame=result.exam.in_scanner_frame,
                                         t2_status=getattr(result.t2, "status", None))
    except NoCartilageFoundError as error:
        result.messages.append(str(error))
    if result.regions is not None:
        result.messages.extend(result.regions.warnings)  # e.g. a stray blob left out of a condyle circle
    report(1.0, "Subregions measured")


def _provenance(exam: MeseExam, options: AnalysisOptions, result: AnalysisResult, segmentation) -> Dict[str, Any]:
    provenance: Dict[str, Any] = {
        "tool": TOOL_NAME,
        "tool_version": __version__,
        "measurement_method": MEASUREMENT_METHOD,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "options": options.as_dict(),
        "label_source": result.label_source,
        "echo_times_ms": [float(t) for t in exam.echo_times_ms],
        "laterality": exam.laterality,
        "scanner_frame": exam.in_scanner_frame,
        "t2": {"method": result.t2.method, "parameters": jsonable(getattr(result.t2, "parameters", {})),
               "noise_sigma": getattr(result.t2, "noise_sigma", None)},
        "source": input_name(exam.metadata.get("source")),  # the last part: see write_analysis
        "exam": _exam_facts(exam),
    }
    if exam.metadata.get("intensity_scaling"):
        provenance["intensity_scaling"] = str(exam.metadata["intensity_scaling"])
    if segmentation is not None:
        provenance["segmentation"] = {
            "model_name": segmentation.model_name,
            "model_version": segmentation.model_version,
            "device": segmentation.device,
            "parameters": jsonable(segmentation.parameters),
        }
    if result.regions is not None:
        provenance["regions"] = {"mode": options.region_mode,
                                 "laterality": getattr(result.regions, "laterality", None),
                                 "laterality_source": getattr(result.regions, "laterality_source", None)}
    provenance["quality"] = segmentation_quality(
        result.label.array, exam.ijk_to_ras,
        result.probabilities.array if result.probabilities is not None else None, result.slice_rule)
    provenance["messages"] = list(result.messages)
    return provenance


def _exam_facts(exam: MeseExam) -> Dict[str, Any]:
    """What the exam is (grid, scanner, protocol notes; no patient identifiers), for the report and a reader."""
    from .exam_summary import summarise_exam

    facts = jsonable(summarise_exam(exam))
    facts.pop("source", None)  # already the provenance's own "source"
    return facts


OPTIONAL_OUTPUTS = ("probabilities.nrrd", "preview.png", CHECK_PREVIEW, "regions", REPORT_NAME)


def write_analysis(result: AnalysisResult, out_dir, preview: bool = True, figures: bool = True,
                   record_full_paths: bool = False) -> Path:
    """Write a result folder; ``DONE.json`` last. Files (all on the exam grid):

    ``label.nrrd`` (femoral cartilage = 1), ``t2.nrrd`` (ms, invalid 0), ``r2.nrrd``,
    ``anatomy.nrrd`` (the echo nearest 20 ms, for display and registration),
    ``probabilities.nrrd`` (when the network ran), ``regions/`` (tables, maps, figure,
    subregions.nrrd), ``preview.png`` (the fullest slice), ``preview_check.png`` (only when
    :func:`slice_coverage.slices_to_check` names a slice: the first one), ``provenance.json``,
    ``report.html`` (:mod:`analysis_report`: the one page a reader opens first).
    ``figures=False`` skips the region figure and the report (the slowest files; batch runs may
    not need them).

    The input is named by the last part of its path and the fingerprint of its echo images
    (``source``, ``source_sha256`` in ``provenance.json`` and ``regions/regions.json``), never by
    its full path, which may name the patient (:mod:`result_privacy`); ``record_full_paths``
    adds the full path as ``source_path``, for sites that keep their results to themselves.

    Writing into a folder that holds an earlier analysis first removes its
    ``DONE.json`` and the optional outputs this result will not rewrite
    (:data:`OPTIONAL_OUTPUTS`), so the folder never mixes two analyses. A folder
    that is no analysis folder (no ``provenance.json`` of this tool) but holds
    files of these names (e.g. a ``regions/`` folder of the user's own, picked as
    the place to save) is refused before anything is written or removed; other
    files there are never touched. ``provenance.json`` is written first, so a
    folder whose writing was interrupted is still known as an analysis folder.

    Raises:
        InputError: ``out_dir`` holds files of these names but no analysis.
    """
    from .volume_io import write_volume

    out_dir = Path(out_dir)
    refuse_foreign_folder(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = source_record(result.exam, record_full_paths)
    provenance = dict(result.provenance, messages=list(result.messages), **inputs)
    atomic_write_json(out_dir / "provenance.json", provenance)  # marks the folder as an analysis from the start
    marker = out_dir / DONE_MARKER
    remove_path(marker)
    for name in OPTIONAL_OUTPUTS:
        remove_path(out_dir / name)
    exam = result.exam
    t2_ms = np.where(result.t2.valid, result.t2.t2_ms, 0.0).astype(np.float32)
    anatomy_index = exam.echo_index_nearest(ANATOMY_TARGET_TE_MS)
    write_volume(result.label, out_dir / "label.nrrd")
    write_volume(exam.volume_like(t2_ms), out_dir / "t2.nrrd")
    write_volume(exam.volume_like(np.where(result.t2.valid, result.t2.r2, 0.0).astype(np.float32)), out_dir / "r2.nrrd")
    write_volume(exam.echo_volume(anatomy_index), out_dir / "anatomy.nrrd")
    if result.probabilities is not None:
        write_volume(result.probabilities, out_dir / "probabilities.nrrd")
    if result.regions is not None:
        from .regions import write_region_outputs

        write_region_outputs(result.regions, out_dir / "regions", metadata=inputs, figure=figures)
    if preview:
        from .previews import write_preview_png

        write_preview_png(out_dir / "preview.png", exam.echoes[anatomy_index], exam.ijk_to_ras, t2_ms,
                          result.label.array, title=_preview_title(result))
        to_check = slices_to_check(result.label.array, result.slice_rule)
        if to_check:
            slice_index, reason = to_check[0]
            write_preview_png(out_dir / CHECK_PREVIEW, exam.echoes[anatomy_index], exam.ijk_to_ras, t2_ms,
                              result.label.array, slice_index=slice_index,
                              title="Slice %d to check: %s" % (slice_index, reason),
                              neighbour_index=nearest_filled_slice(result.label.array, slice_index))
    provenance = dict(result.provenance, anatomy_echo_te_ms=float(exam.echo_times_ms[anatomy_index]),
                      messages=list(result.messages), **inputs)  # as DONE.json: messages added afterwards too
    atomic_write_json(out_dir / "provenance.json", provenance)
    if figures:
        from .analysis_report import write_report

        write_report(out_dir)
    atomic_write_json(marker, {"status": result.status, "finished": provenance.get("created"),
                               "messages": result.messages})
    return out_dir


ANALYSIS_FILES = ("label.nrrd", "t2.nrrd", "r2.nrrd", "anatomy.nrrd", "provenance.json", DONE_MARKER) \
    + OPTIONAL_OUTPUTS


def refuse_foreign_folder(out_dir) -> None:
    """Refuse to write an analysis over files of its names in a folder that holds no analysis of this tool.

    An analysis folder is one whose ``provenance.json`` names ``"tool": "knee-t2"``; anything
    else holding ``label.nrrd``, ``regions/``, ``report.html``... belongs to someone else.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir() or _is_analysis_folder(out_dir):
        return
    clashes = [name for name in ANALYSIS_FILES if (out_dir / name).exists()]
    if clashes:
        raise InputError(
            "%s already holds %s and is no knee-t2 result folder: writing the analysis there would replace "
            "them. Choose an empty or new folder." % (out_dir, ", ".join(
                name + ("/" if (out_dir / name).is_dir() else "") for name in clashes)))


def _is_analysis_folder(folder: Path) -> bool:
    try:
        provenance = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(provenance, dict) and provenance.get("tool") == TOOL_NAME


def _preview_title(result: AnalysisResult) -> str:
    segmentation = result.provenance.get("segmentation", {})
    model = segmentation.get("model_name")
    source = "model %s v%s" % (model, segmentation.get("model_version")) if model else result.label_source
    return "Femoral cartilage (%s), T2 %s" % (source, result.t2.method)


def holds_analysis(folder) -> bool:
    """True when ``folder`` holds an analysis of this tool (finished or not): its ``provenance.json`` says so."""
    return _is_analysis_folder(Path(folder))


def is_complete(out_dir) -> bool:
    """True when ``out_dir`` holds a finished analysis (its ``DONE.json`` is written last)."""
    return (Path(out_dir) / DONE_MARKER).is_file()


def is_unfinished(folder) -> bool:
    """True when ``folder`` holds an analysis of this tool whose writing did not finish (no ``DONE.json``).

    Commands that read many result folders at once (a batch's ``scans/``) leave these out and name them;
    a folder of files put together by hand (no ``provenance.json`` of this tool) is not unfinished.
    """
    return _is_analysis_folder(Path(folder)) and not is_complete(folder)


def refuse_unfinished(folder) -> None:
    """Refuse an analysis folder of this tool whose writing did not finish (no ``DONE.json``).

    An analysis stopped while writing (Ctrl-C, a crash, a full disk) leaves ``provenance.json`` and some
    volumes, possibly beside an earlier run's others; reports, DICOM series and change analyses made from
    it would silently mix the two. Folders that are not this tool's analyses (no ``provenance.json`` of
    ``knee-t2``: a label and a T2 map put together by hand) are left to the caller.
    """
    folder = Path(folder)
    if is_unfinished(folder):
        raise InputError(
            "The analysis in %s did not finish (no %s: it was interrupted, or is still being written), so its "
            "files may mix two runs. Run the analysis into that folder again, then use it." % (folder, DONE_MARKER))


def analyse_exam_to_folder(input_path, out_dir, options: Optional[AnalysisOptions] = None,
                           progress: Optional[ProgressCallback] = None, echo_times_ms=None,
                           figures: bool = True, series: Optional[str] = None,
                           record_full_paths: bool = False) -> Dict[str, Any]:
    """Load an exam from any supported INPUT, analyse it and write the folder. For batch runs.

    The side comes from ``options.laterality`` when given, else from the data; ``record_full_paths``:
    see :func:`write_analysis`.
    """
    from .exam_loader import load_exam

    started = time.time()
    exam = load_exam(input_path, echo_times_ms=echo_times_ms, series=series)
    result = analyse_exam(exam, options, progress)
    write_analysis(result, out_dir, preview=figures, figures=figures, record_full_paths=record_full_paths)
    return {"status": result.status, "seconds": round(time.time() - started, 2), "out_dir": str(out_dir),
            "messages": result.messages}
