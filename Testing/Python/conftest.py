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


@pytest.fixture(scope="session")
def shell_echo_file(tmp_path_factory) -> Path:
    """The analytic shell phantom (GE echo times, no side recorded) as a 4D NRRD with its echo-time sidecar;
    tests only read it."""
    from KneeCartilageT2Lib.echo_stack_io import write_echo_stack
    from KneeCartilageT2Lib.phantom_defaults import shell_exam

    exam, _, _ = shell_exam(seed=3, snr=60.0)
    exam.laterality = "unknown"
    return write_echo_stack(exam, tmp_path_factory.mktemp("shell_exam") / "echoes.nrrd")


@pytest.fixture(scope="session")
def certain_model(tmp_path_factory) -> Path:
    """A tiny U-Net that calls every voxel it sees cartilage (probability ~1): the T2 rule then makes the label,
    so the label shows which T2 range a command used."""
    torch = pytest.importorskip("torch")
    from KneeCartilageT2Lib.model_files import save_model_safetensors
    from KneeCartilageT2Lib.unet import build_unet

    module = build_unet(levels=2, base_filters=2)
    with torch.no_grad():
        module.head.weight.zero_()
        module.head.bias.fill_(12.0)
    spec = {"name": "certain-test", "version": "0",
            "preprocessing": {"mode": "spacing", "pixel_spacing_mm": [0.625, 0.625], "size": [64, 64]},
            "refinement": {"min_slice_voxels": 0, "min_total_voxels": 0, "probability_threshold": 0.3}}
    return save_model_safetensors(module, tmp_path_factory.mktemp("model") / "certain.safetensors", spec)
