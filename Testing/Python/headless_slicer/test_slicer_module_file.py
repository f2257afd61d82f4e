"""The module file KneeCartilageT2.py under the headless harness: it imports unchanged, its
Module/Logic/Test classes run against a real MRML scene, and Qt use is caught."""

from __future__ import annotations

import pytest

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")


@pytest.fixture
def module(slicer_scene, module_file):
    import slicer_harness

    return slicer_harness.import_module_file(str(module_file))


def test_module_declares_title_category_and_icon(module, module_file):
    import slicer
    import slicer_harness

    parent = slicer_harness.FakeModuleParent(str(module_file))
    module.KneeCartilageT2(parent)
    assert parent.title == "Knee Cartilage T2"
    assert parent.categories == ["Quantification"]
    assert parent.icon.endswith("Resources/Icons/KneeCartilageT2.png")
    assert "MESE" in parent.helpText and callable(slicer.selfTests["KneeCartilageT2"])


def test_logic_has_one_method_per_button_and_a_parameter_node(module, slicer_scene):
    logic = module.KneeCartilageT2Logic()
    for action in ("segment_and_measure", "recompute", "accept_and_export", "fine_tune", "next_case", "compute_change",
                   "measure_label", "start_segment_and_measure", "finish_segment_and_measure", "start_next_case",
                   "finish_next_case", "kept_drafts", "restore_kept_draft"):
        assert callable(getattr(logic, action)), action
    parameters = logic.getParameterNode()
    assert parameters.GetAttribute("ModuleName") == "KneeCartilageT2"
    assert logic.getParameterNode().GetID() == parameters.GetID()  # a singleton, no pile-up


def test_widget_and_qt_raise_instead_of_passing_silently(module):
    import slicer_harness

    with pytest.raises(slicer_harness.HeadlessQtError):
        module.KneeCartilageT2Widget()
    import qt

    with pytest.raises(slicer_harness.HeadlessQtError, match="QTimer"):
        qt.QTimer()


def test_self_test_runs_the_whole_workflow_on_the_phantom(module, slicer_scene, headless_slicer):
    """KneeCartilageT2Test.runTest(): measure, edit + recompute, export, next case, change, no pile-up."""
    import slicer
    import slicer_harness

    module.KneeCartilageT2(slicer_harness.FakeModuleParent(module.__file__))
    slicer.selfTests["KneeCartilageT2"]()  # raises AssertionError with the failing check's numbers
    analysed = [node for node in _volumes(slicer.mrmlScene) if node.GetAttribute("KneeT2.Analysed") == "1"]
    assert len(analysed) == 2  # baseline and follow-up phantoms
    assert headless_slicer.vtk_error_count() == 0


