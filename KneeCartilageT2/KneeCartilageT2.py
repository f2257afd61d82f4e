"""KneeCartilageT2: femoral cartilage segmentation, T2 mapping and subregional T2 of knee MESE MRI.

This file only declares the module and wires the panel to the logic. What
each button does lives in ``KneeCartilageT2SlicerLib`` (MRML glue, no Qt)
and the computing in ``KneeCartilageT2Lib`` (no Slicer), both tested
headless; the long analysis runs in a separate process that Cancel kills.
"""

from __future__ import annotations

import logging
import os
from typing import Union

import qt
import slicer
import vtk
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from KneeCartilageT2SlicerLib import choices, models_panel, panel_state, views
from KneeCartilageT2SlicerLib.edit_tracking import SegmentEditWatcher
from KneeCartilageT2SlicerLib.module_actions import ModuleActions
from KneeCartilageT2SlicerLib.self_test import run_self_test
from KneeCartilageT2SlicerLib.t2_colors import T2_WINDOW_PRESETS_MS

PANEL_INPUT = object()  # fillProjections' default: the input the parameter node holds now

try:
    from slicer.parameterNodeWrapper import parameterNodeWrapper
except ImportError:  # slicer-core (the headless test harness) has no parameter node wrapper
    parameterNodeWrapper = None


