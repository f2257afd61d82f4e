"""Drafts of a dataset case in Slicer: kept after edits, restored over the next model run, gone once approved."""

from __future__ import annotations

import numpy as np
import pytest
from segment_edits import cartilage_mask, finish_model_run, forget_saved_draft, set_cartilage

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")


@pytest.fixture
def dataset_case(tmp_path, slicer_scene, phantom_analysis):
    """(dataset folder, case id, proxy volume) of the phantom loaded as the dataset's next case."""
    from KneeCartilageT2Lib.dataset_format import write_case
    from KneeCartilageT2SlicerLib.workflow import KneeT2Workflow

    exam = phantom_analysis[0]
    dataset = tmp_path / "dataset"
    write_case(dataset, exam, None, source="phantom")
    case_id, proxy = KneeT2Workflow().next_case(dataset, "first")
    return dataset, case_id, proxy


def test_next_case_marks_the_input_as_a_dataset_case(dataset_case):
    from KneeCartilageT2SlicerLib.case_drafts import dataset_case_of
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    dataset, case_id, proxy = dataset_case
    assert dataset_case_of(proxy) == (str(dataset), case_id)
    assert ModuleActions.draft_note(proxy) == ""  # no draft yet
    assert ModuleActions.keep_draft(proxy) == ""  # no segment yet


def test_edits_are_kept_as_a_draft_and_the_model_output_is_not(dataset_case, phantom_analysis):
    from KneeCartilageT2Lib.dataset_drafts import read_draft
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    dataset, case_id, proxy = dataset_case
    finish_model_run(proxy, phantom_analysis[3])
    model_output = cartilage_mask(proxy)
    assert ModuleActions.keep_draft(proxy, "AB") == "" and read_draft(dataset, case_id) is None
    edited = model_output.copy()
    edited[5] = False
    set_cartilage(proxy, edited)
    note = ModuleActions.keep_draft(proxy, "AB")
    assert note.startswith("Draft of case %s saved (" % case_id)
    draft, info = read_draft(dataset, case_id)
    assert np.array_equal(draft.array > 0, edited) and info.reader == "AB"
    assert ModuleActions.keep_draft(proxy, "AB") == ""  # unchanged since the last save: nothing written
    assert "will replace the model's output" in ModuleActions.draft_note(proxy)
    set_cartilage(proxy, model_output)  # every edit undone
    assert ModuleActions.keep_draft(proxy, "AB") == "Draft discarded: the segment is the model's output again."
    assert read_draft(dataset, case_id) is None


def test_an_erased_segment_keeps_the_last_draft_and_is_not_exported(dataset_case, phantom_analysis):
    from KneeCartilageT2Lib.dataset_drafts import read_draft
    from KneeCartilageT2Lib.dataset_format import read_case
    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput, KneeT2Workflow

    dataset, case_id, proxy = dataset_case
    finish_model_run(proxy, phantom_analysis[3])
    edited = cartilage_mask(proxy)
    edited[5] = False
    set_cartilage(proxy, edited)
    ModuleActions.keep_draft(proxy, "AB")
    set_cartilage(proxy, np.zeros_like(edited))  # erase-all by mistake
    assert ModuleActions.keep_draft(proxy, "AB").startswith("The segment is empty: not saved as a draft")
    assert np.array_equal(read_draft(dataset, case_id)[0].array > 0, edited)
    with pytest.raises(InputError, match="approved label is empty"):
        KneeT2Workflow().accept_and_export(ExamInput(proxy), dataset, reader="AB")
    assert not read_case(dataset, case_id)[2].is_labelled
    assert np.array_equal(read_draft(dataset, case_id)[0].array > 0, edited)  # the corrections are still there


