"""``knee-t2 fetch-sample``: make the real sample data available and print where it is.

Looks for the real GE MESE exam and the two knee label maps (environment
variables, a shared/data folder beside the checkout, the user cache) and,
when they are absent, downloads the public ``mskt==0.1.22`` source
distribution from PyPI (about 92 MB) and extracts only those files into the
cache. With ``--cache DIR`` only that folder is used (and filled).
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "fetch-sample",
        help="find or download the real sample data (GE MESE exam, knee label maps) and print its paths",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cache", default=None, metavar="DIR",
                        help="cache folder to use and fill (default: $KNEE_T2_CACHE or ~/.cache/knee-t2, after "
                             "the environment variables and shared/data folders)")
    parser.add_argument("--no-fetch", action="store_true", help="only report where the data is; never download")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..sample_data import ge_exam_dir, knee_labels_dir

    def log(text: str) -> None:
        print(text, file=sys.stderr)

    fetch = not args.no_fetch
    exam_dir = ge_exam_dir(fetch=fetch, cache=args.cache, log=log)
    labels_dir = knee_labels_dir(fetch=fetch, cache=args.cache, log=log)
    print("GE MESE exam (DICOM, 192 files): %s" % exam_dir)
    print("Knee label maps: %s" % labels_dir)
    return 0
