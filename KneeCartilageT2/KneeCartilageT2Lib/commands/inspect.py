"""``knee-t2 inspect``: what each exam is, and whether the method suits it, without analysing it.

For every INPUT (DICOM folder or 4D NRRD/NIfTI + sidecar) it prints the
scanner and series, echo times, matrix, voxel size, slice plane, side,
whether positions are scanner coordinates, how intensities were scaled, what
the loader noticed and advisory protocol notes (non-sagittal slices, few or
short echoes, coarse pixels or slices). No patient identifiers are printed.
An input that cannot be loaded prints its error and the others go on; the
exit status is then 2. ``--json FILE`` writes every summary (and error) for
scripts, e.g. to screen a cohort before ``knee-t2 batch``.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import KneeT2Error
from ._common import parse_echo_times


def register(subparsers) -> None:
    parser = subparsers.add_parser("inspect", help="describe exams and check their protocol, without analysing",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="MESE exams (DICOM folders or 4D NRRD/NIfTI)")
    parser.add_argument("--echo-times", type=parse_echo_times, default=None, metavar="TE1,TE2,...",
                        help="echo times in ms, for 4D NRRD/NIfTI inputs without a JSON sidecar")
    parser.add_argument("--series", default=None, metavar="NUMBER",
                        help="SeriesNumber (or UID) of the MESE series in folders holding several")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the summaries as JSON")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..atomic_files import atomic_write_json
    from ..exam_loader import load_exam
    from ..exam_summary import format_summary, summarise_exam

    records, failed = [], 0
    for number, path in enumerate(args.inputs):
        if number:
            print()
        try:
            summary = summarise_exam(load_exam(path, echo_times_ms=args.echo_times, series=args.series))
        except (KneeT2Error, OSError) as error:
            failed += 1
            print("%s: error: %s" % (path, error))
            records.append({"input": str(path), "error": str(error)})
            continue
        print(format_summary(dict(summary, source=str(path))))
        records.append(dict(summary, input=str(path)))
    if args.json:
        atomic_write_json(args.json, {"exams": records, "failed": failed})
    if failed:
        print("\n%d of %d input(s) could not be loaded." % (failed, len(args.inputs)), file=sys.stderr)
    sys.stdout.flush()
    return 2 if failed else 0
