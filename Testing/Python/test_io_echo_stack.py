"""4D echo stacks (NRRD Slicer sequence, NIfTI) with JSON sidecars: exact round trips and clear errors."""

from __future__ import annotations

import gzip
import json
import re

import numpy as np
import pytest
import SimpleITK as sitk

from KneeCartilageT2Lib.echo_stack_io import read_echo_stack, sidecar_path, write_echo_stack
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.geometry import make_ijk_to_ras

TIMES = [6.312, 12.624, 18.936, 25.248]


def oblique_matrix():
    angle_a, angle_b = 0.4, -0.25
    first = np.array([[np.cos(angle_a), -np.sin(angle_a), 0], [np.sin(angle_a), np.cos(angle_a), 0], [0, 0, 1]])
    second = np.array([[1, 0, 0], [0, np.cos(angle_b), -np.sin(angle_b)], [0, np.sin(angle_b), np.cos(angle_b)]])
    return make_ijk_to_ras((0.3125, 0.446, 3.5), first @ second, (-60.123456789, 40.5, -20.25))


def make_exam(laterality="right"):
    rng = np.random.default_rng(5)
    echoes = rng.random((len(TIMES), 6, 9, 7)).astype(np.float32) * 1000
    return MeseExam(echoes, TIMES, oblique_matrix(), laterality, {"Manufacturer": "Test", "PatientName": "DOE^J"})


@pytest.mark.parametrize("name", ["echoes.nrrd", "echoes.nii.gz", "echoes.nii"])
def test_round_trip_is_exact(tmp_path, name):
    exam = make_exam()
    path = write_echo_stack(exam, tmp_path / name)
    assert sidecar_path(path) == tmp_path / "echoes.json" and sidecar_path(path).is_file()
    loaded = read_echo_stack(path)
    assert np.array_equal(loaded.echoes, exam.echoes)
    assert np.array_equal(loaded.echo_times_ms, exam.echo_times_ms)
    assert np.array_equal(loaded.ijk_to_ras, exam.ijk_to_ras)
    assert loaded.laterality == "right"
    assert loaded.metadata["Manufacturer"] == "Test"
    assert "DOE" not in sidecar_path(path).read_text()


@pytest.mark.parametrize("name", ["echoes.nrrd", "echoes.nii.gz"])
def test_file_geometry_alone_is_accurate_without_the_sidecar_matrix(tmp_path, name):
    exam = make_exam()
    path = write_echo_stack(exam, tmp_path / name)
    sidecar = json.loads(sidecar_path(path).read_text())
    del sidecar["IJKToRAS"]
    sidecar_path(path).write_text(json.dumps(sidecar))
    loaded = read_echo_stack(path)
    assert loaded.metadata["geometry_source"] == "file"
    np.testing.assert_allclose(loaded.ijk_to_ras, exam.ijk_to_ras, atol=1e-4)


def test_nrrd_layout_is_a_slicer_sequence_read_by_simpleitk(tmp_path):
    exam = make_exam()
    path = write_echo_stack(exam, tmp_path / "echoes.seq.nrrd")
    header = path.read_bytes().split(b"\n\n", 1)[0].decode("ascii")
    assert "kinds: list domain domain domain" in header
    assert "axis 0 index values:=6.312 12.624 18.936 25.248" in header
    image = sitk.ReadImage(str(path))
    assert image.GetNumberOfComponentsPerPixel() == len(TIMES) and image.GetSize() == (7, 9, 6)
    assert np.array_equal(np.moveaxis(sitk.GetArrayFromImage(image), -1, 0), exam.echoes)
    assert read_echo_stack(path).metadata["sidecar"].endswith("echoes.seq.json")


def test_echo_times_from_the_sequence_header_when_no_sidecar(tmp_path):
    path = write_echo_stack(make_exam(), tmp_path / "echoes.nrrd")
    sidecar_path(path).unlink()
    loaded = read_echo_stack(path)
    assert np.array_equal(loaded.echo_times_ms, TIMES) and loaded.metadata["echo_times_source"] == "nrrd header"
    assert loaded.laterality == "unknown"


