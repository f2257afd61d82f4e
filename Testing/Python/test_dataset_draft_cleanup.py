"""`knee-t2 drafts --dataset DIR`: a dataset's drafts listed, and old ones cleared without losing a reader's only
unfinished work (set-aside copies accumulated: nothing ever removed them)."""

from __future__ import annotations

import datetime
import functools
import itertools

import pytest

from KneeCartilageT2Lib import dataset_drafts as drafts
from KneeCartilageT2Lib import dataset_format as df
from KneeCartilageT2Lib import draft_files
from KneeCartilageT2Lib.cli import main
from KneeCartilageT2Lib.dataset_draft_cleanup import clear_dataset_drafts, list_dataset_drafts
from KneeCartilageT2Lib.errors import InputError
from test_dataset_format import make_exam, make_label

NOW = datetime.datetime(2026, 3, 10, tzinfo=datetime.timezone.utc)


def save_at(monkeypatch, dataset, case_id, stamp, set_aside=False, seed=3):
    """Save a draft of ``case_id`` as if at ``stamp`` (UTC); set it aside at once when asked; its path."""
    monkeypatch.setattr(draft_files, "utc_now_iso", lambda: stamp)
    drafts.save_draft(dataset, case_id, make_label(seed=seed), reader="AB")
    return drafts.set_aside_draft(dataset, case_id) if set_aside else drafts.draft_path(dataset, case_id)


def approve_at(monkeypatch, dataset, exam, stamp):
    monkeypatch.setattr("KneeCartilageT2Lib.dataset_format.utc_now_iso", lambda: stamp)
    return df.write_case(dataset, exam, make_label(seed=8), reader="CD").case_id


@pytest.fixture
def dataset_of_drafts(tmp_path, monkeypatch):
    """Four cases, every draft saved long ago (before 2026-02-08) but one, as a dataset accumulates them."""
    dataset = tmp_path / "dataset"
    exams = [make_exam(seed=seed) for seed in range(4)]
    unlabelled, aside_only = (df.write_case(dataset, exam, None).case_id for exam in exams[:2])
    approved_later, approved_earlier = (df.write_case(dataset, exam, None).case_id for exam in exams[2:])
    paths = {
        "aside_1": save_at(monkeypatch, dataset, unlabelled, "2026-01-01T10:00:00Z", set_aside=True),
        "aside_2": save_at(monkeypatch, dataset, unlabelled, "2026-01-02T10:00:00Z", set_aside=True),
        "aside_recent": save_at(monkeypatch, dataset, unlabelled, "2026-03-05T10:00:00Z", set_aside=True),
        "current": save_at(monkeypatch, dataset, unlabelled, "2026-01-05T10:00:00Z"),
        "only_aside_old": save_at(monkeypatch, dataset, aside_only, "2026-01-03T10:00:00Z", set_aside=True),
        "only_aside_newest": save_at(monkeypatch, dataset, aside_only, "2026-01-04T10:00:00Z", set_aside=True),
        "before_approval": save_at(monkeypatch, dataset, approved_later, "2026-01-06T10:00:00Z"),
        "after_approval": save_at(monkeypatch, dataset, approved_earlier, "2026-01-10T10:00:00Z"),
    }
    approve_at(monkeypatch, dataset, exams[2], "2026-02-01T09:00:00Z")  # knee-t2 export: the draft stays
    approve_at(monkeypatch, dataset, exams[3], "2026-01-08T09:00:00Z")
    (dataset / "drafts" / "notes.nrrd").write_bytes(b"not a draft")
    return dataset, paths


def test_old_drafts_go_unless_they_may_be_a_readers_only_unfinished_work(dataset_of_drafts):
    dataset, paths = dataset_of_drafts
    assert len(list_dataset_drafts(dataset)) == 8
    removed, kept = clear_dataset_drafts(dataset, 30, now=NOW)
    assert sorted(draft.path for draft in removed) == sorted(
        paths[name] for name in ("aside_1", "aside_2", "only_aside_old", "before_approval"))
    reasons = {draft.path: reason for draft, reason in kept}
    assert sorted(reasons) == sorted(paths[name] for name in ("current", "only_aside_newest", "after_approval"))
    assert "the current draft of case knee_001, which has no approved label yet" in reasons[paths["current"]]
    assert "set aside, it is now the only draft of case knee_002" in reasons[paths["only_aside_newest"]]
    assert "saved after its approved label v1 (2026-01-08 09:00:00 UTC)" in reasons[paths["after_approval"]]
    left = {draft.path for draft in list_dataset_drafts(dataset)}
    assert left == set(reasons) | {paths["aside_recent"]}  # saved within the 30 days: untouched
    assert (dataset / "drafts" / "notes.nrrd").is_file()
    assert clear_dataset_drafts(dataset, 30, now=NOW)[0] == []  # nothing more to remove
    with pytest.raises(InputError, match="number of days >= 0"):
        clear_dataset_drafts(dataset, -1)


