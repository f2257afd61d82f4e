"""``knee-t2 report RESULT``: (re)write ``report.html``, the one page a reader opens first, for a finished analysis.

Every analysis writes its report (unless a batch ran with ``--no-figures``); this command writes it
again from the folder's files, e.g. for folders written before reports existed, or after
``--no-figures``. RESULT is an analysis folder (``demo``, one batch scan) or a ``batch`` output
folder (a report for every finished scan, in its own folder). See
:mod:`KneeCartilageT2Lib.analysis_report` for what the page holds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import check_output_file


def register(subparsers) -> None:
    parser = subparsers.add_parser("report", help="write report.html for an analysis folder (or a batch's scans)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("result_dir", metavar="RESULT", help="an analysis folder, or the output folder of batch")
    parser.add_argument("-o", "--output", default=None, metavar="REPORT.html",
                        help="where to write the page (one analysis only; default RESULT/report.html)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..analysis_report import write_report
    from ..errors import InputError
    from ..pipeline import is_complete

    result_dir = Path(args.result_dir)
    scans = result_dir / "scans"
    if scans.is_dir() and not (result_dir / "provenance.json").is_file():
        if args.output:
            raise InputError("-o names one page; a batch's reports are written into each scan's folder.")
        finished = [folder for folder in sorted(scans.iterdir()) if folder.is_dir() and is_complete(folder)]
        if not finished:
            raise InputError("No finished scan in %s yet." % scans)
        for folder in finished:
            write_report(folder)
        print("Wrote report.html for %d finished scan(s) in %s" % (len(finished), scans))
        return 0
    if args.output:
        check_output_file(args.output)
    print("Wrote %s" % write_report(result_dir, args.output))
    return 0
