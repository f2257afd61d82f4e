"""'Restore draft': the drafts kept for an input (its draft and those set aside) are listed, newest first, and the
chosen one goes back into the segment as an undoable step; the segment on screen is kept as a draft first, the
measurements follow as after an edit, and a file that cannot be used changes nothing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from segment_edits import cartilage_mask, forget_saved_draft, set_cartilage

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")

SERIES_UID = "1.2.826.0.1.3680043.8.498.4242.31"
OTHER_UID = "1.2.826.0.1.3680043.8.498.4242.32"


class RecordingUndo:
    """Stands in for the panel's Segment Editor (kept_drafts.UndoPoint): records the segment when its state is saved."""

    def __init__(self, proxy):
        self.proxy, self.saved = proxy, []

    def saveStateForUndo(self):
        self.saved.append(cartilage_mask(self.proxy))


@pytest.fixture(autouse=True)
def ticking_clock(monkeypatch):
    """Each draft written is saved one second after the last, so "newest first" is decided, not a tie."""
    from KneeCartilageT2Lib import draft_files

    seconds = itertools.count()
    monkeypatch.setattr(draft_files, "utc_now_iso", lambda: "2025-03-04T10:%02d:%02dZ" % divmod(next(seconds), 60))


def _series(scene, result, exam, uid, name):
    from KneeCartilageT2Lib.exam import MeseExam
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.results_nodes import present_analysis

    from_dicom = MeseExam(exam.echoes, exam.echo_times_ms, exam.ijk_to_ras, exam.laterality,
                          dict(exam.metadata, SeriesInstanceUID=uid, source_format="dicom"))
    _, browser, proxy = exam_to_sequence(from_dicom, scene, name)
    present_analysis(result, proxy)
    return browser, proxy


@pytest.fixture
def series_with_a_draft_set_aside(slicer_scene, phantom_analysis):
    """(browser, proxy, older draft's voxels, segment on screen) of a series whose draft from another scene was set
    aside when the reader edited the reopened scene: the set-aside draft is the one the panel used to only name."""
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    browser, proxy, model_output, older = _draft_of_another_scene(slicer_scene, phantom_analysis, slice(3, 6))
    on_screen = model_output.copy()
    on_screen[8] = False
    set_cartilage(proxy, on_screen)
    assert "was kept as" in ModuleActions.keep_draft(browser, "CD")
    return browser, proxy, older, on_screen


