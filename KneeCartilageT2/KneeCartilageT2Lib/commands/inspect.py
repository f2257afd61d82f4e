"""``knee-t2 inspect``: what each exam is, and whether the method suits it, without analysing it.

For every INPUT (DICOM folder or 4D NRRD/NIfTI + sidecar), or every scan of
a batch manifest (``--manifest``: its input, series, echo_times and side columns
are used as ``knee-t2 batch`` uses them), it prints the scanner and series,
echo times, matrix, voxel size, slice plane, side, whether positions are
scanner coordinates, how intensities were scaled, what the loader noticed and
advisory protocol notes (non-sagittal slices, few or short echoes, coarse
pixels or slices). No patient identifiers are printed. An input that cannot
be loaded prints its error and the others go on; the exit status is then 2.
``--json FILE`` writes every summary (and error); ``--csv FILE`` one row per
exam, to sort and filter a cohort before ``knee-t2 batch``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import InputError, KneeT2Error
from ._common import check_output_file, parse_echo_times

CSV_COLUMNS = ("id", "input", "status", "error", "format", "Manufacturer", "ManufacturerModelName",
               "MagneticFieldStrength", "n_echoes", "first_te_ms", "last_te_ms", "slices", "rows", "cols",
               "pixel_row_mm", "pixel_col_mm", "slice_step_mm", "slice_plane", "obliquity_deg", "laterality",
               "scanner_frame", "intensity_scaling", "n_warnings", "n_notes", "notes")


def register(subparsers) -> None:
    parser = subparsers.add_parser("inspect", help="describe exams and check their protocol, without analysing",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="MESE exams (DICOM folders or 4D NRRD/NIfTI)")
    parser.add_argument("--manifest", default=None, metavar="MANIFEST.csv",
                        help="also every scan of a knee-t2 batch manifest")
    parser.add_argument("--echo-times", type=parse_echo_times, default=None, metavar="TE1,TE2,...",
                        help="echo times in ms, for 4D NRRD/NIfTI inputs without a JSON sidecar")
    parser.add_argument("--series", default=None, metavar="NUMBER",
                        help="SeriesNumber (or UID) of the MESE series in folders holding several")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the summaries as JSON")
    parser.add_argument("--csv", default=None, metavar="FILE", help="also write one row per exam as CSV")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..atomic_files import atomic_write_json
    from ..csv_tables import write_csv
    from ..exam_loader import load_exam
    from ..exam_summary import format_summary, summarise_exam

    for output in (args.json, args.csv):
        if output:
            check_output_file(output, "inspect" + Path(output).suffix)  # before a cohort's exams are read
    scans = _scans(args)
    records: List[Dict[str, Any]] = []
    failed = 0
    for number, (identifier, path, echo_times, series, side) in enumerate(scans):
        if number:
            print()
        try:
            exam = load_exam(path, echo_times_ms=echo_times, series=series)
            if side:  # the manifest's side column, which batch gives the analysis
                exam.laterality = side
            summary = summarise_exam(exam)
        except (KneeT2Error, OSError) as error:
            failed += 1
            print("%s: error: %s" % (identifier, error))
            records.append({"id": identifier, "input": str(path), "error": str(error)})
            continue
        print(format_summary(dict(summary, source=identifier)))
        records.append(dict(summary, id=identifier, input=str(path)))
    if args.json:
        atomic_write_json(args.json, {"exams": records, "failed": failed})
    if args.csv:
        write_csv(args.csv, [_csv_row(record) for record in records], list(CSV_COLUMNS))
    if failed:
        print("\n%d of %d input(s) could not be loaded." % (failed, len(scans)), file=sys.stderr)
    sys.stdout.flush()
    return 2 if failed else 0


def _scans(args) -> List[Tuple[str, str, Optional[List[float]], Optional[str], Optional[str]]]:
    """(id, path, echo times, series, side) of every input and manifest scan, in the order given."""
    scans = [(str(path), str(path), args.echo_times, args.series, None) for path in args.inputs]
    if args.manifest:
        from ..batch_manifest import read_manifest

        scans += [(job.scan_id, job.input_path, job.echo_times_ms or args.echo_times, job.series or args.series,
                   job.side) for job in read_manifest(args.manifest)]
    if not scans:
        raise InputError("Nothing to inspect: give exam folders or files, or --manifest MANIFEST.csv.")
    return scans


def _csv_row(record: Dict[str, Any]) -> Dict[str, Any]:
    """One flat row of :data:`CSV_COLUMNS` for a summary (or an error)."""
    if "error" in record:
        return {"id": record["id"], "input": record["input"], "status": "error", "error": record["error"]}
    times = record["echo_times_ms"]
    slices, rows, cols = record["shape_slice_row_col"]
    row = {key: record.get(key) for key in CSV_COLUMNS if key in record}
    row.update(status="ok", n_echoes=len(times), first_te_ms=times[0], last_te_ms=times[-1], slices=slices, rows=rows,
               cols=cols, pixel_row_mm=record["pixel_mm_row_col"][0], pixel_col_mm=record["pixel_mm_row_col"][1],
               n_warnings=len(record["warnings"]), n_notes=len(record["notes"]), notes=" | ".join(record["notes"]))
    return row
