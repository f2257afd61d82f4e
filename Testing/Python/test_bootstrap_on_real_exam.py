"""The shipped bootstrap model on the real GE exam: a regression guard on real data.

There is no manual label for this exam, so the figures guarded here are the
ones the README reports and a reader checked on the images (3,079 cartilage
voxels, whole-plate T2 41.2 ms; the notch slices 10-11 missed, the trochlea
not found). A change to the model, the preprocessing, the T2 fit or the
refinement that moves them shows up here, not only in a benchmark someone
has to remember to run.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from KneeCartilageT2Lib.exam_loader import load_exam  # noqa: E402
from KneeCartilageT2Lib.pipeline import AnalysisOptions, analyse_exam  # noqa: E402
from KneeCartilageT2Lib.slice_coverage import plate_ends, slices_to_check  # noqa: E402


@pytest.fixture(scope="module")
def ge_analysis(ge_exam_dir):
    return analyse_exam(load_exam(ge_exam_dir), AnalysisOptions(device="cpu"))


def test_plate_size_and_t2_on_the_real_exam_stay_where_they_were_checked(ge_analysis):
    voxels = int(np.count_nonzero(ge_analysis.label.array))
    assert voxels == pytest.approx(3079, rel=0.03)
    plate = ge_analysis.regions.row("all")
    assert plate["t2_mean_ms"] == pytest.approx(41.2, abs=0.5)


def test_the_notch_gap_is_named_and_no_plate_end_is_called_abrupt(ge_analysis):
    label = ge_analysis.label.array
    assert [k for k, _ in slices_to_check(label)] == [10, 11]
    assert not any(end.abrupt for end in plate_ends(label))  # its ends hold 0.10 and 0.38 of the fullest slice
    assert any("Slice(s) 10, 11 hold no cartilage" in message for message in ge_analysis.messages)
    assert not any("abruptly" in message for message in ge_analysis.messages)
