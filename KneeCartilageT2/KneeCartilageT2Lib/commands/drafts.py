"""``knee-t2 drafts``: list the readers' unfinished corrections the Slicer module keeps, or clear old ones.

Without ``--dataset``: the drafts of exams that are in no training dataset,
kept in the user cache (see :mod:`KneeCartilageT2Lib.local_drafts`), until the
exam is exported or a model run replaces the edits. This lists them (newest
first: when saved, by whom, how many voxels; file names are hashes, they do
not say which exam) and, with ``--clear-older-than DAYS``, removes every one
saved longer ago, an exam's only draft included (the file does not say
whether its exam was exported).

With ``--dataset DIR``: the drafts of that training dataset's cases
(``DIR/drafts/``, current and set aside), each with its case and whether the
case has an approved label. ``--clear-older-than DAYS`` then removes only old
drafts that newer work replaced: set-aside copies, and current drafts older
than the case's approved label. A case's only draft while it has no approved
label, and a draft begun after the approval, are kept, and the command says
which and why (see :mod:`KneeCartilageT2Lib.dataset_draft_cleanup`). The
user cache is not touched then.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("drafts", help="list (or clear old) unfinished corrections kept by the Slicer "
                                   "module, in the user cache or in a dataset", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clear-older-than", type=float, metavar="DAYS",
                        help="remove the drafts saved more than DAYS days ago (in a dataset: only those newer "
                             "work replaced)")
    parser.add_argument("--dataset", metavar="DIR",
                        help="the drafts of this training dataset's cases instead of those in the user cache")
    parser.set_defaults(handler=run)


def run(args) -> int:
    if args.dataset is not None:
        return _run_dataset(args)
    from ..draft_files import is_set_aside_name
    from ..local_drafts import discard_local_drafts_older_than, drafts_dir, list_local_drafts

    if args.clear_older_than is not None:
        removed = discard_local_drafts_older_than(args.clear_older_than)
        aside = sum(1 for path in removed if is_set_aside_name(path))
        print("Removed %d draft(s) saved more than %g days ago from %s%s" % (
            len(removed), args.clear_older_than, drafts_dir(),
            (": %d current draft(s) of an exam (those corrections are gone) and %d set aside; drafts saved "
             "since are kept." % (len(removed) - aside, aside)) if removed else "."))
        for path in removed:
            print("  removed %s" % path.name)
    drafts = list_local_drafts()
    print("%d draft(s) in %s" % (len(drafts), drafts_dir()))
    for path, info in drafts:
        print("  %s  saved %s UTC  by %-8s %7d voxels  %.0f kB" % (path.name, _when(info.saved), info.reader or "-",
                                                                  info.n_voxels, path.stat().st_size / 1e3))
    return 0


def _run_dataset(args) -> int:
    from ..dataset_draft_cleanup import clear_dataset_drafts, list_dataset_drafts
    from ..dataset_drafts import DRAFTS

    folder = "%s/%s" % (str(args.dataset).rstrip("/"), DRAFTS)
    if args.clear_older_than is not None:
        removed, kept = clear_dataset_drafts(args.dataset, args.clear_older_than)
        print("Removed %d draft(s) saved more than %g days ago from %s (set aside, or older than the case's "
              "approved label)." % (len(removed), args.clear_older_than, folder))
        for draft in removed:
            print("  removed %s  (case %s, saved %s UTC, %s)" % (draft.path.name, draft.case_id, _when(draft.info.saved),
                                                                 "set aside" if draft.set_aside else
                                                                 "label v%d approved since" % draft.approved.version))
        if kept:
            print("Kept %d draft(s) as old, which may be a reader's only unfinished work:" % len(kept))
            for draft, reason in kept:
                print("  kept %s: %s." % (draft.path.name, reason))
    drafts = list_dataset_drafts(args.dataset)
    print("%d draft(s) in %s (%d set aside)" % (len(drafts), folder, sum(draft.set_aside for draft in drafts)))
    for draft in drafts:
        state = ("approved label v%d" % draft.approved.version) if draft.approved is not None else "no approved label"
        if draft.saved_after_approval:
            state += ", draft saved since"
        print("  %-42s case %-12s %-9s saved %s UTC  by %-8s %7d voxels  (%s)" % (
            draft.path.name, draft.case_id, "set aside" if draft.set_aside else "current", _when(draft.info.saved),
            draft.info.reader or "-", draft.info.n_voxels, state))
    return 0


def _when(saved: str) -> str:
    return saved.replace("T", " ")[:19]