def test_the_next_model_run_restores_the_draft_and_the_export_keeps_the_model_output_as_original(
        dataset_case, phantom_analysis):
    from KneeCartilageT2Lib.dataset_drafts import read_draft
    from KneeCartilageT2Lib.dataset_format import read_case, read_label_version
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.readback import model_label_of
    from KneeCartilageT2SlicerLib.table_nodes import rows_from_table
    from KneeCartilageT2SlicerLib.workflow import ExamInput, KneeT2Workflow

    dataset, case_id, proxy = dataset_case
    finish_model_run(proxy, phantom_analysis[3])
    model_output = cartilage_mask(proxy)
    edited = model_output.copy()
    edited[4:6] = False
    set_cartilage(proxy, edited)
    ModuleActions.keep_draft(proxy, "AB")
    set_cartilage(proxy, model_output)  # as if the scene were lost: the segment is the model's output again
    forget_saved_draft(proxy)

    nodes = finish_model_run(proxy, phantom_analysis[3])
    assert nodes.messages[0].startswith("Your draft of case %s (saved " % case_id)
    assert np.array_equal(cartilage_mask(proxy), edited)
    assert np.array_equal(np.asarray(model_label_of(proxy).array) > 0, model_output)
    rows = {row["region"]: row for row in rows_from_table(nodes.region_table)}
    assert rows["all"]["n_voxels"] == int(edited.sum())  # the draft is what was measured
    assert ModuleActions.keep_draft(proxy, "AB") == ""  # the restored draft needs no second save

    record = KneeT2Workflow().accept_and_export(ExamInput(proxy), dataset, "AB")
    assert record.case_id == case_id and read_draft(dataset, case_id) is None
    _, approved, stored = read_case(dataset, case_id)
    assert np.array_equal(approved.array > 0, edited)
    assert np.array_equal(read_label_version(dataset, stored.current_label, original=True).array > 0, model_output)


def test_a_draft_on_another_grid_is_reported_and_not_restored(dataset_case, phantom_analysis):
    from KneeCartilageT2Lib.dataset_drafts import draft_path, read_draft

    dataset, case_id, proxy = dataset_case
    finish_model_run(proxy, phantom_analysis[3])
    model_output = cartilage_mask(proxy)
    edited = model_output.copy()
    edited[5] = False
    set_cartilage(proxy, edited)
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    ModuleActions.keep_draft(proxy)
    draft, _ = read_draft(dataset, case_id)
    import SimpleITK as sitk

    image = sitk.ReadImage(str(draft_path(dataset, case_id)))
    image.SetOrigin(tuple(np.asarray(image.GetOrigin()) + 7.0))  # the same voxels, moved: another exam's grid
    sitk.WriteImage(image, str(draft_path(dataset, case_id)), True)
    set_cartilage(proxy, model_output)
    forget_saved_draft(proxy)
    nodes = finish_model_run(proxy, phantom_analysis[3])
    assert nodes.messages[0] == "The draft of case %s lies on another grid than this exam; it was not restored." % case_id
    assert np.array_equal(cartilage_mask(proxy), model_output)
    assert read_draft(dataset, case_id) is not None  # left on disk for the reader to decide


def test_a_run_that_replaces_the_edits_discards_their_draft(dataset_case, phantom_analysis, monkeypatch):
    from KneeCartilageT2Lib.dataset_drafts import read_draft
    from KneeCartilageT2SlicerLib import workflow as workflow_module
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput, KneeT2Workflow, default_options

    class UnstartedJob:  # the worker process itself is tested in test_slicer_processing
        def __init__(self, *args, **kwargs):
            pass

        def start(self):
            return self

    monkeypatch.setattr(workflow_module, "WorkerJob", UnstartedJob)
    dataset, case_id, proxy = dataset_case
    finish_model_run(proxy, phantom_analysis[3])
    assert not KneeT2Workflow().start_segment_and_measure(ExamInput(proxy), default_options()).replaces_edits
    model_output = cartilage_mask(proxy)
    edited = model_output.copy()
    edited[5] = False
    set_cartilage(proxy, edited)
    ModuleActions.keep_draft(proxy)
    run = KneeT2Workflow().start_segment_and_measure(ExamInput(proxy), default_options(), overwrite_edits=True)
    assert run.replaces_edits
    nodes = finish_model_run(proxy, phantom_analysis[3], replaces_edits=True)
    assert nodes.messages[0] == "The draft of case %s was discarded with the edits this run replaced." % case_id
    assert np.array_equal(cartilage_mask(proxy), model_output) and read_draft(dataset, case_id) is None