def test_list_axis_last_as_newer_slicer_writes(tmp_path):
    exam = make_exam()
    matrix = exam.ijk_to_ras
    directions = " ".join("(%s)" % ",".join(repr(float(v)) for v in matrix[:3, a]) for a in range(3))
    header = "\n".join([
        "NRRD0004", "type: float", "dimension: 4", "space: right-anterior-superior", "sizes: 7 9 6 4",
        "space directions: %s none" % directions,
        "kinds: domain domain domain list", 'labels: "" "" "" "EchoTime"', 'units: "" "" "" "s"',
        "endian: little", "encoding: gzip", "space origin: (%s)" % ",".join(repr(float(v)) for v in matrix[:3, 3]),
        "axis 3 index type:=numeric", "axis 3 index values:=%s" % " ".join(str(t / 1000) for t in TIMES), "", ""])
    path = tmp_path / "newer.seq.nrrd"
    path.write_bytes(header.encode("ascii") + gzip.compress(exam.echoes.astype("<f4").tobytes()))
    loaded = read_echo_stack(path)
    assert np.array_equal(loaded.echoes, exam.echoes)
    np.testing.assert_allclose(loaded.echo_times_ms, TIMES, atol=1e-9)
    np.testing.assert_allclose(loaded.ijk_to_ras, matrix, atol=1e-9)


def test_echo_times_argument_wins(tmp_path):
    path = write_echo_stack(make_exam(), tmp_path / "echoes.nii.gz")
    loaded = read_echo_stack(path, echo_times_ms=[10, 20, 30, 40])
    assert np.array_equal(loaded.echo_times_ms, [10, 20, 30, 40]) and loaded.metadata["echo_times_source"] == "argument"


def test_missing_echo_times_are_explained(tmp_path):
    path = write_echo_stack(make_exam(), tmp_path / "echoes.nii.gz")
    sidecar_path(path).unlink()
    with pytest.raises(InputError, match=r"No echo times for .*--echo-times .*echoes\.json"):
        read_echo_stack(path)


def test_echo_time_count_mismatch(tmp_path):
    path = write_echo_stack(make_exam(), tmp_path / "echoes.nrrd")
    sidecar_path(path).write_text(json.dumps({"EchoTimes": [10, 20, 30]}))
    with pytest.raises(InputError, match="3 echo times .* for the 4 echoes"):
        read_echo_stack(path)
    with pytest.raises(InputError, match="5 echo times .*argument.* for the 4 echoes"):
        read_echo_stack(path, echo_times_ms=[1, 2, 3, 4, 5])


def test_bad_sidecar_json(tmp_path):
    path = write_echo_stack(make_exam(), tmp_path / "echoes.nrrd")
    sidecar_path(path).write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_echo_stack(path)


def test_sidecar_matrix_that_disagrees_is_ignored(tmp_path):
    exam = make_exam()
    path = write_echo_stack(exam, tmp_path / "echoes.nrrd")
    sidecar = json.loads(sidecar_path(path).read_text())
    sidecar["IJKToRAS"][0][3] += 5.0
    sidecar_path(path).write_text(json.dumps(sidecar))
    loaded = read_echo_stack(path)
    np.testing.assert_allclose(loaded.ijk_to_ras, exam.ijk_to_ras, atol=1e-4)
    assert "ignored" in loaded.metadata["geometry_source"]


def test_a_3d_volume_is_not_an_echo_stack(tmp_path):
    path = tmp_path / "one_echo.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 4, 5), np.float32)), str(path))
    with pytest.raises(InputError, match="single 3D volume"):
        read_echo_stack(path, echo_times_ms=[10])


def test_cannot_write_other_formats(tmp_path):
    with pytest.raises(InputError, match="use .nrrd"):
        write_echo_stack(make_exam(), tmp_path / "echoes.png")


