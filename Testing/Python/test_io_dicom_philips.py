"""Philips MR images: the private MR Scale Slope puts every echo on the signal's own scale.

Test series are written the way the rule in dicom_philips describes Philips scaling, from known
floating-point echoes FP: per echo a RescaleSlope RS and a private Scale Slope SS are chosen, the
stored value is SV = round(FP x SS) (RescaleIntercept 0), so the displayed value SV x RS is FP x
SS x RS: off by a different factor in every echo, while SV x RS / (RS x SS) is FP again.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from enhanced_mr_files import write_enhanced_mr
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from KneeCartilageT2Lib.dicom_loader import load_dicom_exam
from KneeCartilageT2Lib.dicom_philips import PHILIPS_MR_CREATOR, scale_slope
from KneeCartilageT2Lib.dicom_writer import write_dicom_series
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.exam import MeseExam
from KneeCartilageT2Lib.geometry import make_ijk_to_ras
from KneeCartilageT2Lib.t2_fitting import fit_exam

ECHO_TIMES = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
TRUE_T2_MS = 40.0
RESCALE_SLOPES = [1.2, 2.5, 0.8, 3.1, 1.7, 4.4]  # RS per echo (as Philips picks it per image)
SCALE_SLOPES = [0.35, 1.9, 0.6, 2.8, 5.5, 12.0]  # SS per echo
SAGITTAL = make_ijk_to_ras((0.5, 0.5, 3.0), np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]),
                           (-40.0, 20.0, 30.0))


@pytest.fixture()
def signal_exam():
    """Floating-point echoes of one tissue with T2 40 ms (PD varying over the image)."""
    rng = np.random.default_rng(3)
    proton_density = rng.uniform(800.0, 1200.0, size=(4, 10, 9))
    decay = np.exp(-np.asarray(ECHO_TIMES) / TRUE_T2_MS)[:, None, None, None]
    return MeseExam((proton_density[None] * decay).astype(np.float32), ECHO_TIMES, SAGITTAL, "right")


def _add_scale_slope(item: Dataset, value: float) -> None:
    item.private_block(0x2005, PHILIPS_MR_CREATOR, create=True).add_new(0x0E, "FL", float(value))


def _philips_classic(exam, folder, manufacturer="Philips Medical Systems", with_scale=lambda echo, index: True):
    """The exam as classic files scaled as described in the module docstring."""
    paths = write_dicom_series(exam, folder, manufacturer=manufacturer)
    n_slices = exam.echoes.shape[1]
    for index, path in enumerate(paths):
        echo, slice_index = divmod(index, n_slices)
        dataset = pydicom.dcmread(str(path))
        stored = np.round(exam.echoes[echo, slice_index].astype(np.float64) * SCALE_SLOPES[echo])
        dataset.PixelData = stored.astype(np.uint16).tobytes()
        dataset.RescaleSlope = "%g" % RESCALE_SLOPES[echo]
        dataset.RescaleIntercept = "0"
        if with_scale(echo, index):
            _add_scale_slope(dataset, SCALE_SLOPES[echo])
        dataset.save_as(str(path))
    return paths


def _fitted_t2(exam) -> float:
    fit = fit_exam(exam, method="mono")
    return float(np.median(fit.t2_ms[fit.valid])) if fit.valid.any() else float("nan")


def test_philips_private_scale_gives_the_signal_scale_and_the_right_t2(signal_exam, tmp_path):
    _philips_classic(signal_exam, tmp_path / "philips")
    loaded = load_dicom_exam(tmp_path / "philips")
    for echo, scale in enumerate(SCALE_SLOPES):
        np.testing.assert_allclose(loaded.echoes[echo], signal_exam.echoes[echo], atol=0.51 / scale + 1e-3)
    assert _fitted_t2(loaded) == pytest.approx(TRUE_T2_MS, abs=0.05)
    assert "private MR Scale Slope (0.35 to 12)" in loaded.metadata["intensity_scaling"]


def test_the_scaling_used_is_kept_in_provenance_and_echo_stacks(signal_exam, tmp_path):
    import json

    from KneeCartilageT2Lib.echo_stack_io import read_echo_stack, write_echo_stack
    from KneeCartilageT2Lib.pipeline import measure

    _philips_classic(signal_exam, tmp_path / "philips")
    loaded = load_dicom_exam(tmp_path / "philips")
    stack = write_echo_stack(loaded, tmp_path / "echoes.nrrd")
    assert read_echo_stack(stack).metadata["intensity_scaling"] == loaded.metadata["intensity_scaling"]
    result = measure(loaded, np.zeros(loaded.volume_shape, dtype=np.uint8))
    assert json.loads(json.dumps(result.provenance))["intensity_scaling"] == loaded.metadata["intensity_scaling"]


def test_without_the_private_scale_the_displayed_values_would_give_a_wrong_t2(signal_exam, tmp_path):
    """The same files labelled as another vendor: group 2005 is not read, displayed values are used."""
    _philips_classic(signal_exam, tmp_path / "other", manufacturer="KneeCartilageT2")
    loaded = load_dicom_exam(tmp_path / "other")
    expected = np.asarray(RESCALE_SLOPES) * np.asarray(SCALE_SLOPES)
    np.testing.assert_allclose(loaded.echoes[:, 0, 0, 0] / signal_exam.echoes[:, 0, 0, 0], expected, rtol=2e-3)
    wrong = _fitted_t2(loaded)  # NaN when no voxel gives a valid fit (signal rising between echoes)
    assert not abs(wrong - TRUE_T2_MS) < 5.0
    assert "intensity_scaling" not in loaded.metadata


def test_philips_series_with_the_scale_on_only_some_images_is_refused(signal_exam, tmp_path):
    _philips_classic(signal_exam, tmp_path / "mixed", with_scale=lambda echo, index: echo != 3)
    with pytest.raises(InputError, match=r"lack the private MR Scale Slope .*Export the series again"):
        load_dicom_exam(tmp_path / "mixed")


def test_philips_series_without_any_private_scale_loads_as_displayed(signal_exam, tmp_path):
    _philips_classic(signal_exam, tmp_path / "none", with_scale=lambda echo, index: False)
    loaded = load_dicom_exam(tmp_path / "none")
    ratio = loaded.echoes[:, 1, 2, 3] / signal_exam.echoes[:, 1, 2, 3]
    np.testing.assert_allclose(ratio, np.asarray(RESCALE_SLOPES) * np.asarray(SCALE_SLOPES), rtol=2e-3)


def test_enhanced_philips_frames_read_the_scale_from_their_private_sequence(signal_exam, tmp_path):
    """Philips nests the scale in a private per-frame sequence (2005,140F); each frame has its own."""
    classic = _philips_classic(signal_exam, tmp_path / "classic")
    n_slices = signal_exam.echoes.shape[1]

    def as_stored(number, image):
        return image.pixel_array, image.RescaleSlope, image.RescaleIntercept

    enhanced = write_enhanced_mr(classic, tmp_path / "enhanced" / "mese.dcm", rescale=as_stored)
    dataset = pydicom.dcmread(str(enhanced))
    for number, frame in enumerate(dataset.PerFrameFunctionalGroupsSequence):
        inner = Dataset()
        _add_scale_slope(inner, SCALE_SLOPES[number // n_slices])
        frame.private_block(0x2005, "Philips MR Imaging DD 005", create=True).add_new(0x0F, "SQ",
                                                                                      DicomSequence([inner]))
    dataset.save_as(str(enhanced))
    loaded = load_dicom_exam(tmp_path / "enhanced")
    reference = load_dicom_exam(tmp_path / "classic")
    np.testing.assert_allclose(loaded.echoes, reference.echoes, rtol=1e-6)
    assert _fitted_t2(loaded) == pytest.approx(TRUE_T2_MS, abs=0.05)


def test_scale_slope_values_that_cannot_be_used_count_as_absent():
    for value in (0.0, -2.0, float("nan"), float("inf")):
        item = Dataset()
        _add_scale_slope(item, value)
        assert scale_slope(item) is None
    raw = Dataset()
    raw.private_block(0x2005, PHILIPS_MR_CREATOR, create=True).add_new(0x0E, "UN", np.float32(2.5).tobytes())
    assert scale_slope(raw) == pytest.approx(2.5)
    assert scale_slope(Dataset()) is None


def test_displayed_values_of_a_philips_series_with_varying_scale_are_flagged(signal_exam, tmp_path):
    """What another reader (Slicer's DICOM module: RescaleSlope only) would make of the files."""
    from KneeCartilageT2Lib.dicom_philips import displayed_scale_problem

    varying = _philips_classic(signal_exam, tmp_path / "varying")
    problem = displayed_scale_problem(varying)
    assert "different scale factors (RescaleSlope x private MR Scale Slope from 0.42 to 52.8)" in problem
    assert "Load MESE folder" in problem
    constant = write_dicom_series(signal_exam, tmp_path / "constant", manufacturer="Philips")
    for path in constant:
        dataset = pydicom.dcmread(str(path))
        _add_scale_slope(dataset, 2.0)
        dataset.save_as(str(path))
    assert displayed_scale_problem(constant) is None  # one factor for every image: T2 is right either way
    other = _philips_classic(signal_exam, tmp_path / "other", manufacturer="KneeCartilageT2")
    assert displayed_scale_problem(other) is None
    assert displayed_scale_problem([tmp_path / "absent.dcm"]) is None
