"""The knee's position in the scanner as a cue of its side, used only for scanner coordinates."""

from __future__ import annotations

import json

import numpy as np
import pytest

from KneeCartilageT2Lib.echo_stack_io import read_echo_stack, write_echo_stack
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.longitudinal_io import load_visit_folder
from KneeCartilageT2Lib.side_estimate import POSITION_MIN_OFFSET_MM, cartilage_centre_right_mm, estimate_side, position_side_vote
from KneeCartilageT2Lib.volume_io import write_volume
from KneeCartilageT2Lib.geometry import Volume

MIRROR_X = np.diag([-1.0, 1.0, 1.0, 1.0])


def _shifted_right(matrix, mm):
    """The same grid moved ``mm`` toward the patient's right (RAS +R)."""
    moved = np.array(matrix, dtype=float)
    moved[0, 3] += mm
    return moved


def _real_femoral_cartilage(knee_labels_dir, name):
    from KneeCartilageT2Lib.volume_io import read_volume

    volume = read_volume(knee_labels_dir / name)
    mask = volume.array[::3, ::2, ::2] == 1  # a coarser, MESE-like sampling
    matrix = volume.ijk_to_ras.copy()
    matrix[:3, :3] = matrix[:3, :3] @ np.diag([2.0, 2.0, 3.0])
    return mask, matrix


def test_position_votes_only_from_the_minimum_offset_on():
    assert position_side_vote(POSITION_MIN_OFFSET_MM) == 1.0
    assert position_side_vote(-POSITION_MIN_OFFSET_MM - 5) == -1.0
    assert position_side_vote(POSITION_MIN_OFFSET_MM - 0.1) == 0.0
    assert position_side_vote(0.0) == 0.0


@pytest.mark.parametrize("name", ["right_knee_example.nrrd", "SAG_3D_DESS_RIGHT_bones_cart_men_fib-label.nrrd"])
def test_real_right_knees_lie_to_the_right_and_the_position_raises_the_confidence(knee_labels_dir, name):
    mask, matrix = _real_femoral_cartilage(knee_labels_dir, name)
    assert cartilage_centre_right_mm(mask, matrix) > 60.0  # scanner coordinates kept in these label maps
    shape_only = estimate_side(mask, matrix)
    with_position = estimate_side(mask, matrix, scanner_frame=True)
    assert with_position.laterality == "right"
    assert with_position.confidence >= shape_only.confidence
    assert with_position.cues["centre_right_of_isocentre_mm"] > 60.0
    assert "as a right knee does" in with_position.note
    mirrored = estimate_side(mask, MIRROR_X @ matrix, scanner_frame=True)
    assert mirrored.laterality == "left"
    assert mirrored.confidence >= estimate_side(mask, MIRROR_X @ matrix).confidence
    assert mirrored.cues["centre_right_of_isocentre_mm"] < -60.0


def test_position_disagreeing_with_the_shape_lowers_the_confidence_and_is_said(knee_labels_dir):
    mask, matrix = _real_femoral_cartilage(knee_labels_dir, "right_knee_example.nrrd")
    shape_only = estimate_side(mask, matrix)
    on_the_left = _shifted_right(matrix, -2 * cartilage_centre_right_mm(mask, matrix))
    conflicting = estimate_side(mask, on_the_left, scanner_frame=True)
    assert conflicting.score == pytest.approx(0.5 * (shape_only.score - 1.0), abs=0.01)
    assert conflicting.confidence < shape_only.confidence
    assert "as a left knee does" in conflicting.note


def test_without_scanner_coordinates_the_position_is_ignored(knee_labels_dir):
    mask, matrix = _real_femoral_cartilage(knee_labels_dir, "right_knee_example.nrrd")
    here = estimate_side(mask, matrix)
    moved = estimate_side(mask, _shifted_right(matrix, -300.0))
    assert (moved.laterality, moved.score) == (here.laterality, pytest.approx(here.score, abs=0.01))  # cells binned anew
    assert "centre_right_of_isocentre_mm" not in moved.cues
    centred = _shifted_right(matrix, -cartilage_centre_right_mm(mask, matrix))
    near_centre = estimate_side(mask, centred, scanner_frame=True)
    assert near_centre.score == pytest.approx(estimate_side(mask, centred).score)  # an abstention, not a 0 vote
    assert "too near the centre" in near_centre.note


def _small_exam(metadata):
    echoes = np.ones((3, 2, 4, 5), np.float32) * np.array([100, 60, 36], np.float32)[:, None, None, None]
    return MeseExam(echoes, [10.0, 20.0, 30.0], np.diag([0.5, 0.5, 3.0, 1.0]), "unknown", dict(metadata))


def test_scanner_frame_is_claimed_for_dicom_and_kept_through_this_tools_echo_stacks(tmp_path):
    assert _small_exam({"source_format": "dicom"}).in_scanner_frame
    assert _small_exam({"SeriesInstanceUID": "1.2.3"}).in_scanner_frame  # a Slicer volume from the DICOM module
    assert not _small_exam({"source_format": "nrrd"}).in_scanner_frame
    from_dicom = write_echo_stack(_small_exam({"source_format": "dicom"}), tmp_path / "a.nrrd")
    assert read_echo_stack(from_dicom).in_scanner_frame
    other = write_echo_stack(_small_exam({}), tmp_path / "b.nrrd")
    assert not read_echo_stack(other).in_scanner_frame


def test_a_previous_analysis_folder_passes_its_scanner_frame_on(tmp_path):
    label = Volume(np.ones((2, 3, 3), np.uint8), np.eye(4))
    for name, frame in (("dicom_visit", True), ("file_visit", None)):
        folder = tmp_path / name
        folder.mkdir()
        write_volume(label, folder / "label.nrrd")
        write_volume(label.with_array(np.full((2, 3, 3), 40.0, np.float32)), folder / "t2.nrrd")
        provenance = {"laterality": "unknown"}
        if frame is not None:
            provenance["scanner_frame"] = frame
        (folder / "provenance.json").write_text(json.dumps(provenance))
    assert load_visit_folder(tmp_path / "dicom_visit").scanner_frame is True
    assert load_visit_folder(tmp_path / "file_visit").scanner_frame is False
