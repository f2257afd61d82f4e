"""Fixtures for the headless Slicer tests (slicer-core, no Qt).

This folder must not be called ``slicer``: slicer-core's ``slicer`` package
extends its path with every ``slicer`` folder found on ``sys.path`` and
imports every module in it, and pytest puts ``Testing/Python`` on the path.

``headless_slicer`` (session) installs the Slicer stand-ins once;
``slicer_scene`` (per test) gives each test a fresh MRML scene with the module
logics registered, assigned to ``slicer.mrmlScene``. Tests skip with a
how-to message when slicer-core is not installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

MODULE_DIR = Path(__file__).resolve().parents[3] / "KneeCartilageT2"
MODULE_FILE = MODULE_DIR / "KneeCartilageT2.py"
INSTALL_HINT = "slicer-core is not installed: `pip install slicer-core` (Python >= 3.10) to run the headless Slicer tests"

if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.slicer)


@pytest.fixture(scope="session")
def headless_slicer():
    """The harness: stand-ins installed, one scene alive at a time."""
    pytest.importorskip("slicer_core", reason=INSTALL_HINT)
    import slicer_harness

    slicer_harness.install_slicer_stand_ins()
    harness = slicer_harness.HeadlessSlicer()
    yield harness
    harness.shutdown()


@pytest.fixture(autouse=True)
def own_drafts_folder(tmp_path, monkeypatch):
    """Every model run restores, and every settled edit keeps, a draft: these tests keep theirs in their own folder,
    never in the user's cache (``$KNEE_T2_DRAFTS``, see ``local_drafts.drafts_dir``)."""
    monkeypatch.setenv("KNEE_T2_DRAFTS", str(tmp_path / "drafts"))
    return tmp_path / "drafts"


@pytest.fixture
def slicer_scene(headless_slicer):
    """A clean scene for one test (also ``slicer.mrmlScene``)."""
    scene = headless_slicer.new_scene()
    yield scene
    headless_slicer.close()


@pytest.fixture(scope="session")
def module_file() -> Path:
    return MODULE_FILE


@pytest.fixture(scope="session")
def oblique_ijk_to_ras():
    """A sagittal, slightly oblique geometry with anisotropic voxels (0.6 x 0.5 x 3 mm) and an offset origin."""
    import numpy as np

    from KneeCartilageT2Lib.geometry import make_ijk_to_ras

    angle = np.radians(7.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    sagittal = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # columns: i posterior, j inferior, k right
    directions = rotation @ sagittal
    return make_ijk_to_ras((0.6, 0.5, 3.0), directions, (12.5, -31.0, 7.25))


@pytest.fixture(scope="session")
def phantom_analysis():
    """(exam, true mask, true regional T2, AnalysisResult) of the module's shell phantom (core only, no scene)."""
    from KneeCartilageT2Lib.pipeline import AnalysisOptions, measure
    from KneeCartilageT2SlicerLib.phantom_exam import shell_phantom

    exam, mask, truth = shell_phantom("left")
    result = measure(exam, mask.array, options=AnalysisOptions(t2_method="loglinear"), label_source="model")
    return exam, mask, truth, result


@pytest.fixture
def analysed(slicer_scene, phantom_analysis):
    """(browser, proxy volume) of the shell phantom as a sequence, with its analysis presented in the scene."""
    from KneeCartilageT2SlicerLib.exam_from_nodes import exam_to_sequence
    from KneeCartilageT2SlicerLib.results_nodes import present_analysis

    exam, _, _, result = phantom_analysis
    _, browser, proxy = exam_to_sequence(exam, slicer_scene, "Phantom")
    present_analysis(result, proxy)
    return browser, proxy
