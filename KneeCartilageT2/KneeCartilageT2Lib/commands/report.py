"""``knee-t2 report RESULT``: (re)write the page a reader opens first, for a finished analysis or change analysis.

Every analysis writes ``report.html`` (unless a batch ran with ``--no-figures``) and every change analysis
``change_report.html``; this command writes them again from the folder's files, e.g. for folders written
before reports existed, or after ``--no-figures``. RESULT is an analysis folder (``analyse``, ``demo``,
one batch scan), a ``change`` output folder, or a ``batch`` output folder (a report for every finished scan and
change, each in its own folder). See :mod:`KneeCartilageT2Lib.analysis_report` and
:mod:`KneeCartilageT2Lib.change_report` for what the pages hold.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import check_output_file, check_result_folder


def register(subparsers) -> None:
    parser = subparsers.add_parser("report", help="write report.html for an analysis (or change_report.html for a "
                                                  "change analysis; or both for a batch's scans and changes)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("result_dir", metavar="RESULT", help="an analysis or change folder, or the output folder of "
                                                             "batch")
    parser.add_argument("-o", "--output", default=None, metavar="REPORT.html",
                        help="where to write the page (one analysis only; default in RESULT)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..errors import InputError

    result_dir = Path(args.result_dir)
    check_result_folder(result_dir, "an analysis, change or batch output folder")
    if not result_dir.exists():
        raise InputError("%s not found: give an analysis, change or batch output folder." % result_dir)
    if (result_dir / "scans").is_dir() and not (result_dir / "provenance.json").is_file():
        if args.output:
            raise InputError("-o names one page; a batch's reports are written into each scan's and change's folder.")
        return _batch_reports(result_dir)
    if args.output:
        check_output_file(args.output, "report.html")
    print("Wrote %s" % _write_one(result_dir, args.output))
    return 0


def _write_one(folder: Path, output=None) -> Path:
    from ..analysis_report import write_report
    from ..change_report import write_change_report
    from ..errors import InputError
    from ..pipeline import refuse_unfinished

    if (folder / "change.json").is_file():
        return write_change_report(folder, output)
    if (folder / "region_change.csv").is_file():
        raise InputError("The change analysis in %s did not finish (no change.json: it was interrupted, or is "
                         "still being written). Run knee-t2 change into that folder again." % folder)
    refuse_unfinished(folder)
    return write_report(folder, output)


def _batch_reports(batch_dir: Path) -> int:
    """Every finished scan's and change's page; a folder that cannot be reported is named, the others still are."""
    from ..errors import InputError
    from ..pipeline import is_complete

    counts, failed = {}, []
    for kind in ("scans", "changes"):
        folder = batch_dir / kind
        finished = [child for child in sorted(folder.iterdir()) if child.is_dir() and is_complete(child)] \
            if folder.is_dir() else []
        for child in finished:
            try:
                _write_one(child)
            except (InputError, OSError, ValueError) as error:
                failed.append("%s/%s: %s" % (kind, child.name, error))
        counts[kind] = len(finished) - sum(1 for text in failed if text.startswith(kind + "/"))
    if not any(counts.values()) and not failed:
        raise InputError("No finished scan in %s yet." % (batch_dir / "scans"))
    print("Wrote the reports of %d finished scan(s) and %d change(s) in %s" % (counts["scans"], counts["changes"],
                                                                              batch_dir))
    for text in failed:
        print("  not written: %s" % text, file=sys.stderr)
    return 1 if failed else 0
