"""``knee-t2 to-dicom``: add an analysis' T2 map (and a T2 colour overlay) to the source study as DICOM.

The new series join the study the analysed DICOM series belongs to (same
patient, study and frame of reference; new series UIDs), so they can be sent
to PACS and read beside the echoes. The files carry the patient's identifiers.
See :mod:`KneeCartilageT2Lib.result_dicom`.

The analysed DICOM folder (or the enhanced multi-frame DICOM file the exam
was read from) is given with --source. An analysis folder names its
exam by the last part of its path only (the full path may name the patient,
see :mod:`KneeCartilageT2Lib.result_privacy`); one written with
--record-full-paths (or by a version that recorded full paths) holds the
folder, which is then the default.

RESULT may also be the output folder of ``knee-t2 batch``: every finished scan
is then written to OUTDIR/<scan id>/, each from its own source: the input of its
row in the batch's manifest (--manifest), else the folder its analysis recorded.
A scan that cannot be written is reported and the others go on (exit status 1
when any failed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import check_output_folder, check_result_folder

NO_FULL_PATH = ("names its exam only by the last part of its path (%s), as result folders do unless written with "
                "--record-full-paths")


def register(subparsers) -> None:
    parser = subparsers.add_parser("to-dicom", help="write an analysis' T2 map (and T2 colour overlay) as DICOM "
                                   "series of the source study, for PACS",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("result_dir", metavar="RESULT",
                        help="an analysis folder (knee-t2 analyse or demo, or one scan of a batch) or a batch "
                        "output folder")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                        help="folder for the series (T2map/, T2colour/; per scan for a batch)")
    parser.add_argument("--source", metavar="DICOM_DIR",
                        help="the analysed DICOM folder, or the enhanced multi-frame DICOM file it was read from "
                        "(default: the path recorded in provenance.json, when the analysis recorded full paths; not "
                        "for a batch folder)")
    parser.add_argument("--manifest", metavar="MANIFEST.csv",
                        help="for a batch folder: the manifest the batch ran, whose rows give each scan's DICOM "
                        "folder (default: the folders the scans recorded, when the batch recorded full paths)")
    parser.add_argument("--no-colour", action="store_true", help="write the T2 map series only")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..errors import InputError
    from ..pipeline import refuse_unfinished

    check_output_folder(args.output)
    result_dir = Path(args.result_dir)
    check_result_folder(result_dir, "an analysis folder or a batch output folder")
    if (result_dir / "scans").is_dir() and (result_dir / "status.csv").is_file():
        if args.source:
            raise InputError("--source names one exam's folder; a batch's scans each use their own source "
                             "(give the batch's manifest with --manifest).")
        return _run_batch(result_dir, Path(args.output), not args.no_colour, _manifest_inputs(args.manifest))
    if args.manifest:
        raise InputError("--manifest is for a batch output folder; give one analysis' DICOM folder with --source.")
    refuse_unfinished(result_dir)  # before asking for --source: an unfinished folder is refused whatever the source
    source = args.source or _recorded_source(result_dir)
    if not source:
        reason = _not_recorded_reason(result_dir)
        raise InputError("No source DICOM folder recorded for %s%s: give it with --source."
                         % (result_dir, " (%s)" % reason if reason else ""))
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


def _run_batch(batch_dir: Path, out_dir: Path, colour: bool, manifest_inputs) -> int:
    from ..errors import KneeT2Error
    from ..pipeline import is_complete

    scans = sorted(path for path in (batch_dir / "scans").iterdir() if path.is_dir())
    done = [scan for scan in scans if is_complete(scan)]
    failed = []
    for scan in done:
        source = manifest_inputs.get(scan.name) or _recorded_source(scan)
        try:
            if not source:
                raise KneeT2Error("no source DICOM folder: %s; give the batch's manifest with --manifest"
                                  % (_not_recorded_reason(scan) or "none recorded"))
            print("%s:" % scan.name)
            _write_one(scan, source, out_dir / scan.name, colour)
        except KneeT2Error as error:
            failed.append(scan.name)
            print("%s: not written: %s" % (scan.name, error))
    print("%d of %d finished scans written to %s%s" % (len(done) - len(failed), len(done), out_dir,
                                                       "; %d not finished, left out" % (len(scans) - len(done))
                                                       if len(scans) > len(done) else ""))
    return 1 if failed else 0


def _manifest_inputs(manifest) -> dict:
    """``{scan id: input path}`` of the batch's manifest ({} when none is given): the ids the batch gave."""
    if not manifest:
        return {}
    from ..batch_manifest import read_manifest

    return {job.scan_id: job.input_path for job in read_manifest(manifest)}


def _recorded_source(result_dir: Path) -> str:
    """The analysed folder's full path, when the analysis recorded it (see :func:`result_privacy.recorded_path`)."""
    from ..result_dicom import read_provenance
    from ..result_privacy import recorded_path

    return recorded_path(read_provenance(result_dir))


def _not_recorded_reason(result_dir: Path) -> str:
    """``it names its exam only by ...`` when the folder holds the last part of the input's path only; else ""."""
    from ..result_dicom import read_provenance

    name = str(read_provenance(result_dir).get("source") or "")
    return "it " + NO_FULL_PATH % name if name else ""
