"""``knee-t2 to-dicom``: add an analysis' T2 map (and a T2 colour overlay) to the source study as DICOM.

The new series join the study the analysed DICOM series belongs to (same
patient, study and frame of reference; new series UIDs), so they can be sent
to PACS and read beside the echoes. The source DICOM folder defaults to the
one recorded in the analysis' provenance.json. The files carry the patient's
identifiers. See :mod:`KneeCartilageT2Lib.result_dicom`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("to-dicom", help="write an analysis' T2 map (and T2 colour overlay) as DICOM "
                                   "series of the source study, for PACS",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("result_dir", metavar="RESULT", help="an analysis folder (knee-t2 segment / regions / batch)")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                        help="folder for the series (T2map/, T2colour/)")
    parser.add_argument("--source", metavar="DICOM_DIR",
                        help="the analysed DICOM folder (default: the source recorded in provenance.json)")
    parser.add_argument("--no-colour", action="store_true", help="write the T2 map series only")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..errors import InputError
    from ..result_dicom import write_result_dicom

    source = args.source or _recorded_source(Path(args.result_dir))
    if not source:
        raise InputError("No source DICOM folder recorded for %s: give it with --source." % args.result_dir)
    written = write_result_dicom(args.result_dir, source, args.output, colour=not args.no_colour)
    print("T2 map: %d images in %s" % (len(written.t2_map_files), Path(args.output) / "T2map"))
    if written.colour_files:
        print("T2 colour: %d images (the last one is the colour scale) in %s"
              % (len(written.colour_files), Path(args.output) / "T2colour"))
    return 0


def _recorded_source(result_dir: Path) -> str:
    try:
        provenance = json.loads((result_dir / "provenance.json").read_text())
    except (OSError, ValueError):
        return ""
    return str(provenance.get("source") or "")
