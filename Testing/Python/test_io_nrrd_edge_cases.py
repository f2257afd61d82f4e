"""4D NRRD echo stacks at the edges of what ITK reads: odd paths, 4D spaces, colour and tensor kinds."""

from __future__ import annotations

import re

import numpy as np
import pytest
import SimpleITK as sitk
from test_io_echo_stack import TIMES, hand_nrrd, make_exam

from KneeCartilageT2Lib.echo_stack_io import read_echo_stack, write_echo_stack
from KneeCartilageT2Lib.errors import InputError


@pytest.mark.parametrize("folder_name", ["scan%d", "a%03d", "x %d 1 2 1"])
@pytest.mark.parametrize("detached", [False, True])
def test_a_relabelled_stack_in_a_folder_named_like_a_file_pattern_is_read(tmp_path, folder_name, detached):
    """The relabelled header names the data by its path; teem took ``scan%d/...`` for a numbered-file pattern
    ("couldn't parse three ints (min, max, step) after data filename template")."""
    exam = make_exam()
    folder = tmp_path / folder_name
    folder.mkdir()
    path = hand_nrrd(folder / ("stack.nhdr" if detached else "stack.nrrd"), exam, 0, "none domain domain domain",
                     detached=detached)
    loaded = read_echo_stack(path, echo_times_ms=TIMES)
    assert np.array_equal(loaded.echoes, exam.echoes)
    np.testing.assert_allclose(loaded.ijk_to_ras, exam.ijk_to_ras, atol=1e-9)


def _four_d_space(path, exam, last_direction: str, kinds: str, space: str = "space dimension: 4"):
    """``exam`` as a 4D NRRD in a 4D space, the echoes on the last axis: ``space dimension: 4`` (ITK's LPS
    convention, as ITK writes 4D images) or ``space`` as given, with the exam's directions in that space."""
    matrix = exam.ijk_to_ras.copy()
    if "right-anterior" not in space:
        matrix[:2] *= -1.0  # RAS -> LPS
    vectors = " ".join("(%s,0)" % ",".join(repr(float(v)) for v in matrix[:3, axis]) for axis in range(3))
    n_echoes, n_slices, n_rows, n_columns = exam.echoes.shape
    header = ["NRRD0004", "type: float", "dimension: 4", space,
              "sizes: %d %d %d %d" % (n_columns, n_rows, n_slices, n_echoes),
              "space directions: %s %s" % (vectors, last_direction), "kinds: %s" % kinds,
              "space origin: (%s,0)" % ",".join(repr(float(v)) for v in matrix[:3, 3]), "endian: little",
              "encoding: raw"]
    path.write_bytes(("\n".join(header) + "\n\n").encode("ascii") + exam.echoes.astype("<f4").tobytes())
    return path


def test_a_4d_space_without_a_direction_for_the_echo_axis_gets_our_own_message(tmp_path):
    """ITK said only "number of domain axes in the NRRD file (3) doesn't match dimension of space in which
    orientation is defined (4)"."""
    path = _four_d_space(tmp_path / "rast.nrrd", make_exam(), "none", "domain domain domain list")
    with pytest.raises(InputError, match=r"rast\.nrrd: its `space directions` are vectors of a 4D space \(space and "
                                         r"time\) but axis 3 has none.*Write a 3D space \(`space: right-anterior-"
                                         r"superior`.*with `none` for the echo axis"):
        read_echo_stack(path, echo_times_ms=TIMES)


def test_a_4d_space_with_four_directions_and_a_list_kind_is_read_with_the_echoes_last(tmp_path):
    """Four direction vectors make a 4D grid (echoes on the 4th axis) whatever the last kind; ITK refused ``list``
    there (three domain axes in a 4D space)."""
    exam = make_exam()
    path = _four_d_space(tmp_path / "rast.nrrd", exam, "(0,0,0,1)", "domain domain domain list")
    loaded = read_echo_stack(path, echo_times_ms=TIMES)
    assert np.array_equal(loaded.echoes, exam.echoes)
    np.testing.assert_allclose(loaded.ijk_to_ras, exam.ijk_to_ras, atol=1e-9)


@pytest.mark.parametrize("kind, size, axis, what", [
    ("RGB-color", 3, 0, "colour channels"), ("RGBA-color", 4, 0, "colour channels"),
    ("3-color", 3, 0, "colour channels"), ("RGB-color", 3, 3, "colour channels"),
    ("3-vector", 3, 0, "3-vector components"), ("3D-symmetric-matrix", 6, 0, "3D-symmetric-matrix components"),
])
def test_colour_tensor_and_spatial_vector_kinds_are_not_read_as_echoes(tmp_path, kind, size, axis, what):
    exam = make_exam()
    exam.echoes = np.concatenate([exam.echoes, exam.echoes])[:size]  # the kind fixes the axis length
    kinds = ["domain"] * 3
    kinds.insert(axis, kind)
    path = hand_nrrd(tmp_path / "screenshot.nrrd", exam, axis, " ".join(kinds))
    if "matrix" not in kind:  # ITK hands the axis over as pixel components (SimpleITK cannot take a tensor at all)
        assert sitk.ReadImage(str(path)).GetNumberOfComponentsPerPixel() == size
    times = [10.0 * (echo + 1) for echo in range(size)]
    with pytest.raises(InputError, match=r"screenshot\.nrrd: `kinds: %s` says axis %d holds %s.*not a multi-echo "
                                         r"\(MESE\) series.*write `list` for it" % (re.escape(" ".join(kinds)), axis,
                                                                                    what)):
        read_echo_stack(path, echo_times_ms=times)


def test_list_vector_and_slicer_sequence_kinds_are_still_read_as_echoes(tmp_path):
    exam = make_exam()
    for kinds in ("list domain domain domain", "vector domain domain domain"):
        path = hand_nrrd(tmp_path / "stack.nrrd", exam, 0, kinds)
        assert np.array_equal(read_echo_stack(path, echo_times_ms=TIMES).echoes, exam.echoes)
    assert np.array_equal(read_echo_stack(write_echo_stack(exam, tmp_path / "echoes.seq.nrrd")).echoes, exam.echoes)


@pytest.mark.parametrize("space", ["space: right-anterior-superior-time", "space: left-anterior-superior-time"])
def test_a_named_4d_ras_or_las_space_is_refused_rather_than_read_mirrored(tmp_path, space):
    """ITK converts RAS and LAS directions to LPS in 3D spaces only: these grids came out mirrored."""
    path = _four_d_space(tmp_path / "rast.nrrd", make_exam(), "(0,0,0,1)", "domain domain domain domain", space)
    with pytest.raises(InputError, match=r"rast\.nrrd: `%s` is read by ITK as if it were left-posterior-superior.*"
                                         r"mirrored\. Write `space: (right|left)-anterior-superior` with `none`"
                                         % re.escape(space)):
        read_echo_stack(path, echo_times_ms=TIMES)
