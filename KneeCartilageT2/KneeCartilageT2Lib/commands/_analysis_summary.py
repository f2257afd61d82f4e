"""What ``demo`` and ``analyse`` print about one exam and its finished analysis folder, worded once."""

from __future__ import annotations

from pathlib import Path

REGION_ROWS_SHOWN = 15  # the whole plate, its halves and layers, the first subregions; regions.csv has all 27


def print_exam_line(exam, side) -> None:
    """The exam in one indented line: echoes, echo times (ms), grid (slice, row, col) and the side used."""
    print("  %d echoes, TE %s ms, %s voxels (slice, row, col), side %s"
          % (exam.n_echoes, ", ".join("%.1f" % t for t in exam.echo_times_ms), exam.volume_shape,
             side or exam.laterality))


def print_analysis_summary(result, out_dir) -> None:
    """Where the results are, the analysis notes, the segmentation, the region table and the pictures.

    ``result``: the :class:`pipeline.AnalysisResult` written to ``out_dir`` by :func:`pipeline.write_analysis`.
    """
    from ..pipeline import CHECK_PREVIEW

    out_dir = Path(out_dir)
    print("\nResults in %s" % out_dir.resolve())
    for message in result.messages:
        print("  note: %s" % message)
    segmentation = result.provenance.get("segmentation", {})
    print("  segmentation: model %s v%s on %s, %d cartilage voxels"
          % (segmentation.get("model_name"), segmentation.get("model_version"), segmentation.get("device"),
             int(result.label.array.sum())))
    if result.regions is not None:
        print_region_table(result.regions.rows[:REGION_ROWS_SHOWN])
    for label, name in (("report", "report.html"), ("preview", "preview.png"), ("slice to check", CHECK_PREVIEW)):
        if (out_dir / name).is_file():
            print("  %s: %s" % (label, out_dir / name))


def print_region_table(rows) -> None:
    """Mean T2 (ms), voxels and thickness (mm) per region; a "T2 voxels" column only when some voxels
    have no valid T2."""
    from ..region_stats import t2_voxel_count, t2_voxels_differ

    with_t2_count = t2_voxels_differ(rows)
    extra = " %10s" % "T2 voxels" if with_t2_count else ""
    print("  %-6s %10s %10s%s %12s" % ("region", "T2 mean", "voxels", extra, "thick. mm"))
    for row in rows:
        extra = " %10d" % t2_voxel_count(row) if with_t2_count else ""
        print("  %-6s %10.1f %10d%s %12.2f" % (row["region"], row["t2_mean_ms"], row["n_voxels"], extra,
                                               row["thickness_mean_mm"]))
