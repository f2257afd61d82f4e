"""Which buttons of the panel can be pressed now, and why not (the tooltip says what is missing).

A button is enabled only when its inputs exist; the widget applies these
states after every parameter or scene change. Kept out of the widget so the
rules are tested headless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

from KneeCartilageT2Lib.errors import KneeT2Error

from .exam_from_nodes import reference_volume_for
from .readback import result_nodes_of


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
            return ButtonState(False, "Wait for the running analysis (or case ranking) to finish, or cancel it.")
        return ButtonState(ok, ready if ok else missing)

    return {
        "loadExamButton": state(True, "Read a MESE DICOM folder with the extension's own loader and select it.", ""),
        "segmentMeasureButton": state(input_node is not None, "Segment the femoral cartilage, fit T2 and measure the subregions.",
                                      "Select the MESE series first."),
        "cancelButton": ButtonState(running, "Stop the running analysis (or case ranking); nothing is added to the "
                                    "scene." if running else "Nothing is running."),
        "recomputeButton": state(results, "Re-measure T2 and subregions inside the edited segmentation.",
                                 "Run 'Segment & measure' first."),
        "restoreDraftButton": state(results, "Put a kept draft of your corrections (the current one or one set "
                                    "aside) into the segment; the segment as it is now is kept as a draft first.",
                                    "Run 'Segment & measure' first (it puts the input's draft back by itself)."),
        "nextSliceToCheckButton": state(results, "Show the next slice where the plate looks incomplete or has a "
                                        "stray piece (beyond an abrupt end, empty inside, cut off).",
                                        "Run 'Segment & measure' first."),
        "saveDicomButton": state(results, "Write the T2 map and the T2-coloured cartilage as new DICOM series of the "
                                 "exam's study (the series must have been loaded from DICOM).",
                                 "Run 'Segment & measure' first."),
        "saveResultsButton": state(results, "Write the analysis, measured in the segment as it is now, as a result "
                                   "folder (label, T2 map, region tables and maps, report.html), as knee-t2 writes "
                                   "it.", "Run 'Segment & measure' first."),
        "acceptExportButton": state(results and dataset, "Save the approved segmentation to the training dataset.",
                                    _missing(results, dataset)),
        "fineTuneButton": state(dataset, "Fine-tune the model on the dataset's approved labels (separate process).",
                                "Choose the dataset folder first."),
        "nextCaseButton": state(dataset, "Load the next unlabelled case of the dataset.", "Choose the dataset folder first."),
        "computeChangeButton": state(_analysed(baseline) and _analysed(followup) and not _same(baseline, followup),
                                     "Follow-up minus baseline T2 per subregion.",
                                     "Select two different, analysed visits (baseline and follow-up)."),
    }


def _missing(results: bool, dataset: bool) -> str:
    if not results:
        return "Run 'Segment & measure' (and correct the segmentation) first."
    return "Choose the dataset folder first."


def _same(first, second) -> bool:
    return first is not None and second is not None and first.GetID() == second.GetID()


def progress_text(fraction: float, stage: str, device: Optional[str] = None) -> str:
    """Text of the progress bar: percentage and the current stage."""
    text = "%d%% %s" % (round(100.0 * max(0.0, min(1.0, fraction))), stage or "")
    return text.strip() + (" [%s]" % device if device else "")


def export_status_text(record) -> str:
    """The panel's line after "Accept & export": the case and label version, or that nothing changed.

    ``record`` is what :meth:`KneeT2Workflow.accept_and_export` returned; exporting
    the label the case already holds writes no new version, and saying "saved" then
    would make the reader think a second version was stored.
    """
    version = record.current_label.version if record.current_label is not None else len(record.label_versions)
    if not record.new_version_written:
        return ("Case %s already holds this label as its current version %d: unchanged, no new version saved."
                % (record.case_id, version))
    return "Saved as case %s (label version %d)." % (record.case_id, version)
