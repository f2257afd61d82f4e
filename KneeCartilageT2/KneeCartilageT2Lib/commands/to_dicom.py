"""``knee-t2 to-dicom``: add an analysis' T2 map (and a T2 colour overlay) to the source study as DICOM.

The new series join the study the analysed DICOM series belongs to (same
patient, study and frame of reference; new series UIDs), so they can be sent
to PACS and read beside the echoes. The source DICOM folder defaults to the
one recorded in the analysis' provenance.json. The files carry the patient's
identifiers. See :mod:`KneeCartilageT2Lib.result_dicom`.

RESULT may also be the output folder of ``knee-t2 batch``: every finished scan
is then written to OUTDIR/<scan id>/, each from its own recorded source; a scan
that cannot be written is reported and the others go on (exit status 1 when
any failed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ._common import check_output_folder, check_result_folder


def register(subparsers) -> None:
    parser = subparsers.add_parser("to-dicom", help="write an analysis' T2 map (and T2 colour overlay) as DICOM "
                                   "series of the source study, for PACS",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("result_dir", metavar="RESULT",
                        help="an analysis folder (knee-t2 demo, or one scan of a batch) or a batch output folder")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                        help="folder for the series (T2map/, T2colour/; per scan for a batch)")
    parser.add_argument("--source", metavar="DICOM_DIR",
                        help="the analysed DICOM folder (default: the source recorded in provenance.json; "
                        "not for a batch folder)")
    parser.add_argument("--no-colour", action="store_true", help="write the T2 map series only")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..errors import InputError

    check_output_folder(args.output)
    result_dir = Path(args.result_dir)
    check_result_folder(result_dir, "an analysis folder or a batch output folder")
    if (result_dir / "scans").is_dir() and (result_dir / "status.csv").is_file():
        if args.source:
            raise InputError("--source names one exam's folder; a batch's scans each use their recorded source.")
        return _run_batch(result_dir, Path(args.output), not args.no_colour)
    source = args.source or _recorded_source(result_dir)
    if not source:
        raise InputError("No source DICOM folder recorded for %s: give it with --source." % result_dir)
    _write_one(result_dir, source, Path(args.output), not args.no_colour)
    return 0


def _write_one(result_dir: Path, source: str, out_dir: Path, colour: bool) -> None:
    from ..pipeline import refuse_unfinished
    from ..result_dicom import write_result_dicom

    refuse_unfinished(result_dir)
    written = write_result_dicom(result_dir, source, out_dir, colour=colour)
    print("T2 map: %d images in %s" % (len(written.t2_map_files), out_dir / "T2map"))
    if written.colour_files:
        print("T2 colour: %d images (the last one is the colour scale) in %s"
              % (len(written.colour_files), out_dir / "T2colour"))


def _run_batch(batch_dir: Path, out_dir: Path, colour: bool) -> int:
    from ..errors import KneeT2Error
    from ..pipeline import is_complete

    scans = sorted(path for path in (batch_dir / "scans").iterdir() if path.is_dir())
    done = [scan for scan in scans if is_complete(scan)]
    failed = []
    for scan in done:
        source = _recorded_source(scan)
        try:
            if not source:
                raise KneeT2Error("no source DICOM folder recorded in its provenance.json")
            print("%s:" % scan.name)
            _write_one(scan, source, out_dir / scan.name, colour)
        except KneeT2Error as error:
            failed.append(scan.name)
            print("%s: not written: %s" % (scan.name, error))
    print("%d of %d finished scans written to %s%s" % (len(done) - len(failed), len(done), out_dir,
                                                       "; %d not finished, left out" % (len(scans) - len(done))
                                                       if len(scans) > len(done) else ""))
    return 1 if failed else 0


def _recorded_source(result_dir: Path) -> str:
    try:
        provenance = json.loads((result_dir / "provenance.json").read_text())
    except (OSError, ValueError):
        return ""
    return str(provenance.get("source") or "")
