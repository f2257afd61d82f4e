"""``knee-t2 batch``: analyse a cohort on a Dask cluster and write tidy tables."""

from __future__ import annotations

import sys

from ._analysis_options import (LABEL_RULE_TEXT, add_device_argument, add_model_argument,
                                add_region_mode_argument, add_t2_method_argument, add_t2_range_argument)
from ._common import add_record_full_paths_argument, check_output_folder, refuse_output_in_input

EXIT_SOME_FAILED = 3


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="analyse every scan of a manifest CSV (Dask: local processes or a running scheduler)",
        description="Run the full analysis on every scan listed in MANIFEST (CSV columns subject, visit, input; "
        "optional side, echo_times in ms separated by ';', series for DICOM folders holding several MESE series; a "
        "relative input is relative to the manifest's folder), the change analysis for each subject with two or "
        "more visits, and write cohort_regions, cohort_change and status tables (CSV and Parquet) in OUTDIR. "
        "Scans already done (DONE.json) are skipped, so an interrupted batch resumes where it stopped. "
        "A scan finished with other settings (model, --t2-method, --t2-range, --region-mode...) runs again. "
        "Exit status 3 when some scans failed (see status.csv). The outputs name each exam by the last part of "
        "its path (see --record-full-paths); to-dicom then takes the exams from the manifest (--manifest).",
    )
    parser.add_argument("manifest", metavar="MANIFEST.csv", help="the cohort manifest")
    parser.add_argument("-o", "--output", "--out", dest="out", required=True, metavar="OUTDIR",
                        help="output folder (--out, its former name, is still accepted)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="address of a running Dask scheduler (tcp://host:8786, or a scheduler JSON file); "
                        "default: start a local cluster")
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="worker processes of the local cluster (default 2)")
    parser.add_argument("--threads-per-worker", type=int, default=1, metavar="T",
                        help="threads per worker, also the limit for T2 fitting and torch in each task (default 1)")
    add_device_argument(parser, " on each worker")
    add_model_argument(parser, " for every scan")
    add_t2_method_argument(parser, " of every scan")
    add_t2_range_argument(parser, LABEL_RULE_TEXT + ", for every scan")
    add_region_mode_argument(parser, " of every scan and change")
    parser.add_argument("--force", action="store_true", help="recompute scans and changes that are already done")
    parser.add_argument("--no-figures", action="store_true",
                        help="skip the per-scan preview figure (faster on large cohorts)")
    parser.add_argument("--no-progress", action="store_true", help="do not show progress")
    add_record_full_paths_argument(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..batch import BatchSettings, run_batch
    from ..batch_manifest import read_manifest
    from ..devices import check_device_name

    check_output_folder(args.out)
    device = check_device_name(args.device)  # a typo is refused here, not by every worker after the T2 fits
    jobs = read_manifest(args.manifest)
    for job in jobs:  # the scan folders would become files of that exam folder, seen by every later load
        refuse_output_in_input(job.input_path, args.out, "the exam folder of manifest row %d (%s, %s)"
                               % (job.row, job.subject, job.visit))
    settings = BatchSettings(workers=args.workers, threads_per_worker=args.threads_per_worker,
                             scheduler=_scheduler_address(args.scheduler), device=device, model=args.model,
                             force=args.force, progress=not args.no_progress,
                             extra_options={"figures": not args.no_figures,
                                            "record_full_paths": args.record_full_paths,
                                            "t2_method": args.t2_method, "t2_range_ms": list(args.t2_range),
                                            "region_mode": args.region_mode})
    report = run_batch(jobs, args.out, settings=settings)
    print("Scans: %d done, %d skipped (already done), %d failed. Changes: %d done, %d skipped, %d failed."
          % (report.count("done"), report.count("skipped"), report.count("failed"), report.count("done", "change"),
             report.count("skipped", "change"), report.count("failed", "change")))
    for row in report.failed:
        print("  failed %s %s: %s" % (row["kind"], row["id"], row["error"]), file=sys.stderr)
    for name, path in report.tables.items():
        print("%s: %s (+ .parquet)" % (name, path))
    if report.review:
        print("review (scans to look at first): %s" % ", ".join(str(path) for path in report.review))
    for note in report.notes:
        print("note: %s" % note, file=sys.stderr)
    return EXIT_SOME_FAILED if report.failed else 0


def _scheduler_address(value):
    """A scheduler address, or the address inside a scheduler JSON file (dask ``--scheduler-file``)."""
    if not value or not value.endswith(".json"):
        return value
    import json
    from pathlib import Path

    from ..errors import InputError

    path = Path(value)
    if not path.is_file():
        raise InputError("Scheduler file %s not found; give tcp://host:port or the file the scheduler wrote." % path)
    try:
        address = json.loads(path.read_text(encoding="utf-8")).get("address")
    except (ValueError, AttributeError):
        address = None
    if not address:
        raise InputError("Scheduler file %s holds no address; is it a Dask scheduler file?" % path)
    return address
