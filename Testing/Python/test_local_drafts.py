"""Drafts of a DICOM series in the user cache: keyed by a hash of the series UID, whole or not at all."""

from __future__ import annotations

import numpy as np

from KneeCartilageT2Lib import local_drafts
from test_dataset_format import make_exam, make_label

SERIES_UID = "1.2.826.0.1.3680043.8.498.12345678901234567890"


def test_a_series_draft_round_trips_under_a_name_that_hides_the_uid(tmp_path):
    exam = make_exam()
    label = exam.volume_like(make_label(seed=4))
    assert local_drafts.read_local_draft(SERIES_UID, cache=tmp_path) is None
    info = local_drafts.save_local_draft(SERIES_UID, label, reader="CD", cache=tmp_path)
    path = local_drafts.local_draft_path(SERIES_UID, cache=tmp_path)
    assert path.parent == tmp_path / "drafts" and SERIES_UID not in path.name and len(path.stem) == 32
    assert SERIES_UID.encode() not in path.read_bytes()
    draft, read_info = local_drafts.read_local_draft(SERIES_UID, cache=tmp_path)
    assert np.array_equal(draft.array, label.array) and np.allclose(draft.ijk_to_ras, label.ijk_to_ras, atol=1e-5)
    assert read_info == info == local_drafts.local_draft_info(SERIES_UID, cache=tmp_path)
    assert local_drafts.read_local_draft(SERIES_UID + "9", cache=tmp_path) is None  # another series: no draft
    assert local_drafts.discard_local_draft(SERIES_UID, cache=tmp_path)
    assert not local_drafts.discard_local_draft(SERIES_UID, cache=tmp_path)


def test_the_cache_and_drafts_variables_choose_the_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("KNEE_T2_DRAFTS", raising=False)
    monkeypatch.setenv("KNEE_T2_CACHE", str(tmp_path / "cache"))
    assert local_drafts.local_draft_path(SERIES_UID).parent == tmp_path / "cache" / "drafts"
    monkeypatch.setenv("KNEE_T2_DRAFTS", str(tmp_path / "share" / "drafts"))  # a site's backed-up share
    assert local_drafts.local_draft_path(SERIES_UID).parent == tmp_path / "share" / "drafts"
    assert local_drafts.local_draft_path(SERIES_UID, cache=tmp_path).parent == tmp_path / "drafts"


def test_drafts_are_listed_newest_first_and_old_ones_cleared_on_request(tmp_path, monkeypatch, capsys):
    import datetime

    import pytest

    from KneeCartilageT2Lib.cli import main
    from KneeCartilageT2Lib.errors import InputError

    monkeypatch.setenv("KNEE_T2_DRAFTS", str(tmp_path / "drafts"))
    label = make_exam().volume_like(make_label(seed=4))
    stamps = iter(["2026-01-05T10:00:00Z", "2026-03-01T09:30:00Z"])
    monkeypatch.setattr("KneeCartilageT2Lib.draft_files.utc_now_iso", lambda: next(stamps))
    old = local_drafts.save_local_draft(SERIES_UID, label, reader="CD")
    new = local_drafts.save_local_draft("echo-images:abc", label, reader="EF")
    (tmp_path / "drafts" / "notes.nrrd").write_bytes(b"not a draft")  # ignored, never removed
    listed = local_drafts.list_local_drafts()
    assert [info for _, info in listed] == [new, old]
    assert main(["drafts"]) == 0
    out = capsys.readouterr().out
    assert "2 draft(s)" in out and out.index("2026-03-01 09:30:00") < out.index("2026-01-05 10:00:00")
    assert SERIES_UID not in out  # the listing names hashed files only

    now = datetime.datetime(2026, 3, 10, tzinfo=datetime.timezone.utc)
    removed = local_drafts.discard_local_drafts_older_than(30, now=now)
    assert removed == [local_drafts.local_draft_path(SERIES_UID)]
    assert [info for _, info in local_drafts.list_local_drafts()] == [new]
    assert (tmp_path / "drafts" / "notes.nrrd").is_file()
    assert main(["drafts", "--clear-older-than", "0"]) == 0
    assert "Removed 1 draft(s)" in capsys.readouterr().out and local_drafts.list_local_drafts() == []
    with pytest.raises(InputError, match="number of days >= 0"):
        local_drafts.discard_local_drafts_older_than(-1)


