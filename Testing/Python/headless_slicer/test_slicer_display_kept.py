"""The reader's display choices survive the re-measurement after each edit; a new analysis sets the defaults.

Every settled stroke re-measures the analysis (:meth:`ModuleActions.update_after_edit`) and updates its
nodes in place. Before, that redrew the T2 map and projection maps with the default window and colour
table, rebuilt the subregion segments with the default look and restyled the chart, so a T2 preset or a
window the reader dragged was lost after every stroke (headless: real MRML nodes).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")

T2_MAPS = ("t2", "t2_deep", "t2_superficial")


def _window(node):
    display = node.GetDisplayNode()
    return display.GetWindowLevelMin(), display.GetWindowLevelMax()


def _t2_nodes(proxy):
    """The input's T2 map and T2 projection maps, as the preset acts on them."""
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.readback import result_nodes_of

    nodes = [result_nodes_of(proxy).t2_map] + [ModuleActions.projection_for(proxy, name) for name in T2_MAPS]
    assert None not in nodes
    return nodes


def _region_voxels(proxy) -> int:
    from KneeCartilageT2SlicerLib.readback import result_nodes_of
    from KneeCartilageT2SlicerLib.table_nodes import rows_from_table

    rows = {row["region"]: row for row in rows_from_table(result_nodes_of(proxy).region_table)}
    return int(rows["all"]["n_voxels"])


def _edit_and_update(browser, proxy):
    """Erase one slice of the segment as a stroke would, then run the panel's after-edit update; its nodes."""
    from segment_edits import cartilage_mask, set_cartilage

    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput, default_options

    before = _region_voxels(proxy)
    mask = cartilage_mask(proxy)
    mask[int(np.flatnonzero(mask.any(axis=(1, 2)))[1])] = False
    set_cartilage(proxy, mask)
    text, nodes = ModuleActions().update_after_edit(ExamInput(browser), True, default_options(t2_method="loglinear"))
    assert text == "Measurements updated to the edited segment." and nodes is not None
    assert _region_voxels(proxy) == int(mask.sum()) < before  # really re-measured
    return nodes


class ComboBox:
    """The few QComboBox calls the panel's projection list makes, headless: items are (text, data)."""

    def __init__(self):
        self.items, self.currentIndex = [], -1

    def clear(self):
        self.items, self.currentIndex = [], -1

    def addItem(self, text, data):
        self.items.append((text, data))
        self.currentIndex = max(self.currentIndex, 0)

    def itemData(self, index):
        return self.items[index][1]

    def findData(self, data):
        return next((index for index, item in enumerate(self.items) if item[1] == data), -1)


def _grey_table(scene):
    table = scene.AddNewNodeByClass("vtkMRMLColorTableNode", "Reader's grey")
    table.SetTypeToGrey()
    return table


def test_a_t2_preset_survives_the_update_after_an_edit(analysed):
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    browser, proxy = analysed
    assert {_window(node) for node in _t2_nodes(proxy)} == {(0.0, 100.0)}
    assert ModuleActions.apply_t2_preset(browser, "Cartilage detail 20-60 ms") == 4
    before = [node.GetID() for node in _t2_nodes(proxy)]
    _edit_and_update(browser, proxy)
    assert [node.GetID() for node in _t2_nodes(proxy)] == before  # updated in place
    assert {_window(node) for node in _t2_nodes(proxy)} == {(20.0, 60.0)}
    _edit_and_update(browser, proxy)  # and after the next stroke too
    assert {_window(node) for node in _t2_nodes(proxy)} == {(20.0, 60.0)}


def test_a_custom_window_colour_table_and_visibility_survive_the_update_after_an_edit(analysed, slicer_scene):
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.readback import result_nodes_of

    browser, proxy = analysed
    grey = _grey_table(slicer_scene)
    results = result_nodes_of(proxy)
    t2_display = results.t2_map.GetDisplayNode()
    t2_display.SetWindowLevelMinMax(27.5, 71.0)  # as dragged in a slice view
    t2_display.SetAndObserveColorNodeID(grey.GetID())
    t2_display.SetVisibility(False)
    results.r2_map.GetDisplayNode().SetWindowLevelMinMax(0.6, 0.95)
    thickness = ModuleActions.projection_for(browser, "thickness")
    thickness.GetDisplayNode().SetWindowLevelMinMax(0.5, 2.5)
    regions_map = ModuleActions.projection_for(browser, "regions")
    regions_map.GetDisplayNode().SetAndObserveColorNodeID(grey.GetID())
    deep = ModuleActions.projection_for(browser, "t2_deep")
    deep.GetDisplayNode().SetWindowLevelMinMax(30.0, 50.0)

    _edit_and_update(browser, proxy)
    assert _window(results.t2_map) == (27.5, 71.0)
    assert t2_display.GetColorNodeID() == grey.GetID() and not t2_display.GetVisibility()
    assert _window(results.r2_map) == pytest.approx((0.6, 0.95))
    assert _window(thickness) == (0.5, 2.5) and _window(deep) == (30.0, 50.0)
    assert regions_map.GetDisplayNode().GetColorNodeID() == grey.GetID()
    assert _window(ModuleActions.projection_for(browser, "t2")) == (0.0, 100.0)  # untouched: still the default


