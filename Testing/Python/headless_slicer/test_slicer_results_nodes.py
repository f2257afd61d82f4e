"""An analysis in the scene: region table, T2 bar chart, 12 subregion segments, projection maps,
the model's original label, the T2 fit read back - on the module's shell phantom."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")


@pytest.fixture
def presented(slicer_scene, phantom_analysis):
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.results_nodes import present_analysis

    exam, mask, truth, result = phantom_analysis
    _, _, proxy = exam_to_sequence(exam, slicer_scene, "Phantom")
    return present_analysis(result, proxy), result, truth


def _nodes(scene, class_name):
    return [scene.GetNthNodeByClass(i, class_name) for i in range(scene.GetNumberOfNodesByClass(class_name))]


def test_region_table_has_typed_columns_units_and_the_analysis_numbers(presented):
    from KneeCartilageT2SlicerLib.table_nodes import rows_from_table

    nodes, result, truth = presented
    table = nodes.region_table
    rows = rows_from_table(table)
    assert [row["region"] for row in rows] == [row["region"] for row in result.regions.rows]
    assert len(rows) == 27 and rows[-1]["description"] == "superficial medial posterior"
    assert table.GetColumnUnitLabel("t2_mean_ms") == "ms" and table.GetColumnUnitLabel("volume_mm3") == "mm3"
    assert table.GetColumnUnitLabel("thickness_mean_mm") == "mm" and table.GetColumnDescription("t2_sd_ms")
    assert table.GetTable().GetColumnByName("n_voxels").GetClassName() == "vtkIntArray"
    for row, original in zip(rows, result.regions.rows):
        assert row["t2_mean_ms"] == pytest.approx(original["t2_mean_ms"])
        assert row["n_voxels"] == original["n_voxels"]
    by_region = {row["region"]: row for row in rows}
    assert max(abs(by_region[name]["t2_mean_ms"] - value) for name, value in truth.items()) < 1.5


def test_bar_chart_plots_mean_t2_of_the_12_subregions(presented, slicer_scene):
    nodes, result, _ = presented
    chart = nodes.chart
    assert chart.GetNumberOfPlotSeriesNodes() == 1 and chart.GetYAxisTitle() == "T2 (ms)"
    series = chart.GetNthPlotSeriesNode(0)
    assert series.GetPlotType() == series.PlotTypeBar
    assert (series.GetXColumnName(), series.GetYColumnName(), series.GetLabelColumnName()) == ("bar", "t2_mean_ms", "region")
    data = series.GetTableNode().GetTable()
    assert data.GetNumberOfRows() == 12
    assert [data.GetColumnByName("region").GetValue(i) for i in range(12)][:3] == ["DLA", "DLC", "DLP"]
    expected = {row["region"]: row["t2_mean_ms"] for row in result.regions.rows}
    assert data.GetColumnByName("t2_mean_ms").GetValue(4) == pytest.approx(expected["DMC"])


def test_subregions_are_12_named_coloured_segments_matching_the_label_map(presented):
    from KneeCartilageT2SlicerLib.segmentation_nodes import labels_by_name
    from KneeCartilageT2SlicerLib.subregion_nodes import subregion_name_to_value

    nodes, result, _ = presented
    segmentation = nodes.subregions.GetSegmentation()
    names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
    colors = {tuple(np.round(segmentation.GetNthSegment(i).GetColor(), 3)) for i in range(12)}
    assert len(names) == 12 and names[0] == "DLA (deep lateral anterior)" and len(colors) == 12
    exported = labels_by_name(nodes.subregions, nodes.reference_volume, subregion_name_to_value())
    assert np.array_equal(exported.array, result.regions.subregion_labels.array)


def test_projection_maps_are_viewable_volumes_with_physical_axes(presented):
    from KneeCartilageT2SlicerLib import t2_colors
    from KneeCartilageT2SlicerLib.mrml_helpers import ijk_to_ras_of
    from KneeCartilageT2SlicerLib.volume_nodes import node_to_volume

    nodes, result, _ = presented
    assert set(nodes.projections) == set(result.regions.projections)
    t2_map = result.regions.projections["t2"]
    node = nodes.projections["t2"]
    volume = node_to_volume(node)
    assert volume.array.shape == (1,) + t2_map.array.shape
    assert np.allclose(volume.array[0], np.nan_to_num(t2_map.array))
    matrix = ijk_to_ras_of(node)
    step = np.median(np.diff(t2_map.col_positions_mm))
    assert matrix[0, 0] == pytest.approx(-step)  # anterior (negative arc) on the screen's left in an axial view
    assert matrix[1, 3] == pytest.approx(t2_map.row_positions_mm[0])
    assert node.GetDisplayNode().GetColorNode().GetName() == t2_colors.T2_COLOR_NODE_NAME
    assert nodes.projections["regions"].IsA("vtkMRMLLabelMapVolumeNode")


def test_model_label_is_kept_hidden_for_the_correction_export(presented):
    from KneeCartilageT2SlicerLib.readback import model_label_of, provenance_of

    nodes, result, _ = presented
    assert nodes.model_label.GetHideFromEditors()
    assert np.array_equal(model_label_of(nodes.reference_volume).array, result.label.array)
    assert provenance_of(nodes.segmentation)["label_source"] == "model"


def test_presenting_again_adds_no_node(presented, slicer_scene, phantom_analysis):
    from KneeCartilageT2SlicerLib.results_nodes import present_analysis

    nodes, result, _ = presented
    count = slicer_scene.GetNumberOfNodes()
    again = present_analysis(result, nodes.reference_volume)
    assert slicer_scene.GetNumberOfNodes() == count
    assert again.segmentation.GetID() == nodes.segmentation.GetID() and again.chart.GetID() == nodes.chart.GetID()


def test_t2_fit_is_rebuilt_from_the_nodes(presented):
    from KneeCartilageT2SlicerLib.readback import t2_fit_from_nodes

    nodes, result, _ = presented
    rebuilt = t2_fit_from_nodes(nodes.t2_map, nodes.r2_map)
    assert np.array_equal(rebuilt.valid, np.asarray(result.t2.valid))
    assert np.allclose(rebuilt.t2_ms[rebuilt.valid], np.asarray(result.t2.t2_ms)[rebuilt.valid])
    assert rebuilt.method == result.t2.method


def test_t2_maps_are_windowed_to_a_valid_t2_range_above_100_ms(slicer_scene, phantom_analysis):
    """A 'Valid T2' upper limit above 100 ms widens the T2 map's window (and the T2 projection maps') to it,
    also after a re-measurement that reuses the fit; the default range keeps 0-100 ms; the presets still apply."""
    from KneeCartilageT2Lib.pipeline import AnalysisOptions, measure
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.readback import result_nodes_of
    from KneeCartilageT2SlicerLib.results_nodes import present_analysis
    from KneeCartilageT2SlicerLib.workflow import ExamInput

    def windows(_presented=None):  # of the input's T2 map and T2 projection maps as they are now
        maps = [result_nodes_of(proxy).t2_map] + [ModuleActions.projection_for(proxy, name)
                                                  for name in ("t2", "t2_deep", "t2_superficial")]
        assert None not in maps
        return {(node.GetDisplayNode().GetWindowLevelMin(), node.GetDisplayNode().GetWindowLevelMax()) for node in maps}

    exam, mask, _, default_result = phantom_analysis
    _, _, proxy = exam_to_sequence(exam, slicer_scene, "Phantom")
    assert windows(present_analysis(default_result, proxy)) == {(0.0, 100.0)}
    wide = AnalysisOptions(t2_method="loglinear", t2_range_ms=(0.0, 180.0))
    assert windows(present_analysis(measure(exam, mask.array, options=wide, label_source="model"), proxy)) == {
        (0.0, 180.0)}
    assert windows(ModuleActions().recompute(ExamInput(proxy), wide)) == {(0.0, 180.0)}  # the fit reused
    narrow = AnalysisOptions(t2_method="loglinear", t2_range_ms=(10.0, 80.0))  # inside 0-100 ms: the default window
    assert windows(present_analysis(measure(exam, mask.array, options=narrow, label_source="model"), proxy)) == {
        (0.0, 100.0)}
    assert ModuleActions.apply_t2_preset(proxy, "Cartilage detail 20-60 ms") == 4
    assert windows() == {(20.0, 60.0)}
