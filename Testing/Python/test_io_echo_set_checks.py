"""A per-echo set whose files disagree (grid, 4D file, sidecar echo times) is refused naming the file and how."""

from __future__ import annotations

import json

import numpy as np
import pytest

from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.exam_loader import load_exam

TIMES_S = [0.01, 0.02, 0.03]
SHAPE = (3, 9, 7)  # slice, row, col
NAME = "sub-01_echo-%d_MESE"


def echo_image(index, shape=SHAPE, spacing=(0.5, 0.5, 3.0), origin=(4.0, -2.0, 11.0), direction=None):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.full(shape, 1000.0 * np.exp(-TIMES_S[index] * 1000.0 / 35.0), np.float32))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(direction)
    return image


def write_set(folder, echo_time=lambda index: TIMES_S[index], name=NAME):
    import SimpleITK as sitk

    for index in range(len(TIMES_S)):
        sitk.WriteImage(echo_image(index), str(folder / (name % (index + 1) + ".nii.gz")))
        (folder / (name % (index + 1) + ".json")).write_text(json.dumps({"EchoTime": echo_time(index)}))


def replace_echo(folder, number, image):
    import SimpleITK as sitk

    sitk.WriteImage(image, str(folder / (NAME % number + ".nii.gz")))


@pytest.mark.parametrize("changed, described", [
    (dict(spacing=(0.5, 0.5, 4.0)), r"spacing 0\.5 x 0\.5 x 4 mm, not 0\.5 x 0\.5 x 3 mm"),
    (dict(shape=(4, 9, 7)), r"size 7 x 9 x 4 voxels, not 7 x 9 x 3"),
    (dict(origin=(4.0, -2.0, 14.0)), r"origin \(-4, 2, 14\) mm RAS, not \(-4, 2, 11\)"),
    (dict(direction=(1, 0, 0, 0, 0.9848078, -0.1736482, 0, 0.1736482, 0.9848078)),
     r"axis directions turned by up to 10 degrees"),
])
def test_an_echo_on_another_grid_is_named_with_what_differs(tmp_path, changed, described):
    write_set(tmp_path)
    replace_echo(tmp_path, 3, echo_image(2, **changed))
    with pytest.raises(InputError, match=r"Echo 3 \(sub-01_echo-3_MESE\.nii\.gz\) has another grid than echo 1 "
                                         r"\(sub-01_echo-1_MESE\.nii\.gz\): %s\." % described):
        load_exam(tmp_path / "sub-01_echo-2_MESE.nii.gz")


def test_a_grid_within_the_tolerance_still_loads(tmp_path):
    write_set(tmp_path)
    replace_echo(tmp_path, 2, echo_image(1, origin=(4.0, -2.0, 11.0004)))
    assert load_exam(tmp_path / "sub-01_echo-1_MESE.nii.gz").n_echoes == 3


def test_a_4d_file_among_per_echo_files_is_named(tmp_path):
    import SimpleITK as sitk

    write_set(tmp_path)
    replace_echo(tmp_path, 2, sitk.JoinSeries([echo_image(index) for index in range(3)]))
    with pytest.raises(InputError, match=r"Echo 2 of the per-echo set \(.*sub-01_echo-2_MESE\.nii\.gz\) holds a 4D "
                                         r"image of 3 volumes .*each file of a per-echo set holds one 3D echo"):
        load_exam(tmp_path / "sub-01_echo-1_MESE.nii.gz")


def test_a_4d_stack_named_like_one_echo_of_a_set_says_the_others_were_not_used(tmp_path):
    import SimpleITK as sitk

    write_set(tmp_path, name="T2map_e%d")
    sitk.WriteImage(sitk.JoinSeries([echo_image(index) for index in range(3)]), str(tmp_path / "T2map_e1.nii.gz"))
    (tmp_path / "T2map_e1.json").write_text(json.dumps({"EchoTimes": [10, 20, 30]}))
    exam = load_exam(tmp_path / "T2map_e1.nii.gz")
    assert exam.n_echoes == 3 and exam.metadata["warnings"] == [
        "T2map_e1.nii.gz is named like echo 1 of a per-echo set (beside T2map_e2.nii.gz, T2map_e3.nii.gz) but holds "
        "all 3 echoes; it was read on its own and those files were not used."]


def test_a_repeated_sidecar_echo_time_names_both_files(tmp_path):
    write_set(tmp_path, echo_time=lambda index: [0.01, 0.02, 0.02][index])
    with pytest.raises(InputError, match=r"Echoes 2 \(sub-01_echo-2_MESE\.nii\.gz\) and 3 \(sub-01_echo-3_MESE\.nii"
                                         r"\.gz\) have the same echo time 20 ms \(from their sidecars\)"):
        load_exam(tmp_path / "sub-01_echo-1_MESE.nii.gz")


def test_sidecar_echo_times_against_the_echo_numbers_are_ordered_by_time_with_a_warning(tmp_path):
    write_set(tmp_path, echo_time=lambda index: [0.03, 0.01, 0.02][index])
    exam = load_exam(tmp_path / "sub-01_echo-1_MESE.nii.gz")
    np.testing.assert_allclose(exam.echo_times_ms, [10.0, 20.0, 30.0])
    assert [name[-len("echo-1_MESE.nii.gz"):] for name in exam.metadata["files"]] == [
        "echo-2_MESE.nii.gz", "echo-3_MESE.nii.gz", "echo-1_MESE.nii.gz"]
    assert exam.metadata["warnings"] == [
        "The echo numbers in the file names do not follow their sidecars' EchoTime (echo 1 30 ms, echo 2 10 ms, echo "
        "3 20 ms); the echoes were ordered by EchoTime. Check that each sidecar belongs to its image (renamed files?)."]


def test_given_echo_times_that_do_not_rise_are_refused(tmp_path):
    write_set(tmp_path)
    with pytest.raises(InputError, match=r"matched to the per-echo files in the order of their echo numbers .* do "
                                         r"not rise: 20 ms for echo 3 \(sub-01_echo-3_MESE\.nii\.gz\) after 30 ms for "
                                         r"echo 2"):
        load_exam(tmp_path / "sub-01_echo-1_MESE.nii.gz", echo_times_ms=[10, 30, 20])
    exam = load_exam(tmp_path / "sub-01_echo-1_MESE.nii.gz", echo_times_ms=[11, 22, 33])
    np.testing.assert_allclose(exam.echo_times_ms, [11, 22, 33])