def test_a_series_keeps_its_draft_and_those_set_aside_listed_newest_first(tmp_path, monkeypatch):
    """What 'Restore draft' offers: only this series' files, by name and by header; no unreadable file."""
    import itertools

    from KneeCartilageT2Lib import draft_files

    seconds = itertools.count()
    monkeypatch.setattr(draft_files, "utc_now_iso", lambda: "2025-03-04T10:00:%02dZ" % next(seconds))
    exam = make_exam()
    assert local_drafts.kept_local_drafts(SERIES_UID, cache=tmp_path) == []
    for seed, reader in ((1, "AB"), (2, "CD")):
        local_drafts.save_local_draft(SERIES_UID, exam.volume_like(make_label(seed=seed)), reader, cache=tmp_path)
        local_drafts.set_aside_local_draft(SERIES_UID, cache=tmp_path)
    local_drafts.save_local_draft(SERIES_UID, exam.volume_like(make_label(seed=3)), "EF", cache=tmp_path)
    other = "1.2.826.0.1.3680043.8.498.999"
    local_drafts.save_local_draft(other, exam.volume_like(make_label(seed=4)), "GH", cache=tmp_path)
    folder = tmp_path / "drafts"
    mine = local_drafts.local_draft_path(SERIES_UID, cache=tmp_path)
    (folder / (mine.stem + ".superseded-20990101T000000Z.nrrd")).write_bytes(  # another series' draft, renamed
        local_drafts.local_draft_path(other, cache=tmp_path).read_bytes())
    (folder / (mine.stem + ".superseded-20990102T000000Z.nrrd")).write_text("not an image")
    kept = local_drafts.kept_local_drafts(SERIES_UID, cache=tmp_path)
    assert [info.reader for _, info in kept] == ["EF", "CD", "AB"]
    assert [path.name for path, _ in kept] == [mine.name, mine.stem + ".superseded-20250304T100001Z.nrrd",
                                               mine.stem + ".superseded-20250304T100000Z.nrrd"]
    assert [info.reader for _, info in local_drafts.kept_local_drafts(other, cache=tmp_path)] == ["GH"]


def test_a_partial_write_left_in_the_drafts_folder_is_no_draft_to_list_or_clear(tmp_path, monkeypatch):
    """A draft is written under a hidden temporary name ending in .nrrd (atomic_files.temporary_path); one left by
    a crash while saving has a whole draft header, yet it is no draft: not listed, not removed by the clearing."""
    import datetime
    import shutil

    from KneeCartilageT2Lib.atomic_files import temporary_path

    monkeypatch.setenv("KNEE_T2_DRAFTS", str(tmp_path / "drafts"))
    monkeypatch.setattr("KneeCartilageT2Lib.draft_files.utc_now_iso", lambda: "2026-01-05T10:00:00Z")
    info = local_drafts.save_local_draft(SERIES_UID, make_exam().volume_like(make_label(seed=4)), reader="CD")
    draft = local_drafts.local_draft_path(SERIES_UID)
    partial = temporary_path(draft, keep_suffix=True)
    shutil.copyfile(draft, partial)
    assert partial.name.startswith(".") and partial.name.endswith(".nrrd")
    assert local_drafts.list_local_drafts() == [(draft, info)]
    now = datetime.datetime(2026, 3, 10, tzinfo=datetime.timezone.utc)
    assert local_drafts.discard_local_drafts_older_than(30, now=now) == [draft]
    assert partial.is_file()


def test_a_draft_header_with_an_unreadable_time_or_count_is_no_draft_and_breaks_no_listing(tmp_path):
    import datetime

    import SimpleITK as sitk

    from KneeCartilageT2Lib.draft_files import draft_file_info

    exam = make_exam()
    local_drafts.save_local_draft(SERIES_UID, exam.volume_like(make_label(seed=4)), cache=tmp_path)
    good = local_drafts.local_draft_path(SERIES_UID, cache=tmp_path)
    for name, field, text in (("badtime.nrrd", "saved", "yesterday"), ("badcount.nrrd", "voxels", "many")):
        image = sitk.ReadImage(str(good))
        image.SetMetaData("knee_t2_draft_" + field, text)
        sitk.WriteImage(image, str(good.with_name(name)), True)
        assert draft_file_info(good.with_name(name)) is None
    assert [path for path, _ in local_drafts.list_local_drafts(cache=tmp_path)] == [good]
    in_a_year = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=365)
    assert local_drafts.discard_local_drafts_older_than(0, cache=tmp_path, now=in_a_year) == [good]
    assert good.with_name("badtime.nrrd").is_file() and good.with_name("badcount.nrrd").is_file()  # never touched
