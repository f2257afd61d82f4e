"""Cohort batches on Dask: every scan of a manifest, change per subject, tidy tables.

:func:`run_batch` submits one task per scan (or, for a staged runner, a
segmentation task and a fit/measure task) and one change task per
baseline/follow-up pair to a Dask cluster: a local one (worker processes) by
default, or any running scheduler (e.g. started by dask-jobqueue on SLURM).
Outputs under ``OUTDIR``::

    scans/<scan_id>/         the per-scan analysis folder (DONE.json last; FAILED.json on error)
    changes/<pair_id>/       the change analysis of a subject (region_change.csv, DONE.json)
    cohort_regions.csv/.parquet   one row per scan x region
    cohort_change.csv/.parquet    one row per subject (x side) x region
    status.csv/.parquet           one row per scan and pair: status done/failed/skipped, error, seconds
    review.csv, review.html       the scans in the order to look at them (failed, outlying, routine)

Resumable: a scan whose folder holds ``DONE.json`` written for the same manifest
row and settings is skipped (a changed row runs again; ``force`` recomputes
everything); a pair is skipped when its result was made from the scans' current
results. A failing scan is recorded with its error (and its traceback in
``FAILED.json``) and never stops the others; its pairs are skipped.

GPU/CPU split: when the cluster has workers started with ``--resources GPU=1``,
network tasks are annotated ``resources={"GPU": 1}`` so only those workers
take them. A *staged* runner (with ``segment`` and ``measure`` methods, see
:class:`StagedScanRunner`) puts only its ``segment`` step there, so CPU
workers fit T2 and measure while GPUs segment the next scans; a plain runner
runs whole on the GPU workers. The default runner is the staged pipeline
when there are GPU workers. Without GPU workers nothing is annotated.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from .batch_manifest import ChangePair, ScanJob, change_pairs, pairing_notes
from .batch_tasks import (DONE_MARKER, ChangeFunction, ScanRunner, StagedScanRunner, is_staged,
                          longitudinal_change, pipeline_runner, pipeline_staged_runner, run_change_task,
                          done_notes, done_record, done_run, run_measure_stage, run_scan_task, run_segment_stage,
                          measured_with_earlier_method, same_scan, skipped_status, thread_limit_environment)
from .batch_progress import BatchProgress
from .batch_review import build_review, cohort_notes
from .batch_tables import SIDE_SOURCE_COLUMN, STATUS_COLUMNS, change_rows, scan_region_rows, write_table
from .cohort_sides import add_side_notes, columns_with_note_last, pair_side_notes
from .measurement_method import MEASUREMENT_METHOD
from .review_page import write_review


@dataclass
class BatchSettings:
    """How to run a batch.

    Attributes:
        workers: worker processes of the local cluster (ignored with ``scheduler``).
        threads_per_worker: threads per worker; also the numeric-library thread limit in each task.
        scheduler: address of a running Dask scheduler (``tcp://host:8786``), or None for a local cluster.
        device: ``auto``/``cpu``/``cuda``/``cuda:N``/``mps`` for the network (each worker checks it).
        model: model name or weights path (None: the default model).
        force: recompute scans and pairs that are already done.
        progress: show progress (a bar on a terminal, plain lines otherwise).
        extra_options: more options handed to every task (e.g. ``{"t2_method": "mono"}``).
    """

    workers: int = 2
    threads_per_worker: int = 1
    scheduler: Optional[str] = None
    device: str = "auto"
    model: Optional[str] = None
    force: bool = False
    progress: bool = True
    extra_options: Dict[str, Any] = field(default_factory=dict)

    def task_options(self) -> Dict[str, Any]:
        """The options dict every task receives: ``extra_options`` plus device, model and thread count."""
        return dict(self.extra_options, device=self.device, model=self.model, threads=self.threads_per_worker)


@dataclass
class BatchReport:
    """What a batch did: one status dict per scan and pair, the tables written, notes."""

    out_dir: Path
    statuses: List[Dict[str, Any]]
    tables: Dict[str, Path] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    review: List[Path] = field(default_factory=list)  # review.csv and review.html (scans to look at first)

    def count(self, status: str, kind: str = "scan") -> int:
        return sum(1 for row in self.statuses if row["kind"] == kind and row["status"] == status)

    @property
    def failed(self) -> List[Dict[str, Any]]:
        return [row for row in self.statuses if row["status"] == "failed"]


def run_batch(jobs: List[ScanJob], out_dir, runner: Optional[Union[ScanRunner, StagedScanRunner]] = None,
              change_fn: Optional[ChangeFunction] = None, settings: Optional[BatchSettings] = None,
              client=None, stream=None) -> BatchReport:
    """Analyse every scan, then the change of every pair; write the cohort tables.

    ``runner`` is a :class:`ScanRunner` or :class:`StagedScanRunner` (default:
    the full pipeline, staged when the cluster has GPU workers, see
    :func:`default_runner`); ``change_fn`` a :data:`ChangeFunction` (default: the
    longitudinal analysis). Both must be importable module-level objects so
    Dask can send them to worker processes. ``client`` is an existing
    ``distributed.Client``; otherwise one is opened from ``settings`` and
    closed at the end.
    """
    settings = settings or BatchSettings()
    change_fn = change_fn or longitudinal_change
    out_dir = Path(out_dir)
    (out_dir / "scans").mkdir(parents=True, exist_ok=True)
    own_client = client is None
    cluster = None
    if own_client:
        client, cluster = open_client(settings)
    try:
        runner = runner or default_runner(client, settings)
        pairs = change_pairs(jobs)
        method_notes = earlier_method_notes(jobs, out_dir, settings.force)
        progress = BatchProgress(len(jobs) + len(pairs), enabled=settings.progress, stream=stream or sys.stderr)
        # absolute: a worker of a running scheduler works in its own folder, not in the one this command ran from
        statuses = _run_all(client, jobs, pairs, Path(os.path.abspath(str(out_dir))), runner, change_fn, settings,
                            progress)
        progress.close()
    finally:
        if own_client:
            client.close()
            if cluster is not None:
                cluster.close()
    report = BatchReport(out_dir, statuses, notes=pairing_notes(jobs) + method_notes)
    _write_tables(report, jobs, pairs)
    return report


def open_client(settings: BatchSettings):
    """(client, cluster): connect to ``settings.scheduler`` or start a local cluster of worker processes."""
    from distributed import Client, LocalCluster

    if settings.scheduler:
        return Client(settings.scheduler), None
    threads = max(1, int(settings.threads_per_worker))
    cluster = LocalCluster(n_workers=max(1, int(settings.workers)), threads_per_worker=threads, processes=True,
                           dashboard_address=None, env=thread_limit_environment(threads))
    return Client(cluster), cluster


def has_gpu_workers(client) -> bool:
    """True when some worker of the cluster declares a ``GPU`` resource."""
    workers = client.scheduler_info().get("workers", {})
    return any(float((info.get("resources") or {}).get("GPU", 0)) > 0 for info in workers.values())


def network_resources(client, settings: BatchSettings) -> Optional[Dict[str, int]]:
    """``{"GPU": 1}`` for network tasks when the cluster has GPU workers and the device is not "cpu"; else None."""
    return {"GPU": 1} if settings.device != "cpu" and has_gpu_workers(client) else None


def default_runner(client, settings: BatchSettings):
    """The full pipeline, staged when there are GPU workers for the network (:class:`PipelineStagedRunner`)."""
    return pipeline_staged_runner if network_resources(client, settings) else pipeline_runner


def _run_all(client, jobs, pairs, out_dir, runner, change_fn, settings, progress) -> List[Dict[str, Any]]:
    from distributed import as_completed

    options = settings.task_options()
    gpu = network_resources(client, settings)
    staged = is_staged(runner)
    scan_results: Dict[str, Any] = {}
    pending: Dict[Any, Dict[str, Any]] = {}
    statuses: List[Dict[str, Any]] = []
    for job in jobs:
        scan_dir = out_dir / "scans" / job.scan_id
        if not settings.force and _still_done(scan_dir, job, options):
            status = skipped_status("scan", job.scan_id, job.subject, job.visit, job.side, "already done",
                                    done_notes(scan_dir))
            scan_results[job.scan_id] = status
            statuses.append(status)
            progress.update(status)
            continue
        if staged:
            first = client.submit(run_segment_stage, job, str(scan_dir), runner, options, resources=gpu,
                                  key="segment-%s-%s" % (job.scan_id, _token()), pure=False)
            future = client.submit(run_measure_stage, first, job, str(scan_dir), runner, options,
                                   key="measure-%s-%s" % (job.scan_id, _token()), pure=False)
        else:
            future = client.submit(run_scan_task, job, str(scan_dir), runner, options, resources=gpu,
                                   key="scan-%s-%s" % (job.scan_id, _token()), pure=False)
        scan_results[job.scan_id] = future
        pending[future] = {"kind": "scan", "id": job.scan_id, "subject": job.subject, "visit": job.visit,
                           "side": job.side}
    for pair in pairs:
        status = _submit_change(client, pair, out_dir, scan_results, change_fn, options, settings, pending)
        if status is not None:
            statuses.append(status)
            progress.update(status)
    for future in as_completed(list(pending)) if pending else ():
        try:
            status = future.result()
        except Exception as error:  # a worker died or the task could not even start
            identity = pending[future]
            status = dict(identity, status="failed", error="%s: %s" % (type(error).__name__, error),
                          seconds=None, worker=None, result=None)
        statuses.append(status)
        progress.update(status)
    order = {("scan", job.scan_id): n for n, job in enumerate(jobs)}
    order.update({("change", pair.pair_id): len(jobs) + n for n, pair in enumerate(pairs)})
    return sorted(statuses, key=lambda row: order.get((row["kind"], row["id"]), 0))


def _submit_change(client, pair: ChangePair, out_dir: Path, scan_results, change_fn, options, settings, pending):
    pair_dir = out_dir / "changes" / pair.pair_id
    baseline, followup = scan_results[pair.baseline.scan_id], scan_results[pair.followup.scan_id]
    both_old = all(isinstance(item, dict) and item["status"] == "skipped" for item in (baseline, followup))
    record = done_record(pair_dir)
    made_from = [done_run(out_dir / "scans" / scan.scan_id) for scan in (pair.baseline, pair.followup)]
    if both_old and record is not None and record.get("scans", made_from) == made_from and not settings.force:
        return skipped_status("change", pair.pair_id, pair.subject, pair.followup.visit, pair.side, "already done",
                              done_notes(pair_dir))
    future = client.submit(run_change_task, pair, baseline, followup, str(pair_dir),
                           str(out_dir / "scans" / pair.baseline.scan_id),
                           str(out_dir / "scans" / pair.followup.scan_id), change_fn, options,
                           key="change-%s-%s" % (pair.pair_id, _token()), pure=False)
    pending[future] = {"kind": "change", "id": pair.pair_id, "subject": pair.subject, "visit": pair.followup.visit,
                       "side": pair.side}
    return None


def _still_done(scan_dir: Path, job: ScanJob, options: Dict[str, Any]) -> bool:
    """A scan finished by an earlier run of the same manifest row, settings and measurement method
    (:func:`batch_tasks.same_scan`).

    One whose row or settings changed since (another input, side, series, echo times, model, T2 method,
    T2 range or region mode), or that was measured
    with an earlier method (folders finished before resume records were kept included), runs again.
    """
    record = done_record(scan_dir)
    return record is not None and "job" in record and same_scan(record["job"], job, options)


def earlier_method_notes(jobs: List[ScanJob], out_dir: Path, force: bool) -> List[str]:
    """A note naming how many finished scans were measured with an earlier method and so run again."""
    if force:
        return []
    earlier = [job.scan_id for job in jobs for record in [done_record(out_dir / "scans" / job.scan_id)]
               if record is not None and ("job" not in record or measured_with_earlier_method(record["job"]))]
    if not earlier:
        return []
    return ["%d finished scan(s) were measured with an earlier method and run again, so the cohort tables hold "
            "one method (%s; see measurement_method in provenance.json): %s%s"
            % (len(earlier), MEASUREMENT_METHOD, ", ".join(earlier[:5]), ", ..." if len(earlier) > 5 else "")]


def _write_tables(report: BatchReport, jobs: List[ScanJob], pairs: List[ChangePair]) -> None:
    """Collect every finished scan's and pair's rows into the cohort tables; unreadable ones become notes."""
    out_dir = report.out_dir
    region_rows: List[Dict[str, Any]] = []
    for job in jobs:
        region_rows.extend(_finished_rows(out_dir / "scans" / job.scan_id, job, scan_region_rows, report))
    pair_rows: List[Dict[str, Any]] = []
    for pair in pairs:
        pair_rows.extend(_finished_rows(out_dir / "changes" / pair.pair_id, pair, change_rows, report))
    finished_pairs = [pair for pair in pairs if (out_dir / "changes" / pair.pair_id / DONE_MARKER).is_file()]
    side_notes = pair_side_notes(out_dir / "changes", finished_pairs)
    add_side_notes(region_rows, side_notes, "scan_id")
    add_side_notes(pair_rows, side_notes, "pair_id")
    status_columns = list(STATUS_COLUMNS) + ["result", "notes"]
    for name, rows, columns in (("cohort_regions", region_rows, columns_with_note_last(region_rows,
                                                                                       [SIDE_SOURCE_COLUMN])),
                                ("cohort_change", pair_rows, columns_with_note_last(pair_rows)),
                                ("status", report.statuses, status_columns)):
        report.notes.extend(write_table(rows, out_dir / name, columns))
        report.tables[name] = out_dir / (name + ".csv")
    review_rows = build_review(out_dir, report.statuses)
    report.review = write_review(out_dir, review_rows)
    report.notes.extend("cohort review: " + note for note in cohort_notes(review_rows))


def _finished_rows(folder: Path, item, read_rows, report: BatchReport) -> List[Dict[str, Any]]:
    """``read_rows(folder, item)`` for a finished folder; a damaged table is a note, never the end of the batch."""
    if not (folder / DONE_MARKER).is_file():
        return []
    try:
        return read_rows(folder, item)
    except (OSError, ValueError, TypeError) as error:
        report.notes.append("%s left out of the cohort tables: its table cannot be read (%s: %s)"
                            % (folder, type(error).__name__, error))
        return []


def _token() -> str:
    import uuid

    return uuid.uuid4().hex[:8]
