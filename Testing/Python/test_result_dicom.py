"""T2 map and T2 colour overlay written back as DICOM series of the source study (``knee-t2 to-dicom``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from KneeCartilageT2Lib.errors import InputError

ECHO_TIMES_MS = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0)


def _shell_exam(oblique_deg: float = 9.0):
    """A small oblique shell phantom (cartilage T2 30-52 ms in a fat-like background) and its true mask."""
    from KneeCartilageT2Lib.cartilage_shell import ShellSpec, build_shell
    from KneeCartilageT2Lib.exam import MeseExam

    mask, t2, _ = build_shell(ShellSpec(spacing_mm=(0.7, 0.7, 3.0)), side="left", oblique_deg=oblique_deg)
    inside = np.asarray(mask.array) > 0
    t2_map = np.where(inside, np.asarray(t2.array), 120.0)
    s0 = np.where(inside, 1000.0, 250.0)
    times = np.asarray(ECHO_TIMES_MS)
    echoes = s0[np.newaxis] * np.exp(-times[:, None, None, None] / t2_map[np.newaxis])
    echoes += np.random.default_rng(3).normal(0.0, 3.0, echoes.shape)
    return MeseExam(np.abs(echoes).astype(np.float32), times, mask.ijk_to_ras, "left", {}), mask


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """(source DICOM folder, analysis folder) of the shell phantom written as a real DICOM series.

    The analysis records the source's full path (``record_full_paths``), as a site's own results may:
    to-dicom then finds the series by itself. Folders without it: test_result_privacy.py.
    """
    from KneeCartilageT2Lib.dicom_writer import write_dicom_series
    from KneeCartilageT2Lib.exam_loader import load_exam
    from KneeCartilageT2Lib.pipeline import AnalysisOptions, measure, write_analysis

    root = tmp_path_factory.mktemp("result_dicom")
    exam, mask = _shell_exam()
    source = root / "source"
    write_dicom_series(exam, source, patient_name="DOE^JANE", patient_id="ID-4711", study_date="20240131",
                       series_number=7, series_description="T2 MAP SAG")
    loaded = load_exam(source)
    result = measure(loaded, mask.array, options=AnalysisOptions(t2_method="loglinear"), label_source="given")
    write_analysis(result, root / "analysis", preview=False, figures=False, record_full_paths=True)
    return source, root / "analysis"


def _headers(folder: Path):
    import pydicom

    return [pydicom.dcmread(str(path)) for path in sorted(folder.glob("*.dcm"))]


def _read_series(folder: Path):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def test_t2_map_series_joins_the_source_study_with_the_t2_values_and_geometry(analysed, tmp_path):
    import SimpleITK as sitk

    from KneeCartilageT2Lib.result_dicom import write_result_dicom

    source, analysis = analysed
    written = write_result_dicom(analysis, source, tmp_path)
    sources, maps = _headers(source), _headers(tmp_path / "T2map")
    n_slices = sitk.ReadImage(str(analysis / "t2.nrrd")).GetSize()[2]
    assert len(written.t2_map_files) == len(maps) == n_slices
    first = sources[0]
    for header in maps:
        assert (str(header.PatientName), header.PatientID, header.StudyDate) == ("DOE^JANE", "ID-4711", "20240131")
        assert header.StudyInstanceUID == first.StudyInstanceUID
        assert header.FrameOfReferenceUID == first.FrameOfReferenceUID and header.Laterality == "L"
        assert header.SeriesInstanceUID == written.series_uids["t2_map"] != first.SeriesInstanceUID
        assert list(header.ImageType) == ["DERIVED", "SECONDARY", "T2_MAP"] and header.Modality == "MR"
        assert header.SeriesNumber == 701 and header.SeriesDescription == "T2 MAP SAG T2 map (ms)"
        mapping = header.RealWorldValueMappingSequence[0]
        assert float(mapping.RealWorldValueSlope) == pytest.approx(0.1)
        assert mapping.MeasurementUnitsCodeSequence[0].CodeValue == "ms"
        assert "loglinear fit from echoes 10-70 ms" in header.DerivationDescription
    assert len({header.SOPInstanceUID for header in maps}) == n_slices
    assert not {header.SOPInstanceUID for header in maps} & {header.SOPInstanceUID for header in sources}

    exported, truth = _read_series(tmp_path / "T2map"), sitk.ReadImage(str(analysis / "t2.nrrd"))
    assert np.allclose(exported.GetOrigin(), truth.GetOrigin(), atol=1e-3)
    assert np.allclose(exported.GetSpacing(), truth.GetSpacing(), atol=1e-3)
    assert np.allclose(exported.GetDirection(), truth.GetDirection(), atol=1e-5)
    difference = sitk.GetArrayFromImage(exported) - sitk.GetArrayFromImage(truth)
    assert np.abs(difference).max() <= 0.05 + 1e-6  # stored in tenths of a millisecond


# The attributes of type 1 (present, not empty) and type 2 (present, may be empty; 2C where its condition holds)
# of the modules each IOD needs, from DICOM PS3.3: what a PACS checks before it takes a series.
COMMON_TYPE_1 = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Modality",
                 "SamplesPerPixel", "PhotometricInterpretation", "Rows", "Columns", "BitsAllocated", "BitsStored",
                 "HighBit", "PixelRepresentation", "PixelData")
COMMON_TYPE_2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                 "ReferringPhysicianName", "StudyID", "AccessionNumber", "SeriesNumber", "InstanceNumber",
                 "Laterality")  # Laterality: 2C, the knee is a paired structure
MR_IMAGE_TYPE_1 = COMMON_TYPE_1 + ("FrameOfReferenceUID", "PixelSpacing", "ImageOrientationPatient",
                                   "ImagePositionPatient", "ImageType", "ScanningSequence", "SequenceVariant")
MR_IMAGE_TYPE_2 = COMMON_TYPE_2 + ("PositionReferenceIndicator", "Manufacturer", "SliceThickness", "ScanOptions",
                                   "MRAcquisitionType", "EchoTime", "EchoTrainLength", "PatientPosition")
SECONDARY_CAPTURE_TYPE_1 = COMMON_TYPE_1 + ("ConversionType", "PlanarConfiguration")  # 1C: colour pixels
SECONDARY_CAPTURE_TYPE_2 = COMMON_TYPE_2 + ("PatientOrientation",)  # 2C: no image plane module


def test_every_image_carries_the_type_1_and_2_attributes_of_its_iod(analysed, tmp_path):
    import pydicom

    from KneeCartilageT2Lib.result_dicom import write_result_dicom

    source, analysis = analysed
    stripped = tmp_path / "source"  # a source that does not say the side or the patient position
    stripped.mkdir()
    for path in source.glob("*.dcm"):
        header = pydicom.dcmread(str(path))
        del header.Laterality
        header.pop("PatientPosition", None)
        header.save_as(str(stripped / path.name))
    for origin in (source, stripped):
        out = tmp_path / ("from_" + origin.name)
        write_result_dicom(analysis, origin, out)
        _assert_iod_attributes(out)
        assert _headers(out / "T2map")[0].Laterality == ("L" if origin == source else "")


def _assert_iod_attributes(out: Path) -> None:
    for folder, type_1, type_2 in (("T2map", MR_IMAGE_TYPE_1, MR_IMAGE_TYPE_2),
                                   ("T2colour", SECONDARY_CAPTURE_TYPE_1, SECONDARY_CAPTURE_TYPE_2)):
        for header in _headers(out / folder):
            empty = [keyword for keyword in type_1 if header.get(keyword) in (None, "")]
            missing = [keyword for keyword in type_2 if keyword not in header]
            assert not empty and not missing, (str(out), folder, header.InstanceNumber, empty, missing)
            assert header.file_meta.MediaStorageSOPClassUID == header.SOPClassUID
            assert header.file_meta.MediaStorageSOPInstanceUID == header.SOPInstanceUID


def test_each_map_image_lists_the_source_images_of_its_slice(analysed, tmp_path):
    from KneeCartilageT2Lib.result_dicom import write_result_dicom

    source, analysis = analysed
    write_result_dicom(analysis, source, tmp_path, colour=False)
    by_position = {}
    for header in _headers(source):
        by_position.setdefault(tuple(np.round(np.asarray(header.ImagePositionPatient, float), 2)), set()).add(
            header.SOPInstanceUID)
    for header in _headers(tmp_path / "T2map"):
        listed = {item.ReferencedSOPInstanceUID for item in header.SourceImageSequence}
        assert listed == by_position[tuple(np.round(np.asarray(header.ImagePositionPatient, float), 2))]
        assert len(listed) == len(ECHO_TIMES_MS)
    assert not (tmp_path / "T2colour").exists()


def test_colour_series_colours_only_the_cartilage_by_t2_and_ends_with_the_scale(analysed, tmp_path):
    from matplotlib import colormaps

    from KneeCartilageT2Lib.result_dicom import SECONDARY_CAPTURE, write_result_dicom
    from KneeCartilageT2Lib.volume_io import read_volume

    source, analysis = analysed
    written = write_result_dicom(analysis, source, tmp_path)
    images = _headers(tmp_path / "T2colour")
    label, t2 = read_volume(analysis / "label.nrrd").array > 0, read_volume(analysis / "t2.nrrd").array
    assert len(written.colour_files) == len(images) == label.shape[0] + 1
    assert all(header.SOPClassUID == SECONDARY_CAPTURE and header.PhotometricInterpretation == "RGB"
               for header in images)
    assert {header.SeriesInstanceUID for header in images} == {written.series_uids["colour"]}
    rgb = np.stack([header.pixel_array for header in images[:-1]])
    grey = (rgb[..., 0] == rgb[..., 1]) & (rgb[..., 1] == rgb[..., 2])
    coloured = label & (t2 > 0)
    assert grey[~label].all() and not grey[coloured].all()
    k, j, i = np.argwhere(coloured)[0]
    expected = np.round(np.asarray(colormaps["inferno"](min(t2[k, j, i], 100.0) / 100.0)[:3]) * 255)
    assert np.abs(rgb[k, j, i].astype(int) - expected).max() <= 1
    scale = images[-1]
    assert "ImagePositionPatient" not in scale and "T2 0-100 ms" in scale.ImageComments
    assert scale.pixel_array.std() > 10  # a drawn scale, not a blank image


def test_a_folder_of_another_exam_or_a_partial_series_is_refused(analysed, tmp_path):
    import pydicom
    import SimpleITK as sitk

    from KneeCartilageT2Lib.dicom_writer import write_dicom_series
    from KneeCartilageT2Lib.result_dicom import write_result_dicom

    source, analysis = analysed
    other_exam, _ = _shell_exam(oblique_deg=0.0)
    write_dicom_series(other_exam, tmp_path / "other")
    with pytest.raises(InputError, match="do not hold the exam this result was computed from"):
        write_result_dicom(analysis, tmp_path / "other", tmp_path / "out")
    partial = tmp_path / "partial"
    shutil.copytree(source, partial)
    removed = pydicom.dcmread(str(partial / "echo01_slice003.dcm"), stop_before_pixels=True)
    for path in partial.glob("echo*_slice003.dcm"):
        path.unlink()
    grid = sitk.ReadImage(str(analysis / "t2.nrrd"))  # the K of the removed images in the result (counted from 0)
    k = grid.TransformPhysicalPointToIndex([float(value) for value in removed.ImagePositionPatient])[2]
    with pytest.raises(InputError, match=r"cover \d+ of the result's \d+ slices \(none at slice\(s\) %d; slices "
                                         r"counted from 0, as Slicer shows K\)" % k):
        write_result_dicom(analysis, partial, tmp_path / "out")
    with pytest.raises(InputError, match="not found"):
        write_result_dicom(analysis, tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(InputError, match="not an analysis folder"):
        write_result_dicom(source, source, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_images_of_two_studies_at_the_same_positions_are_refused(analysed, tmp_path):
    import pydicom
    from pydicom.uid import generate_uid

    from KneeCartilageT2Lib.result_dicom import write_result_dicom

    source, analysis = analysed
    mixed = tmp_path / "mixed"
    shutil.copytree(source, mixed)
    other_study = generate_uid()
    for path in list(mixed.glob("echo01_*.dcm")):
        dataset = pydicom.dcmread(str(path))
        dataset.StudyInstanceUID, dataset.SOPInstanceUID = other_study, generate_uid()
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        dataset.save_as(str(path.with_name("copy_" + path.name)))
    with pytest.raises(InputError, match="belong to 2 studies"):
        write_result_dicom(analysis, mixed, tmp_path / "out")


def test_a_failed_export_leaves_the_earlier_one_and_no_partial_series(analysed, tmp_path, monkeypatch):
    from KneeCartilageT2Lib import result_dicom

    source, analysis = analysed
    first = result_dicom.write_result_dicom(analysis, source, tmp_path)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(result_dicom, "_write_colour", broken)
    with pytest.raises(OSError, match="disk full"):
        result_dicom.write_result_dicom(analysis, source, tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["T2colour", "T2map"]
    assert sorted(tmp_path.glob("T2map/*.dcm")) == sorted(first.t2_map_files)
    import pydicom

    assert pydicom.dcmread(str(first.t2_map_files[0])).SeriesInstanceUID == first.series_uids["t2_map"]


def test_stored_values_are_tenths_of_a_millisecond_clipped_and_finite():
    from KneeCartilageT2Lib.result_dicom import stored_t2

    stored = stored_t2(np.array([0.0, 41.26, 99.95, -3.0, np.nan, np.inf, 7000.0]))
    assert stored.tolist() == [0, 413, 1000, 0, 0, 0, 65535]  # 99.95 rounds half to even: 999.5 -> 1000


def test_cli_uses_the_source_recorded_in_the_analysis(analysed, tmp_path, capsys):
    from KneeCartilageT2Lib.cli import main

    source, analysis = analysed
    assert main(["to-dicom", str(analysis), "-o", str(tmp_path / "pacs")]) == 0
    output = capsys.readouterr().out
    assert "T2 map: " in output and "T2 colour: " in output
    assert len(list((tmp_path / "pacs" / "T2map").glob("*.dcm"))) > 0
    copied = tmp_path / "no_provenance"
    shutil.copytree(analysis, copied)
    (copied / "provenance.json").unlink()
    assert main(["to-dicom", str(copied), "-o", str(tmp_path / "x")]) != 0
    assert "give it with --source" in capsys.readouterr().err


def test_real_ge_exam_round_trips_through_the_big_endian_source(ge_exam_dir, tmp_path):
    """The real GE series (Explicit VR Big Endian, 8 echoes): geometry, identifiers and links survive."""
    import pydicom
    import SimpleITK as sitk

    from KneeCartilageT2Lib.exam_loader import load_exam
    from KneeCartilageT2Lib.pipeline import AnalysisOptions, measure, write_analysis
    from KneeCartilageT2Lib.result_dicom import write_result_dicom

    exam = load_exam(ge_exam_dir)
    label = np.zeros(exam.volume_shape, np.uint8)
    label[5:18, 120:126, 100:140] = 1  # any label: the export is about the map and its place in the study
    result = measure(exam, label, options=AnalysisOptions(), label_source="given")
    write_analysis(result, tmp_path / "analysis", preview=False, figures=False)
    written = write_result_dicom(tmp_path / "analysis", ge_exam_dir, tmp_path / "pacs")
    exported, truth = _read_series(tmp_path / "pacs" / "T2map"), sitk.ReadImage(str(tmp_path / "analysis" / "t2.nrrd"))
    assert exported.GetSize() == truth.GetSize() == (256, 256, 24)
    assert np.allclose(exported.GetOrigin(), truth.GetOrigin(), atol=1e-3)
    assert np.allclose(exported.GetDirection(), truth.GetDirection(), atol=1e-5)
    assert np.abs(sitk.GetArrayFromImage(exported) - sitk.GetArrayFromImage(truth)).max() <= 0.05 + 1e-6
    source = pydicom.dcmread(str(sorted(Path(ge_exam_dir).glob("*.dcm"))[0]), stop_before_pixels=True)
    header = pydicom.dcmread(str(written.t2_map_files[0]))
    assert header.StudyInstanceUID == source.StudyInstanceUID
    assert header.FrameOfReferenceUID == source.FrameOfReferenceUID
    assert float(header.SliceThickness) == 3.0 and len(header.SourceImageSequence) == 8
    assert len(written.colour_files) == 25
    _assert_iod_attributes(tmp_path / "pacs")


def test_other_images_at_the_same_places_are_not_taken_for_the_source(analysed, tmp_path):
    """An earlier export and another sequence in the study folder are neither sources nor refused."""
    import pydicom
    from pydicom.uid import generate_uid

    from KneeCartilageT2Lib.result_dicom import write_result_dicom

    source, analysis = analysed
    study = tmp_path / "study"
    shutil.copytree(source, study / "mese")
    write_result_dicom(analysis, study / "mese", study / "earlier")
    other_series = generate_uid()
    for path in sorted((study / "mese").glob("echo01_*.dcm")):
        dataset = pydicom.dcmread(str(path))  # the same slices at another echo time: not the analysed echoes
        dataset.SeriesInstanceUID, dataset.EchoTime = other_series, "95"
        dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        dataset.save_as(str(study / ("other_" + path.name)))
    for kind, echo_time in (("DERIVED\\PRIMARY\\T2_MAP", "95"), ("DERIVED\\PRIMARY\\T2 MAP\\ND", None)):
        vendor_series = generate_uid()  # the scanner's own T2 map, stamped with TE 95 or with an analysed echo time
        for path in sorted((study / "mese").glob("echo01_*.dcm")):
            dataset = pydicom.dcmread(str(path))
            dataset.SeriesInstanceUID, dataset.ImageType, dataset.Manufacturer = vendor_series, kind, "Vendor"
            if echo_time:
                dataset.EchoTime = echo_time
            dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            dataset.save_as(str(study / ("vendor_%s_%s" % (vendor_series[-6:], path.name))))
    analysed_uids = {header.SOPInstanceUID for header in _headers(source)}
    write_result_dicom(analysis, study, tmp_path / "again")
    listed = {item.ReferencedSOPInstanceUID for header in _headers(tmp_path / "again" / "T2map")
              for item in header.SourceImageSequence}
    assert listed == analysed_uids


def test_cli_writes_every_finished_scan_of_a_batch_and_reports_the_others(analysed, tmp_path, capsys):
    from KneeCartilageT2Lib.cli import main

    source, analysis = analysed
    batch = tmp_path / "batch"
    (batch / "scans").mkdir(parents=True)
    (batch / "status.csv").write_text("id,status\n")
    shutil.copytree(analysis, batch / "scans" / "s01_baseline")
    shutil.copytree(analysis, batch / "scans" / "s02_baseline")
    (batch / "scans" / "s02_baseline" / "provenance.json").write_text('{"source": "%s"}' % (tmp_path / "gone"))
    shutil.copytree(analysis, batch / "scans" / "s03_baseline")
    (batch / "scans" / "s03_baseline" / "DONE.json").unlink()  # still running or failed: not finished
    assert main(["to-dicom", str(batch), "-o", str(tmp_path / "pacs")]) == 1
    output = capsys.readouterr().out
    assert len(list((tmp_path / "pacs" / "s01_baseline" / "T2map").glob("*.dcm"))) > 0
    assert "s02_baseline: not written: DICOM folder of the source exam not found" in output
    assert "1 of 2 finished scans written" in output and "1 not finished, left out" in output
    assert not (tmp_path / "pacs" / "s03_baseline").exists()
    assert main(["to-dicom", str(batch), "-o", str(tmp_path / "x"), "--source", str(source)]) == 2
