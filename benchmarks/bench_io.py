"""Loading MESE data: time to load the real GE exam and to round-trip it as a 4D echo stack.

Prints seconds per operation and ratios against baselines measured in the same run:
* ``pydicom raw read``: dcmread + pixel_array of the 192 files, no grouping or checks
  (the floor any pydicom loader pays);
* ``SimpleITK series read``: ImageSeriesReader over the same files, which returns one
  256x256x192 stack with echoes and slices mixed (what a naive loader gets).

Usage: python benchmarks/bench_io.py [GE_EXAM_DIR]   (default: the sample-data search order)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def best_of(function, repeats=3):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> int:
    import pydicom
    import SimpleITK as sitk

    from KneeCartilageT2Lib.dicom_loader import load_dicom_exam
    from KneeCartilageT2Lib.echo_stack_io import read_echo_stack, write_echo_stack
    from KneeCartilageT2Lib.sample_data import ge_exam_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exam", nargs="?", default=None, help="GE exam folder (default: the sample-data search order)")
    args = parser.parse_args()
    folder = Path(args.exam) if args.exam else ge_exam_dir(fetch=False)
    files = sorted(str(path) for path in folder.glob("*.dcm")) if folder is not None else []
    if not files:
        print("no DICOM files in %s: run `knee-t2 fetch-sample` or give the GE exam folder" % folder)
        return 1

    raw, _ = best_of(lambda: [pydicom.dcmread(path).pixel_array for path in files])
    series, _ = best_of(lambda: sitk.ReadImage(files))
    ours, exam = best_of(lambda: load_dicom_exam(folder))
    print("GE exam: %d files, echoes %s, %.1f MB float32" % (len(files), exam.echoes.shape, exam.echoes.nbytes / 1e6))
    print("%-34s %8.3f s" % ("pydicom raw read (baseline)", raw))
    print("%-34s %8.3f s  (%.2fx raw)" % ("SimpleITK series read (baseline)", series, series / raw))
    print("%-34s %8.3f s  (%.2fx raw)" % ("load_dicom_exam", ours, ours / raw))
    with tempfile.TemporaryDirectory() as work:
        for name in ("echoes.nrrd", "echoes.nii.gz"):
            path = Path(work) / name
            written, _ = best_of(lambda: write_echo_stack(exam, path), repeats=1)
            read, _ = best_of(lambda: read_echo_stack(path), repeats=2)
            print("%-34s %8.3f s write, %.3f s read, %.1f MB  (read %.2fx raw DICOM)"
                  % (name, written, read, path.stat().st_size / 1e6, read / raw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