class KneeCartilageT2(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Knee Cartilage T2")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = ["Sequences", "Segmentations", "Tables", "Plots"]
        self.parent.contributors = ["KneeCartilageT2 developers"]
        self.parent.helpText = _(
            "Femoral cartilage of sagittal multi-echo spin-echo (MESE) knee MRI: automatic segmentation, T2 map, "
            "T2 and thickness in 12 subregions, correction, export of approved labels, longitudinal change. "
            "Select the MESE series, check echo times and knee side, press 'Segment &amp; measure'. Research use only.")
        self.parent.acknowledgementText = _(
            "Method after Thomas et al. (femoral cartilage segmentation and T2 mapping of MESE knee MRI, OAI).")
        # The real GE knee exam in Sample Data (downloaded from PyPI on first use, checksum verified).
        application = getattr(slicer, "app", None)  # absent in the headless test harness
        if application is not None:
            application.connect("startupCompleted()", self._registerSampleData)

    def _registerSampleData(self) -> None:
        from KneeCartilageT2SlicerLib.sample_data_source import register_sample_data

        register_sample_data(thumbnail=os.path.join(os.path.dirname(__file__), "Resources", "Icons", "KneeCartilageT2.png"))


class KneeCartilageT2ParameterNode:
    """The panel's state, saved with the scene (widgets bound through their SlicerParameterName)."""

    inputNode: Union[slicer.vtkMRMLSequenceBrowserNode, slicer.vtkMRMLSequenceNode, slicer.vtkMRMLScalarVolumeNode]
    echoTimes: str = ""
    side: choices.KneeSide = choices.KneeSide.AUTO
    modelName: str = ""
    device: choices.ComputeDevice = choices.ComputeDevice.AUTO
    t2Method: choices.T2Method = choices.T2Method.MONO
    t2RangeLowMs: float = 0.0  # valid T2 is (low, high] ms: the T2 map, the label's T2 rule, the statistics
    t2RangeHighMs: float = 100.0
    regionMode: choices.RegionMode = choices.RegionMode.IMPROVED
    datasetFolder: str = ""
    readerName: str = ""
    nextCaseStrategy: choices.NextCaseStrategy = choices.NextCaseStrategy.FIRST
    autoUpdateMeasurements: bool = True
    baselineVolume: slicer.vtkMRMLScalarVolumeNode
    followupVolume: slicer.vtkMRMLScalarVolumeNode


if parameterNodeWrapper is not None:
    KneeCartilageT2ParameterNode = parameterNodeWrapper(KneeCartilageT2ParameterNode)


class KneeCartilageT2Widget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: every button calls one logic method; errors are shown by tryWithErrorDisplay."""

    POLL_INTERVAL_MS = 200
    FOREGROUND_JOBS = ("run", "nextCase")  # shown by the progress bar, stopped by Cancel
    EDIT_SETTLE_MS = 500  # re-measure this long after the last stroke, not during a burst of edits

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._run = None  # the running "Segment & measure" (its worker job is in self._jobs["run"])
        self._nextCase = None  # the "Next case" ranking the cases (its worker job is in self._jobs["nextCase"])
        self._jobs = {}  # name -> (worker job, function called with the job when it ends)
        self._lastCheckedSlice = None  # the slice "Next slice to check" showed last

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/KneeCartilageT2.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = KneeCartilageT2Logic()
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self.logic.segment_editor_node(slicer.mrmlScene))
        for selector in (self.ui.baselineSelector, self.ui.followupSelector):
            selector.addAttribute("vtkMRMLScalarVolumeNode", "KneeT2.Analysed", "1")
        self._timer = qt.QTimer()
        self._timer.setInterval(self.POLL_INTERVAL_MS)
        self._timer.timeout.connect(self.onPoll)
        self._editTimer = qt.QTimer()
        self._editTimer.setSingleShot(True)
        self._editTimer.setInterval(self.EDIT_SETTLE_MS)
        self._editTimer.timeout.connect(self.onEditsSettled)
        self._editWatcher = SegmentEditWatcher(self._editTimer.start)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.NodeAddedEvent, self.updateButtons)
        slots = {
            "loadExamButton": self.onLoadExam,
            "segmentMeasureButton": self.onSegmentMeasure, "cancelButton": self.onCancel,
            "recomputeButton": self.onRecompute, "nextSliceToCheckButton": self.onNextSliceToCheck,
            "restoreDraftButton": self.onRestoreDraft,
            "acceptExportButton": self.onAcceptExport,
            "fineTuneButton": self.onFineTune, "nextCaseButton": self.onNextCase,
            "computeChangeButton": self.onComputeChange, "importWeightsButton": self.onImportWeights,
            "openCacheButton": self.onOpenCache, "clearCacheButton": self.onClearCache,
            "showChartButton": self.onShowChart, "showProjectionButton": self.onShowProjection,
            "saveDicomButton": self.onSaveDicom, "saveResultsButton": self.onSaveResults,
        }
        for name, slot in slots.items():
            getattr(self.ui, name).connect("clicked(bool)", lambda checked, slot=slot: slot())
        self.ui.t2PresetComboBox.addItems(list(T2_WINDOW_PRESETS_MS))
        self.ui.t2PresetComboBox.connect("currentTextChanged(QString)", self.onT2Preset)
        # and on every pick (Qt >= 5.14): the same preset picked again, after a new analysis reset the window, applies
        self.ui.t2PresetComboBox.connect("textActivated(QString)", self.onT2Preset)
        self.ui.modelComboBox.connect("currentIndexChanged(int)", self.onModelChosen)
        self.ui.datasetPathLineEdit.connect("currentPathChanged(QString)", self.onDatasetFolder)
        self.ui.inputSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onInputChanged)
        self.fillModels()
        self.initializeParameterNode()
        self.startDeviceProbe()

    def cleanup(self) -> None:
        self._timer.stop()
        self._editTimer.stop()
        self._editWatcher.stop()
        for job, _onFinished in self._jobs.values():
            job.cancel()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event) -> None:
        self._editWatcher.stop()
        self._editTimer.stop()
        self.onCancel()  # the series of a running analysis is leaving with the scene (a fine-tuning keeps going)
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, parameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateButtons)
        self._parameterNode = parameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.ui.datasetPathLineEdit.currentPath = self._parameterNode.datasetFolder
            modelIndex = self.ui.modelComboBox.findData(self._parameterNode.modelName)
            self.ui.modelComboBox.currentIndex = max(modelIndex, 0)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateButtons)
            self.updateButtons()

    def updateButtons(self, caller=None, event=None) -> None:
        if not self._parameterNode:
            return
        running = any(name in self._jobs for name in self.FOREGROUND_JOBS)
        for name, state in panel_state.button_states(self._parameterNode, running).items():
            button = getattr(self.ui, name)
            button.enabled, button.toolTip = state.enabled, state.tooltip

    def inputs(self):
        """(ExamInput, AnalysisOptions) from the panel's parameters, for the actions that analyse or measure (an
        action that needs less reads only its fields, through ``choices``)."""
        return (choices.exam_input_from_parameters(self._parameterNode),
                choices.options_from_parameters(self._parameterNode))

    def onLoadExam(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), _("Folder of the MESE DICOM series"))
        if not folder:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not load the MESE series."), waitCursor=True):
            proxy = self.logic.load_exam(folder)
            self._parameterNode.inputNode, self._parameterNode.echoTimes = proxy, ""
            views.show_analysis(proxy)

    # --- Run -----------------------------------------------------------------------------------

    def watch(self, name: str, job, onFinished) -> None:
        """Poll a worker job from the timer; ``onFinished(job)`` runs once it ends."""
        self._jobs[name] = (job, onFinished)
        self._timer.start()

    def onPoll(self) -> None:
        for name, (job, onFinished) in list(self._jobs.items()):
            job.poll()
            if name in self.FOREGROUND_JOBS:
                self.ui.progressBar.value = int(100 * job.fraction)
                self.ui.stageLabel.text = panel_state.progress_text(job.fraction, job.stage)
            if job.finished:
                del self._jobs[name]
                onFinished(job)
        if not self._jobs:
            self._timer.stop()

    def onSegmentMeasure(self) -> None:
        source, options = self.inputs()
        edited = None
        with slicer.util.tryWithErrorDisplay(_("Could not start the analysis.")):
            edited = self.logic.has_unsaved_edits(source)
        if edited is None:  # the error was shown
            return
        overwrite = False
        if edited:
            overwrite = slicer.util.confirmOkCancelDisplay(
                _("The cartilage segment has edits that the model run would replace. Replace them?"))
            if not overwrite:
                return
        with slicer.util.tryWithErrorDisplay(_("Could not start the analysis."), waitCursor=True):
            self._run = self.logic.start_segment_and_measure(source, options, overwrite_edits=overwrite)
            self.ui.progressBar.value, self.ui.stageLabel.text = 0, _("Starting the analysis process...")
            self.watch("run", self._run.job, self.onRunFinished)
        self.updateButtons()

    def onRunFinished(self, job) -> None:
        run, self._run = self._run, None
        self.updateButtons()
        if job.state == "cancelled":
            return
        with slicer.util.tryWithErrorDisplay(_("The analysis failed."), waitCursor=True):
            self.showResults(self.logic.finish_segment_and_measure(run))

    def onCancel(self) -> None:
        for name in self.FOREGROUND_JOBS:
            if name in self._jobs:
                job, _onFinished = self._jobs.pop(name)
                job.cancel()
                self.ui.stageLabel.text = _("Cancelled: nothing was added to the scene.")
        if self._nextCase is not None:
            self.ui.exportStatusLabel.text = _("Ranking cancelled: no case was loaded.")
        self._run = self._nextCase = None
        self.updateButtons()

    def showResults(self, nodes, newAnalysis: bool = True) -> None:
        """Show an analysis in the panel; a new one also in the slice views (echo, T2 overlay, outlined segment).
        A re-measurement (``newAnalysis=False``) leaves the views as the reader set them."""
        if newAnalysis:
            views.show_analysis(nodes.reference_volume, nodes.t2_map, nodes.segmentation)
        if nodes.segmentation is not None:
            self.ui.segmentEditorWidget.setSegmentationNode(nodes.segmentation)
            self.ui.segmentEditorWidget.setSourceVolumeNode(nodes.reference_volume)
        if nodes.region_table is not None:
            self.ui.resultsTableView.setMRMLTableNode(nodes.region_table)
        self.ui.stageLabel.text = "\n".join(nodes.messages) or _("Done.")
        self._lastCheckedSlice = None
        self.ui.sliceToCheckLabel.text = ""
        self._editWatcher.watch(nodes.segmentation)
        self.ui.measurementStateLabel.text = self.logic.measurement_status(nodes.reference_volume)
        self.fillProjections()
        self.updateButtons()

    def fillProjections(self, inputNode=PANEL_INPUT) -> None:
        """List the projection maps of ``inputNode`` (default: the panel's input; None: no input, an empty list),
        an out-of-date one saying so, keeping the map chosen when it is still there; empty before an analysis.
        The input selector's signal passes its new node, None included: its slot runs before the parameter node
        follows, so the panel's input there is still the one before."""
        box = self.ui.projectionComboBox
        chosen = box.itemData(box.currentIndex) if box.currentIndex >= 0 else None
        box.clear()
        if inputNode is PANEL_INPUT:
            inputNode = self._parameterNode.inputNode if self._parameterNode else None
        for name, text in self.logic.projection_choices(inputNode):
            box.addItem(text, name)
        box.currentIndex = max(box.findData(chosen), 0) if chosen is not None else 0

    # --- Correct, results, export, longitudinal -------------------------------------------------------

    def onRecompute(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Recompute failed."), waitCursor=True):
            self.showResults(self.logic.recompute(*self.inputs()), newAnalysis=False)

    def onEditsSettled(self) -> None:
        """The reader stopped editing the segment for a moment: keep a draft of the edits (dataset case
        or DICOM series), then re-measure (if chosen) or say the results are stale. Runs after every
        stroke, so problems are reported in the panel, never as one dialog per stroke."""
        if self._parameterNode is None:  # the panel is closed (edits in the Segment Editor module): keep a draft
            try:
                self.logic.keep_draft_of_segmentation(self._editWatcher.watched, self.logic.getParameterNode().readerName)
            except Exception:
                logging.exception("Saving the draft failed")
            return
        try:  # the draft needs only the input: a typo in Echo times or Valid T2 must not cost the reader's edits
            draft = self.logic.keep_draft(self._parameterNode.inputNode, self._parameterNode.readerName)
        except Exception as error:
            logging.exception("Saving the draft failed")
            draft = _("Draft not saved ({error}); see the Python console.").format(error=error)
        text, nodes = "", None
        if "run" not in self._jobs:  # a running model run checks the edits itself when it ends
            try:
                source, options = self.inputs()  # a field the panel cannot read is said in the panel, per stroke
                text, nodes = self.logic.update_after_edit(source, self._parameterNode.autoUpdateMeasurements, options)
            except Exception as error:
                logging.exception("Updating the measurements after an edit failed")
                text = _("Measurements not updated ({error}); see the Python console.").format(error=error)
        if nodes is not None:
            self.ui.resultsTableView.setMRMLTableNode(nodes.region_table)
            self.ui.stageLabel.text = "\n".join(nodes.messages) or _("Done.")
            self._lastCheckedSlice = None
        self.ui.measurementStateLabel.text = "\n".join(line for line in (text, draft) if line)
        self.fillProjections()  # a map the update left behind is now listed as out of date

    def onRestoreDraft(self) -> None:
        """Offer the drafts kept for the input, newest first; the chosen one goes into the segment as an undoable
        step (the segment on screen is kept as a draft first), then the measurements follow as after an edit."""
        drafts = self.logic.kept_drafts(self._parameterNode.inputNode)
        if not drafts:
            self.ui.measurementStateLabel.text = _("No draft is kept for this input.")
            return
        menu = qt.QMenu(self.ui.restoreDraftButton)
        for index, draft in enumerate(drafts):
            menu.addAction(draft.label()).setData(index)
        chosen = menu.exec_(self.ui.restoreDraftButton.mapToGlobal(qt.QPoint(0, self.ui.restoreDraftButton.height)))
        if chosen is None:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not restore the draft."), waitCursor=True):
            source, options = self.inputs()
            segmentation, sourceVolume = self.logic.editing_targets(source.node)
            self.ui.segmentEditorWidget.setSegmentationNode(segmentation)  # Undo acts on the segment restored into
            self.ui.segmentEditorWidget.setSourceVolumeNode(sourceVolume)
            text, nodes = self.logic.restore_kept_draft(
                source, drafts[int(chosen.data())].path, self._parameterNode.readerName,
                self._parameterNode.autoUpdateMeasurements, options, undo=self.ui.segmentEditorWidget)
            self._editTimer.stop()  # the restore kept the draft and updated the measurements already
            if nodes is not None:
                self.ui.resultsTableView.setMRMLTableNode(nodes.region_table)
                self.ui.stageLabel.text = "\n".join(nodes.messages) or _("Done.")
                self._lastCheckedSlice = None
            self.ui.measurementStateLabel.text = text
            self.fillProjections()

    def onNextSliceToCheck(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not find the slices to check."), waitCursor=True):
            found = self.logic.next_slice_to_check(choices.input_node_from_parameters(self._parameterNode),
                                                   self._lastCheckedSlice)
            self._lastCheckedSlice = found[0] if found else None
            self.ui.sliceToCheckLabel.text = (_("Slice {k}: {why}").format(k=found[0], why=found[1]) if found
                                              else _("No slice to check: the plate's slices look complete."))

    def onAcceptExport(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Export failed."), waitCursor=True):
            record = self.logic.accept_and_export(choices.export_input_from_parameters(self._parameterNode),
                                                  self._parameterNode.datasetFolder,
                                                  self._parameterNode.readerName)
            self.ui.exportStatusLabel.text = panel_state.export_status_text(record)

    def onFineTune(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Fine-tuning failed."), waitCursor=True):
            job = self.logic.fine_tune(self._parameterNode.datasetFolder, {"base_model": self._parameterNode.modelName})
            self.ui.exportStatusLabel.text = _("Fine-tuning runs in a separate process...")
            self.watch("fineTune", job, self.onFineTuneFinished)

    def onFineTuneFinished(self, job) -> None:
        with slicer.util.tryWithErrorDisplay(_("Fine-tuning failed.")):
            summary = job.result()
            self.ui.exportStatusLabel.text = _("Registered {model}: validation Dice {base:.3f} -> {best:.3f}; select it "
                                               "in Model.").format(model=summary["model"],
                                                                   base=summary["base_validation_dice"] or 0.0,
                                                                   best=summary["best_validation_dice"])
            self.fillModels()

    def onNextCase(self) -> None:
        """Load the next case at once, or start ranking the cases ("uncertain"): a worker polled like a model run."""
        with slicer.util.tryWithErrorDisplay(_("Could not load the next case."), waitCursor=True):
            choice = self.logic.start_next_case(self._parameterNode.datasetFolder,
                                                self._parameterNode.nextCaseStrategy.value, self.inputs()[1])
            if choice.job is None:
                self.showNextCase(self.logic.finish_next_case(choice))
                return
            self._nextCase = choice
            self.ui.progressBar.value, self.ui.stageLabel.text = 0, _("Starting the model to rank the cases...")
            self.ui.exportStatusLabel.text = _("Ranking the unlabelled cases with the model (progress and Cancel "
                                               "under Run)...")
            self.watch("nextCase", choice.job, self.onNextCaseRanked)
        self.updateButtons()

    def onNextCaseRanked(self, job) -> None:
        choice, self._nextCase = self._nextCase, None
        self.updateButtons()
        if job.state == "cancelled":
            return
        self.ui.stageLabel.text = _("Cases ranked.") if job.state == "succeeded" else _("Ranking the cases failed.")
        self.ui.exportStatusLabel.text = ""
        with slicer.util.tryWithErrorDisplay(_("Could not load the next case."), waitCursor=True):
            self.showNextCase(self.logic.finish_next_case(choice))

    def showNextCase(self, loaded) -> None:
        if loaded is None:
            self.ui.exportStatusLabel.text = _("Every case of the dataset has an approved label.")
            return
        caseId, proxy = loaded
        self._parameterNode.inputNode, self._parameterNode.echoTimes = proxy, ""
        views.show_analysis(proxy)
        self.ui.exportStatusLabel.text = " ".join(
            [_("Loaded case {case}.").format(case=caseId), self.logic.draft_note(proxy)]).strip()

    def onComputeChange(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Change computation failed."), waitCursor=True):
            change = self.logic.compute_change(self._parameterNode.baselineVolume, self._parameterNode.followupVolume)
            self.ui.changeTableView.setMRMLTableNode(change.table)
            self.ui.changeStatusLabel.text = "\n".join(change.warnings) or _("Visits registered; change computed.")

    def onShowChart(self) -> None:
        chart = self.logic.chart_for(self._parameterNode.inputNode)
        if chart is not None:
            slicer.modules.plots.logic().ShowChartInLayout(chart)

    def onShowProjection(self) -> None:
        box = self.ui.projectionComboBox
        if box.currentIndex < 0:
            return
        node = self.logic.projection_for(self._parameterNode.inputNode, box.itemData(box.currentIndex))
        if node is not None:
            views.show_map_in_view(node, "Red")

    def onSaveDicom(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), _("Folder for the T2 map DICOM series"))
        if not folder:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not save the T2 map as DICOM."), waitCursor=True):
            written = self.logic.save_results_as_dicom(choices.saved_input_from_parameters(self._parameterNode), folder)
            from DICOMLib import DICOMUtils

            DICOMUtils.importDicom(folder)  # the new series join the study in the DICOM browser, ready to send
            self.ui.dicomStatusLabel.text = _("{maps} T2 map and {colour} colour images saved in {folder} and added "
                                              "to the DICOM database.").format(
                maps=len(written.t2_map_files), colour=len(written.colour_files), folder=folder)

    def onSaveResults(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), _("Folder for the result files"))
        if not folder:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not save the results."), waitCursor=True):
            source, options = self.inputs()
            written = self.logic.save_results_folder(source, folder, options)
            self.ui.dicomStatusLabel.text = _("Results and report.html saved in {folder}.").format(folder=written)
            qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(written / "report.html")))

    def onT2Preset(self, text: str) -> None:
        self.logic.apply_t2_preset(self._parameterNode.inputNode, text)

    def onInputChanged(self, node) -> None:
        self.ui.echoTimesLabel.text = self.logic.describe_input(node)
        segmentation, source_volume = self.logic.editing_targets(node)
        self._editWatcher.watch(segmentation)
        if segmentation is not None:  # edit the segment of the input the panel acts on, not the last one shown
            self.ui.segmentEditorWidget.setSegmentationNode(segmentation)
            self.ui.segmentEditorWidget.setSourceVolumeNode(source_volume)
        self.ui.measurementStateLabel.text = self.logic.draft_note(node)
        self.fillProjections(node)

    def onDatasetFolder(self, path: str) -> None:
        if self._parameterNode:
            self._parameterNode.datasetFolder = path

    # --- Model ------------------------------------------------------------------------------------

    def fillModels(self) -> None:
        self.ui.modelComboBox.clear()
        for choice in models_panel.model_choices():
            self.ui.modelComboBox.addItem(choice.label, choice.reference)
            self.ui.modelComboBox.setItemData(self.ui.modelComboBox.count - 1, choice.tooltip, qt.Qt.ToolTipRole)

    def onModelChosen(self, index: int) -> None:
        if self._parameterNode and index >= 0:
            self._parameterNode.modelName = self.ui.modelComboBox.itemData(index)
            self.ui.modelInfoLabel.text = self.ui.modelComboBox.itemData(index, qt.Qt.ToolTipRole)

    def onImportWeights(self) -> None:
        path = qt.QFileDialog.getOpenFileName(self.parent, _("Import model weights"), "",
                                              _("Model weights (*.safetensors *.h5)"))
        if path:
            with slicer.util.tryWithErrorDisplay(_("Could not import the weights file."), waitCursor=True):
                models_panel.import_weights(path)
                self.fillModels()

    def onOpenCache(self) -> None:
        qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(models_panel.cache_folder())))

    def onClearCache(self) -> None:
        if slicer.util.confirmOkCancelDisplay(_("Delete the downloaded weights of the listed models? They are fetched again when needed; "
                                              "fine-tuned and imported models are kept.")):
            models_panel.clear_cache()
            self.fillModels()

    def startDeviceProbe(self) -> None:
        self.ui.deviceInfoLabel.text = _("Detecting the compute device...")
        self.watch("probe", self.logic.start_probe(self._parameterNode.device.value), self.onProbeFinished)

    def onProbeFinished(self, job) -> None:
        try:
            info = job.result()
            self.ui.deviceInfoLabel.text = _("Analysis runs on: {device} (torch {torch})").format(
                device=info["device_description"], torch=info["torch"] or _("not installed: install the PyTorch extension"))
        except Exception as error:
            self.ui.deviceInfoLabel.text = _("Device detection failed: {error}").format(error=error)


class KneeCartilageT2Logic(ScriptedLoadableModuleLogic, ModuleActions):
    """The buttons' actions, usable from scripts: segment_and_measure, recompute, accept_and_export,
    fine_tune, next_case, compute_change (see KneeCartilageT2SlicerLib.module_actions)."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        ModuleActions.__init__(self)

    def getParameterNode(self):
        node = super().getParameterNode()
        return KneeCartilageT2ParameterNode(node) if parameterNodeWrapper is not None else node


class KneeCartilageT2Test(ScriptedLoadableModuleTest):
    """Self-test on a generated phantom (no network, no download): runs in Slicer and headless."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_KneeCartilageT2_phantom_workflow()

    def test_KneeCartilageT2_phantom_workflow(self):
        self.delayDisplay("Phantom: measure, edit, recompute, export, next case, change")
        checks = run_self_test(KneeCartilageT2Logic(), slicer.mrmlScene, self.delayDisplay)
        for name, (passed, detail) in checks.items():
            self.assertTrue(passed, "%s: %s" % (name, detail))
        self.delayDisplay("KneeCartilageT2 self-test passed")
