"""``knee-t2 manifest BIDS_DIR -o manifest.csv``: a batch manifest of every MESE scan in a BIDS dataset.

One row per subject and session (subject = the sub- label, visit = the ses- label, input = the scan's
first echo file); phase parts are left out and of repeated runs the last is kept. Then run
``knee-t2 batch manifest.csv -o OUT``; add a ``side`` column when the knee's side is known.
"""

from __future__ import annotations

import argparse

from ._common import check_output_file


def register(subparsers) -> None:
    parser = subparsers.add_parser("manifest", help="write a batch manifest of every MESE scan in a BIDS dataset",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bids_dir", metavar="BIDS_DIR", help="root of the BIDS dataset (the folder holding sub-*/)")
    parser.add_argument("-o", "--output", required=True, metavar="MANIFEST.csv", help="manifest to write")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..bids_manifest import find_mese_scans, write_manifest

    check_output_file(args.output, "manifest.csv")
    scans, notes = find_mese_scans(args.bids_dir)
    path = write_manifest(scans, args.output)
    for note in notes:
        print("  note: " + note)
    subjects = len({scan.subject for scan in scans})
    print("Wrote %s: %d scan(s) of %d subject(s). Next: knee-t2 batch %s -o OUTDIR" % (
        path, len(scans), subjects, path))
    return 0
