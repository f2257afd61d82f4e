"""A light but real scan pipeline and synthetic exams, to exercise and time the batch engine.

:func:`light_runner` follows the runner contract of :mod:`batch_tasks` with
real work: it loads the exam through :func:`exam_loader.load_exam`, fits T2
with :func:`t2_fitting.fit_t2` (log-linear unless ``options["t2_method"]``
says otherwise) inside the mask, segments by thresholding the first
echo (instead of the network) and writes ``label.nrrd``, ``t2.nrrd``,
``regions/regions.json`` (regions ``all``, ``low_i`` and ``high_i``: the two
halves of the column axis) and ``DONE.json`` last. :class:`LightStagedRunner`
is the same work split into a segment and a measure step; :func:`light_change`
writes ``region_change.csv``. Used by the tests and
``benchmarks/bench_batch_scaling.py``; not a cartilage analysis.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Sequence

import numpy as np

from .atomic_files import atomic_write_json
from .csv_tables import write_csv
from .exam import MeseExam
from .geometry import make_ijk_to_ras
from .pipeline import DONE_MARKER
from .result_privacy import input_name

SIGNAL_THRESHOLD = 300.0
DEFAULT_ECHO_TIMES_MS = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0)
CHANGE_COLUMNS = ("region", "t2_baseline_ms", "t2_followup_ms", "delta_t2_ms")


def synthetic_exam(t2_ms: float, shape=(6, 64, 64), echo_times_ms: Sequence[float] = DEFAULT_ECHO_TIMES_MS,
                   seed: int = 0, side: str = "right") -> MeseExam:
    """A MESE exam with a bright band (rows 24..31, S0 1000, T2 ``t2_ms``) over noise (SD 5)."""
    rng = np.random.default_rng(seed)
    times = np.asarray(echo_times_ms, dtype=np.float64)
    band = np.zeros(shape, dtype=bool)
    band[:, 24:32, 8:56] = True
    decay = 1000.0 * np.exp(-times / float(t2_ms))
    echoes = rng.normal(0.0, 5.0, (times.size,) + tuple(shape))
    echoes[:, band] += decay[:, np.newaxis]
    return MeseExam(np.abs(echoes).astype(np.float32), times, make_ijk_to_ras((0.4, 0.4, 3.0)), side,
                    {"source": "synthetic"})


def write_synthetic_exam(path, t2_ms: float, **kwargs) -> Path:
    """Write :func:`synthetic_exam` as a 4D NRRD echo stack with its JSON sidecar."""
    from .echo_stack_io import write_echo_stack

    return write_echo_stack(synthetic_exam(t2_ms, **kwargs), Path(path))


def light_runner(job, out_dir: Path, options: Dict[str, Any]) -> Dict[str, Any]:
    """Threshold segmentation + real T2 fit + simple regions; ``DONE.json`` written last."""
    exam = _load(job)
    label = _threshold_label(exam)
    return _measure_and_write(exam, label, Path(out_dir), options, job)


class LightStagedRunner:
    """:func:`light_runner` split into ``segment`` (label into the work folder) and ``measure``."""

    def segment(self, job, work_dir: Path, options: Dict[str, Any]) -> None:
        work_dir = Path(work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        np.save(work_dir / "label.npy", _threshold_label(_load(job)))

    def measure(self, job, work_dir: Path, out_dir: Path, options: Dict[str, Any]) -> Dict[str, Any]:
        label = np.load(Path(work_dir) / "label.npy")
        return _measure_and_write(_load(job), label, Path(out_dir), options, job)


def light_change(baseline_dir: Path, followup_dir: Path, out_dir: Path, options: Dict[str, Any]) -> Dict[str, Any]:
    """``region_change.csv``: T2 per region at both visits and the follow-up minus baseline difference."""
    baseline = {row["region"]: row for row in _regions(baseline_dir)}
    followup = {row["region"]: row for row in _regions(followup_dir)}
    rows = []
    for region, first in baseline.items():
        second = followup.get(region)
        if second is None:
            continue
        before, after = first["t2_mean_ms"], second["t2_mean_ms"]
        delta = None if before is None or after is None else after - before
        rows.append({"region": region, "t2_baseline_ms": before, "t2_followup_ms": after, "delta_t2_ms": delta})
    write_csv(Path(out_dir) / "region_change.csv", rows, CHANGE_COLUMNS)
    return {"status": "ok", "regions": len(rows)}


def _load(job) -> MeseExam:
    from .exam_loader import load_exam

    exam = load_exam(job.input_path, echo_times_ms=job.echo_times_ms)
    if job.side:
        exam.laterality = job.side
    return exam


def _threshold_label(exam: MeseExam) -> np.ndarray:
    return (exam.echoes[0] > SIGNAL_THRESHOLD).astype(np.uint8)


def _measure_and_write(exam: MeseExam, label: np.ndarray, out_dir: Path, options: Dict[str, Any], job) -> Dict[str, Any]:
    from .t2_fitting import fit_t2
    from .volume_io import write_volume

    fit = fit_t2(exam.echoes, exam.echo_times_ms, method=options.get("t2_method") or "loglinear", mask=label,
                 n_threads=options.get("threads") or 1)
    t2 = np.where(fit.valid, fit.t2_ms, 0.0).astype(np.float32)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_volume(exam.volume_like(label), out_dir / "label.nrrd")
    write_volume(exam.volume_like(t2), out_dir / "t2.nrrd")
    half = exam.volume_shape[2] // 2
    columns = np.arange(exam.volume_shape[2])[np.newaxis, np.newaxis, :]
    regions = []
    for name, members in (("all", label > 0), ("low_i", (label > 0) & (columns < half)),
                          ("high_i", (label > 0) & (columns >= half))):
        values = t2[members & fit.valid]
        regions.append({"region": name, "n_voxels": int(np.count_nonzero(members)),
                        "volume_mm3": float(np.count_nonzero(members) * exam.voxel_volume_mm3),
                        "t2_mean_ms": float(values.mean()) if values.size else None})
    atomic_write_json(out_dir / "regions" / "regions.json", {"laterality": exam.laterality, "regions": regions})
    summary = {"status": "ok" if regions[0]["n_voxels"] else "no_cartilage", "input": input_name(job.input_path)}
    atomic_write_json(out_dir / DONE_MARKER, summary)
    return summary


def _regions(folder: Path):
    return json.loads((Path(folder) / "regions" / "regions.json").read_text())["regions"]
