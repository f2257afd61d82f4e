"""The change report tells its two visits apart when their files have the same (or a generic) name: every echo
stack the tool writes is ``echoes.nrrd``; it shows the visit and its images' fingerprint, never more of the path."""

from __future__ import annotations

import json

from KneeCartilageT2Lib.change_report import write_change_report
from KneeCartilageT2Lib.cli import main
from KneeCartilageT2Lib.volume_io import write_volume

import test_longitudinal_change
from test_longitudinal_change import _exam_from

knee_pair = test_longitudinal_change.knee_pair  # the moved shell knee pair (a module fixture)

TITLE = "Femoral cartilage T2 change \u2013 "


def _page(folder, inputs):
    folder.mkdir()
    (folder / "change.json").write_text(json.dumps({
        "format": "knee-t2 change", "laterality": "right", "delta_t2_all_ms": 0.5, "inputs": inputs}))
    return write_change_report(folder).read_text(encoding="utf-8")


def test_alike_or_generic_names_show_the_visit_and_its_images(tmp_path):
    same = _page(tmp_path / "same", {"baseline": "echoes.nrrd", "followup": "echoes.nrrd",
                                     "baseline_sha256": "1a2b3c4d" + "0" * 56, "followup_sha256": "5e6f7a8b" + "0" * 56})
    assert (TITLE + "baseline (echoes.nrrd, images 1a2b3c4d) \u2192 follow-up (echoes.nrrd, images 5e6f7a8b)") in same
    older = _page(tmp_path / "older", {"baseline": "knee", "followup": "knee"})  # no fingerprints recorded
    assert TITLE + "baseline (knee) \u2192 follow-up (knee)" in older
    generic = _page(tmp_path / "generic", {"baseline": "v0.nrrd", "followup": "echoes.nrrd"})
    assert TITLE + "baseline (v0.nrrd) \u2192 follow-up (echoes.nrrd)" in generic
    distinct = _page(tmp_path / "distinct", {"baseline": "v0.nrrd", "followup": "v1.nrrd",
                                             "baseline_sha256": "ab" * 32})
    assert TITLE + "v0.nrrd \u2192 v1.nrrd" in distinct and "v0.nrrd, images abababab" in distinct


def test_two_echo_stacks_named_alike_are_told_apart_by_their_images(knee_pair, tmp_path):
    from KneeCartilageT2Lib.echo_stack_io import write_echo_stack

    baseline, followup, _, _ = knee_pair
    for name, visit, seed in (("v0", baseline, 1), ("v1", followup, 2)):
        (tmp_path / name).mkdir()
        write_echo_stack(_exam_from(visit, seed), tmp_path / name / "echoes.nrrd")
        write_volume(visit.label, tmp_path / name / "label.nrrd")
    out = tmp_path / "out"
    assert main(["change", str(tmp_path / "v0" / "echoes.nrrd"), str(tmp_path / "v1" / "echoes.nrrd"), "-o", str(out),
                 "--baseline-seg", str(tmp_path / "v0" / "label.nrrd"), "--followup-seg",
                 str(tmp_path / "v1" / "label.nrrd"), "--no-visit-folders", "--no-registration"]) == 0
    inputs = json.loads((out / "change.json").read_text())["inputs"]
    page = (out / "change_report.html").read_text(encoding="utf-8")
    assert (TITLE + "baseline (echoes.nrrd, images %s) \u2192 follow-up (echoes.nrrd, images %s)"
            % (inputs["baseline_sha256"][:8], inputs["followup_sha256"][:8])) in page
    assert inputs["baseline_sha256"] != inputs["followup_sha256"] and str(tmp_path) not in page
