"""``knee-t2 drafts``: list the readers' unfinished corrections kept in the user cache, or clear old ones.

The Slicer module keeps the edited segment of an exam that is in no training
dataset as a draft (see :mod:`KneeCartilageT2Lib.local_drafts`), until the
exam is exported or a model run replaces the edits. This lists them (newest
first: when saved, by whom, how many voxels; file names are hashes, they do
not say which exam) and, with ``--clear-older-than DAYS``, removes the ones
saved longer ago. Drafts of a dataset's cases live in that dataset
(``DIR/drafts/``) and are not touched.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("drafts", help="list (or clear old) unfinished corrections kept by the Slicer "
                                   "module in the user cache", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clear-older-than", type=float, metavar="DAYS",
                        help="remove the drafts saved more than DAYS days ago")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..local_drafts import discard_local_drafts_older_than, drafts_dir, list_local_drafts

    if args.clear_older_than is not None:
        removed = discard_local_drafts_older_than(args.clear_older_than)
        print("Removed %d draft(s) saved more than %g days ago from %s." % (len(removed), args.clear_older_than,
                                                                          drafts_dir()))
    drafts = list_local_drafts()
    print("%d draft(s) in %s" % (len(drafts), drafts_dir()))
    for path, info in drafts:
        print("  %s  saved %s UTC  by %-8s %7d voxels  %.0f kB" % (path.name, info.saved.replace("T", " ")[:19],
                                                                  info.reader or "-", info.n_voxels,
                                                                  path.stat().st_size / 1e3))
    return 0
