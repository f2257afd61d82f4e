"""A knee side from the data is credited to where it came from: the DICOM Laterality tag, or the Laterality field
of an echo stack's JSON sidecar (NRRD/NIfTI); an estimate to the cartilage (its shape, and its position when
the geometry is the scanner's), not to the shape alone."""

from __future__ import annotations

import numpy as np

from KneeCartilageT2Lib.cartilage_shell import ShellSpec, build_shell
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.regions import analyse_regions
from KneeCartilageT2Lib.visit_sides import VisitSide, decide_pair_side

SPEC = ShellSpec(spacing_mm=(0.7, 0.7, 2.0), lateral_range_mm=(-30.0, 30.0), notch_range_mm=(-5.0, 5.0))


def test_an_echo_stacks_side_comes_from_its_sidecar_and_a_dicom_series_from_its_tag(tmp_path):
    from KneeCartilageT2Lib.dicom_writer import write_dicom_series
    from KneeCartilageT2Lib.echo_stack_io import write_echo_stack
    from KneeCartilageT2Lib.exam_loader import load_exam
    from KneeCartilageT2Lib.pipeline import AnalysisOptions, laterality_for

    exam = MeseExam(np.random.default_rng(0).uniform(10, 100, (3, 4, 8, 8)), [10.0, 20.0, 30.0], laterality="left")
    stack = load_exam(write_echo_stack(exam, tmp_path / "echoes.nrrd"))
    write_dicom_series(exam, tmp_path / "dicom")
    series = load_exam(tmp_path / "dicom")
    assert (stack.laterality, stack.laterality_source) == ("left", "sidecar")
    assert (series.laterality, series.laterality_source) == ("left", "dicom")
    assert laterality_for(stack, AnalysisOptions()) == ("left", "sidecar")
    assert laterality_for(series, AnalysisOptions()) == ("left", "dicom")
    assert laterality_for(stack, AnalysisOptions(laterality="right")) == ("right", "user")


def test_texts_name_the_sidecar_and_the_cartilage():
    from KneeCartilageT2Lib.cohort_sides import _describe
    from KneeCartilageT2Lib.commands.regions import side_and_source
    from KneeCartilageT2Lib.region_figure import _title

    baseline, followup = VisitSide.known("baseline", "right", "sidecar"), VisitSide.known("follow-up", "right", "dicom")
    assert baseline.is_known and baseline.is_confident
    assert baseline.describe() == "a right knee (from the Laterality field of the echo stack's JSON sidecar)"
    assert followup.describe() == "a right knee (from the DICOM Laterality tag)"
    assert decide_pair_side(baseline, followup).source == "sidecar" and decide_pair_side(baseline, followup).warnings == []
    assert side_and_source("left", None, "sidecar") == ("left", "sidecar")
    assert _describe({"laterality": "left", "source": "sidecar"}) == "left (from the JSON sidecar)"

    mask, t2, _ = build_shell(SPEC, "right")
    known = analyse_regions(mask, t2, "right", laterality_source="sidecar")
    assert known.orientation.side_source == "sidecar" and "(side from the JSON sidecar)" in _title(known)
    estimated = analyse_regions(mask, t2, "unknown")
    assert "ESTIMATED from the cartilage" in _title(estimated) and "shape" not in _title(estimated)


def test_the_console_and_both_reports_share_one_phrase_per_side_source(capsys):
    """``knee-t2 regions`` printed the raw code ("side sidecar"); the reports each had their own words."""
    from KneeCartilageT2Lib.change_report import _visit_side_text
    from KneeCartilageT2Lib.commands.regions import print_summary
    from KneeCartilageT2Lib.side_words import side_source_phrase

    mask, t2, _ = build_shell(SPEC, "right")
    print_summary(analyse_regions(mask, t2, "unknown"))
    printed = capsys.readouterr().out.splitlines()[0]
    assert printed.startswith("Right knee (side estimated from the cartilage, confidence 0.")
    print_summary(analyse_regions(mask, t2, "right", laterality_source="dicom"))
    assert capsys.readouterr().out.startswith("Right knee (side from the DICOM Laterality tag), improved regions")
    for source in ("dicom", "sidecar", "user"):
        assert _visit_side_text({"laterality": "left", "source": source}) == "left (%s)" % side_source_phrase(source)
    assert _visit_side_text({"laterality": "left", "source": "estimated", "confidence": 0.55}) == \
        "left (estimated from the cartilage, confidence 0.55)"
    assert side_source_phrase(None) == "source not recorded" and side_source_phrase("odd") == "odd"
    assert side_source_phrase("estimated", 0.6, detail=True) == (
        "estimated from the cartilage: its shape, and where the knee lay in the scanner when that is known, "
        "confidence 0.60")


def test_the_figure_the_visit_messages_and_the_cohort_notes_take_their_words_from_side_words():
    """The figure's title, the change's visit messages and the cohort side notes each kept their own words
    ("from the sidecar", "Laterality field of its echo stack's JSON sidecar", "left (sidecar)")."""
    from KneeCartilageT2Lib.cohort_sides import _describe
    from KneeCartilageT2Lib.region_figure import _title
    from KneeCartilageT2Lib.side_words import side_source_phrase, side_source_short

    mask, t2, _ = build_shell(SPEC, "right")
    for source in ("dicom", "sidecar", "user"):
        assert VisitSide.known("baseline", "left", source).describe() == "a left knee (%s)" % side_source_phrase(source)
        assert _describe({"laterality": "left", "source": source}) == "left (%s)" % side_source_short(source)
        analysis = analyse_regions(mask, t2, "right", laterality_source=source)
        assert "Right knee (side %s) - " % side_source_short(source) in _title(analysis)
    estimate = VisitSide("follow-up", "left", "estimated", 0.62)
    assert estimate.describe() == "a left knee (%s)" % side_source_phrase("estimated", 0.62)
    assert _describe({"laterality": "left", "source": "estimated", "confidence": 0.62}) == \
        "left (estimated from the cartilage, confidence 0.62)"
    assert _describe({"laterality": "left", "source": "estimated"}) == "left (estimated from the cartilage)"
    assert _describe({"laterality": "unknown", "source": "estimated"}) == _describe({}) == "unknown"
    assert side_source_short("sidecar") == "from the JSON sidecar" and side_source_short("") == "source not recorded"
    title = _title(analyse_regions(mask, t2, "unknown"))
    assert "(side ESTIMATED from the cartilage, confidence 0." in title
