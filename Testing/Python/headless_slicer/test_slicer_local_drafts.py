"""Drafts of inputs outside any dataset (a DICOM series, a NRRD): kept in the user cache, restored, discarded once
exported."""

from __future__ import annotations

import numpy as np
import pytest
from segment_edits import cartilage_mask, finish_model_run, forget_saved_draft, set_cartilage

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")

SERIES_UID = "1.2.826.0.1.3680043.8.498.4242.17"


def _draft_then_reopen(browser, proxy, erased_slices):
    """The reader erases ``erased_slices`` (kept as the series' draft), then the scene is as the model left it and
    knows nothing of that draft (Slicer crashed, or a scene saved before the edits was reopened);
    ``(model output, the draft's voxels)``."""
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    model_output = cartilage_mask(proxy)
    edited = model_output.copy()
    edited[erased_slices] = False
    set_cartilage(proxy, edited)
    ModuleActions.keep_draft(browser, "CD")
    set_cartilage(proxy, model_output)
    forget_saved_draft(proxy)
    return model_output, edited


@pytest.fixture
def dicom_series_input(slicer_scene, phantom_analysis):
    """(browser, proxy) of the phantom as a series loaded from DICOM (its series UID kept), analysed once."""
    from KneeCartilageT2Lib.exam import MeseExam
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.results_nodes import present_analysis

    exam, _, _, result = phantom_analysis
    from_dicom = MeseExam(exam.echoes, exam.echo_times_ms, exam.ijk_to_ras, exam.laterality,
                          dict(exam.metadata, SeriesInstanceUID=SERIES_UID, source_format="dicom"))
    _, browser, proxy = exam_to_sequence(from_dicom, slicer_scene, "Knee MESE")
    present_analysis(result, proxy)
    return browser, proxy


def test_the_series_uid_comes_from_the_hierarchy_the_loader_or_the_dicom_database(slicer_scene, phantom_analysis,
                                                                                  tmp_path, monkeypatch):
    import pydicom
    import slicer
    from slicer_harness import StandInDicomDatabase

    from KneeCartilageT2Lib.dicom_writer import write_dicom_series
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence, series_uid_of

    exam = phantom_analysis[0]
    sequence, browser, proxy = exam_to_sequence(exam, slicer_scene, "no DICOM")
    assert series_uid_of(proxy) == "" and series_uid_of(None) == ""

    # as Slicer's DICOM plugins leave it: instance UIDs on each echo, the files in the DICOM database
    paths = write_dicom_series(exam, tmp_path / "series")
    database = StandInDicomDatabase()
    monkeypatch.setattr(slicer, "dicomDatabase", database, raising=False)
    n_slices = exam.echoes.shape[1]
    headers = [pydicom.dcmread(str(path), stop_before_pixels=True) for path in paths]
    for header, path in zip(headers, paths):
        database.files[header.SOPInstanceUID] = str(path)
    for echo in range(exam.n_echoes):
        uids = [header.SOPInstanceUID for header in headers[echo * n_slices:(echo + 1) * n_slices]]
        sequence.GetNthDataNode(echo).SetAttribute("DICOM.instanceUIDs", " ".join(uids))
    assert all(series_uid_of(node) == headers[0].SeriesInstanceUID for node in (sequence, browser, proxy))

    # the DICOM module's subject-hierarchy item names the series first
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer_scene)
    hierarchy.SetItemUID(hierarchy.GetItemByDataNode(browser), "DICOM", SERIES_UID + ".1")
    assert series_uid_of(proxy) == SERIES_UID + ".1"  # the browser's item, when the sequence's says nothing
    hierarchy.SetItemUID(hierarchy.GetItemByDataNode(sequence), "DICOM", SERIES_UID)
    assert series_uid_of(proxy) == SERIES_UID


def test_edits_of_a_dicom_series_are_kept_in_the_user_cache_under_a_hashed_name(dicom_series_input, own_drafts_folder):
    from KneeCartilageT2Lib.local_drafts import read_local_draft, draft_key
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    browser, proxy = dicom_series_input
    model_output = cartilage_mask(proxy)
    assert ModuleActions.keep_draft(browser, "CD") == ""  # the model's output is no draft
    edited = model_output.copy()
    edited[5] = False
    set_cartilage(proxy, edited)
    assert ModuleActions.keep_draft(browser, "CD").startswith("Draft of this series saved (")
    files = list(own_drafts_folder.iterdir())
    assert [path.name for path in files] == ["%s.nrrd" % draft_key(SERIES_UID)]
    assert SERIES_UID.encode() not in files[0].read_bytes()  # neither name nor header carries the series UID
    draft, info = read_local_draft(SERIES_UID)
    assert np.array_equal(draft.array > 0, edited) and info.reader == "CD"
    assert "of this series" in ModuleActions.draft_note(browser)
    set_cartilage(proxy, model_output)
    assert ModuleActions.keep_draft(browser) == "Draft discarded: the segment is the model's output again."
    assert read_local_draft(SERIES_UID) is None and ModuleActions.draft_note(browser) == ""


