"""Shared pytest fixtures: where the real data is, and how to say it is missing.

Real data is looked for, in order: the KNEE_T2_GE_EXAM / KNEE_T2_LABELS_DIR
environment variables, a ``shared/data`` folder beside (or above) the
checkout, and the user cache that ``knee-t2 fetch-sample`` fills. Tests that
need absent data skip with a message saying how to get it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FETCH_HINT = (
    "run `knee-t2 fetch-sample` (downloads the public mskt==0.1.22 sdist from PyPI into the cache) "
    "or place the project's shared/data folder beside the checkout"
)


def find_ge_exam_dir():
    from KneeCartilageT2Lib.sample_data import find_ge_exam_dir as find

    return find()


def find_knee_labels_dir():
    from KneeCartilageT2Lib.sample_data import find_knee_labels_dir as find

    return find()


@pytest.fixture(scope="session")
def ge_exam_dir() -> Path:
    """Folder of the real GE MESE DICOM exam (192 files), or skip."""
    path = find_ge_exam_dir()
    if path is None:
        pytest.skip("Real GE MESE exam not found: " + FETCH_HINT)
    return path


@pytest.fixture(scope="session")
def knee_labels_dir() -> Path:
    """Folder with right_knee_example.nrrd and SAG_3D_DESS_RIGHT_bones_cart_men_fib-label.nrrd, or skip."""
    path = find_knee_labels_dir()
    if path is None:
        pytest.skip("Real knee label maps not found: " + FETCH_HINT)
    return path


@pytest.fixture(scope="session")
def tiny_phantom_dataset(tmp_path_factory) -> Path:
    """Two labelled 8-slice, 64 x 64 phantoms of the synthetic knee in a dataset folder named
    ``corrections`` (as the correction export writes): one case trains, one validates.
    Built once per session; tests only read it."""
    from KneeCartilageT2Lib.phantom_anatomy import build_anatomy
    from KneeCartilageT2Lib.phantom_output import case_plan, write_phantom_dataset
    from KneeCartilageT2Lib.phantom_synthetic import TINY_PROTOCOL, synthetic_knee_labels

    folder = tmp_path_factory.mktemp("tiny_phantoms") / "corrections"
    anatomy = build_anatomy(synthetic_knee_labels(), "synthetic")
    write_phantom_dataset(anatomy, folder, case_plan(2, 0, (TINY_PROTOCOL,)))
    return folder