def test_a_case_draft_is_never_removed_by_age_alone_even_at_zero_days(dataset_of_drafts):
    dataset, paths = dataset_of_drafts
    clear_dataset_drafts(dataset, 0, now=NOW + datetime.timedelta(days=365))
    assert paths["current"].is_file() and paths["only_aside_newest"].is_file() and paths["after_approval"].is_file()
    assert not paths["aside_recent"].exists()  # a set-aside copy beside a current draft goes at any age


def test_the_command_lists_and_clears_a_datasets_drafts_and_says_what_it_kept(dataset_of_drafts, tmp_path,
                                                                              monkeypatch, capsys):
    dataset, paths = dataset_of_drafts
    monkeypatch.setenv("KNEE_T2_DRAFTS", str(tmp_path / "cache_drafts"))
    cached = tmp_path / "cache_drafts" / "0123.nrrd"
    cached.parent.mkdir()
    cached.write_bytes(paths["aside_1"].read_bytes())  # a user-cache draft: --dataset never touches it
    assert main(["drafts", "--dataset", str(dataset)]) == 0
    out = capsys.readouterr().out
    assert "8 draft(s) in %s/drafts (5 set aside)" % dataset in out
    line = next(row for row in out.splitlines() if row.strip().startswith(paths["after_approval"].name))
    assert "case knee_004" in line and "current" in line and "approved label v1, draft saved since" in line
    assert "no approved label" in next(row for row in out.splitlines() if row.strip().startswith("knee_001.nrrd"))

    monkeypatch.setattr("KneeCartilageT2Lib.dataset_draft_cleanup.clear_dataset_drafts",
                        functools.partial(clear_dataset_drafts, now=NOW))
    assert main(["drafts", "--dataset", str(dataset), "--clear-older-than", "30"]) == 0
    out = capsys.readouterr().out
    assert "Removed 4 draft(s) saved more than 30 days ago" in out
    assert "  removed %s  (case knee_003, saved 2026-01-06 10:00:00 UTC, label v1 approved since)" % (
        paths["before_approval"].name) in out
    assert "Kept 3 draft(s) as old, which may be a reader's only unfinished work:" in out
    assert "  kept knee_001.nrrd: the current draft of case knee_001, which has no approved label yet" in out
    assert "4 draft(s) in" in out and cached.is_file()
    assert main(["drafts", "--dataset", str(tmp_path / "nowhere")]) == 2  # no dataset.json: said, not "0 drafts"


def test_clearing_the_user_cache_says_which_removed_drafts_were_an_exams_current_one(tmp_path, monkeypatch, capsys):
    """The age is the user's explicit choice, so an exam's only draft goes when old; the message says so, and a
    newer draft of the same exam stays while its older set-aside copy goes."""
    from KneeCartilageT2Lib import local_drafts

    monkeypatch.setenv("KNEE_T2_DRAFTS", str(tmp_path / "drafts"))
    label = make_exam().volume_like(make_label(seed=4))
    stamps = itertools.chain(["2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z"], itertools.repeat(
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")))
    monkeypatch.setattr(draft_files, "utc_now_iso", lambda: next(stamps))
    local_drafts.save_local_draft("series-A", label)  # old, the only draft of its exam
    local_drafts.save_local_draft("series-B", label)  # old, then set aside ...
    local_drafts.set_aside_local_draft("series-B")
    local_drafts.save_local_draft("series-B", label)  # ... beside a draft saved today
    assert main(["drafts", "--clear-older-than", "30"]) == 0
    out = capsys.readouterr().out
    assert ("Removed 2 draft(s) saved more than 30 days ago from %s: 1 current draft(s) of an exam (those "
            "corrections are gone) and 1 set aside; drafts saved since are kept." % (tmp_path / "drafts")) in out
    assert "  removed %s" % local_drafts.local_draft_path("series-A").name in out
    assert [path for path, _ in local_drafts.list_local_drafts()] == [local_drafts.local_draft_path("series-B")]


def test_a_draft_is_kept_when_its_cases_approval_time_cannot_be_read(dataset_of_drafts):
    import json

    dataset, paths = dataset_of_drafts
    index = dataset / "cases" / "knee_003.json"
    record = json.loads(index.read_text())
    record["labels"]["versions"][0]["created"] = "1 Feb 2026"  # written by hand or by another tool
    index.write_text(json.dumps(record))
    removed, kept = clear_dataset_drafts(dataset, 30, now=NOW)
    assert paths["before_approval"] in {draft.path for draft, _ in kept} and paths["before_approval"].is_file()
