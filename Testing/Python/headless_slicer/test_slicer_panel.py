"""The panel's rules without Qt: which buttons are enabled, option mapping, the small helpers the
widget calls (input description, T2 presets, projection lookup, views, segment editor node)."""

from __future__ import annotations

import types

import numpy as np

import pytest

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")


def _parameters(**values):
    from KneeCartilageT2SlicerLib.choices import ComputeDevice, KneeSide, NextCaseStrategy, RegionMode, T2Method

    defaults = dict(inputNode=None, echoTimes="", side=KneeSide.AUTO, modelName="", device=ComputeDevice.AUTO,
                    t2Method=T2Method.MONO, t2RangeLowMs=0.0, t2RangeHighMs=100.0, regionMode=RegionMode.IMPROVED,
                    datasetFolder="", readerName="",
                    nextCaseStrategy=NextCaseStrategy.FIRST, baselineVolume=None, followupVolume=None)
    defaults.update(values)
    return types.SimpleNamespace(**defaults)


def test_buttons_are_enabled_only_when_their_inputs_exist(slicer_scene, analysed, tmp_path):
    from KneeCartilageT2SlicerLib.panel_state import button_states

    browser, proxy = analysed
    empty = button_states(_parameters())
    assert [name for name, state in empty.items() if state.enabled] == ["loadExamButton"]
    assert empty["segmentMeasureButton"].tooltip == "Select the MESE series first."
    ready = button_states(_parameters(inputNode=browser, datasetFolder=str(tmp_path), baselineVolume=proxy))
    assert ready["segmentMeasureButton"].enabled and ready["recomputeButton"].enabled
    assert ready["acceptExportButton"].enabled and ready["nextCaseButton"].enabled
    assert ready["restoreDraftButton"].enabled and not empty["restoreDraftButton"].enabled
    assert not ready["computeChangeButton"].enabled  # no follow-up yet
    same_visit = button_states(_parameters(baselineVolume=proxy, followupVolume=proxy))
    assert not same_visit["computeChangeButton"].enabled
    running = button_states(_parameters(inputNode=browser), running=True)
    assert running["cancelButton"].enabled and not running["segmentMeasureButton"].enabled
    assert not running["loadExamButton"].enabled


def test_parameters_map_to_the_core_options():
    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.choices import ComputeDevice, KneeSide, RegionMode, T2Method
    from KneeCartilageT2SlicerLib.choices import exam_input_from_parameters, options_from_parameters

    parameters = _parameters(echoTimes="10, 20;30", side=KneeSide.LEFT, device=ComputeDevice.CPU,
                             t2Method=T2Method.NOISE_FLOOR, regionMode=RegionMode.REFERENCE, modelName="m1")
    options = options_from_parameters(parameters)
    assert (options.model, options.device, options.t2_method, options.region_mode, options.laterality) == (
        "m1", "cpu", "noise-floor", "reference", "left")
    exam_input = exam_input_from_parameters(parameters)
    assert exam_input.echo_times_ms == [10.0, 20.0, 30.0] and exam_input.laterality == "left"
    assert options_from_parameters(_parameters()).laterality is None
    assert exam_input_from_parameters(_parameters()).echo_times_ms is None
    with pytest.raises(InputError, match="numbers in ms"):
        exam_input_from_parameters(_parameters(echoTimes="10, twenty"))
    assert KneeSide.AUTO.label().startswith("From the data")


def test_the_panels_valid_t2_range_reaches_the_analysis_options():
    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2Lib.pipeline import AnalysisOptions
    from KneeCartilageT2SlicerLib.choices import options_from_parameters

    options = options_from_parameters(_parameters(t2RangeLowMs=5.0, t2RangeHighMs=80.0))
    assert tuple(options.t2_range_ms) == (5.0, 80.0)
    assert tuple(AnalysisOptions(**options.as_dict()).t2_range_ms) == (5.0, 80.0)  # as the worker receives them
    assert tuple(options_from_parameters(_parameters()).t2_range_ms) == (0.0, 100.0)
    older_scene = _parameters()
    del older_scene.t2RangeLowMs, older_scene.t2RangeHighMs  # a parameter node saved before the range existed
    assert tuple(options_from_parameters(older_scene).t2_range_ms) == (0.0, 100.0)
    for low, high in ((80.0, 80.0), (90.0, 20.0), (-5.0, 100.0)):
        with pytest.raises(InputError, match="Valid T2"):
            options_from_parameters(_parameters(t2RangeLowMs=low, t2RangeHighMs=high))


