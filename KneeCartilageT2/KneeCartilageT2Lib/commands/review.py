"""``knee-t2 review``: order a batch's scans for a person to check, from its output folder.

``knee-t2 batch`` writes ``review.csv`` and ``review.html`` at its end; this
command writes them again from ``status.csv`` and the scan folders, e.g. while
a long batch is still running elsewhere, or after scans were re-run. See
:mod:`KneeCartilageT2Lib.batch_review` for what is flagged and why.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import check_result_folder


def register(subparsers) -> None:
    parser = subparsers.add_parser("review", help="order a batch's scans for checking (review.csv, review.html)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("batch_dir", metavar="OUTDIR", help="the output folder of knee-t2 batch")
    parser.add_argument("--show", type=int, default=10, metavar="N",
                        help="print the first N scans of the review order (default 10)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..batch_review import build_review, cohort_notes
    from ..csv_tables import read_csv
    from ..errors import InputError
    from ..review_page import write_review

    batch_dir = Path(args.batch_dir)
    check_result_folder(batch_dir, "the output folder of `knee-t2 batch`")
    status_path = batch_dir / "status.csv"
    if not status_path.is_file():
        raise InputError("%s has no status.csv: give the output folder of `knee-t2 batch` (the table is written "
                         "when a batch ends)." % batch_dir)
    rows = build_review(batch_dir, read_csv(status_path))
    paths = write_review(batch_dir, rows)
    for row in rows[:max(args.show, 0)]:
        print("%3d  %-11s %s%s" % (row["rank"], row["priority"], row["id"],
                                   ": " + row["reasons"] if row.get("reasons") else ""))
    for note in cohort_notes(rows):
        print("cohort note: %s" % note)
    print("review: %s" % ", ".join(str(path) for path in paths))
    return 0
