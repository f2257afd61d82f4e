"""Colour (RGB/RGBA) and displacement-vector images given as echoes are refused; echo vectors still load.

SimpleITK reads an RGB NIfTI, MetaImage or NRRD as a 3D image with 3 components per voxel, the layout the
echo-stack reader takes as one component per echo: without the check a screenshot saved as .nii.gz was fitted.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.exam_loader import load_exam

TIMES = [10.0, 20.0, 30.0]
SIZE = (6, 5, 4)  # x, y, z voxels


def write_nifti(path, data: np.ndarray, datatype: int, bitpix: int, dims, intent: int = 0):
    """A NIfTI-1 file written byte by byte (SimpleITK cannot write a colour datatype or intent): ``dims`` as NIfTI's
    dim[1..] (x first), ``data`` already in file order (x fastest), 0.5 x 0.5 x 3 mm voxels, sform only."""
    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, len(dims), *(list(dims) + [1] * (7 - len(dims))))
    struct.pack_into("<3h", header, 68, intent, datatype, bitpix)
    struct.pack_into("<8f", header, 76, 1.0, 0.5, 0.5, 3.0, 1.0, 1.0, 1.0, 1.0)
    struct.pack_into("<2f", header, 108, 352.0, 1.0)  # vox_offset, scl_slope
    struct.pack_into("<2h", header, 252, 0, 1)  # qform_code, sform_code
    struct.pack_into("<12f", header, 280, -0.5, 0, 0, 10, 0, -0.5, 0, 20, 0, 0, 3, 30)
    header[344:348] = b"n+1\0"
    path.write_bytes(bytes(header) + b"\0" * 4 + np.ascontiguousarray(data).tobytes())
    return path


def colour_voxels(components):
    """Colour values (z, y, x, channel) as uint8: interleaved channels, as RGB24/RGBA32 store them."""
    return (np.arange(int(np.prod(SIZE)) * components) % 251).astype(np.uint8).reshape(SIZE[::-1] + (components,))


def test_a_nifti_of_rgb24_or_rgba32_pixels_is_refused_as_colour(tmp_path):
    rgb = write_nifti(tmp_path / "screenshot.nii", colour_voxels(3), 128, 24, SIZE)
    with pytest.raises(InputError, match=r"screenshot\.nii is an RGB colour image \(NIfTI datatype RGB24\), such as "
                                         r"a screenshot.*its 3 components per voxel are no MR echoes\. Give the "
                                         r"magnitude echo images"):
        load_exam(rgb, echo_times_ms=TIMES)
    rgba = write_nifti(tmp_path / "overlay.nii", colour_voxels(4), 2304, 32, SIZE)
    with pytest.raises(InputError, match=r"RGBA colour image \(NIfTI datatype RGBA32\)"):
        load_exam(rgba, echo_times_ms=TIMES + [40.0])


@pytest.mark.parametrize("suffix", [".nii.gz", ".mha", ".nrrd"])
def test_three_or_four_8_bit_components_are_refused_as_colour_in_any_format(tmp_path, suffix):
    import SimpleITK as sitk

    for components, kind in ((3, "RGB"), (4, "RGBA")):
        path = tmp_path / ("colour%d%s" % (components, suffix))
        sitk.WriteImage(sitk.GetImageFromArray(colour_voxels(components), isVector=True), str(path))
        times = [10, 20, 30, 40][:components]
        (path.parent / ("colour%d.json" % components)).write_text(json.dumps({"EchoTimes": times}))
        with pytest.raises(InputError, match=r"is an %s colour image \(%d components of 8-bit unsigned integers per "
                                             r"voxel\)" % (kind, components)):
            load_exam(path)


def test_a_nrrd_without_kinds_holding_rgb_is_refused(tmp_path):
    """The echo axis is found from `space directions: none`; the pixels still are colours."""
    path = tmp_path / "rgb.nrrd"
    header = ("NRRD0004\ntype: uchar\ndimension: 4\nsizes: 3 %d %d %d\nspace: left-posterior-superior\n"
              "space directions: none (0.5,0,0) (0,0.5,0) (0,0,3)\nspace origin: (0,0,0)\nencoding: raw\n\n" % SIZE)
    path.write_bytes(header.encode("ascii") + colour_voxels(3).tobytes())
    with pytest.raises(InputError, match=r"rgb\.nrrd is an RGB colour image"):
        load_exam(path, echo_times_ms=TIMES)


def test_a_2d_colour_screenshot_says_it_is_a_colour_image(tmp_path):
    """A single-slice RGB .nii.gz comes back 2D from SimpleITK; it was refused only as "a 2D image"."""
    import SimpleITK as sitk

    path = tmp_path / "capture.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(colour_voxels(3)[:1], isVector=True), str(path))
    with pytest.raises(InputError, match=r"capture\.nii\.gz is an RGB colour image"):
        load_exam(path, echo_times_ms=TIMES)


def test_a_displacement_field_is_refused(tmp_path):
    field = np.linspace(-2.0, 2.0, 3 * int(np.prod(SIZE)), dtype=np.float32)  # x fastest, then y, z, (t), vector
    path = write_nifti(tmp_path / "warp.nii", field, 16, 32, SIZE + (1, 3), intent=1006)
    with pytest.raises(InputError, match=r"warp\.nii is a displacement field \(NIfTI intent DISPVECT\)"):
        load_exam(path, echo_times_ms=TIMES)


def test_echo_vectors_and_8_bit_4d_stacks_still_load(tmp_path):
    import SimpleITK as sitk

    decay = np.exp(-np.array(TIMES) / 35.0)
    vectors = (1000.0 * np.ones(SIZE[::-1] + (1,)) * decay).astype(np.float32)  # z, y, x, echo
    sitk.WriteImage(sitk.GetImageFromArray(vectors, isVector=True), str(tmp_path / "float.nii.gz"))
    exam = load_exam(tmp_path / "float.nii.gz", echo_times_ms=TIMES)
    assert exam.echoes.shape == (3,) + SIZE[::-1]
    np.testing.assert_allclose(exam.echoes[:, 0, 0, 0], vectors[0, 0, 0], rtol=1e-6)
    words = vectors.astype(np.uint16)  # 16-bit echoes, as DICOM stores them, are no colours
    sitk.WriteImage(sitk.GetImageFromArray(words, isVector=True), str(tmp_path / "words.mha"))
    assert load_exam(tmp_path / "words.mha", echo_times_ms=TIMES).n_echoes == 3
    stack = np.moveaxis(np.round(vectors / 10.0), -1, 0).astype(np.uint8)  # echo, z, y, x: a 4D scalar 8-bit file
    sitk.WriteImage(sitk.JoinSeries([sitk.GetImageFromArray(echo) for echo in stack]), str(tmp_path / "bytes.nii.gz"))
    exam = load_exam(tmp_path / "bytes.nii.gz", echo_times_ms=TIMES)
    np.testing.assert_array_equal(exam.echoes[:, 1, 2, 3], stack[:, 1, 2, 3])


def test_a_colour_file_among_per_echo_files_is_named(tmp_path):
    import SimpleITK as sitk

    for number in (1, 2, 3):
        stem = "sub-01_echo-%d_MESE" % number
        (tmp_path / (stem + ".json")).write_text(json.dumps({"EchoTime": number / 100.0}))
        if number == 2:
            image = sitk.GetImageFromArray(colour_voxels(3), isVector=True)
        else:
            image = sitk.GetImageFromArray(np.full(SIZE[::-1], 500.0 / number, np.float32))
        sitk.WriteImage(image, str(tmp_path / (stem + ".nii.gz")))
    with pytest.raises(InputError, match=r"sub-01_echo-2_MESE\.nii\.gz is an RGB colour image"):
        load_exam(tmp_path / "sub-01_echo-1_MESE.nii.gz")


def test_a_colour_image_named_as_a_label_map_says_it_is_one(tmp_path):
    import SimpleITK as sitk

    from KneeCartilageT2Lib.volume_io import read_label_volume

    path = tmp_path / "label.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(colour_voxels(3), isVector=True), str(path))
    with pytest.raises(InputError, match=r"label\.nii\.gz: Expected a 3D single-component image, got 3D with 3 "
                                         r"components per voxel: an RGB colour image \(3 components of 8-bit"):
        read_label_volume(path)
