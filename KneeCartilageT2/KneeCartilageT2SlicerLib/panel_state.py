"""Which buttons of the panel can be pressed now, and why not (the tooltip says what is missing).

A button is enabled only when its inputs exist; the widget applies these
states after every parameter or scene change. Kept out of the widget so the
rules are tested headless. Every text shown in the panel is marked for Slicer's
translation (``_``, :mod:`.translation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

from KneeCartilageT2Lib.errors import KneeT2Error

from .exam_from_nodes import reference_volume_for
from .readback import result_nodes_of
from .translation import tr as _


@dataclass
class ButtonState:
    enabled: bool
    tooltip: str


def _has_results(input_node) -> bool:
    if input_node is None:
        return False
    try:
        reference = reference_volume_for(input_node, create_browser=False)
    except KneeT2Error:  # an unsuitable node simply has no results
        return False
    return reference is not None and result_nodes_of(reference).segmentation is not None


def _analysed(volume) -> bool:
    return volume is not None and result_nodes_of(volume).region_table is not None


def button_states(parameters, running: bool = False) -> Dict[str, ButtonState]:
    """Enabled state and tooltip of every action button, by the widget name in the .ui file."""
    input_node = parameters.inputNode
    results = _has_results(input_node)
    dataset = bool(str(parameters.datasetFolder or "").strip()) if hasattr(parameters, "datasetFolder") else False
    baseline, followup = parameters.baselineVolume, parameters.followupVolume

    def state(ok: bool, ready: str, missing: str) -> ButtonState:
        if running:
            return ButtonState(False, _("Wait for the running analysis (or case ranking) to finish, or cancel it."))
        return ButtonState(ok, ready if ok else missing)

    return {
        "loadExamButton": state(True, _("Read a MESE DICOM folder with the extension's own loader and select it."),
                                ""),
        "segmentMeasureButton": state(input_node is not None,
                                      _("Segment the femoral cartilage, fit T2 and measure the subregions."),
                                      _("Select the MESE series first.")),
        "cancelButton": ButtonState(running, _("Stop the running analysis (or case ranking); nothing is added to the "
                                               "scene.") if running else _("Nothing is running.")),
        "recomputeButton": state(results, _("Re-measure T2 and subregions inside the edited segmentation."),
                                 _("Run 'Segment & measure' first.")),
        "restoreDraftButton": state(results, _("Put a kept draft of your corrections (the current one or one set "
                                               "aside) into the segment; the segment as it is now is kept as a draft "
                                               "first."),
                                    _("Run 'Segment & measure' first (it puts the input's draft back by itself).")),
        "nextSliceToCheckButton": state(results, _("Show the next slice where the plate looks incomplete or has a "
                                                   "stray piece (beyond an abrupt end, empty inside, cut off)."),
                                        _("Run 'Segment & measure' first.")),
        "saveDicomButton": state(results, _("Write the T2 map and the T2-coloured cartilage as new DICOM series of "
                                            "the exam's study (the series must have been loaded from DICOM)."),
                                 _("Run 'Segment & measure' first.")),
        "saveResultsButton": state(results, _("Write the analysis, measured in the segment as it is now, as a result "
                                              "folder (label, T2 map, region tables and maps, report.html), as "
                                              "knee-t2 writes it."), _("Run 'Segment & measure' first.")),
        "acceptExportButton": state(results and dataset, _("Save the approved segmentation to the training dataset."),
                                    _missing(results, dataset)),
        "fineTuneButton": state(dataset, _("Fine-tune the model on the dataset's approved labels (separate process)."),
                                _("Choose the dataset folder first.")),
        "nextCaseButton": state(dataset, _("Load the next unlabelled case of the dataset."),
                                _("Choose the dataset folder first.")),
        "computeChangeButton": state(_analysed(baseline) and _analysed(followup) and not _same(baseline, followup),
                                     _("Follow-up minus baseline T2 per subregion."),
                                     _("Select two different, analysed visits (baseline and follow-up).")),
    }


def _missing(results: bool, dataset: bool) -> str:
    if not results:
        return _("Run 'Segment & measure' (and correct the segmentation) first.")
    return _("Choose the dataset folder first.")


def _same(first, second) -> bool:
    return first is not None and second is not None and first.GetID() == second.GetID()


def progress_text(fraction: float, stage: str, device: Optional[str] = None) -> str:
    """Text of the progress bar: percentage and the current stage (as the worker words it: not translated)."""
    text = _("{percent}% {stage}").format(percent=round(100.0 * max(0.0, min(1.0, fraction))), stage=stage or "")
    return text.strip() + (" [%s]" % device if device else "")


def export_status_text(record) -> str:
    """The panel's line after "Accept & export": the case and label version, or that nothing changed.

    ``record`` is what :meth:`KneeT2Workflow.accept_and_export` returned; exporting
    the label the case already holds writes no new version, and saying "saved" then
    would make the reader think a second version was stored.
    """
    version = record.current_label.version if record.current_label is not None else len(record.label_versions)
    if not record.new_version_written:
        return _("Case {case} already holds this label as its current version {version}: unchanged, no new version "
                 "saved.").format(case=record.case_id, version=version)
    return _("Saved as case {case} (label version {version}).").format(case=record.case_id, version=version)
