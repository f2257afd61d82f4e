"""Saving the scene's analysis (the reader's edits included) as the result folder the commands write."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")


def test_the_saved_folder_says_whether_the_segment_is_the_models_or_a_readers(slicer_scene, phantom_analysis,
                                                                                 tmp_path):
    from segment_edits import cartilage_mask, finish_model_run, set_cartilage

    from KneeCartilageT2Lib.csv_tables import read_csv
    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2Lib.volume_io import read_volume
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput, default_options

    exam, mask, _, result = phantom_analysis
    _, _, proxy = exam_to_sequence(exam, slicer_scene, "Phantom")
    logic, options = ModuleActions(), default_options(t2_method="loglinear")
    with pytest.raises(InputError, match="Nothing to save yet"):
        logic.save_results_folder(ExamInput(proxy), tmp_path / "too_early", options)
    assert not (tmp_path / "too_early").exists()

    model = {"model_name": "knee-t2-bootstrap", "model_version": "3", "device": "cpu (2 threads)"}
    finish_model_run(proxy, dataclasses.replace(result, provenance=dict(result.provenance, segmentation=model)))
    unedited = logic.save_results_folder(ExamInput(proxy), tmp_path / "unedited", options)
    provenance = json.loads((unedited / "provenance.json").read_text())
    assert provenance["label_source"] == "model" and provenance["segmentation"] == model
    np.testing.assert_array_equal(read_volume(unedited / "label.nrrd").array > 0, np.asarray(mask.array) > 0)
    page = (unedited / "report.html").read_text()
    assert "model knee-t2-bootstrap v3 on cpu (2 threads)</dd>" in page and "loglinear" in page

    edited = cartilage_mask(proxy)
    edited[: edited.shape[0] // 2] = False  # the reader erases half of the plate
    set_cartilage(proxy, edited)
    corrected = logic.save_results_folder(ExamInput(proxy), tmp_path / "corrected", options)
    provenance = json.loads((corrected / "provenance.json").read_text())
    assert provenance["label_source"] == "corrected" and provenance["segmentation"]["model_name"] == "knee-t2-bootstrap"
    np.testing.assert_array_equal(read_volume(corrected / "label.nrrd").array > 0, edited)
    whole = {row["region"]: row for row in read_csv(corrected / "regions" / "regions.csv")}["all"]
    assert int(whole["n_voxels"]) == int(edited.sum()) < int(np.asarray(mask.array).sum())
    assert "then corrected by a reader" in (corrected / "report.html").read_text()
    assert (corrected / "DONE.json").is_file() and (corrected / "t2.nrrd").is_file()

    # a folder of the reader's own files (picked in the folder dialog) is refused before anything is written
    own = tmp_path / "Desktop"
    (own / "regions").mkdir(parents=True)
    (own / "regions" / "my_measurements.csv").write_text("mine")
    with pytest.raises(InputError, match=r"regions/ and is no knee-t2 result folder"):
        logic.save_results_folder(ExamInput(proxy), own, options)
    assert [path.name for path in own.rglob("*")] == ["regions", "my_measurements.csv"]
    again = logic.save_results_folder(ExamInput(proxy), corrected, options)  # its own earlier result: replaced
    assert again == corrected and (corrected / "DONE.json").is_file()


def test_the_saved_folder_tells_a_slice_the_models_slice_rule_emptied(slicer_scene, phantom_analysis, tmp_path):
    from segment_edits import cartilage_mask, finish_model_run, set_cartilage

    from KneeCartilageT2Lib.slice_rule import SliceRule
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput, default_options

    exam, _, _, result = phantom_analysis
    _, _, proxy = exam_to_sequence(exam, slicer_scene, "Phantom")
    model = {"model_name": "knee-t2-bootstrap", "model_version": "3",
             "parameters": SliceRule(60.0, {9: 50}).as_parameters()}
    finish_model_run(proxy, dataclasses.replace(result, provenance=dict(result.provenance, segmentation=model)))
    edited = cartilage_mask(proxy)
    edited[9:] = False  # the plate now ends at slice 8, as full as its fullest slice
    set_cartilage(proxy, edited)
    options = default_options(t2_method="loglinear")
    saved = ModuleActions().save_results_folder(ExamInput(proxy), tmp_path / "saved", options)
    provenance = json.loads((saved / "provenance.json").read_text())
    assert (provenance["quality"]["abrupt_ends"], provenance["quality"]["rule_emptied_ends"]) == (0, 1)
    assert any("Slice 9's cartilage, 50 voxels, was removed by the minimum-area rule of 60 voxels" in message
               for message in provenance["messages"])