def test_the_next_model_run_of_the_series_restores_its_draft(dicom_series_input, phantom_analysis, own_drafts_folder):
    from KneeCartilageT2SlicerLib.table_nodes import rows_from_table

    browser, proxy = dicom_series_input
    model_output, edited = _draft_then_reopen(browser, proxy, slice(4, 6))  # as if Slicer had crashed

    nodes = finish_model_run(proxy, phantom_analysis[3])
    assert nodes.messages[0].startswith("Your draft of this series (saved ")
    assert np.array_equal(cartilage_mask(proxy), edited)
    assert {row["region"]: row for row in rows_from_table(nodes.region_table)}["all"]["n_voxels"] == int(edited.sum())

    nodes = finish_model_run(proxy, phantom_analysis[3], replaces_edits=True)  # the reader chose to replace their edits
    assert nodes.messages[0] == "The draft of this series was discarded with the edits this run replaced."
    assert not list(own_drafts_folder.iterdir())


def test_exporting_the_series_moves_its_draft_home_to_the_dataset_case(dicom_series_input, own_drafts_folder, tmp_path):
    from KneeCartilageT2Lib.dataset_drafts import read_draft
    from KneeCartilageT2Lib.local_drafts import read_local_draft
    from KneeCartilageT2SlicerLib.case_drafts import dataset_case_of
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput, KneeT2Workflow

    browser, proxy = dicom_series_input
    edited = cartilage_mask(proxy)
    edited[5] = False
    set_cartilage(proxy, edited)
    ModuleActions.keep_draft(browser, "CD")
    dataset = tmp_path / "dataset"
    record = KneeT2Workflow().accept_and_export(ExamInput(browser), dataset, "CD")
    assert read_local_draft(SERIES_UID) is None  # the approved label is the newer work
    assert dataset_case_of(proxy) == (str(dataset), record.case_id)
    edited[6] = False  # further edits now belong to the case
    set_cartilage(proxy, edited)
    assert ModuleActions.keep_draft(browser, "CD").startswith("Draft of case %s saved (" % record.case_id)
    assert np.array_equal(read_draft(dataset, record.case_id)[0].array > 0, edited)
    assert read_local_draft(SERIES_UID) is None


def test_exporting_never_deletes_a_draft_another_scene_wrote(dicom_series_input, own_drafts_folder, tmp_path):
    from KneeCartilageT2Lib.local_drafts import read_local_draft
    from KneeCartilageT2SlicerLib.workflow import ExamInput, KneeT2Workflow

    browser, proxy = dicom_series_input
    model_output, _ = _draft_then_reopen(browser, proxy, slice(2, 5))  # this scene never saw that draft
    approved = model_output.copy()
    approved[9] = False
    set_cartilage(proxy, approved)
    KneeT2Workflow().accept_and_export(ExamInput(browser), tmp_path / "dataset", "CD")
    assert read_local_draft(SERIES_UID) is None  # no longer this series' pending draft...
    kept = [path for path in own_drafts_folder.iterdir() if ".superseded-" in path.name]
    assert len(kept) == 1  # ...but the other scene's corrections are still on disk


def test_an_input_without_series_uid_finds_its_draft_by_its_echo_images(slicer_scene, phantom_analysis,
                                                                        own_drafts_folder):
    from KneeCartilageT2Lib.exam import MeseExam
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.results_nodes import present_analysis

    exam, _, _, result = phantom_analysis  # as read from NRRD: no series UID
    _, browser, proxy = exam_to_sequence(exam, slicer_scene, "from NRRD")
    present_analysis(result, proxy)
    edited = cartilage_mask(proxy)
    edited[5] = False
    set_cartilage(proxy, edited)
    assert ModuleActions.keep_draft(browser, "EF").startswith("Draft of this series saved (")
    assert proxy.GetAttribute("KneeT2.EchoImagesDigest")  # computed once, kept for the next edits
    assert len(list(own_drafts_folder.iterdir())) == 1

    _, again_browser, again = exam_to_sequence(exam, slicer_scene, "the same file loaded again")
    assert "of this series" in ModuleActions.draft_note(again_browser)
    nodes = finish_model_run(again, result)
    assert nodes.messages[0].startswith("Your draft of this series (saved ")
    assert np.array_equal(cartilage_mask(again), edited)

    other = MeseExam(exam.echoes * 1.01, exam.echo_times_ms, exam.ijk_to_ras, exam.laterality, {})
    _, other_browser, _ = exam_to_sequence(other, slicer_scene, "another exam")
    assert ModuleActions.draft_note(other_browser) == ""
    assert ModuleActions.keep_draft(None) == "" and ModuleActions.draft_note(None) == ""