def test_next_case_resumes_the_case_with_a_draft_first(tmp_path, slicer_scene, phantom_analysis):
    from KneeCartilageT2Lib.dataset_drafts import save_draft
    from KneeCartilageT2Lib.dataset_format import write_case
    from KneeCartilageT2Lib.exam import MeseExam
    from KneeCartilageT2SlicerLib.workflow import KneeT2Workflow

    exam, mask, _, _ = phantom_analysis
    dataset = tmp_path / "dataset"
    first = write_case(dataset, exam, None, source="phantom").case_id
    other = MeseExam(exam.echoes * 1.01, exam.echo_times_ms, exam.ijk_to_ras, exam.laterality, {})  # another exam
    second = write_case(dataset, other, None, source="phantom").case_id
    workflow = KneeT2Workflow()
    assert workflow.next_case(dataset, "first")[0] == first
    save_draft(dataset, second, np.asarray(mask.array))
    assert workflow.next_case(dataset, "first")[0] == second  # unfinished work before new work


def test_the_case_and_analysis_marks_last_while_the_reader_pages_through_echoes(dataset_case, phantom_analysis):
    """The browser replaces a proxy's attributes with the shown echo's on every change: the marks must survive it."""
    from KneeCartilageT2SlicerLib.case_drafts import dataset_case_of
    from KneeCartilageT2SlicerLib.exam_from_nodes import echo_images_digest
    from KneeCartilageT2SlicerLib.mrml_helpers import sequence_behind
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    dataset, case_id, proxy = dataset_case
    finish_model_run(proxy, phantom_analysis[3])
    digest = echo_images_digest(proxy)
    browser = [node for node in slicer_nodes(proxy.GetScene(), "vtkMRMLSequenceBrowserNode")
               if node.IsProxyNode(proxy.GetID())][0]
    edited = cartilage_mask(proxy)
    edited[5] = False
    set_cartilage(proxy, edited)
    ModuleActions.keep_draft(proxy)
    from KneeCartilageT2SlicerLib.edit_tracking import STALE, SegmentEditWatcher, measurement_state
    from KneeCartilageT2SlicerLib.readback import result_nodes_of

    fired = []
    watcher = SegmentEditWatcher(lambda: fired.append(1))
    watcher.watch(result_nodes_of(proxy).segmentation)
    for item in range(sequence_behind(proxy).GetNumberOfDataNodes()):
        browser.SetSelectedItemNumber(item)
        assert not fired and measurement_state(proxy) == STALE  # paging is no edit, nor does it clear the state
        assert dataset_case_of(proxy) == (str(dataset), case_id), item
        assert proxy.GetAttribute("KneeT2.Analysed") == "1" and proxy.GetAttribute("KneeT2.Laterality")
        assert proxy.GetAttribute("KneeT2.EchoImagesDigest") == digest
        assert ModuleActions.keep_draft(proxy) == ""  # the last save is still known: nothing written again
    browser.SetAttribute("any", "change")  # a modified browser updates its proxies too
    assert dataset_case_of(proxy) == (str(dataset), case_id)


def slicer_nodes(scene, class_name):
    return [scene.GetNthNodeByClass(i, class_name) for i in range(scene.GetNumberOfNodesByClass(class_name))]