def test_input_description_t2_presets_and_projection_lookup(analysed):
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    browser, proxy = analysed
    text = ModuleActions.describe_input(browser)
    assert text.startswith("7 echoes, TE 10, 20, 30, 40, 50, 60, 70 ms; left knee")
    assert "single 3D volume" not in text and "Select" in ModuleActions.describe_input(None)
    assert ModuleActions.apply_t2_preset(browser, "Cartilage detail 20-60 ms") == 4  # T2 map + 3 T2 projections
    thickness = ModuleActions.projection_for(browser, "thickness")
    assert thickness is not None and thickness.GetAttribute("KneeT2.Unit") == "mm"
    assert ModuleActions.projection_for(browser, "regions").IsA("vtkMRMLLabelMapVolumeNode")
    assert ModuleActions.chart_for(proxy).IsA("vtkMRMLPlotChartNode")


def test_views_show_results_through_slice_composite_nodes(slicer_scene, analysed):
    from KneeCartilageT2SlicerLib import views
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.readback import result_nodes_of

    browser, proxy = analysed
    composite = slicer_scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
    composite.SetLayoutName("Red")
    slice_node = slicer_scene.AddNewNodeByClass("vtkMRMLSliceNode")  # gets the scene's orientation presets
    slice_node.SetLayoutName("Red")
    slice_node.SetOrientation("Sagittal")
    results = result_nodes_of(proxy)
    views.show_analysis(proxy, results.t2_map, results.segmentation)
    assert composite.GetBackgroundVolumeID() == proxy.GetID() and composite.GetForegroundVolumeID() == results.t2_map.GetID()
    assert results.segmentation.GetDisplayNode().GetVisibility2DOutline()
    projection = ModuleActions.projection_for(browser, "t2")
    assert views.show_map_in_view(projection, "Red") and composite.GetBackgroundVolumeID() == projection.GetID()
    assert slice_node.GetOrientationString() == "Axial"
    assert not views.show_map_in_view(projection, "Yellow")


def test_segment_editor_node_is_a_singleton(slicer_scene):
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    first = ModuleActions.segment_editor_node(slicer_scene)
    assert first.IsA("vtkMRMLSegmentEditorNode")
    assert ModuleActions.segment_editor_node(slicer_scene).GetID() == first.GetID()


def test_progress_text():
    from KneeCartilageT2SlicerLib.panel_state import progress_text

    assert progress_text(0.426, "Segmenting slice 7/24") == "43% Segmenting slice 7/24"
    assert progress_text(1.7, "") == "100%"
    assert progress_text(0.5, "Fitting T2", "cuda:0") == "50% Fitting T2 [cuda:0]"


def test_button_states_only_look(slicer_scene, phantom_analysis):
    """Refreshing the buttons (on every node added) must not add nodes, e.g. a browser for a bare sequence."""
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.panel_state import button_states

    sequence, browser, _ = exam_to_sequence(phantom_analysis[0], slicer_scene, "Phantom")
    slicer_scene.RemoveNode(browser)
    count = slicer_scene.GetNumberOfNodes()
    states = button_states(_parameters(inputNode=sequence))
    assert states["segmentMeasureButton"].enabled and not states["recomputeButton"].enabled
    assert slicer_scene.GetNumberOfNodes() == count


def test_model_choices_pick_an_exact_version_when_a_name_has_several(tmp_path, monkeypatch):
    """Two fine-tuned versions of one name: each combo entry loads its own version (name@version)."""
    pytest.importorskip("torch")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test_finetune_versions import save_tiny_model

    from KneeCartilageT2Lib.model_registry import load_model
    from KneeCartilageT2Lib.model_versions import register_model_version
    from KneeCartilageT2SlicerLib.models_panel import model_choices

    monkeypatch.setenv("KNEE_T2_CACHE", str(tmp_path / "cache"))
    for seed in (1, 2):
        register_model_version(save_tiny_model(tmp_path / ("w%d.safetensors" % seed), seed), "site-model")
    choices = {(choice.name, choice.version): choice for choice in model_choices()}
    assert choices[("site-model", "1")].reference == "site-model@1"
    assert choices[("site-model", "2")].reference == "site-model@2"
    assert load_model(choices[("site-model", "1")].reference, device="cpu").version == "1"
    registry = [choice for choice in choices.values() if choice.name != "site-model"]
    assert registry and all(choice.reference == choice.name for choice in registry)


