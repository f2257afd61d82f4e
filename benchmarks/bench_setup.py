"""What every benchmark script needs first: the project's packages on the path and the shipped model's file.

``import bench_setup`` (the script's own folder is on the path when it is run
as ``python benchmarks/<script>.py``) puts ``KneeCartilageT2`` (the core and
the Slicer glue), ``Testing/Python`` (the tests' finders of the real data) and
``Testing/Python/headless_slicer`` (the headless Slicer harness) on
``sys.path``, once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "KneeCartilageT2" / "KneeCartilageT2Lib" / "Resources" / "bootstrap_femoral_cartilage_v3.safetensors"
HELD_OUT_ANATOMY = "SAG_3D_DESS_RIGHT_bones_cart_men_fib-label.nrrd"  # never trained on

for _folder in (REPO / "Testing" / "Python" / "headless_slicer", REPO / "Testing" / "Python", REPO / "KneeCartilageT2"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))


def knee_labels_dir() -> Optional[Path]:
    """The folder of the real knee label maps, or None after saying how to get them."""
    from conftest import find_knee_labels_dir

    folder = find_knee_labels_dir()
    if folder is None:
        print("knee label maps not found: run `knee-t2 fetch-sample`")
    return folder