def test_a_left_handed_case_is_shown_right_handed_and_its_draft_and_export_keep_the_case_grid(
        tmp_path, slicer_scene, phantom_analysis):
    """A case stored left-handed is listed with its slices reversed in the scene, as Slicer lists it after
    a scene is reopened; its draft and approved label go back onto the case's own grid, voxel for voxel."""
    from test_dataset_format import _slices_reversed

    from KneeCartilageT2Lib.correction import label_on_exam_grid
    from KneeCartilageT2Lib.dataset_drafts import read_draft
    from KneeCartilageT2Lib.dataset_format import list_cases, read_case, write_case
    from KneeCartilageT2Lib.pipeline import AnalysisOptions, measure
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput, KneeT2Workflow

    exam, mask, _, _ = phantom_analysis
    left_exam, left_mask = _slices_reversed(exam, np.asarray(mask.array))
    assert np.linalg.det(left_exam.ijk_to_ras[:3, :3]) < 0
    dataset = tmp_path / "dataset"
    case_id = write_case(dataset, left_exam, None, source="phantom").case_id
    _, proxy = KneeT2Workflow().next_case(dataset, "first")
    shown = ExamInput(proxy).exam()
    assert np.linalg.det(shown.ijk_to_ras[:3, :3]) > 0 and np.array_equal(shown.echoes, exam.echoes)
    result = measure(shown, label_on_exam_grid(mask, shown), options=AnalysisOptions(t2_method="loglinear"),
                     label_source="model")
    finish_model_run(proxy, result)
    edited = cartilage_mask(proxy)
    edited[4] = False  # scene slice 4 is the case's slice n - 5
    set_cartilage(proxy, edited)
    assert ModuleActions.keep_draft(proxy).startswith("Draft of case %s saved" % case_id)
    draft, _ = read_draft(dataset, case_id)
    assert np.array_equal(draft.array > 0, edited[::-1]) and np.allclose(draft.ijk_to_ras, left_exam.ijk_to_ras)

    set_cartilage(proxy, np.asarray(mask.array))
    forget_saved_draft(proxy)
    nodes = finish_model_run(proxy, result)
    assert nodes.messages[0].startswith("Your draft of case %s" % case_id)
    assert np.array_equal(cartilage_mask(proxy), edited)

    record = KneeT2Workflow().accept_and_export(ExamInput(proxy), dataset, "AB")
    assert record.case_id == case_id and len(list_cases(dataset)) == 1
    case_exam, approved, _ = read_case(dataset, case_id)
    assert np.array_equal(case_exam.echoes, left_exam.echoes)
    assert np.array_equal(approved.array > 0, edited[::-1])
    assert not np.array_equal(left_mask, edited[::-1])  # the edit is there, in the case's slice order


def test_dataset_actions_refuse_a_folder_that_is_no_dataset(tmp_path, analysed):
    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput

    actions = ModuleActions()
    (tmp_path / "plain").mkdir()
    for folder in (tmp_path / "plain", tmp_path / "missing"):
        with pytest.raises(InputError, match="is not a training dataset"):
            actions.next_case(folder)  # used to read as "every case is labelled"
        with pytest.raises(InputError, match="is not a training dataset"):
            actions.fine_tune(folder)  # used to start a worker that failed later
    for unset in ("", None):
        with pytest.raises(InputError, match="No dataset folder is set"):
            actions.next_case(unset)
        with pytest.raises(InputError, match="No dataset folder is set"):
            actions.accept_and_export(ExamInput(analysed[1]), unset)
    assert not (tmp_path / "missing").exists()


def test_exporting_the_label_the_case_already_holds_says_unchanged_instead_of_saved(dataset_case, phantom_analysis):
    """The dataset writes no new version for the case's current label; the panel said 'Saved ... (label version N)'."""
    from KneeCartilageT2Lib.dataset_format import read_case
    from KneeCartilageT2SlicerLib.panel_state import export_status_text
    from KneeCartilageT2SlicerLib.workflow import ExamInput, KneeT2Workflow

    dataset, case_id, proxy = dataset_case
    finish_model_run(proxy, phantom_analysis[3])
    edited = cartilage_mask(proxy)
    edited[5] = False
    set_cartilage(proxy, edited)
    logic = KneeT2Workflow()
    first = logic.accept_and_export(ExamInput(proxy), dataset, "AB")
    assert first.new_version_written
    assert export_status_text(first) == "Saved as case %s (label version 1)." % case_id

    again = logic.accept_and_export(ExamInput(proxy), dataset, "AB")  # nothing edited since
    assert not again.new_version_written and len(read_case(dataset, case_id)[2].label_versions) == 1
    text = export_status_text(again)
    assert "unchanged" in text and "current version 1" in text and not text.startswith("Saved")

    edited[6] = False
    set_cartilage(proxy, edited)
    second = logic.accept_and_export(ExamInput(proxy), dataset, "AB")
    assert second.new_version_written
    assert export_status_text(second) == "Saved as case %s (label version 2)." % case_id