def _draft_files(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def test_the_drafts_of_the_input_are_listed_newest_first_with_their_time(series_with_a_draft_set_aside):
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    browser, _, older, on_screen = series_with_a_draft_set_aside
    drafts = ModuleActions.kept_drafts(browser)
    assert [draft.current for draft in drafts] == [True, False]
    assert [draft.info.n_voxels for draft in drafts] == [int(on_screen.sum()), int(older.sum())]
    assert drafts[0].label() == "2025-03-04 10:00:01 UTC by CD, %d voxels (the current draft)" % on_screen.sum()
    assert drafts[1].label() == "2025-03-04 10:00:00 UTC by AB, %d voxels (set aside)" % older.sum()
    assert ".superseded-20250304T100000Z" in drafts[1].path.name
    assert ModuleActions.kept_drafts(None) == []


def test_restoring_a_set_aside_draft_brings_its_labels_back_and_keeps_the_segment_it_replaced(
        series_with_a_draft_set_aside, own_drafts_folder):
    from KneeCartilageT2Lib.draft_files import read_draft_file
    from KneeCartilageT2Lib.local_drafts import read_local_draft
    from KneeCartilageT2SlicerLib.edit_tracking import CURRENT, measurement_state
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.readback import result_nodes_of
    from KneeCartilageT2SlicerLib.table_nodes import rows_from_table
    from KneeCartilageT2SlicerLib.workflow import ExamInput, default_options

    browser, proxy, older, on_screen = series_with_a_draft_set_aside
    set_aside = ModuleActions.kept_drafts(browser)[1].path
    undo = RecordingUndo(proxy)
    text, nodes = ModuleActions().restore_kept_draft(ExamInput(browser), set_aside, "CD", True,
                                                     default_options(t2_method="loglinear"), undo)
    assert np.array_equal(cartilage_mask(proxy), older)
    assert len(undo.saved) == 1 and np.array_equal(undo.saved[0], on_screen)  # Undo returns to the segment it replaced
    assert text.startswith("Draft of this series saved 2025-03-04 10:00:00 UTC by AB (%d voxels) restored into the "
                           "segment. The segment it replaced is kept as the draft " % older.sum())
    assert text.endswith("Measurements updated to the edited segment.")
    rows = {row["region"]: row for row in rows_from_table(nodes.region_table)}
    assert rows["all"]["n_voxels"] == int(older.sum()) and measurement_state(proxy) == CURRENT
    assert nodes.segmentation is result_nodes_of(proxy).segmentation

    kept = {path.name: read_draft_file(path)[0].array > 0 for path in own_drafts_folder.iterdir()}
    assert len(kept) == 2  # the restored draft and the segment it replaced: the chosen copy went into the draft
    assert sum(np.array_equal(mask, on_screen) for mask in kept.values()) == 1
    assert sum(np.array_equal(mask, older) for mask in kept.values()) == 1
    assert np.array_equal(read_local_draft(SERIES_UID)[0].array > 0, older)  # now the series' draft
    assert not set_aside.exists() and "its set-aside copy was removed" in text
    assert ModuleActions.keep_draft(browser, "CD") == ""  # the restored draft needs no second save

    replaced = next(draft.path for draft in ModuleActions.kept_drafts(browser)
                    if np.array_equal(kept[draft.path.name], on_screen))
    assert str(replaced) in text
    ModuleActions().restore_kept_draft(ExamInput(browser), replaced, "CD")  # and back again
    assert np.array_equal(cartilage_mask(proxy), on_screen)


def test_a_reopened_scene_is_offered_the_newer_draft_it_did_not_write(slicer_scene, phantom_analysis):
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput

    browser, proxy, model_output, newer = _draft_of_another_scene(slicer_scene, phantom_analysis, slice(2, 4))
    assert "'Restore draft...' puts it into the segment" in ModuleActions.draft_note(browser)
    (draft,) = ModuleActions.kept_drafts(browser)
    assert draft.current
    text, _ = ModuleActions().restore_kept_draft(ExamInput(browser), draft.path)
    assert np.array_equal(cartilage_mask(proxy), newer)
    assert "The segment it replaced was the model's output, kept in the scene as the original." in text
    assert "will replace the model's output" in ModuleActions.draft_note(browser)  # this scene's own draft now


def test_a_draft_of_another_input_is_not_offered(series_with_a_draft_set_aside, slicer_scene, phantom_analysis,
                                                 own_drafts_folder):
    import shutil

    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2Lib.local_drafts import draft_key
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput

    browser, proxy, _, on_screen = series_with_a_draft_set_aside
    exam, _, _, result = phantom_analysis
    other_browser, other_proxy = _series(slicer_scene, result, exam, OTHER_UID, "Other MESE")
    edited = cartilage_mask(other_proxy)
    edited[1] = False
    set_cartilage(other_proxy, edited)
    ModuleActions.keep_draft(other_browser, "EF")
    others = ModuleActions.kept_drafts(other_browser)
    assert len(others) == 1 and others[0].info.reader == "EF"
    assert all(draft.info.reader != "EF" for draft in ModuleActions.kept_drafts(browser))

    disguised = own_drafts_folder / ("%s.superseded-20990101T000000Z.nrrd" % draft_key(SERIES_UID))
    shutil.copy(str(others[0].path), str(disguised))  # named as this series' draft, its header says otherwise
    assert disguised not in [draft.path for draft in ModuleActions.kept_drafts(browser)]
    for foreign in (others[0].path, disguised):
        with pytest.raises(InputError, match="is no draft kept for this series"):
            ModuleActions().restore_kept_draft(ExamInput(browser), foreign)
    assert np.array_equal(cartilage_mask(proxy), on_screen)


@pytest.mark.parametrize("damage", ["truncated", "voxels changed"])
def test_an_unreadable_or_damaged_draft_is_refused_and_changes_nothing(series_with_a_draft_set_aside, own_drafts_folder,
                                                                       damage):
    import SimpleITK as sitk

    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.readback import result_nodes_of
    from KneeCartilageT2SlicerLib.workflow import ExamInput

    browser, proxy, _, on_screen = series_with_a_draft_set_aside
    set_aside = ModuleActions.kept_drafts(browser)[1].path
    if damage == "truncated":  # the header is whole, the compressed voxels are cut short
        data = set_aside.read_bytes()
        set_aside.write_bytes(data[: len(data) - 200])
        expected = "could not be read"
    else:  # the voxels no longer match the digest in the header
        image = sitk.ReadImage(str(set_aside))
        array = sitk.GetArrayFromImage(image)
        array[0, 0, 0] = 1 - array[0, 0, 0]
        changed = sitk.GetImageFromArray(array)
        changed.CopyInformation(image)
        for key in image.GetMetaDataKeys():
            changed.SetMetaData(key, image.GetMetaData(key))
        sitk.WriteImage(changed, str(set_aside), True)
        expected = "is damaged .its voxels do not match its header."
    assert set_aside in [draft.path for draft in ModuleActions.kept_drafts(browser)]  # listed by its header
    files = _draft_files(own_drafts_folder)
    table = result_nodes_of(proxy).region_table
    undo = RecordingUndo(proxy)
    with pytest.raises(InputError, match="The draft .*%s.*; nothing was changed" % expected) as refused:
        ModuleActions().restore_kept_draft(ExamInput(browser), set_aside, "CD", undo=undo)
    assert "\n" not in str(refused.value)  # one line for the dialog, not the reader library's call stack
    assert np.array_equal(cartilage_mask(proxy), on_screen) and undo.saved == []
    assert _draft_files(own_drafts_folder) == files and result_nodes_of(proxy).region_table is table


def test_a_dataset_case_restores_its_set_aside_draft_onto_the_case_grid(tmp_path, slicer_scene, phantom_analysis):
    from test_dataset_format import _slices_reversed

    from KneeCartilageT2Lib.correction import label_on_exam_grid
    from KneeCartilageT2Lib.dataset_drafts import kept_drafts, read_draft
    from KneeCartilageT2Lib.dataset_format import write_case
    from KneeCartilageT2Lib.pipeline import AnalysisOptions, measure
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.results_nodes import present_analysis
    from KneeCartilageT2SlicerLib.workflow import ExamInput, KneeT2Workflow

    exam, mask, _, _ = phantom_analysis
    left_exam, _ = _slices_reversed(exam, np.asarray(mask.array))  # stored left-handed, shown right-handed
    dataset = tmp_path / "dataset"
    case_id = write_case(dataset, left_exam, None, source="phantom").case_id
    _, proxy = KneeT2Workflow().next_case(dataset, "first")
    shown = ExamInput(proxy).exam()
    present_analysis(measure(shown, label_on_exam_grid(mask, shown), options=AnalysisOptions(t2_method="loglinear"),
                             label_source="model"), proxy)
    first = cartilage_mask(proxy)
    first[4] = False
    set_cartilage(proxy, first)
    ModuleActions.keep_draft(proxy, "AB")
    forget_saved_draft(proxy)  # another scene's draft: the next edits set it aside
    second = first.copy()
    second[6] = False
    set_cartilage(proxy, second)
    ModuleActions.keep_draft(proxy, "AB")
    set_aside = ModuleActions.kept_drafts(proxy)[1]
    assert not set_aside.current and set_aside.path.parent == dataset / "drafts"
    ModuleActions().restore_kept_draft(ExamInput(proxy), set_aside.path, "AB")
    assert np.array_equal(cartilage_mask(proxy), first)
    assert np.array_equal(read_draft(dataset, case_id)[0].array > 0, first[::-1])  # on the case's own slice order
    assert len(kept_drafts(dataset, case_id)) == 2  # the restored draft and the segment it replaced
    assert not set_aside.path.exists()


def test_a_set_aside_copy_stays_when_the_draft_cannot_be_read_back(series_with_a_draft_set_aside, own_drafts_folder,
                                                                     monkeypatch):
    """The copy restored is removed only once the input's draft holds the same voxels: a draft that does not read
    back (a full disk, a file another program replaced) leaves the copy where it was."""
    from KneeCartilageT2Lib import local_drafts
    from KneeCartilageT2Lib.draft_files import read_draft_file
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput

    browser, proxy, older, _ = series_with_a_draft_set_aside
    set_aside = ModuleActions.kept_drafts(browser)[1].path
    monkeypatch.setattr(local_drafts, "read_local_draft", lambda identity, cache=None: None)
    text, _ = ModuleActions().restore_kept_draft(ExamInput(browser), set_aside, "CD", auto_update=False)
    assert np.array_equal(cartilage_mask(proxy), older)
    assert np.array_equal(read_draft_file(set_aside)[0].array > 0, older) and "set-aside copy" not in text


def test_restoring_the_current_draft_leaves_one_file_of_it(series_with_a_draft_set_aside, own_drafts_folder):
    """The current draft, chosen while the segment holds something else, stays the current draft; it is not also
    kept as a set-aside copy, and the segment it replaced is kept."""
    from KneeCartilageT2Lib.draft_files import read_draft_file
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput

    browser, proxy, older, on_screen = series_with_a_draft_set_aside
    erased = on_screen.copy()
    erased[5] = False
    set_cartilage(proxy, erased)  # edits not yet kept as a draft
    current = ModuleActions.kept_drafts(browser)[0]
    assert current.current
    text, _ = ModuleActions().restore_kept_draft(ExamInput(browser), current.path, "CD", auto_update=False)
    assert np.array_equal(cartilage_mask(proxy), on_screen)
    masks = [read_draft_file(path)[0].array > 0 for path in own_drafts_folder.iterdir()]
    assert len(masks) == 3  # the older set-aside draft, the restored current one, the segment it replaced
    assert sum(np.array_equal(mask, on_screen) for mask in masks) == 1
    assert sum(np.array_equal(mask, erased) for mask in masks) == 1
    assert "The draft that was current is kept" not in text


def _draft_of_another_scene(slicer_scene, phantom_analysis, cleared):
    """(browser, proxy, model output, draft): a draft kept from edits (slices ``cleared`` emptied) that the
    scene on screen does not know, as after reopening a scene saved before those edits."""
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions

    exam, _, _, result = phantom_analysis
    browser, proxy = _series(slicer_scene, result, exam, SERIES_UID, "Knee MESE")
    model_output = cartilage_mask(proxy)
    draft = model_output.copy()
    draft[cleared] = False
    set_cartilage(proxy, draft)
    ModuleActions.keep_draft(browser, "AB")
    set_cartilage(proxy, model_output)
    forget_saved_draft(proxy)
    return browser, proxy, model_output, draft


def test_the_set_aside_copy_is_removed_only_when_it_holds_the_restored_voxels(series_with_a_draft_set_aside,
                                                                              own_drafts_folder, monkeypatch):
    """Restoring the current draft sets it aside, writes it back as the draft and removes the set-aside copy. The
    copy was removed after checking only the new draft: when another scene of the series had written the draft
    between the file being read and being set aside, the copy held that scene's corrections, and they were lost."""
    from KneeCartilageT2Lib import local_drafts
    from KneeCartilageT2Lib.draft_files import read_draft_file
    from KneeCartilageT2SlicerLib.case_drafts import draft_home_of
    from KneeCartilageT2SlicerLib.module_actions import ModuleActions
    from KneeCartilageT2SlicerLib.workflow import ExamInput

    browser, proxy, older, on_screen = series_with_a_draft_set_aside
    erased = on_screen.copy()
    erased[5] = False
    set_cartilage(proxy, erased)
    current = ModuleActions.kept_drafts(browser)[0]
    home = draft_home_of(proxy)
    grid = home.read()[0]
    theirs = on_screen.copy()
    theirs[10] = False  # another scene's corrections, written just before the set-aside
    set_aside, written = local_drafts.set_aside_local_draft, []

    def another_scene_writes_first(identity, cache=None):
        if not written:
            written.append(home.save(grid.with_array(theirs.astype(np.uint8)), "EF"))
        return set_aside(identity, cache) if cache is not None else set_aside(identity)

    monkeypatch.setattr(local_drafts, "set_aside_local_draft", another_scene_writes_first)
    ModuleActions().restore_kept_draft(ExamInput(browser), current.path, "CD", auto_update=False)
    masks = [read_draft_file(path)[0].array > 0 for path in own_drafts_folder.iterdir()]
    assert written and sum(np.array_equal(mask, theirs) for mask in masks) == 1
