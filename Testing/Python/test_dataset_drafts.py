"""Drafts of a reader's unfinished corrections: kept per case, read back whole or not at all, never trained on,
discarded when the label is approved."""

from __future__ import annotations

import numpy as np
import pytest

from KneeCartilageT2Lib import dataset_drafts as drafts
from KneeCartilageT2Lib import dataset_format as df
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.geometry import Volume
from test_dataset_format import make_exam, make_label


@pytest.fixture
def dataset_with_case(tmp_path):
    dataset = tmp_path / "dataset"
    exam = make_exam()
    record = df.write_case(dataset, exam, None, source="phantom")
    return dataset, exam, record.case_id


def test_a_draft_round_trips_on_the_case_grid_and_is_replaced_by_the_next(dataset_with_case):
    dataset, exam, case_id = dataset_with_case
    assert drafts.read_draft(dataset, case_id) is None and drafts.draft_info(dataset, case_id) is None
    first = make_label(seed=5)
    info = drafts.save_draft(dataset, case_id, exam.volume_like(first), reader="AB")
    assert (info.key, info.reader, info.n_voxels) == (case_id, "AB", int(first.sum()))
    label, read_info = drafts.read_draft(dataset, case_id)
    assert np.array_equal(label.array, first) and label.array.dtype == np.uint8
    assert np.allclose(label.ijk_to_ras, exam.ijk_to_ras, atol=1e-4)
    assert read_info == info == drafts.draft_info(dataset, case_id)
    second = make_label(seed=6)
    drafts.save_draft(dataset, case_id, second)  # a plain (slice, row, col) array is taken on the case's grid
    assert np.array_equal(drafts.read_draft(dataset, case_id)[0].array, second)


def test_a_draft_is_never_a_training_label_and_survives_repair(dataset_with_case):
    dataset, exam, case_id = dataset_with_case
    drafts.save_draft(dataset, case_id, make_label(seed=5))
    assert not df.list_cases(dataset)[0].is_labelled
    assert not list((dataset / df.LABELS_TR).glob("*"))
    df.repair_dataset(dataset)
    assert drafts.read_draft(dataset, case_id) is not None


def test_approving_the_label_discards_the_draft(dataset_with_case):
    from KneeCartilageT2Lib.correction import export_corrected_case

    dataset, exam, case_id = dataset_with_case
    drafts.save_draft(dataset, case_id, make_label(seed=5), reader="AB")
    record = export_corrected_case(dataset, exam, make_label(seed=5), make_label(seed=9), reader="AB")
    assert record.case_id == case_id and record.is_labelled
    assert drafts.read_draft(dataset, case_id) is None
    assert not drafts.discard_draft(dataset, case_id)  # nothing left to discard


def test_drafts_for_unknown_cases_or_other_grids_are_refused_without_writing(dataset_with_case):
    dataset, exam, case_id = dataset_with_case
    with pytest.raises(InputError, match="No case 'knee_999'"):
        drafts.save_draft(dataset, "knee_999", make_label())
    with pytest.raises(InputError, match="has shape"):
        drafts.save_draft(dataset, case_id, np.zeros((4, 12, 10), np.uint8))
    moved = exam.ijk_to_ras.copy()
    moved[0, 3] += 5.0
    with pytest.raises(InputError, match="another grid"):
        drafts.save_draft(dataset, case_id, Volume(make_label(), moved))
    assert not (dataset / drafts.DRAFTS).exists()


def test_a_crash_while_saving_keeps_the_previous_draft_whole(dataset_with_case, monkeypatch):
    import SimpleITK as sitk

    dataset, exam, case_id = dataset_with_case
    first = make_label(seed=5)
    drafts.save_draft(dataset, case_id, first)
    real_write = sitk.WriteImage

    def crash_after_half(image, path, *args):
        real_write(image, path, *args)
        with open(path, "r+b") as stream:  # the new file is cut short, as by a power cut mid-write
            stream.truncate(stream.seek(0, 2) // 2)
        raise OSError("power cut")

    monkeypatch.setattr(sitk, "WriteImage", crash_after_half)  # used by draft_files at call time
    with pytest.raises(OSError, match="power cut"):
        drafts.save_draft(dataset, case_id, make_label(seed=6))
    label, _ = drafts.read_draft(dataset, case_id)
    assert np.array_equal(label.array, first)
    assert [path.name for path in (dataset / drafts.DRAFTS).iterdir()] == ["%s.nrrd" % case_id]


def test_a_file_that_is_not_a_whole_draft_is_not_offered(dataset_with_case):
    import SimpleITK as sitk

    dataset, exam, case_id = dataset_with_case
    drafts.save_draft(dataset, case_id, make_label(seed=5))
    path = drafts.draft_path(dataset, case_id)
    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    array[0, 0, 0] = 1 - array[0, 0, 0]  # voxels changed behind the digest's back
    changed = sitk.GetImageFromArray(array)
    changed.CopyInformation(image)
    for key in image.GetMetaDataKeys():
        changed.SetMetaData(key, image.GetMetaData(key))
    sitk.WriteImage(changed, str(path), True)
    assert drafts.read_draft(dataset, case_id) is None
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))  # no draft header at all
    assert drafts.read_draft(dataset, case_id) is None and drafts.draft_info(dataset, case_id) is None


def test_voxel_digest_tells_labels_apart():
    label = make_label(seed=5)
    assert drafts.voxel_digest(label) == drafts.voxel_digest(label.astype(bool))
    changed = label.copy()
    changed[0, 0, 0] = 1 - changed[0, 0, 0]
    assert drafts.voxel_digest(changed) != drafts.voxel_digest(label)


def test_a_draft_on_the_case_voxels_listed_the_other_way_is_kept_on_the_case_grid(dataset_with_case):
    from test_dataset_format import _slices_reversed

    dataset, exam, case_id = dataset_with_case
    label = make_label(seed=7)
    reversed_exam, reversed_label = _slices_reversed(exam, label)
    drafts.save_draft(dataset, case_id, reversed_exam.volume_like(reversed_label))
    kept, _ = drafts.read_draft(dataset, case_id)
    assert np.array_equal(kept.array, label) and np.allclose(kept.ijk_to_ras, exam.ijk_to_ras, atol=1e-4)