def test_a_dotted_name_never_borrows_another_files_sidecar(tmp_path):
    """knee.v1.nrrd without its own sidecar must not read knee.json (the sidecar of knee.nrrd)."""
    other = make_exam()
    other.echo_times_ms = np.array([10.0, 20.0, 30.0, 40.0])
    write_echo_stack(other, tmp_path / "knee.nrrd")
    path = write_echo_stack(make_exam(), tmp_path / "knee.v1.nrrd")
    sidecar_path(path).unlink()  # e.g. copied without it
    loaded = read_echo_stack(path)
    np.testing.assert_allclose(loaded.echo_times_ms, TIMES)  # from its own NRRD header
    assert loaded.metadata["echo_times_source"] == "nrrd header"
    sequence = write_echo_stack(make_exam(), tmp_path / "scan.seq.nrrd")
    sidecar_path(sequence).rename(tmp_path / "scan.json")  # Slicer's sequence naming still finds it
    assert read_echo_stack(sequence).metadata["echo_times_source"] == "sidecar"


def test_rewriting_a_stack_never_pairs_the_new_image_with_the_old_sidecar(tmp_path, monkeypatch):
    from KneeCartilageT2Lib import echo_stack_io

    path = write_echo_stack(make_exam(), tmp_path / "echoes.nii.gz")
    changed = make_exam()
    changed.echo_times_ms = np.array([10.0, 20.0, 30.0, 40.0])

    def power_cut(*args, **kwargs):
        raise KeyboardInterrupt("after the image, before the sidecar")

    monkeypatch.setattr(echo_stack_io, "atomic_write_json", power_cut)
    with pytest.raises(KeyboardInterrupt):
        write_echo_stack(changed, path)
    with pytest.raises(InputError, match="No echo times"):  # not the old sidecar's 6.3 ms spacing
        read_echo_stack(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["echoes.nii.gz"]


# --- 4D NRRD files written by other tools: the echo axis where the header says it is ---------------------------

SPATIAL_AXES = ("i", "j", "k")  # column, row, slice: NRRD axes in file order, fastest first


def hand_nrrd(path, exam, echo_axis, kinds=None, space=True, spacings=None, extra=(), encoding="gzip",
              detached=False):
    """Write ``exam.echoes`` (echo, slice, row, col) as a hand-made 4D NRRD with the echoes on NRRD axis
    ``echo_axis`` (0 = fastest) and i, j, k on the others in order; ``kinds`` (or no such line), a 3D ``space``
    with ``space directions`` (``none`` for the echo axis) when ``space``, ``spacings`` as given, ``extra``
    header lines. ``detached`` writes a ``.nhdr`` header naming a data file beside it."""
    axes = list(SPATIAL_AXES)
    axes.insert(echo_axis, "e")
    numpy_axis = {"e": 0, "k": 1, "j": 2, "i": 3}
    data = np.ascontiguousarray(exam.echoes.transpose([numpy_axis[name] for name in reversed(axes)]), dtype="<f4")
    lengths = dict(zip("ekji", exam.echoes.shape))
    lines = ["NRRD0004", "type: float", "dimension: 4", "sizes: %s" % " ".join(str(lengths[name]) for name in axes)]
    matrix = exam.ijk_to_ras
    if space:
        vectors = {name: "(%s)" % ",".join(repr(float(v)) for v in matrix[:3, index])
                   for index, name in enumerate(SPATIAL_AXES)}
        lines += ["space: right-anterior-superior",
                  "space directions: %s" % " ".join(vectors.get(name, "none") for name in axes),
                  "space origin: (%s)" % ",".join(repr(float(v)) for v in matrix[:3, 3])]
    if kinds is not None:
        lines.append("kinds: %s" % kinds)
    if spacings is not None:
        lines.append("spacings: %s" % spacings)
    lines += ["endian: little", "encoding: %s" % encoding] + list(extra)
    payload = gzip.compress(data.tobytes()) if encoding == "gzip" else data.tobytes()
    if detached:
        (path.parent / "echo_data.raw").write_bytes(payload)
        path.write_text("\n".join(lines + ["data file: echo_data.raw"]) + "\n")
    else:
        path.write_bytes(("\n".join(lines) + "\n\n").encode("ascii") + payload)
    return path


@pytest.mark.parametrize("echo_axis, kinds", [
    (0, "list domain domain domain"),  # what 3D Slicer and pynrrd users write; SimpleITK read it right before too
    (0, "vector domain domain domain"),  # likewise
    (0, "none domain domain domain"),  # SimpleITK refused these: 4 domain axes in a 3D space
    (0, "??? domain domain domain"),
    (0, None),
    (0, "time domain domain domain"),
    (0, "domain domain domain domain"),  # `space directions: none` alone says which axis holds the echoes
    (3, "domain domain domain time"),
    (3, None),
    (1, "domain none domain domain"),
])
def test_echo_axis_named_by_space_directions_or_kinds(tmp_path, echo_axis, kinds):
    exam = make_exam()
    path = hand_nrrd(tmp_path / "stack.nrrd", exam, echo_axis, kinds, encoding="raw" if echo_axis == 3 else "gzip")
    loaded = read_echo_stack(path, echo_times_ms=TIMES)
    assert np.array_equal(loaded.echoes, exam.echoes)
    np.testing.assert_allclose(loaded.ijk_to_ras, exam.ijk_to_ras, atol=1e-9)


@pytest.mark.parametrize("kinds, spacings", [("none domain domain domain", None), ("??? domain domain domain", None),
                                             (None, "nan 0.3125 0.446 3.5"), ("list domain domain domain", None)])
def test_echoes_first_without_space_fields_are_not_scrambled(tmp_path, kinds, spacings):
    """Without ``space`` SimpleITK read these as 4D scalar images in file order: the echoes became x, and the slices
    were taken for echoes. Slices and echoes are equally many here, so nothing was refused: the data came out
    silently scrambled."""
    exam = make_exam()
    exam.echoes = exam.echoes[:, :len(TIMES)]
    path = hand_nrrd(tmp_path / "bare.nrrd", exam, 0, kinds, space=False, spacings=spacings)
    loaded = read_echo_stack(path, echo_times_ms=TIMES)
    assert np.array_equal(loaded.echoes, exam.echoes)
    if spacings is not None:
        np.testing.assert_allclose(np.linalg.norm(loaded.ijk_to_ras[:3, :3], axis=0), [0.3125, 0.446, 3.5])


def test_a_detached_header_with_its_echo_axis_first_reads_its_data_file(tmp_path):
    exam = make_exam()
    folder = tmp_path / "a folder"
    folder.mkdir()
    path = hand_nrrd(folder / "stack.nhdr", exam, 0, "none domain domain domain", detached=True)
    assert np.array_equal(read_echo_stack(path, echo_times_ms=TIMES).echoes, exam.echoes)


def sequence_fields(axis, times, unit):
    labels = " ".join('"EchoTime"' if each == axis else '""' for each in range(4))
    units = " ".join('"%s"' % unit if each == axis else '""' for each in range(4))
    return ["labels: %s" % labels, "units: %s" % units, "axis %d index type:=numeric" % axis,
            "axis %d index values:=%s" % (axis, " ".join(repr(time) for time in times))]


@pytest.mark.parametrize("echo_axis, kinds, unit, scale", [(0, "none domain domain domain", "ms", 1.0),
                                                           (3, "domain domain domain time", "s", 0.001),
                                                           (1, "domain list domain domain", "ms", 1.0)])
def test_echo_times_come_from_the_echo_axis_of_the_header(tmp_path, echo_axis, kinds, unit, scale):
    exam = make_exam()
    times = [time * scale for time in TIMES]
    path = hand_nrrd(tmp_path / "stack.nrrd", exam, echo_axis, kinds, extra=sequence_fields(echo_axis, times, unit))
    loaded = read_echo_stack(path)
    np.testing.assert_allclose(loaded.echo_times_ms, TIMES, atol=1e-9)
    assert loaded.metadata["echo_times_source"] == "nrrd header" and np.array_equal(loaded.echoes, exam.echoes)


def test_echo_times_of_another_axis_are_not_taken(tmp_path):
    """``axis 0 index values`` describe axis 0, not the echo axis 3 (a stale field left by an editing tool)."""
    exam = make_exam()
    extra = sequence_fields(3, TIMES, "ms") + ["axis 0 index values:=1 2 3 4"]
    path = hand_nrrd(tmp_path / "stack.nrrd", exam, 3, "domain domain domain list", extra=extra)
    np.testing.assert_allclose(read_echo_stack(path).echo_times_ms, TIMES)


def test_itk_4d_images_keep_the_echoes_on_their_4th_axis(tmp_path):
    """SimpleITK writes a 4D scalar image as a 4D space (four direction vectors, kinds all domain)."""
    echoes = make_exam().echoes
    sitk.WriteImage(sitk.GetImageFromArray(echoes, isVector=False), str(tmp_path / "itk.nrrd"))
    header = (tmp_path / "itk.nrrd").read_bytes().split(b"\n\n", 1)[0].decode("ascii")
    assert "kinds: domain domain domain domain" in header and "space dimension: 4" in header
    assert np.array_equal(read_echo_stack(tmp_path / "itk.nrrd", echo_times_ms=TIMES).echoes, echoes)


@pytest.mark.parametrize("kinds, space, spacings, message", [
    (None, False, None, r"does not say which axis holds the echoes \(no `kinds` field, no `space directions`\)\. "
                        r"Add `kinds: list domain domain domain`.* or `kinds: domain domain domain list`"),
    ("none none domain domain", False, None, r"`kinds: none none domain domain`, no `space directions`"),
    ("list vector domain domain", False, None, r"marks 2 axes \(0, 1\) as not spatial"),
    ("domain domain domain list", True, None, r"`space directions: none .*` says axis 0 holds the echoes but "
                                              r"`kinds: domain domain domain list` says axis 3; make them agree"),
    (None, False, "nan nan 0.446 3.5", r"`spacings: nan nan 0.446 3.5` marks 2 axes \(0, 1\)"),
])
def test_a_header_that_cannot_tell_the_echo_axis_is_refused(tmp_path, kinds, space, spacings, message):
    path = hand_nrrd(tmp_path / "unclear.nrrd", make_exam(), 0, kinds, space=space, spacings=spacings)
    with pytest.raises(InputError, match=message):
        read_echo_stack(path, echo_times_ms=TIMES)


def test_two_directionless_axes_or_a_miscounted_field_are_refused(tmp_path):
    path = hand_nrrd(tmp_path / "two.nrrd", make_exam(), 0, "list domain domain domain")
    text = path.read_bytes()
    path.write_bytes(re.sub(rb"space directions: none \([^)]*\)", b"space directions: none none", text, count=1))
    with pytest.raises(InputError, match=r"`space directions: none none .*` marks 2 axes \(0, 1\) as not spatial"):
        read_echo_stack(path, echo_times_ms=TIMES)
    path.write_bytes(text.replace(b"space directions: none", b"space directions: none none", 1))
    with pytest.raises(InputError, match=r"`space directions: .*` has 5 entries for `dimension: 4`; give one entry"):
        read_echo_stack(path, echo_times_ms=TIMES)


def test_a_4d_space_whose_kinds_name_another_echo_axis_is_refused(tmp_path):
    path = tmp_path / "itk.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(make_exam().echoes, isVector=False), str(path), False)
    path.write_bytes(path.read_bytes().replace(b"kinds: domain domain domain domain",
                                               b"kinds: time domain domain domain", 1))
    with pytest.raises(InputError, match=r"all four axes a direction in a 4D space .* `kinds: time domain domain "
                                         r"domain` marks axis 0\. Store the echoes on the last axis"):
        read_echo_stack(path, echo_times_ms=TIMES)


def test_several_data_files_that_need_a_relabelled_echo_axis_are_refused(tmp_path):
    path = hand_nrrd(tmp_path / "stack.nhdr", make_exam(), 0, "none domain domain domain", detached=True)
    path.write_text(path.read_text().replace("data file: echo_data.raw", "data file: slice%03d.raw 0 5 1 3"))
    with pytest.raises(InputError, match=r"several files \(`data file: slice%03d\.raw 0 5 1 3`\).* write `kinds: "
                                         r"list domain domain domain` in its header"):
        read_echo_stack(path, echo_times_ms=TIMES)


def test_our_own_stacks_are_read_directly_as_before(tmp_path, monkeypatch):
    from KneeCartilageT2Lib import nrrd_echo_axis

    def relabelled(*args):
        raise AssertionError("a file whose list axis SimpleITK reads needs no relabelled header")

    monkeypatch.setattr(nrrd_echo_axis, "_relabelled_header", relabelled)
    exam = make_exam()
    loaded = read_echo_stack(write_echo_stack(exam, tmp_path / "echoes.seq.nrrd"))
    assert np.array_equal(loaded.echoes, exam.echoes) and np.array_equal(loaded.ijk_to_ras, exam.ijk_to_ras)


def test_a_damaged_relabelled_stack_names_the_users_file(tmp_path):
    path = hand_nrrd(tmp_path / "cut.nrrd", make_exam(), 0, "none domain domain domain", encoding="raw")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputError, match=r"Cannot read .*cut\.nrrd as an echo stack with its echo on axis 0: "):
        read_echo_stack(path, echo_times_ms=TIMES)