def _volumes(scene):
    return [scene.GetNthNodeByClass(i, "vtkMRMLScalarVolumeNode") for i in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode"))]


@pytest.mark.parametrize("field", ["t2Range", "echoTimes"])
def test_an_unreadable_panel_field_neither_stops_the_draft_nor_raises_after_each_stroke(module, analysed, field):
    """After every stroke the panel keeps a draft, then re-measures with the panel's choices. A reversed 'Valid T2'
    range or a typo in 'Echo times' raised from the edit callback before the draft was kept: the reader's edits
    were not kept, and each stroke raised again."""
    import types

    from KneeCartilageT2SlicerLib import choices

    _, proxy = analysed
    parameters = types.SimpleNamespace(
        inputNode=proxy, readerName="AB", echoTimes="10, 2O, 30" if field == "echoTimes" else "",
        side=choices.KneeSide.AUTO, modelName="", device=choices.ComputeDevice.CPU, t2Method=choices.T2Method.MONO,
        t2RangeLowMs=120.0 if field == "t2Range" else 0.0, t2RangeHighMs=100.0,
        regionMode=choices.RegionMode.IMPROVED, autoUpdateMeasurements=True)
    kept = []

    class Logic:
        def keep_draft(self, node, reader):
            kept.append((node, reader))
            return "Draft kept."

        def update_after_edit(self, *args):
            raise AssertionError("measured with choices the panel could not read")

    widget = types.SimpleNamespace(_parameterNode=parameters, logic=Logic(), _jobs={},
                                   ui=types.SimpleNamespace(measurementStateLabel=types.SimpleNamespace(text="")))
    widget.inputs = lambda: module.KneeCartilageT2Widget.inputs(widget)
    widget.fillProjections = lambda: None  # the projection list (a Qt combo box) is not this test's subject
    module.KneeCartilageT2Widget.onEditsSettled(widget)
    assert kept == [(proxy, "AB")]
    text = widget.ui.measurementStateLabel.text
    assert text.startswith("Measurements not updated (") and text.endswith("Draft kept.")
    assert ("Valid T2" if field == "t2Range" else "Echo times must be numbers") in text


@pytest.mark.parametrize("field", ["t2Range", "echoTimes"])
def test_save_dicom_accept_export_and_next_slice_do_not_read_fields_they_do_not_use(module, analysed, field,
                                                                                      monkeypatch, tmp_path):
    """'Save as DICOM', 'Accept & export' and 'Next slice to check' read every panel field: a reversed 'Valid T2'
    range or a typo in 'Echo times' stopped them with an error dialog, though none of them uses those fields."""
    import contextlib
    import sys
    import types

    import slicer

    from KneeCartilageT2SlicerLib import choices

    _, proxy = analysed
    parameters = types.SimpleNamespace(
        inputNode=proxy, readerName="AB", datasetFolder=str(tmp_path), echoTimes="10, 2O, 30" if field == "echoTimes"
        else "", side=choices.KneeSide.RIGHT, modelName="", device=choices.ComputeDevice.CPU,
        t2Method=choices.T2Method.MONO, t2RangeLowMs=120.0 if field == "t2Range" else 0.0, t2RangeHighMs=100.0,
        regionMode=choices.RegionMode.IMPROVED, autoUpdateMeasurements=True)
    calls = {}

    class Logic:
        def next_slice_to_check(self, node, after):
            calls["next slice"] = node
            return None

        def accept_and_export(self, source, dataset, reader):
            calls["export"] = (source.node, source.laterality, dataset, reader)

        def save_results_as_dicom(self, source, folder):
            calls["dicom"] = (source.node, folder)
            return types.SimpleNamespace(t2_map_files=[], colour_files=[])

    @contextlib.contextmanager
    def errors_raised(*args, **kwargs):  # the dialog, headless: the test fails on the error it would show
        yield

    monkeypatch.setattr(slicer.util, "tryWithErrorDisplay", errors_raised, raising=False)
    monkeypatch.setattr(slicer.util, "mainWindow", lambda: None, raising=False)
    monkeypatch.setattr(module, "qt", types.SimpleNamespace(QFileDialog=types.SimpleNamespace(
        getExistingDirectory=lambda *args: str(tmp_path / "dicom"))))
    monkeypatch.setattr(module.panel_state, "export_status_text", lambda record: "exported")
    monkeypatch.setitem(sys.modules, "DICOMLib", types.SimpleNamespace(DICOMUtils=types.SimpleNamespace(
        importDicom=lambda folder: None)))
    label = types.SimpleNamespace
    widget = types.SimpleNamespace(_parameterNode=parameters, logic=Logic(), _jobs={}, _lastCheckedSlice=None,
                                   ui=types.SimpleNamespace(sliceToCheckLabel=label(text=""),
                                                            exportStatusLabel=label(text=""),
                                                            dicomStatusLabel=label(text="")))
    widget.inputs = lambda: module.KneeCartilageT2Widget.inputs(widget)
    module.KneeCartilageT2Widget.onNextSliceToCheck(widget)
    module.KneeCartilageT2Widget.onAcceptExport(widget)
    module.KneeCartilageT2Widget.onSaveDicom(widget)
    assert calls == {"next slice": proxy, "export": (proxy, "right", str(tmp_path), "AB"),
                     "dicom": (proxy, str(tmp_path / "dicom"))}
    assert widget.ui.exportStatusLabel.text == "exported" and widget.ui.sliceToCheckLabel.text.startswith("No slice")


class _ComboBox:
    """Enough of a QComboBox for the projection list: items of (text, data), the current index."""

    def __init__(self):
        self.items, self.currentIndex = [], -1

    def itemData(self, index):
        return self.items[index][1]

    def clear(self):
        self.items, self.currentIndex = [], -1

    def addItem(self, text, data):
        self.items.append((text, data))

    def findData(self, data):
        return next((index for index, item in enumerate(self.items) if item[1] == data), -1)


def test_clearing_the_input_empties_the_projection_list(module, analysed):
    """The input selector passes its new node to onInputChanged before the parameter node follows it. A cleared
    selector (None) was taken as 'the panel's input', still the one before: the list kept that input's maps."""
    import types

    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    _, proxy = analysed

    class Logic:
        projection_choices = staticmethod(ModuleActions.projection_choices)

        def describe_input(self, node):
            return ""

        def editing_targets(self, node):
            return None, None

        def draft_note(self, node):
            return ""

    box = _ComboBox()
    label = types.SimpleNamespace
    widget = types.SimpleNamespace(_parameterNode=types.SimpleNamespace(inputNode=proxy), logic=Logic(),
                                   _editWatcher=types.SimpleNamespace(watch=lambda node: None),
                                   ui=types.SimpleNamespace(projectionComboBox=box, echoTimesLabel=label(text=""),
                                                            measurementStateLabel=label(text="")))
    widget.fillProjections = lambda *node: module.KneeCartilageT2Widget.fillProjections(widget, *node)
    widget.fillProjections()  # the panel's input: its maps
    assert [data for _, data in box.items] == ["t2", "t2_deep", "t2_superficial", "thickness", "regions"]
    module.KneeCartilageT2Widget.onInputChanged(widget, None)  # the parameter node still holds the proxy here
    assert box.items == []
