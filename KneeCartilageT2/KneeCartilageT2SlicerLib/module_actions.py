"""The module Logic's methods: the workflow plus the panel's small helpers (still no Qt).

``KneeCartilageT2Logic`` inherits :class:`ModuleActions`, so every button's
action is a method here, callable from the Python console or a script:
``segment_and_measure``, ``recompute``, ``accept_and_export``, ``fine_tune``,
``next_case``, ``compute_change``, ``next_slice_to_check``, ``restore_kept_draft`` (plus
``measure_label``, ``update_after_edit`` for measurements that follow the reader's edits,
``kept_drafts``, and the non-blocking ``start_segment_and_measure``/``finish_segment_and_measure``
and ``start_next_case``/``finish_next_case``). The panel's lines are marked
for Slicer's translation (``_``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from KneeCartilageT2Lib.acquisition_checks import protocol_notes
from KneeCartilageT2Lib.errors import KneeT2Error

from . import views
from .case_drafts import draft_note, keep_draft
from .change_nodes import region_change_nodes
from .dicom_results import results_to_dicom
from .edit_tracking import STALE, edit_status_text, measurement_state, segment_digest
from .exam_from_nodes import exam_from_node, reference_volume_for
from .kept_drafts import KeptDraft, UndoPoint, kept_drafts, restore_kept_draft
from .mrml_helpers import SOURCE_REFERENCE, find_result_node
from .processing import WorkerJob
from .projection_nodes import ROLE_PREFIX
from .projection_status import projection_choices
from .readback import provenance_of, result_nodes_of
from .result_folder import save_result_folder
from .results_status import mark_results
from .t2_colors import T2_WINDOW_PRESETS_MS, apply_t2_window
from .translation import tr as _
from .workflow import ExamInput, KneeT2Workflow, current_segment, default_options

SEGMENT_EDITOR_TAG = "KneeCartilageT2.SegmentEditor"


class ModuleActions(KneeT2Workflow):
    """Workflow actions with node-level arguments, as the panel and scripts use them."""

    def fine_tune(self, dataset_dir, arguments: Optional[Dict[str, Any]] = None) -> WorkerJob:
        """Start fine-tuning on the dataset in a worker process; poll or ``wait()`` the returned job."""
        return self.start_fine_tune(dataset_dir, arguments)

    def compute_change(self, baseline_volume, followup_volume, options=None):
        """Register the visits, follow-up minus baseline T2 per region, clusters of raised T2 (ChangeNodes)."""
        return region_change_nodes(reference_volume_for(baseline_volume), reference_volume_for(followup_volume), options)

    def update_after_edit(self, source: ExamInput, auto_update: bool = True, options=None) -> Tuple[str, Any]:
        """What the panel does once the reader's edits of the segment settle.

        When the measurements no longer describe the segment and ``auto_update``
        is set, they are re-measured inside the edited segment (:meth:`recompute`:
        T2 fit reused, segment untouched). Returns the panel's status line and
        the updated :class:`ResultNodes`, or None when nothing was re-measured.
        A segment that cannot be measured (e.g. erased to nothing) is reported in
        the line, not raised, and the last table stays marked out of date: this
        runs after every stroke.
        """
        reference = reference_volume_for(source.node, create_browser=False) if source.node is not None else None
        state = measurement_state(reference)
        if reference is not None:
            mark_results(reference, segment_digest(reference))  # an undo can make them current again
        if state != STALE or not auto_update:
            return edit_status_text(state), None
        try:
            nodes = self.recompute(source, options)
        except KneeT2Error as error:
            return _("Measurements not updated: {reason}").format(reason=error), None
        if measurement_state(reference) == STALE:  # e.g. an empty segment: no regions, the old table, chart, subregions and maps stay (marked)
            reason = " ".join(nodes.messages) or _("no regions could be measured.")
            return _("Measurements not updated: {reason}").format(reason=reason), None
        return _("Measurements updated to the edited segment."), nodes

    @staticmethod
    def kept_drafts(input_node) -> List[KeptDraft]:
        """The drafts kept for this input (its draft and those set aside), newest first, for the panel's
        'Restore draft' list ([] for none, or for a node that is no MESE input)."""
        try:
            reference = reference_volume_for(input_node, create_browser=False) if input_node is not None else None
        except KneeT2Error:
            return []
        return kept_drafts(reference) if reference is not None else []

    def restore_kept_draft(self, source: ExamInput, path, reader: Optional[str] = None, auto_update: bool = True,
                           options=None, undo: Optional[UndoPoint] = None) -> Tuple[str, Any]:
        """Put the kept draft at ``path`` into the input's cartilage segment, then follow it as an edit.

        The segment on screen is kept as a draft first, and ``undo`` (the panel's
        Segment Editor) saves its state, so nothing is lost (see :mod:`.kept_drafts`).
        The measurements then follow as after an edit (:meth:`update_after_edit`).
        Returns the panel's note and the updated :class:`ResultNodes` (None when
        nothing was re-measured). A draft that cannot be used raises
        :class:`InputError` with the scene unchanged.
        """
        reference = reference_volume_for(source.node, create_browser=False) if source.node is not None else None
        note = restore_kept_draft(reference, path, reader, undo)
        text, nodes = self.update_after_edit(source, auto_update, options)
        return "\n".join(line for line in (note, text) if line), nodes

    @staticmethod
    def save_results_as_dicom(source: ExamInput, out_dir, colour: bool = True):
        """Write the input's T2 map (and T2 colour overlay) as DICOM series of its study (see :mod:`.dicom_results`)."""
        return results_to_dicom(source, out_dir, colour)

    @staticmethod
    def save_results_folder(source: ExamInput, out_dir, options=None):
        """Write the input's analysis, measured in the segment as it is now, as a result folder with its
        report.html (see :mod:`.result_folder`); returns the folder."""
        return save_result_folder(source, out_dir, options or default_options())

    @staticmethod
    def keep_draft(input_node, reader: Optional[str] = None) -> str:
        """Save the edited segment as the input's draft (dataset case or DICOM series, see :mod:`.case_drafts`);
        the panel's note."""
        reference = reference_volume_for(input_node, create_browser=False) if input_node is not None else None
        return keep_draft(reference, reader) if reference is not None else ""

    @staticmethod
    def keep_draft_of_segmentation(segmentation, reader: Optional[str] = None) -> str:
        """:meth:`keep_draft` for the input a cartilage segmentation was made from: edits made while the panel is
        closed (in the Segment Editor module) are kept too ("" when the node is no result of this module)."""
        source = segmentation.GetNodeReference(SOURCE_REFERENCE) if segmentation is not None else None
        return keep_draft(source, reader) if source is not None else ""

    @staticmethod
    def draft_note(input_node) -> str:
        """Whether a draft of the reader's corrections waits for this input's model run ("" when none, or
        for a node that is no MESE input: the panel asks whenever the input changes)."""
        try:
            reference = reference_volume_for(input_node, create_browser=False) if input_node is not None else None
        except KneeT2Error:
            return ""
        return draft_note(reference) if reference is not None else ""

    @staticmethod
    def measurement_status(reference_volume) -> str:
        """The panel's line on whether the results shown describe the segment as it is now ("" before any)."""
        return edit_status_text(measurement_state(reference_volume))

    @staticmethod
    def cartilage_segmentation_of(input_node):
        """The input's cartilage segmentation node (the one the reader edits); None when there is none
        or the node is no MESE input (the panel's input description says why)."""
        try:
            results = _results(input_node)
        except KneeT2Error:
            return None
        return results.segmentation if results is not None else None

    @staticmethod
    def editing_targets(input_node) -> Tuple[Any, Any]:
        """``(segmentation, source volume)`` the embedded Segment Editor edits for this input, so that the segment
        the reader edits is the one the panel's Recompute, drafts and Accept & export act on; ``(None, None)``
        when the input has no result yet."""
        try:
            results = _results(input_node)
        except KneeT2Error:
            return None, None
        if results is None or results.segmentation is None:
            return None, None
        return results.segmentation, results.reference_volume

    def start_probe(self, device: str = "auto") -> WorkerJob:
        """Start detecting torch and the compute device in the worker's Python (non-blocking)."""
        return WorkerJob("probe", {"device": device}, python=self.worker_python).start()

    @staticmethod
    def segment_editor_node(scene):
        """The module's own segment editor parameter node (a singleton in the scene)."""
        node = scene.GetSingletonNode(SEGMENT_EDITOR_TAG, "vtkMRMLSegmentEditorNode")
        if node is None:
            node = scene.CreateNodeByClass("vtkMRMLSegmentEditorNode")
            node.UnRegister(None)
            node.SetSingletonTag(SEGMENT_EDITOR_TAG)
            node = scene.AddNode(node)
        return node

    @staticmethod
    def chart_for(input_node):
        results = _results(input_node)
        return results.chart if results is not None else None

    @staticmethod
    def projection_for(input_node, map_name: str):
        reference = reference_volume_for(input_node, create_browser=False) if input_node is not None else None
        if reference is None or not map_name:
            return None
        role = ROLE_PREFIX + map_name
        scene = reference.GetScene()
        return (find_result_node(scene, "vtkMRMLScalarVolumeNode", role, reference)
                or find_result_node(scene, "vtkMRMLLabelMapVolumeNode", role, reference))

    @staticmethod
    def projection_choices(input_node) -> List[Tuple[str, str]]:
        """``(map name, text)`` of the input's projection maps for the panel's list, an out-of-date map saying so
        (:func:`projection_status.projection_choices`); [] before any analysis or for a node that is no input."""
        try:
            reference = reference_volume_for(input_node, create_browser=False) if input_node is not None else None
        except KneeT2Error:
            return []
        return projection_choices(reference)

    @staticmethod
    def apply_t2_preset(input_node, preset: str) -> int:
        """Apply a T2 window preset to the input's T2 map and T2 projection maps; returns how many nodes."""
        window, results = T2_WINDOW_PRESETS_MS.get(preset), _results(input_node)
        if results is None or window is None:
            return 0
        nodes = [results.t2_map] + [
            ModuleActions.projection_for(input_node, name) for name in ("t2", "t2_deep", "t2_superficial")]
        nodes = [node for node in nodes if node is not None and node.GetDisplayNode() is not None]
        for node in nodes:
            apply_t2_window(node, window)
        return len(nodes)

    @staticmethod
    def next_slice_to_check(input_node, after: Optional[int] = None) -> Optional[Tuple[int, str]]:
        """Show the next slice the reader should check in the current (edited) segment, after slice ``after``.

        The slices come from :func:`slice_coverage.slices_to_check` (beyond an
        abrupt plate end, empty inside the plate, cut off from it), taken in
        slice order and starting again from the first after the last. Every
        slice view jumps there. Returns ``(slice index, reason)``, or None when
        nothing needs checking (or there is no segment yet). A slice the
        model's minimum-area slice rule emptied (recorded in the segmentation's
        provenance) is named as such, not as one the network missed.
        """
        from KneeCartilageT2Lib.slice_coverage import slices_to_check
        from KneeCartilageT2Lib.slice_rule import SliceRule

        reference = reference_volume_for(input_node, create_browser=False) if input_node is not None else None
        mask = current_segment(reference) if reference is not None else None
        if mask is None:
            return None
        slice_rule = SliceRule.from_provenance(provenance_of(result_nodes_of(reference).segmentation))
        reasons: Dict[int, str] = {}
        for slice_index, reason in slices_to_check(mask, slice_rule):
            reasons.setdefault(slice_index, reason)  # one reason per slice: the most consequential
        found = sorted(reasons.items())
        if not found:
            return None
        chosen = next(((k, why) for k, why in found if after is None or k > after), found[0])
        views.jump_to_slice(reference, chosen[0])
        return chosen

    @staticmethod
    def describe_input(node) -> str:
        """For the panel: echoes, echo times and side of the selected input (then what the loader
        noticed and any protocol note, e.g. slices that are not sagittal, one per line), or what is
        wrong with it."""
        if node is None:
            return _("Select the MESE series (sequence or multi-volume).")
        try:
            exam = exam_from_node(node)
        except KneeT2Error as error:
            return str(error)
        times = ", ".join("%g" % t for t in exam.echo_times_ms)
        side = {"right": _("right"), "left": _("left"), "unknown": _("unknown")}.get(exam.laterality, exam.laterality)
        text = _("{echoes} echoes, TE {times} ms; {side} knee; {slices} slices of {rows} x {columns}").format(
            echoes=exam.n_echoes, times=times, side=side,
            slices=exam.volume_shape[0], rows=exam.volume_shape[1], columns=exam.volume_shape[2])
        notes = list(exam.metadata.get("warnings") or []) + protocol_notes(exam)
        return "\n".join([text] + [_("Note: {note}").format(note=note) for note in notes])



def _results(input_node):
    """The input's result nodes, or None when it has none (looking only: no browser is created)."""
    reference = reference_volume_for(input_node, create_browser=False) if input_node is not None else None
    return result_nodes_of(reference) if reference is not None else None
