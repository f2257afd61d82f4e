"""What each button of the KneeCartilageT2 module does, without Qt.

The module's Logic delegates here, one method per button:

* Load MESE folder: :meth:`KneeT2Workflow.load_exam` reads an exam with the
  extension's own loader (the same as the ``knee-t2`` commands) into a sequence.
* Segment & measure: :meth:`KneeT2Workflow.start_segment_and_measure` (worker
  process; poll ``run.job``) + :meth:`finish_segment_and_measure`, or the
  blocking :meth:`segment_and_measure`. :meth:`measure_label` measures a
  label the user already has (no network).
* Recompute: :meth:`recompute` re-measures after the reader's edits of the
  cartilage segment (the T2 fit is reused from the T2 map node).
* Accept & export, Next case, Fine-tune: the correction loop on a training
  dataset (:mod:`KneeCartilageT2Lib.correction`, :mod:`dataset_format`); the
  reader's unfinished corrections of a dataset case are kept as its draft
  (:mod:`.case_drafts`). *Next case* with the ``uncertain`` strategy ranks the
  cases in a worker: :meth:`start_next_case` (poll ``choice.job``) +
  :meth:`finish_next_case`, or the blocking :meth:`next_case` (:mod:`.next_case`).
* Compute change: :meth:`module_actions.ModuleActions.compute_change`.

Every method takes nodes and plain options and returns nodes, so scripts and
tests drive it exactly as the GUI does. The messages it words for the panel
are marked for Slicer's translation (``_``); the core package's errors are not.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np

from KneeCartilageT2Lib.errors import InputError, KneeT2Error
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.geometry import Volume
from KneeCartilageT2Lib.slice_rule import SliceRule

from .case_drafts import discard_draft_of, discard_series_draft, mark_dataset_case, restore_draft
from .exam_from_nodes import EchoTimesNotStored, exam_from_node, exam_to_sequence, reference_volume_for
from .next_case import NextCaseChoice, chosen_case, load_case, start_choice
from .processing import WorkerJob
from .readback import model_label_of, provenance_of, result_nodes_of, t2_fit_from_nodes
from .results_nodes import PROVENANCE_ATTRIBUTE, ResultNodes, present_analysis
from .segmentation_nodes import CARTILAGE_SEGMENT_NAME, read_segment
from .translation import tr as _


def current_segment(reference_volume):
    """The cartilage segment of this input as a bool array (slice, row, col), or None when there is none (no
    segmentation, or the reader removed or renamed the segment)."""
    segmentation = result_nodes_of(reference_volume).segmentation
    if segmentation is None or not segmentation.GetSegmentation().GetSegmentIdBySegmentName(CARTILAGE_SEGMENT_NAME):
        return None
    return np.asarray(read_segment(segmentation, reference_volume).array) > 0


def _same_segment(now, before) -> bool:
    """Both absent, or both present with identical voxels."""
    if now is None or before is None:
        return now is None and before is None
    return bool(np.array_equal(now, before))


@dataclass
class ExamInput:
    """The input as the panel gives it: a node plus the echo times and side the user typed (if any)."""

    node: Any
    echo_times_ms: Optional[Sequence[float]] = None
    laterality: Optional[str] = None  # "right" / "left"; None or "auto" = from the data
    # the panel's 'Echo times' text, read by analysed_exam only when neither the analysis nor the node has times
    echo_times_field: Optional[str] = None

    def exam(self) -> MeseExam:
        side = None if self.laterality in (None, "", "auto") else self.laterality
        return exam_from_node(self.node, self.echo_times_ms, side)

    def analysed_exam(self, segmentation) -> MeseExam:
        """:meth:`exam` for an action on an analysis' results (Save as DICOM, Accept & export): without echo
        times given here, the echoes are read with those the analysis recorded in the provenance of its
        ``segmentation`` (ms; the times its T2 map was fitted with, and the segment made on), else with those
        stored with the node; so the panel's 'Echo times' field, which may have changed since, is not needed.
        Only when neither has them (a scene saved before the analyses recorded their echo times, of an input
        that stores none) is ``echo_times_field`` read, as before: the error then names that field."""
        from .choices import parse_echo_times

        recorded = provenance_of(segmentation).get("echo_times_ms") if self.echo_times_ms is None else None
        if recorded:
            return dataclasses.replace(self, echo_times_ms=[float(t) for t in recorded]).exam()
        try:
            return self.exam()
        except EchoTimesNotStored:
            typed = parse_echo_times(self.echo_times_field) if self.echo_times_ms is None else None
            if typed is None:
                raise  # "type them ... in the Echo times field": the field this action reads now
            return dataclasses.replace(self, echo_times_ms=typed).exam()

    def reference_volume(self):
        return reference_volume_for(self.node)


@dataclass
class AnalysisRun:
    """A running "Segment & measure": the worker job and what presenting its result needs."""

    job: WorkerJob
    exam: MeseExam
    reference_volume: Any
    segment_at_start: Any = None  # the cartilage segment (bool array) when the run started; None = none
    options: Any = None  # the AnalysisOptions of the run (a restored draft is measured with them)
    replaces_edits: bool = False  # the reader confirmed that this run replaces their edits (and their draft)
    source: Any = None  # the ExamInput of the run: a restored draft is measured with its echo times and side


def default_options(**overrides):
    from KneeCartilageT2Lib.pipeline import AnalysisOptions

    return AnalysisOptions(**overrides)


class KneeT2Workflow:
    """The module's actions on the scene of the nodes given to them."""

    def __init__(self, worker_python: Optional[str] = None) -> None:
        self.worker_python = worker_python

    # --- Segment & measure ----------------------------------------------------------------

    def start_segment_and_measure(self, source: ExamInput, options=None, overwrite_edits: bool = False) -> AnalysisRun:
        """Start the network + T2 + regions in a worker process; returns at once.

        Refuses (before any work) when the reader has edited the cartilage segment since the
        model made it, unless ``overwrite_edits`` is True: the GUI asks first.
        """
        edited = self.has_unsaved_edits(source)
        if edited and not overwrite_edits:
            raise InputError(_(
                "The 'Femoral cartilage' segment has been edited since the model made it. "
                "Running the model again would replace your edits: press 'Accept & export' to keep them "
                "(or confirm that the edits may be replaced)."))
        options = options or default_options()
        exam = source.exam()
        reference = source.reference_volume()
        at_start = current_segment(reference)
        job = WorkerJob("analyse", {"options": options.as_dict()}, exam, self.worker_python).start()
        return AnalysisRun(job, exam, reference, at_start, options, replaces_edits=edited, source=source)

    def finish_segment_and_measure(self, run: AnalysisRun) -> ResultNodes:
        """Put a finished run's result into the scene (raises the worker's error if it failed).

        Refuses, keeping the reader's work, when the cartilage segment was edited
        (or created) while the worker ran: those edits were never confirmed for replacement.
        For a dataset case with a draft of the reader's corrections, the draft then
        replaces the model's output and is measured (:func:`case_drafts.restore_draft`),
        unless the reader confirmed that this run replaces their edits: the draft
        of those edits is then discarded with them.
        """
        try:
            result = run.job.result()
        finally:
            run.job.cleanup()
        reference = run.reference_volume
        if reference is None or reference.GetScene() is None or reference.GetScene().GetNodeByID(
                reference.GetID()) is not reference:
            raise InputError(_("The series was removed from the scene (or the scene was closed) while the model "
                               "was running: nothing was added. Load the series again and press 'Segment & "
                               "measure'."))
        if not _same_segment(current_segment(run.reference_volume), run.segment_at_start):
            raise InputError(_(
                "The 'Femoral cartilage' segment was edited while the model was running: your edits were kept "
                "and the new result was not added. Press 'Segment & measure' again to replace them, or "
                "'Recompute' to measure the edited segment."))
        result.exam = run.exam
        nodes = present_analysis(result, run.reference_volume)
        if run.replaces_edits:
            restored, note = False, discard_draft_of(run.reference_volume)
        else:
            restored, note = restore_draft(run.reference_volume)
        if restored:
            try:
                nodes = self.recompute(run.source or ExamInput(run.reference_volume), run.options)
            except KneeT2Error as error:  # the draft is in the segment; only its measurement is missing
                nodes.messages.insert(0, _("Your draft is in the segment but could not be measured ({error}); "
                                           "press 'Recompute'.").format(error=error))
        if note:
            nodes.messages.insert(0, note)
        return nodes

    def has_unsaved_edits(self, source: ExamInput) -> bool:
        """True when the cartilage segment differs from the model's original label for this input, or the reader
        removed or renamed it."""
        reference = source.reference_volume()
        existing = result_nodes_of(reference)
        original = model_label_of(reference)
        if existing.segmentation is None or original is None:
            return existing.segmentation is not None and original is None
        current = current_segment(reference)
        return current is None or not np.array_equal(current, np.asarray(original.array) > 0)  # None: removed

    def segment_and_measure(self, source: ExamInput, options=None,
                            progress: Optional[Callable[[float, str], None]] = None,
                            timeout_s: Optional[float] = None, overwrite_edits: bool = False) -> ResultNodes:
        """Blocking variant for scripts and tests."""
        run = self.start_segment_and_measure(source, options, overwrite_edits)
        run.job.wait(timeout_s, progress)
        return self.finish_segment_and_measure(run)

    def measure_label(self, source: ExamInput, label: Volume, options=None, label_source: str = "given") -> ResultNodes:
        """Measure T2 and regions inside a label the user already has (no network); in-process."""
        from KneeCartilageT2Lib.correction import label_on_exam_grid
        from KneeCartilageT2Lib.pipeline import measure

        exam = source.exam()
        result = measure(exam, label_on_exam_grid(label, exam), options=options or default_options(),
                         label_source=label_source)
        return present_analysis(result, source.reference_volume())

    # --- Recompute (after edits) ------------------------------------------------------------

    def recompute(self, source: ExamInput, options=None) -> ResultNodes:
        """Re-measure regions from the (edited) cartilage segment; the T2 fit is reused, the segment kept.

        The result nodes are updated in place and keep the display the reader chose (T2 preset or window,
        colour tables, visibility, subregion looks, chart style); only a new analysis sets the defaults.
        """
        from KneeCartilageT2Lib.pipeline import measure

        reference = source.reference_volume()
        existing = result_nodes_of(reference)
        if existing.segmentation is None:
            raise InputError(_("Nothing to recompute yet: run 'Segment & measure' first."))
        label = read_segment(existing.segmentation, reference)
        t2_fit = t2_fit_from_nodes(existing.t2_map, existing.r2_map, existing.t2_status)
        stored = provenance_of(existing.segmentation)
        result = measure(source.exam(), label.array, t2=t2_fit, options=options or default_options(),
                         label_source="corrected", slice_rule=SliceRule.from_provenance(stored))
        result.provenance = dict(stored, recomputed=result.provenance)
        nodes = present_analysis(result, reference, write_segmentation=False, keep_display=True)  # the reader's view stays
        nodes.segmentation = existing.segmentation
        nodes.segmentation.SetAttribute(PROVENANCE_ATTRIBUTE, json.dumps(result.provenance, default=str))
        return nodes

    # --- Correction loop ----------------------------------------------------------------------

    def accept_and_export(self, source: ExamInput, dataset_dir, reader: Optional[str] = None,
                          protocol: str = ""):
        """Store the reader-approved segment (and the model's original) in the training dataset.

        Returns the case's :class:`~KneeCartilageT2Lib.dataset_index.CaseRecord`:
        ``new_version_written`` is False when the segment was already the case's
        current label version, so no new version was stored
        (:func:`panel_state.export_status_text` words both).
        """
        from KneeCartilageT2Lib.correction import export_corrected_case

        if dataset_dir is None or not str(dataset_dir).strip():  # Path("") would be the working folder
            raise InputError(_("No dataset folder is set: choose where the approved labels go (a new or existing "
                               "training dataset folder) first."))
        reference = source.reference_volume()
        segmentation = result_nodes_of(reference).segmentation
        if segmentation is None:
            raise InputError(_("No cartilage segmentation to export: run 'Segment & measure' first."))
        approved = read_segment(segmentation, reference)
        original = model_label_of(reference)
        model = provenance_of(segmentation).get("segmentation", {})
        record = export_corrected_case(dataset_dir, source.analysed_exam(segmentation), approved, original, reader=reader or None,
                                       model_name=model.get("model_name"), model_version=model.get("model_version"),
                                       source="slicer-correction", protocol=protocol)
        discard_series_draft(reference)  # the approved label is the newer work; the case keeps any later draft
        mark_dataset_case(reference, dataset_dir, record.case_id)
        return record

    # --- Loading ----------------------------------------------------------------------------

    def load_exam(self, path, echo_times_ms: Optional[Sequence[float]] = None, scene=None):
        """Load a MESE exam with the extension's own loader and add it as a sequence; returns the proxy volume.

        ``path``: a DICOM folder (one series or one per echo, classic or enhanced
        multi-frame, any vendor), an enhanced MR DICOM file, or a 4D NRRD/NIfTI echo
        stack with its JSON sidecar: the same inputs, read the same way, as the
        ``knee-t2`` commands. The sequence is named after the series description
        (else the file or folder name) and keeps the echo times, the side from
        the DICOM tags and the series UID.
        """
        import slicer
        from KneeCartilageT2Lib.exam_loader import load_exam

        exam = load_exam(path, echo_times_ms)
        name = str(exam.metadata.get("SeriesDescription") or "").strip() or Path(str(path)).name or "MESE"
        return exam_to_sequence(exam, scene or slicer.mrmlScene, name)[2]  # (sequence, browser, proxy)

    def start_next_case(self, dataset_dir, strategy: str = "first", options=None,
                        seed: Optional[int] = None) -> NextCaseChoice:
        """Choose the next unlabelled case of a dataset, or start ranking the cases; returns at once.

        Strategies: ``first`` (by case id), ``random``, ``uncertain`` (the model runs on
        every unlabelled case in a worker, least certain first). Whatever the strategy,
        an unlabelled case with a draft of the reader's corrections comes first (the most
        recently saved one): unfinished work is resumed before new work is started. Only
        ``uncertain`` without such a draft starts a worker: poll ``choice.job`` (or cancel
        it), then :meth:`finish_next_case`; otherwise the case is chosen already.
        """
        return start_choice(dataset_dir, strategy, options or default_options(), seed, self.worker_python)

    def finish_next_case(self, choice: NextCaseChoice):
        """Load the chosen case as a sequence: ``(case_id, proxy_volume)``, or ``None`` when every case is labelled.

        Raises the ranking worker's error (or :class:`OperationCancelled` after Cancel); the scene is then unchanged.
        """
        import slicer

        case_id = chosen_case(choice)
        if case_id is None:
            return None
        return case_id, load_case(choice.dataset_dir, case_id, slicer.mrmlScene)

    def next_case(self, dataset_dir, strategy: str = "first", options=None, seed: Optional[int] = None,
                  timeout_s: Optional[float] = None, progress: Optional[Callable[[float, str], None]] = None):
        """Blocking variant for scripts and tests (:meth:`start_next_case` + :meth:`finish_next_case`):
        ``(case_id, proxy_volume)``, or ``None`` when every case is labelled. A ranking still running
        after ``timeout_s`` is cancelled (TimeoutError)."""
        choice = self.start_next_case(dataset_dir, strategy, options, seed)
        if choice.job is not None:
            try:
                choice.job.wait(timeout_s, progress)
            finally:
                if not choice.job.finished:  # interrupted: the worker must not outlive the call
                    choice.job.cancel()
        return self.finish_next_case(choice)

    def start_fine_tune(self, dataset_dir, arguments: Optional[Dict[str, Any]] = None) -> WorkerJob:
        """Start fine-tuning on the dataset's approved labels in a worker process (poll the job).

        A folder that is no dataset, or one without approved labels, is refused here, before a
        worker (and torch) starts.
        """
        from KneeCartilageT2Lib.dataset_format import require_dataset
        from KneeCartilageT2Lib.finetune import count_labelled_cases

        count_labelled_cases(require_dataset(dataset_dir), bool((arguments or {}).get("validation_dir")))
        return WorkerJob("fine_tune", dict(arguments or {}, dataset_dir=str(dataset_dir)),
                         python=self.worker_python).start()

    # --- Environment ---------------------------------------------------------------------------

    def probe(self, device: str = "auto", timeout_s: float = 120.0) -> Dict[str, Any]:
        """What the worker's Python has: torch version, the device it would use, the models."""
        job = WorkerJob("probe", {"device": device}, python=self.worker_python).start()
        try:
            return job.wait(timeout_s).result()
        finally:
            job.cleanup()
