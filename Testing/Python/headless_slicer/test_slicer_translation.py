"""The panel texts worded in KneeCartilageT2SlicerLib (export status, progress, button tooltips) go through Slicer's
translation function, as the module file's own texts do: they were plain strings, never offered for translation.

``_`` is replaced by a marking function, as a translation would replace the text; a text that bypasses it comes
back unmarked. Placeholders are filled in after translating, so a translator may move them."""

from __future__ import annotations

import ast
import re
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


# The files whose every sentence the panel shows goes through ``_``, and the texts in them that must not: node
# names, chart titles stored in the scene, and words that go into the core package's own (untranslated) sentences.
PANEL_TEXT_MODULES = ("panel_state.py", "processing.py", "case_drafts.py", "kept_drafts.py", "workflow.py",
                      "module_actions.py", "next_case.py", "result_folder.py", "dicom_results.py", "change_nodes.py",
                      "models_panel.py", "edit_tracking.py", "readback.py", "choices.py", "exam_from_nodes.py",
                      "mrml_helpers.py", "segmentation_nodes.py", "volume_nodes.py")
STABLE_TEXTS = {
    "change_nodes.py": {"%s vs %s T2 change", " (chart data)", " by subregion", "%s to baseline", "%s T2 change map",
                        "%s T2 increase clusters",  # node names
                        "T2 change by subregion (follow-up minus baseline)", "T2 change (ms)",  # chart node titles
                        "recorded by its analysis"},  # part of the core package's sentence on the visit's side
    "processing.py": {"(worker output unreadable: %s)"},  # stands in a line of the worker's log, in its reader thread
    "exam_from_nodes.py": {"echo time"},  # a sequence's index name as Slicer stores it, compared, not shown
    "segmentation_nodes.py": {"Femoral cartilage", "%s femoral cartilage"},  # segment and node names
    "volume_nodes.py": {"%s T2 map", "%s T2 fit r2"},  # node names
}


def _docstrings(tree):
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}


def _is_sentence(text: str) -> bool:
    """Words a reader sees: a space and a word once %-codes and {placeholders} are taken out."""
    words = re.sub(r"%[-#0-9.]*[a-z%]|\{[^}]*\}", "", text)
    return " " in text.strip() and re.search(r"[A-Za-z]{2,}", words) is not None


def unmarked_sentences(source: str, stable=frozenset()):
    """``(line, text)`` of each sentence-like string literal of ``source`` outside ``_()`` (docstrings and
    ``stable`` texts left out)."""
    tree = ast.parse(source)
    inside = {id(node) for call in ast.walk(tree) if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
              and call.func.id == "_" for argument in call.args for node in ast.walk(argument)}
    skipped = inside | _docstrings(tree)
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped
            and node.value not in stable and _is_sentence(node.value)]


def test_the_check_finds_a_sentence_that_bypasses_the_translation():
    source = 'def f(x):\n    """Doc string."""\n    return "Draft of %s saved." % x, _("Kept as {file}.")\n'
    assert unmarked_sentences(source) == [(3, "Draft of %s saved.")]
    assert unmarked_sentences('n = "%s: %s" % (a, b)\nname = "%s T2 map" % c', {"%s T2 map"}) == []


@pytest.mark.parametrize("name", PANEL_TEXT_MODULES)
def test_every_sentence_of_the_panel_texts_goes_through_the_translation(name):
    """A sentence the panel shows (a status line, a note, an error this package raises, a list entry, a tooltip)
    that is not marked is never offered for translation; node names and the core's words are listed as stable."""
    source = (SLICER_LIB / name).read_text(encoding="utf-8")
    assert unmarked_sentences(source, STABLE_TEXTS.get(name, frozenset())) == []
    assert "from .translation import tr as _" in source
    stored = [node.lineno for node in ast.walk(ast.parse(source))
              if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store)]
    assert stored == [], "%s: '_' is assigned (e.g. '_, _, proxy = ...'), hiding the translation function" % name


def test_the_notes_list_entries_and_tooltips_are_translated_then_filled_in(monkeypatch):
    from KneeCartilageT2Lib.draft_files import DraftInfo
    from KneeCartilageT2SlicerLib import choices, edit_tracking, kept_drafts, models_panel, module_actions

    for module in (choices, edit_tracking, kept_drafts, models_panel, module_actions):
        monkeypatch.setattr(module, "_", marked)
    choice = models_panel.ModelChoice("unet", "2", True, "", "Femoral cartilage U-Net")
    assert choice.label == "<<unet v2 (<<ready>>)>>"
    assert choice.tooltip == "<<Femoral cartilage U-Net\nLicence: <<not stated>>>>"
    info = DraftInfo("0003", "2026-05-02T14:03:11Z", "AB", 5321, "d")
    assert kept_drafts.KeptDraft(Path("0003.nrrd"), info, True).label() == (
        "<<2026-05-02 14:03:11 UTC by AB, 5321 voxels (<<the current draft>>)>>")
    assert edit_tracking.edit_status_text(edit_tracking.CURRENT) == "<<Measurements match the segment.>>"
    assert module_actions.ModuleActions.describe_input(None) == "<<Select the MESE series (sequence or multi-volume).>>"
    assert [side.label() for side in choices.KneeSide][1:] == ["<<Right knee>>", "<<Left knee>>"]


def test_the_errors_this_package_raises_are_translated(monkeypatch):
    from KneeCartilageT2Lib.errors import InputError
    from KneeCartilageT2SlicerLib import exam_from_nodes, next_case, workflow

    for module in (exam_from_nodes, next_case, workflow):
        monkeypatch.setattr(module, "_", marked)
    with pytest.raises(InputError, match=r"^<<Unknown next-case strategy 'best'; use first, random, uncertain\.>>$"):
        next_case.start_choice("unused", "best", None)
    with pytest.raises(InputError, match=r"^<<No dataset folder is set: "):
        workflow.KneeT2Workflow().accept_and_export(None, " ")
    with pytest.raises(InputError, match=r"^<<No input selected: "):
        exam_from_nodes.exam_from_node(None)
    assert exam_from_nodes.no_echo_times("Knee") == (
        "<<The echo times of 'Knee' are not stored with it: type them (ms, comma separated, one per echo) in the Echo "
        "times field.>>")


def test_texts_are_marked_as_literals_the_extraction_tools_can_read():
    """``_(text)`` with a literal (implicit concatenation allowed) and never ``_(a % b)`` or ``_(f"...")``: the tools
    read the literal, and a text filled in before translating is never found in a translation file."""
    for name in PANEL_TEXT_MODULES:
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
