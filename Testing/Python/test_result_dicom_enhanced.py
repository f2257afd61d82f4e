"""``knee-t2 to-dicom`` from an exam read out of one enhanced multi-frame MR object (named on its own or in a folder)."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from enhanced_mr_files import write_enhanced_mr
from test_result_dicom import _assert_iod_attributes, _headers, _read_series, _shell_exam

from KneeCartilageT2Lib.errors import InputError


@pytest.fixture(scope="module")
def enhanced_analysis(tmp_path_factory):
    """(enhanced file, analysis folder): the shell phantom's classic series packed into one Enhanced MR object,
    frames stored in a shuffled order, the side only per frame (FrameLaterality), analysed from that file."""
    from KneeCartilageT2Lib.dicom_writer import write_dicom_series
    from KneeCartilageT2Lib.exam_loader import load_exam
    from KneeCartilageT2Lib.pipeline import AnalysisOptions, measure, write_analysis

    root = tmp_path_factory.mktemp("enhanced_source")
    exam, mask = _shell_exam()
    classic = write_dicom_series(exam, root / "classic", patient_name="DOE^JANE", patient_id="ID-4711",
                                 series_number=7, series_description="T2 MAP SAG")
    order = np.random.default_rng(4).permutation(len(classic))
    enhanced = write_enhanced_mr(classic, root / "exam" / "mese.dcm", frame_order=order)
    write_enhanced_mr(classic, root / "legacy" / "mese.dcm", legacy=True)  # EchoTime in the unassigned attributes
    shutil.rmtree(root / "classic")
    loaded = load_exam(enhanced)
    result = measure(loaded, mask.array, options=AnalysisOptions(t2_method="loglinear"), label_source="given")
    write_analysis(result, root / "analysis", preview=False, figures=False)
    return enhanced, root / "analysis"


def _frames_by_position(enhanced):
    """{rounded LPS position: frame numbers (1-based)} read from the object's per-frame functional groups."""
    dataset = pydicom.dcmread(str(enhanced), stop_before_pixels=True)
    frames = {}
    for number, item in enumerate(dataset.PerFrameFunctionalGroupsSequence, start=1):
        position = item.PlanePositionSequence[0].ImagePositionPatient
        frames.setdefault(tuple(np.round(np.asarray(position, float), 2)), []).append(number)
    return dataset, frames


@pytest.mark.parametrize("given", ["file", "folder"])
def test_an_enhanced_source_links_each_slice_to_its_frames(enhanced_analysis, tmp_path, given):
    """Before, a file was refused ("is a file, not a folder"), and in a folder the object was no image at all."""
    import SimpleITK as sitk

    from KneeCartilageT2Lib.result_dicom import write_result_dicom

    enhanced, analysis = enhanced_analysis
    written = write_result_dicom(analysis, enhanced if given == "file" else enhanced.parent, tmp_path)
    source, frames = _frames_by_position(enhanced)
    maps = _headers(tmp_path / "T2map")
    truth = sitk.ReadImage(str(analysis / "t2.nrrd"))
    assert len(maps) == len(written.t2_map_files) == truth.GetSize()[2] == len(frames)
    for header in maps:
        assert header.StudyInstanceUID == source.StudyInstanceUID and header.PatientID == "ID-4711"
        assert header.FrameOfReferenceUID == source.FrameOfReferenceUID
        assert header.Laterality == "L"  # from FrameLaterality: the object has no top-level Laterality
        assert float(header.SliceThickness) == pytest.approx(3.0) and header.SeriesNumber == 701
        (item,) = header.SourceImageSequence  # one object, with the frames of this slice: one per echo
        assert item.ReferencedSOPInstanceUID == source.SOPInstanceUID
        assert item.ReferencedSOPClassUID == source.SOPClassUID
        listed = sorted(int(number) for number in np.atleast_1d(item.ReferencedFrameNumber))
        assert listed == sorted(frames[tuple(np.round(np.asarray(header.ImagePositionPatient, float), 2))])
        assert len(listed) == 7
    exported = _read_series(tmp_path / "T2map")
    assert np.allclose(exported.GetOrigin(), truth.GetOrigin(), atol=1e-3)
    assert np.allclose(exported.GetDirection(), truth.GetDirection(), atol=1e-5)
    assert np.abs(sitk.GetArrayFromImage(exported) - sitk.GetArrayFromImage(truth)).max() <= 0.05 + 1e-6
    _assert_iod_attributes(tmp_path)


def test_cli_takes_the_enhanced_file_as_source(enhanced_analysis, tmp_path, capsys):
    from KneeCartilageT2Lib.cli import main

    enhanced, analysis = enhanced_analysis
    assert main(["to-dicom", str(analysis), "-o", str(tmp_path / "pacs"), "--source", str(enhanced)]) == 0
    assert "T2 map: " in capsys.readouterr().out


def test_a_classic_single_file_is_still_refused_naming_what_to_give(enhanced_analysis, tmp_path):
    from KneeCartilageT2Lib.dicom_writer import write_dicom_series
    from KneeCartilageT2Lib.result_dicom import write_result_dicom

    _, analysis = enhanced_analysis
    exam, _ = _shell_exam()
    single = write_dicom_series(exam, tmp_path / "classic")[0]
    with pytest.raises(InputError, match=r"is a file, not a folder of DICOM images: give the folder .* or the "
                                         r"enhanced multi-frame DICOM file that holds it"):
        write_result_dicom(analysis, single, tmp_path / "out")


def test_a_legacy_converted_source_is_matched_by_its_original_echo_times(enhanced_analysis):
    from KneeCartilageT2Lib.result_dicom import read_provenance
    from KneeCartilageT2Lib.result_dicom_source import find_source_study
    from KneeCartilageT2Lib.volume_io import read_volume

    _, analysis = enhanced_analysis
    legacy = analysis.parent / "legacy" / "mese.dcm"
    t2 = read_volume(analysis / "t2.nrrd")
    times = read_provenance(analysis)["echo_times_ms"]
    found = find_source_study(legacy, t2.ijk_to_ras, t2.array.shape[0], times)
    instance = str(pydicom.dcmread(str(legacy), stop_before_pixels=True).SOPInstanceUID)
    numbers = sorted(image.frame_number for images in found.images_by_slice.values() for image in images)
    assert numbers == list(range(1, len(times) * t2.array.shape[0] + 1))  # every frame, each at one slice
    assert {image.sop_instance_uid for images in found.images_by_slice.values() for image in images} == {instance}
    with pytest.raises(InputError, match="analysed echo times"):  # echo times it does not hold: no frame matches
        find_source_study(legacy, t2.ijk_to_ras, t2.array.shape[0], [time + 1.0 for time in times])