def test_a_removed_segment_keeps_the_last_draft(dicom_series_input):
    from KneeCartilageT2Lib.local_drafts import read_local_draft
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.readback import result_nodes_of

    browser, proxy = dicom_series_input
    edited = cartilage_mask(proxy)
    edited[5] = False
    set_cartilage(proxy, edited)
    ModuleActions.keep_draft(browser)
    segmentation = result_nodes_of(proxy).segmentation.GetSegmentation()
    segmentation.RemoveSegment(segmentation.GetSegmentIdBySegmentName("Femoral cartilage"))
    assert ModuleActions.keep_draft(browser) == ""
    assert np.array_equal(read_local_draft(SERIES_UID)[0].array > 0, edited)


def test_a_draft_this_scene_did_not_write_is_never_discarded_or_written_over(dicom_series_input, own_drafts_folder):
    """The scene was saved before the edits, the edits went to the draft, Slicer crashed, the saved scene is
    reopened: the model's output on screen (or older edits) must not cost the reader the newer draft."""
    from KneeCartilageT2Lib.local_drafts import draft_key, read_local_draft
    from KneeCartilageT2SlicerLib.case_drafts import discard_draft_of
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    browser, proxy = dicom_series_input
    model_output = cartilage_mask(proxy)
    newest = model_output.copy()
    newest[3:6] = False
    set_cartilage(proxy, newest)
    assert ModuleActions.keep_draft(browser, "CD").startswith("Draft of this series saved")

    set_cartilage(proxy, model_output)  # the reopened scene: the model's output, no record of the draft
    forget_saved_draft(proxy)
    assert ModuleActions.keep_draft(browser, "CD") == ""  # a no-change event does not discard it
    assert "was not made in this scene, so it was kept" in discard_draft_of(proxy)  # nor does a confirmed re-run
    assert np.array_equal(read_local_draft(SERIES_UID)[0].array > 0, newest)

    older = model_output.copy()
    older[3] = False  # the reader edits the reopened scene: their new draft takes the place, the old one is kept
    set_cartilage(proxy, older)
    note = ModuleActions.keep_draft(browser, "CD")
    assert note.startswith("Draft of this series saved") and "not made in this scene, was kept as" in note
    assert np.array_equal(read_local_draft(SERIES_UID)[0].array > 0, older)
    kept = [path for path in own_drafts_folder.iterdir() if ".superseded-" in path.name]
    assert len(kept) == 1 and kept[0].name.startswith(draft_key(SERIES_UID)) and str(kept[0]) in note
    from KneeCartilageT2Lib.draft_files import read_draft_file

    assert np.array_equal(read_draft_file(kept[0])[0].array > 0, newest)
    newer = older.copy()
    newer[4] = False  # the next edits of this scene replace its own draft, as before
    set_cartilage(proxy, newer)
    assert "was kept as" not in ModuleActions.keep_draft(browser, "CD")
    assert len(list(own_drafts_folder.iterdir())) == 2


def test_a_restored_draft_is_measured_with_the_side_the_reader_gave(dicom_series_input, phantom_analysis,
                                                                     own_drafts_folder):
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.results_nodes import ANALYSED_SIDE_ATTRIBUTE
    from KneeCartilageT2SlicerLib.workflow import ExamInput

    browser, proxy = dicom_series_input
    given = "left" if phantom_analysis[0].laterality == "right" else "right"  # the panel's side, not the data's
    edited = cartilage_mask(proxy)
    edited[4] = False
    set_cartilage(proxy, edited)
    ModuleActions.keep_draft(browser, "CD")
    nodes = finish_model_run(proxy, phantom_analysis[3], source=ExamInput(proxy, laterality=given))
    assert nodes.messages[0].startswith("Your draft of this series")
    assert nodes.reference_volume.GetAttribute(ANALYSED_SIDE_ATTRIBUTE) == given


def test_edits_made_with_the_panel_closed_are_kept_through_their_segmentation(dicom_series_input):
    from KneeCartilageT2Lib.local_drafts import read_local_draft
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.readback import result_nodes_of

    browser, proxy = dicom_series_input
    segmentation = result_nodes_of(proxy).segmentation
    edited = cartilage_mask(proxy)
    edited[2] = False  # made in Slicer's Segment Editor module: the panel knows only the watched segmentation
    set_cartilage(proxy, edited)
    assert ModuleActions.keep_draft_of_segmentation(segmentation, "CD").startswith("Draft of this series saved")
    assert np.array_equal(read_local_draft(SERIES_UID)[0].array > 0, edited)
    assert ModuleActions.keep_draft_of_segmentation(None) == ""
