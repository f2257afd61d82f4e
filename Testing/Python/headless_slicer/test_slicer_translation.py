"""The panel texts worded in KneeCartilageT2SlicerLib (export status, progress, button tooltips) go through Slicer's
translation function, as the module file's own texts do: they were plain strings, never offered for translation.

``_`` is replaced by a marking function, as a translation would replace the text; a text that bypasses it comes
back unmarked. Placeholders are filled in after translating, so a translator may move them."""

from __future__ import annotations

import ast
import types
from pathlib import Path

import pytest

pytest.importorskip("slicer_core", reason="slicer-core is not installed (pip install slicer-core)")

SLICER_LIB = Path(__file__).resolve().parents[3] / "KneeCartilageT2" / "KneeCartilageT2SlicerLib"


def marked(text: str) -> str:
    return "<<%s>>" % text


def _record(version: int, written: bool):
    return types.SimpleNamespace(case_id="knee_007", current_label=types.SimpleNamespace(version=version),
                                 label_versions=[None] * version, new_version_written=written)


def test_export_status_and_progress_texts_are_translated_before_they_are_filled_in(monkeypatch):
    from KneeCartilageT2SlicerLib import panel_state

    monkeypatch.setattr(panel_state, "_", marked)
    assert panel_state.export_status_text(_record(2, True)) == "<<Saved as case knee_007 (label version 2).>>"
    assert panel_state.export_status_text(_record(1, False)) == (
        "<<Case knee_007 already holds this label as its current version 1: unchanged, no new version saved.>>")
    assert panel_state.progress_text(0.5, "Fitting T2", "cuda:0") == "<<50% Fitting T2>> [cuda:0]"


def test_every_button_tooltip_is_translated(monkeypatch):
    from KneeCartilageT2SlicerLib import panel_state

    monkeypatch.setattr(panel_state, "_", marked)
    parameters = types.SimpleNamespace(inputNode=None, datasetFolder="", baselineVolume=None, followupVolume=None)
    for running in (False, True):
        for name, state in panel_state.button_states(parameters, running).items():
            assert state.tooltip == "" or (state.tooltip.startswith("<<") and state.tooltip.endswith(">>")), name


def test_the_worker_jobs_own_stage_words_are_translated(monkeypatch):
    from KneeCartilageT2SlicerLib import processing

    monkeypatch.setattr(processing, "_", marked)
    job = processing.WorkerJob("probe")
    job.cancel()  # never started: nothing to kill
    assert job.state == "cancelled" and job.stage == "<<Cancelled>>"


def test_texts_are_marked_as_literals_the_extraction_tools_can_read():
    """``_(text)`` with a literal (implicit concatenation allowed) and never ``_(a % b)`` or ``_(f"...")``: the tools
    read the literal, and a text filled in before translating is never found in a translation file."""
    for name in ("panel_state.py", "processing.py"):
        tree = ast.parse((SLICER_LIB / name).read_text(encoding="utf-8"))
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and isinstance(node.func, ast.Name) and node.func.id == "_"]
        assert calls, name
        for call in calls:
            assert len(call.args) == 1 and isinstance(call.args[0], ast.Constant) \
                and isinstance(call.args[0].value, str), "%s line %d" % (name, call.lineno)


def test_outside_slicer_the_translation_function_returns_the_text(monkeypatch):
    """slicer-core has no ``slicer.i18n``: the package falls back to the text itself; inside Slicer (here the
    harness's stand-in) it is Slicer's own ``tr``, which finds the context from the calling file."""
    import importlib
    import sys

    from KneeCartilageT2SlicerLib import translation

    try:
        monkeypatch.setitem(sys.modules, "slicer.i18n", None)  # the import fails, as in slicer-core
        fallback = importlib.reload(translation)
        assert fallback.tr("Saved as case {case} (label version {version}).") == \
            "Saved as case {case} (label version {version})."
        slicer_i18n = types.ModuleType("slicer.i18n")
        slicer_i18n.tr = marked
        monkeypatch.setitem(sys.modules, "slicer.i18n", slicer_i18n)
        assert importlib.reload(translation).tr is marked
    finally:
        monkeypatch.undo()
        importlib.reload(translation)