# --- 3D Slicer MultiVolume NRRD (MultiVolumeImporter / MultiVolumeExplorer "Save"): echo times in frame labels -----

def multivolume_fields(labels, tag="EchoTime", units="ms"):
    """The key/value lines Slicer writes for a multi-volume node (tag or units None: the line is left out)."""
    lines = ["MultiVolume.DICOM.RepetitionTime:=2450", "MultiVolume.FrameLabels:=%s" % labels,
             "MultiVolume.NumberOfFrames:=%d" % len(TIMES)]
    if tag is not None:
        lines.append("MultiVolume.FrameIdentifyingDICOMTagName:=%s" % tag)
    if units is not None:
        lines.append("MultiVolume.FrameIdentifyingDICOMTagUnits:=%s" % units)
    return lines


@pytest.mark.parametrize("tag, units, scale", [("EchoTime", "ms", 1.0), ("EchoTime", "s", 0.001),
                                                ("EchoTime", None, 1.0), (None, "ms", 1.0)])
def test_a_slicer_multivolume_gives_its_echo_times_in_its_frame_labels(tmp_path, tag, units, scale):
    exam = make_exam()
    labels = ",".join(repr(time * scale) for time in TIMES)
    path = hand_nrrd(tmp_path / "mese.nrrd", exam, 0, "list domain domain domain",
                     extra=multivolume_fields(labels, tag, units))
    loaded = read_echo_stack(path)
    np.testing.assert_allclose(loaded.echo_times_ms, TIMES, atol=1e-9)
    assert loaded.metadata["echo_times_source"] == "nrrd header (MultiVolume.FrameLabels)"
    assert np.array_equal(loaded.echoes, exam.echoes)


