"""Projection maps an edit left behind are marked out of date, as the panel's status line marks the table.

A re-measurement after an edit that cannot measure the segment (too little cartilage left) updated the T2 map but
left the five projection maps with the old segment's values, named and listed as if they were current
(headless: real MRML nodes).
"""

from __future__ import annotations

import numpy as np
import pytest
from segment_edits import cartilage_mask, set_cartilage

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")

MAPS = ["t2", "t2_deep", "t2_superficial", "thickness", "regions"]


def _update(browser, auto_update=True):
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput, default_options

    return ModuleActions().update_after_edit(ExamInput(browser), auto_update, default_options(t2_method="loglinear"))


def _names(browser):
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    return {name: ModuleActions.projection_for(browser, name).GetName() for name in MAPS}


def test_maps_an_unmeasurable_edit_left_behind_are_marked_until_the_segment_matches_them_again(analysed):
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.out_of_date_marks import OUT_OF_DATE_ATTRIBUTE

    browser, proxy = analysed
    names = _names(browser)
    assert ModuleActions.projection_choices(browser) == [(name, name) for name in MAPS]
    measured = cartilage_mask(proxy)
    few = np.zeros_like(measured)
    few[tuple(np.argwhere(measured)[:5].T)] = True  # too little cartilage left for any region or map
    set_cartilage(proxy, few)
    text, nodes = _update(browser)
    assert nodes is None and text.startswith("Measurements not updated: ")
    assert _names(browser) == {name: "%s (out of date)" % names[name] for name in MAPS}
    assert all(ModuleActions.projection_for(browser, name).GetAttribute(OUT_OF_DATE_ATTRIBUTE) == "1" for name in MAPS)
    assert ModuleActions.projection_choices(browser) == [(name, "%s (out of date)" % name) for name in MAPS]

    set_cartilage(proxy, measured)  # Undo: the maps describe the segment again
    assert _update(browser) == ("Measurements match the segment.", None)
    assert _names(browser) == names and ModuleActions.projection_choices(browser) == [(name, name) for name in MAPS]
    assert all(ModuleActions.projection_for(browser, name).GetAttribute(OUT_OF_DATE_ATTRIBUTE) is None
               for name in MAPS)


def test_maps_follow_the_segment_without_auto_update_and_a_successful_update_unmarks_them(analysed):
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    browser, proxy = analysed
    names = _names(browser)
    mask = cartilage_mask(proxy)
    mask[int(np.flatnonzero(mask.any(axis=(1, 2)))[1])] = False
    set_cartilage(proxy, mask)
    assert _update(browser, auto_update=False)[1] is None
    assert all(text.endswith("(out of date)") for _, text in ModuleActions.projection_choices(browser))
    text, nodes = _update(browser)
    assert text == "Measurements updated to the edited segment." and sorted(nodes.projections) == sorted(MAPS)
    assert _names(browser) == names


def test_a_map_a_measurement_did_not_produce_is_marked_and_the_change_map_is_left_alone(analysed, phantom_analysis):
    """A map the analysis shown has, which a new measurement of the input does not produce (a map of another
    version, or one a measurement may leave out), keeps its old values: it is marked, the others not."""
    import dataclasses

    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.mrml_helpers import mark_result_node
    from KneeCartilageT2SlicerLib.results_nodes import present_analysis

    browser, proxy = analysed
    change = proxy.GetScene().AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Phantom T2 change map")
    mark_result_node(change, "Projection.t2_change", proxy)  # Compute change's map, beside the baseline
    _, _, _, result = phantom_analysis
    fewer = dict(result.regions.projections)
    del fewer["t2_deep"]
    present_analysis(dataclasses.replace(result, regions=dataclasses.replace(result.regions, projections=fewer)),
                     proxy, keep_display=True)
    choices = dict(ModuleActions.projection_choices(browser))
    assert choices == {name: ("t2_deep (out of date)" if name == "t2_deep" else name) for name in MAPS}
    assert change.GetName() == "Phantom T2 change map"


def test_the_chart_and_subregions_an_unmeasurable_edit_left_behind_are_marked_as_the_maps_are(analysed):
    """The T2 bar chart and the subregion segmentation kept the old segment's values after an edit that could not be
    measured (and after an edit not yet updated), with nothing on the nodes saying so: only the status line did."""
    from KneeCartilageT2SlicerLib.out_of_date_marks import OUT_OF_DATE_ATTRIBUTE
    from KneeCartilageT2SlicerLib.readback import result_nodes_of

    browser, proxy = analysed
    results = result_nodes_of(proxy)
    chart, subregions = results.chart, results.subregions
    names = (chart.GetName(), subregions.GetName())
    measured = cartilage_mask(proxy)
    few = np.zeros_like(measured)
    few[tuple(np.argwhere(measured)[:5].T)] = True
    set_cartilage(proxy, few)
    assert _update(browser)[1] is None
    assert (chart.GetName(), subregions.GetName()) == tuple("%s (out of date)" % name for name in names)
    assert chart.GetAttribute(OUT_OF_DATE_ATTRIBUTE) == subregions.GetAttribute(OUT_OF_DATE_ATTRIBUTE) == "1"
    table, table_name = results.region_table, results.region_table.GetName().replace(" (out of date)", "")
    assert table.GetName() == table_name + " (out of date)" and table.GetAttribute(OUT_OF_DATE_ATTRIBUTE) == "1"

    set_cartilage(proxy, measured)  # Undo: they describe the segment again
    assert _update(browser) == ("Measurements match the segment.", None)
    assert (chart.GetName(), subregions.GetName()) == names
    assert table.GetName() == table_name and table.GetAttribute(OUT_OF_DATE_ATTRIBUTE) is None
    assert chart.GetAttribute(OUT_OF_DATE_ATTRIBUTE) is None and subregions.GetAttribute(OUT_OF_DATE_ATTRIBUTE) is None

    mask = measured.copy()
    mask[int(np.flatnonzero(mask.any(axis=(1, 2)))[1])] = False
    set_cartilage(proxy, mask)
    assert _update(browser, auto_update=False)[1] is None  # not updated yet: marked too
    assert chart.GetName().endswith("(out of date)") and subregions.GetName().endswith("(out of date)")
    text, nodes = _update(browser)  # a measurable edit: the update makes them current again
    assert text == "Measurements updated to the edited segment."
    assert (nodes.chart, nodes.subregions) == (chart, subregions)
    assert (chart.GetName(), subregions.GetName()) == names