def test_next_slice_to_check_walks_the_flagged_slices_and_moves_the_views(slicer_scene, analysed):
    import numpy as np

    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.readback import result_nodes_of
    from KneeCartilageT2SlicerLib.segmentation_nodes import read_segment, segment_id_by_name, write_segment

    browser, proxy = analysed
    assert ModuleActions.next_slice_to_check(None) is None
    segmentation = result_nodes_of(proxy).segmentation
    label = read_segment(segmentation, proxy)
    assert ModuleActions.next_slice_to_check(browser) is None  # the shell fills every slice: nothing to check
    edited = np.asarray(label.array) > 0
    edited[4] = False  # a slice missed inside the plate
    edited[9:] = False  # and the plate cut short after slice 8, which holds as much as its fullest slice
    write_segment(segmentation, segment_id_by_name(segmentation, "Femoral cartilage"),
                  label.with_array(edited.astype(np.uint8)))
    slice_node = slicer_scene.AddNewNodeByClass("vtkMRMLSliceNode")
    slice_node.SetLayoutName("Red")
    slice_node.SetOrientation("Sagittal")

    def shown_r_mm():
        return slice_node.GetSliceToRAS().GetElement(0, 3)

    def slice_r_mm(k):
        return label.ijk_to_ras[0, 2] * k + label.ijk_to_ras[0, 3]

    first = ModuleActions.next_slice_to_check(browser)
    assert first == (4, "empty slice inside the plate: cartilage missed here?")
    assert shown_r_mm() == pytest.approx(slice_r_mm(4))
    second = ModuleActions.next_slice_to_check(browser, first[0])
    assert second == (9, "the plate ends abruptly at slice 8: cartilage missed here?")
    assert shown_r_mm() == pytest.approx(slice_r_mm(9))
    assert ModuleActions.next_slice_to_check(browser, second[0])[0] == 4  # round again from the first
    assert slice_node.GetOrientationString() == "Sagittal"  # the view moved, it did not turn


def test_a_slice_the_models_slice_rule_emptied_is_named_as_such_when_checking_and_recomputing(analysed):
    """The segmentation's provenance says the slice rule emptied slice 9: the hint and the re-measured notes
    say so instead of calling it a slice the network missed."""
    import json

    import numpy as np

    from KneeCartilageT2Lib.slice_rule import SliceRule
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.readback import provenance_of, result_nodes_of
    from KneeCartilageT2SlicerLib.results_nodes import PROVENANCE_ATTRIBUTE
    from KneeCartilageT2SlicerLib.segmentation_nodes import read_segment, segment_id_by_name, write_segment
    from KneeCartilageT2SlicerLib.workflow import ExamInput, default_options

    browser, proxy = analysed
    segmentation = result_nodes_of(proxy).segmentation
    label = read_segment(segmentation, proxy)
    edited = np.asarray(label.array) > 0
    edited[9:] = False  # the plate ends at slice 8, which holds as much as its fullest slice
    write_segment(segmentation, segment_id_by_name(segmentation, "Femoral cartilage"),
                  label.with_array(edited.astype(np.uint8)))
    assert ModuleActions.next_slice_to_check(browser) == (
        9, "the plate ends abruptly at slice 8: cartilage missed here?")
    rule = SliceRule(60.0, {9: 50})  # 50 of 745 voxels: a margin's worth, not a speck
    provenance = dict(provenance_of(segmentation), segmentation={"parameters": rule.as_parameters()})
    segmentation.SetAttribute(PROVENANCE_ATTRIBUTE, json.dumps(provenance))
    assert ModuleActions.next_slice_to_check(browser) == (
        9, "the plate ends abruptly at slice 8; the minimum-area rule (60 voxels) removed this slice's 50 voxels of "
           "cartilage: real? restore them")
    nodes = ModuleActions().recompute(ExamInput(browser), default_options(t2_method="loglinear"))
    assert any("Slice 9's cartilage, 50 voxels, was removed by the minimum-area rule of 60 voxels" in message
               for message in nodes.messages)
    assert not any("missed cartilage" in message for message in nodes.messages)


def test_jumping_to_a_slice_follows_the_volume_transform(slicer_scene, analysed):
    import vtk

    from KneeCartilageT2SlicerLib import views

    _, proxy = analysed
    slice_node = slicer_scene.AddNewNodeByClass("vtkMRMLSliceNode")
    slice_node.SetLayoutName("Red")
    slice_node.SetOrientation("Sagittal")
    shift = vtk.vtkMatrix4x4()
    shift.SetElement(0, 3, 25.0)  # the series moved 25 mm to the right, as the views draw it
    transform = slicer_scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    transform.SetMatrixTransformToParent(shift)
    proxy.SetAndObserveTransformNodeID(transform.GetID())
    matrix = vtk.vtkMatrix4x4()
    proxy.GetIJKToRASMatrix(matrix)
    assert views.jump_to_slice(proxy, 3) == 1
    expected = matrix.GetElement(0, 2) * 3 + matrix.GetElement(0, 3) + 25.0
    assert slice_node.GetSliceToRAS().GetElement(0, 3) == pytest.approx(expected)
    with pytest.raises(ValueError, match="outside the volume"):
        views.jump_to_slice(proxy, 999)