def test_the_subregion_segments_and_the_chart_keep_the_readers_look(analysed):
    from KneeCartilageT2SlicerLib.readback import result_nodes_of

    browser, proxy = analysed
    results = result_nodes_of(proxy)
    segmentation = results.subregions.GetSegmentation()
    hidden, faded, recoloured = (segmentation.GetNthSegmentID(index) for index in (0, 4, 7))
    display = results.subregions.GetDisplayNode()
    display.SetSegmentVisibility(hidden, False)
    display.SetSegmentOpacity2DFill(faded, 0.15)
    display.SetSegmentOpacity3D(faded, 0.4)
    segmentation.GetSegment(recoloured).SetColor(1.0, 0.0, 1.0)
    display.SetOpacity(0.8)
    chart = results.chart
    series = chart.GetNthPlotSeriesNode(0)
    chart.SetTitle("Reader's title")
    chart.SetLegendVisibility(True)
    series.SetColor(0.9, 0.1, 0.1)
    series.SetPlotType(series.PlotTypeScatterBar)

    nodes = _edit_and_update(browser, proxy)
    assert nodes.subregions.GetID() == results.subregions.GetID() and segmentation.GetNumberOfSegments() == 12
    assert not display.GetSegmentVisibility(hidden) and display.GetSegmentVisibility(faded)
    assert display.GetSegmentOpacity2DFill(faded) == pytest.approx(0.15)
    assert display.GetSegmentOpacity3D(faded) == pytest.approx(0.4)
    assert segmentation.GetSegment(recoloured).GetColor() == pytest.approx((1.0, 0.0, 1.0))
    assert display.GetOpacity() == pytest.approx(0.8)
    assert nodes.chart.GetID() == chart.GetID() and chart.GetNumberOfPlotSeriesNodes() == 1
    assert chart.GetTitle() == "Reader's title" and chart.GetLegendVisibility()
    assert series.GetColor() == pytest.approx((0.9, 0.1, 0.1)) and series.GetPlotType() == series.PlotTypeScatterBar
    assert series.GetYColumnName() == "t2_mean_ms"  # still plots the re-measured values


def test_the_readers_display_lasts_until_a_new_analysis_sets_the_defaults_again(analysed, phantom_analysis, slicer_scene):
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.readback import result_nodes_of
    from KneeCartilageT2SlicerLib.results_nodes import present_analysis
    from KneeCartilageT2SlicerLib.t2_colors import t2_color_node

    browser, proxy = analysed
    ModuleActions.apply_t2_preset(browser, "Cartilage detail 20-60 ms")
    results = result_nodes_of(proxy)
    results.t2_map.GetDisplayNode().SetAndObserveColorNodeID(_grey_table(slicer_scene).GetID())
    hidden = results.subregions.GetSegmentation().GetNthSegmentID(0)
    results.subregions.GetDisplayNode().SetSegmentVisibility(hidden, False)
    results.chart.SetTitle("Reader's title")
    _edit_and_update(browser, proxy)
    assert {_window(node) for node in _t2_nodes(proxy)} == {(20.0, 60.0)}  # kept while the reader edits
    assert not results.subregions.GetDisplayNode().GetSegmentVisibility(hidden)

    present_analysis(phantom_analysis[3], proxy)  # 'Segment & measure' again
    assert {_window(node) for node in _t2_nodes(proxy)} == {(0.0, 100.0)}
    assert results.t2_map.GetDisplayNode().GetColorNodeID() == t2_color_node(slicer_scene).GetID()
    assert results.subregions.GetDisplayNode().GetSegmentVisibility(hidden)
    assert results.chart.GetTitle() == "Mean T2 by femoral cartilage subregion"