def test_a_multivolume_told_apart_by_another_tag_is_refused_unless_echo_times_are_given(tmp_path):
    """A DCE / cine multi-volume's frame labels are trigger times (ms), which would pass as echo times."""
    exam = make_exam()
    path = hand_nrrd(tmp_path / "dce.nrrd", exam, 0, "list domain domain domain",
                     extra=multivolume_fields("6.312,12.624,18.936,25.248", "TriggerTime"))
    with pytest.raises(InputError, match=r"dce\.nrrd is a 3D Slicer multi-volume whose frames are told apart by "
                                         r"TriggerTime .*not by echo time: it looks like a dynamic \(DCE, perfusion "
                                         r"or cine\) series.*--echo-times"):
        read_echo_stack(path)
    assert np.array_equal(read_echo_stack(path, echo_times_ms=TIMES).echo_times_ms, TIMES)


@pytest.mark.parametrize("labels, units, message", [
    ("6.3,12.6,18.9,25.2", "deg", r"multi-volume .* are in 'deg'"),
    ("6.3,12.6,x,25.2", "ms", r"`MultiVolume.FrameLabels:=6.3,12.6,x,25.2` is not a comma-separated list"),
    ("6.3,12.6,18.9", "ms", r"3 echo times \(from nrrd header \(MultiVolume.FrameLabels\)\) .* for the 4 echoes"),
])
def test_multivolume_frame_labels_that_are_no_echo_times_in_ms_are_refused(tmp_path, labels, units, message):
    path = hand_nrrd(tmp_path / "odd.nrrd", make_exam(), 0, "list domain domain domain",
                     extra=multivolume_fields(labels, "EchoTime", units))
    with pytest.raises(InputError, match=message):
        read_echo_stack(path)