def test_actions_on_an_analysis_read_its_echoes_with_the_echo_times_it_recorded(slicer_scene, phantom_analysis,
                                                                                tmp_path):
    """'Accept & export' (and 'Save as DICOM') no longer read the panel's 'Echo times' field: an input that does
    not store its echo times is read with those its analysis recorded (the times typed when it was analysed)."""
    import slicer

    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.workflow import ExamInput, KneeT2Workflow, default_options

    exam, mask, _, _ = phantom_analysis
    node = slicer.util.addVolumeFromArray(np.moveaxis(exam.echoes, 0, -1).copy(), exam.ijk_to_ras, "no times",
                                          "vtkMRMLVectorVolumeNode")
    with pytest.raises(InputError, match="Echo times field"):
        ExamInput(node).exam()
    typed = [float(t) for t in exam.echo_times_ms]
    workflow = KneeT2Workflow()
    nodes = workflow.measure_label(ExamInput(node, typed), mask, default_options(t2_method="loglinear"))
    assert list(ExamInput(node).analysed_exam(nodes.segmentation).echo_times_ms) == typed
    given = [t + 1.0 for t in typed]  # times given to the action itself still win
    assert list(ExamInput(node, given).analysed_exam(nodes.segmentation).echo_times_ms) == given
    record = workflow.accept_and_export(ExamInput(node), tmp_path / "dataset", reader="AB")
    assert list(record.echo_times_ms) == typed


def test_an_old_analysis_without_recorded_echo_times_falls_back_to_the_echo_times_field(slicer_scene, phantom_analysis,
                                                                                         tmp_path):
    """A scene saved before analyses recorded their echo times, of an input that stores none: 'Save as DICOM' and
    'Accept & export' asked for the times 'in the Echo times field', which they no longer read, so the reader was
    stuck. They read the field then (and only then), as before."""
    import json

    import slicer

    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.choices import export_input_from_parameters, saved_input_from_parameters
    from KneeCartilageT2SlicerLib.readback import provenance_of
    from KneeCartilageT2SlicerLib.results_nodes import PROVENANCE_ATTRIBUTE
    from KneeCartilageT2SlicerLib.workflow import ExamInput, KneeT2Workflow, default_options

    exam, mask, _, _ = phantom_analysis
    node = slicer.util.addVolumeFromArray(np.moveaxis(exam.echoes, 0, -1).copy(), exam.ijk_to_ras, "no times",
                                          "vtkMRMLVectorVolumeNode")
    typed = [float(t) for t in exam.echo_times_ms]
    workflow = KneeT2Workflow()
    nodes = workflow.measure_label(ExamInput(node, typed), mask, default_options(t2_method="loglinear"))
    recorded = provenance_of(nodes.segmentation)
    for from_parameters in (saved_input_from_parameters, export_input_from_parameters):  # recorded: field unread
        source = from_parameters(_parameters(inputNode=node, echoTimes="10, 2O"))
        assert list(source.analysed_exam(nodes.segmentation).echo_times_ms) == typed
    nodes.segmentation.SetAttribute(PROVENANCE_ATTRIBUTE, json.dumps(
        {key: value for key, value in recorded.items() if key != "echo_times_ms"}))  # as an old scene has it

    field = ", ".join("%g" % t for t in typed)
    for from_parameters in (saved_input_from_parameters, export_input_from_parameters):
        with pytest.raises(InputError, match="in the Echo times field"):  # the field it now reads
            from_parameters(_parameters(inputNode=node, echoTimes="")).analysed_exam(nodes.segmentation)
        with pytest.raises(InputError, match="Echo times must be numbers"):
            from_parameters(_parameters(inputNode=node, echoTimes="10, 2O")).analysed_exam(nodes.segmentation)
        source = from_parameters(_parameters(inputNode=node, echoTimes=field))
        assert list(source.analysed_exam(nodes.segmentation).echo_times_ms) == typed
    record = workflow.accept_and_export(export_input_from_parameters(_parameters(inputNode=node, echoTimes=field)),
                                        tmp_path / "dataset", reader="AB")
    assert list(record.echo_times_ms) == typed