def test_a_map_first_made_by_a_re_measurement_gets_the_defaults(analysed, slicer_scene):
    """A node the re-measurement has to make (here: the reader deleted the T2 projection map) is shown like a new
    analysis' map, while the others keep the reader's preset."""
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.t2_colors import t2_color_node

    browser, proxy = analysed
    ModuleActions.apply_t2_preset(browser, "Cartilage detail 20-60 ms")
    slicer_scene.RemoveNode(ModuleActions.projection_for(browser, "t2"))
    _edit_and_update(browser, proxy)
    remade = ModuleActions.projection_for(browser, "t2")
    assert _window(remade) == (0.0, 100.0)
    assert remade.GetDisplayNode().GetColorNodeID() == t2_color_node(slicer_scene).GetID()
    assert _window(ModuleActions.projection_for(browser, "t2_deep")) == (20.0, 60.0)


def test_recompute_leaves_the_slice_views_as_the_reader_set_them(analysed, slicer_scene, module_file, monkeypatch):
    """The panel's Recompute re-measures the same analysis: the projection the reader shows in the red view, the
    overlay opacity and the segment's fill stay (only 'Segment & measure' sets up the views)."""
    import contextlib
    import types

    import slicer
    import slicer_harness

    from KneeCartilageT2SlicerLib import choices, views
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.readback import result_nodes_of

    module = slicer_harness.import_module_file(str(module_file))
    browser, proxy = analysed
    results = result_nodes_of(proxy)
    red, green = (slicer_scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode") for _ in range(2))
    red.SetLayoutName("Red")
    green.SetLayoutName("Green")
    red_slice = slicer_scene.AddNewNodeByClass("vtkMRMLSliceNode")
    red_slice.SetLayoutName("Red")
    views.show_analysis(proxy, results.t2_map, results.segmentation)  # as 'Segment & measure' left them
    projection = ModuleActions.projection_for(browser, "thickness")
    views.show_map_in_view(projection, "Red")
    green.SetForegroundOpacity(0.25)
    segment_display = results.segmentation.GetDisplayNode()
    segment_display.SetVisibility2DFill(True)
    segment_display.SetOpacity(0.5)

    @contextlib.contextmanager
    def errors_raised(*args, **kwargs):  # the dialog, headless: the test fails on the error it would show
        yield

    monkeypatch.setattr(slicer.util, "tryWithErrorDisplay", errors_raised, raising=False)
    parameters = types.SimpleNamespace(
        inputNode=browser, readerName="", echoTimes="", side=choices.KneeSide.AUTO, modelName="",
        device=choices.ComputeDevice.CPU, t2Method=choices.T2Method.LOGLINEAR, t2RangeLowMs=0.0, t2RangeHighMs=100.0,
        regionMode=choices.RegionMode.IMPROVED, autoUpdateMeasurements=True)
    label, shown = types.SimpleNamespace, []
    widget = types.SimpleNamespace(
        _parameterNode=parameters, logic=ModuleActions(), _jobs={}, _lastCheckedSlice=None,
        _editWatcher=types.SimpleNamespace(watch=lambda node: None), updateButtons=lambda: None,
        ui=types.SimpleNamespace(
            segmentEditorWidget=types.SimpleNamespace(setSegmentationNode=lambda node: None,
                                                      setSourceVolumeNode=lambda node: None),
            resultsTableView=types.SimpleNamespace(setMRMLTableNode=shown.append),
            stageLabel=label(text=""), sliceToCheckLabel=label(text=""), measurementStateLabel=label(text=""),
            projectionComboBox=ComboBox()))
    widget.inputs = lambda: module.KneeCartilageT2Widget.inputs(widget)
    widget.showResults = lambda nodes, **kwargs: module.KneeCartilageT2Widget.showResults(widget, nodes, **kwargs)
    widget.fillProjections = lambda *node: module.KneeCartilageT2Widget.fillProjections(widget, *node)
    widget.ui.projectionComboBox.addItem("thickness", "thickness")  # the map the reader chose stays chosen
    module.KneeCartilageT2Widget.onRecompute(widget)
    box = widget.ui.projectionComboBox
    assert box.items == [(name, name) for name in ("t2", "t2_deep", "t2_superficial", "thickness", "regions")]
    assert box.itemData(box.currentIndex) == "thickness"
    assert [node.GetID() for node in shown] == [results.region_table.GetID()]  # the panel shows the new table
    assert red.GetBackgroundVolumeID() == projection.GetID() and red.GetForegroundVolumeID() is None
    assert green.GetBackgroundVolumeID() == proxy.GetID() and green.GetForegroundVolumeID() == results.t2_map.GetID()
    assert green.GetForegroundOpacity() == pytest.approx(0.25)
    assert segment_display.GetVisibility2DFill() and segment_display.GetOpacity() == pytest.approx(0.5)
