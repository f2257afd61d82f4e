"""Thickness of flat slabs of known thickness tilted on scanner grids, and of the analytic shell.

Slabs ``T`` mm thick (1.5-3 mm) are voxelised on sagittal grids (GE 0.625 x 0.625 mm with
4 mm slice steps, OAI 0.3125 x 0.446 mm with 3.5 mm steps), tilted within the slice plane
(about the right axis) and out of it (about the anterior axis, with a 7 degree in-plane tilt
so that no face is parallel to the grid). The figure is the mean thickness at the bone-side
points of the slab's middle, as a signed percentage of ``T``, averaged over three sub-voxel
positions of the slab (so an untilted slab's whole-voxel reading is not one lucky offset).
The analytic shells are those of ``bench_regions_modes.py`` (worst subregion error, mm).

    python benchmarks/bench_thickness_tilt.py [--baseline SRC]

``--baseline SRC`` runs the same cases in a subprocess with ``SRC`` (a folder holding another
version's ``KneeCartilageT2Lib``) first on the import path, and prints both side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

# the slabs the thickness tests use; appended, so that --baseline's library stays first on the path
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "Testing", "Python"))
from slab_phantoms import GE_SPACING, OAI_SPACING, sagittal_grid, slab_middle_thickness  # noqa: E402

GRIDS = {"GE": GE_SPACING, "OAI": OAI_SPACING}  # mm along columns, rows, slices
THICKNESSES_MM = (1.5, 2.0, 2.5, 3.0)
TILTS_DEG = [(0, 0), (10, 0), (20, 0), (30, 0), (40, 0), (7, 10), (7, 20), (7, 30), (7, 40)]  # (in-plane, out)
OFFSETS_MM = (0.0, 0.21, 0.43)


def slab_reading(thickness_mm, spacing, in_plane_deg, out_of_plane_deg, offset_mm) -> float:
    """Mean thickness (mm) at the bone-side points in the middle of one slab."""
    return float(np.mean(slab_middle_thickness(thickness_mm, sagittal_grid(spacing), in_plane_deg, out_of_plane_deg,
                                               offset_mm)))


def shell_errors():
    """Worst subregion thickness error (mm) of the two analytic shells, per region mode."""
    from KneeCartilageT2Lib.cartilage_shell import ShellSpec, build_shell
    from KneeCartilageT2Lib.region_definitions import SUBREGION_NAMES
    from KneeCartilageT2Lib.regions import analyse_regions

    cases = {"one cylinder": ShellSpec(),
             "two condyles": ShellSpec(spacing_mm=(0.3, 0.35, 2.0), lateral_axis_shift_mm=(3.0, 4.0),
                                       lateral_radius_change_mm=3.0)}
    result = {}
    for label, spec in cases.items():
        mask, t2, _ = build_shell(spec, "right", oblique_deg=8.0)
        for mode in ("reference", "improved"):
            analysis = analyse_regions(mask, t2, "right", mode=mode)
            errors = [analysis.row(n)["thickness_mean_mm"] - spec.thickness_mm for n in SUBREGION_NAMES]
            result["%s, %s" % (label, mode)] = max(errors, key=abs)
    return result


def measure() -> dict:
    slabs = {}
    for grid, spacing in GRIDS.items():
        for thickness in THICKNESSES_MM:
            for in_plane, out_of_plane in TILTS_DEG:
                readings = [slab_reading(thickness, spacing, in_plane, out_of_plane, o) for o in OFFSETS_MM]
                slabs["%s|%.1f|%d|%d" % (grid, thickness, in_plane, out_of_plane)] = 100 * (np.mean(readings) / thickness - 1)
    return {"slabs": slabs, "shells": shell_errors()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="folder holding another KneeCartilageT2Lib to compare with")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure()))
        return
    current = measure()
    before = None
    if args.baseline:
        env = dict(os.environ, PYTHONPATH=args.baseline)
        output = subprocess.run([sys.executable, __file__, "--json"], env=env, check=True, capture_output=True, text=True)
        before = json.loads(output.stdout)
    print("Slab thickness error (%% of T, mean of %d sub-voxel offsets)%s" % (len(OFFSETS_MM),
                                                                           ": before -> after" if before else ""))
    print("%-4s %-6s %-11s" % ("grid", "T mm", "tilt in/out"))
    for key, value in current["slabs"].items():
        grid, thickness, in_plane, out_of_plane = key.split("|")
        text = "%+6.2f %%" % value if before is None else "%+6.2f -> %+6.2f %%" % (before["slabs"][key], value)
        print("%-4s %-6s %3s / %-5s %s" % (grid, thickness, in_plane, out_of_plane, text))
    for name, label in (("GE", "GE"), ("OAI", "OAI")):
        for which, rows in (("before", before), ("after" if before else "this version", current)):
            if rows is None:
                continue
            values = np.array([v for k, v in rows["slabs"].items() if k.startswith(name + "|") and not k.endswith("|0|0")])
            print("%-4s tilted slabs (%s): mean %+.2f %%, worst %+.2f %%, mean |error| %.2f %%" % (
                label, which, values.mean(), values[np.argmax(np.abs(values))], np.abs(values).mean()))
    print("Analytic shells, worst subregion thickness error (mm):")
    for key, value in current["shells"].items():
        text = "%+.3f" % value if before is None else "%+.3f -> %+.3f" % (before["shells"][key], value)
        print("  %-28s %s" % (key, text))


if __name__ == "__main__":
    main()
