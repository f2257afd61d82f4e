"""Fixtures for the headless Slicer tests (slicer-core, no Qt).

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


@pytest.fixture
def slicer_scene(headless_slicer):
    """A clean scene for one test (also ``slicer.mrmlScene``)."""
    scene = headless_slicer.new_scene()
    yield scene
    headless_slicer.close()


@pytest.fixture(scope="session")
def module_file() -> Path:
    return MODULE_FILE
