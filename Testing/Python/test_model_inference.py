"""Inference: device choice, CUDA out-of-memory fallback, cancellation, segment_exam, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from KneeCartilageT2Lib import cli, inference, model_registry, unet  # noqa: E402
from KneeCartilageT2Lib.errors import InputError, OperationCancelled  # noqa: E402
from KneeCartilageT2Lib.exam import MeseExam  # noqa: E402
from KneeCartilageT2Lib.geometry import make_ijk_to_ras  # noqa: E402
from KneeCartilageT2Lib.progress import CancelToken  # noqa: E402

SAGITTAL = np.column_stack([(0.0, -1.0, 0.0), (0.0, 0.0, -1.0), (1.0, 0.0, 0.0)])


class FakeModel:
    """Probability = 0.95 where the normalised input is positive, else 0; records devices and batches."""

    name, version = "fake", "9"

    def __init__(self, fail_on_cuda=None):
        self.spec = {"preprocessing": {"mode": "resize", "size": [64, 64]}, "refinement": {}}
        self.devices, self.batch_sizes, self.fail_on_cuda = [], [], fail_on_cuda

    def to(self, device):
        self.devices.append(str(device))
        return self

    def __call__(self, batch):
        if self.fail_on_cuda is not None and self.devices[-1].startswith("cuda"):
            raise self.fail_on_cuda
        self.batch_sizes.append(batch.shape[0])
        return (batch > 0).float() * 0.95


def _exam(n_slices=4, square=(slice(12, 52), slice(12, 52))):
    rng = np.random.default_rng(0)
    echoes = 10.0 + rng.random((3, n_slices, 64, 64)).astype(np.float32)
    echoes[1][(slice(None),) + square] += 100.0  # only the echo nearest 20 ms shows the "cartilage"
    return MeseExam(echoes, [10.0, 21.0, 32.0], make_ijk_to_ras((0.5, 0.5, 3.0), SAGITTAL, (5.0, -7.0, 2.0)))


def test_cpu_is_always_available_and_auto_never_fails():
    device, description = inference.select_device("cpu")
    assert device.type == "cpu" and description.startswith("cpu (")
    device, _ = inference.select_device("auto")
    assert device.type in ("cpu", "cuda", "mps")
    with pytest.raises(InputError, match="Unknown device"):
        inference.select_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a working GPU")
def test_explicit_cuda_without_a_gpu_says_what_to_do():
    with pytest.raises(InputError, match="--device cpu"):
        inference.select_device("cuda")


def test_a_gpu_number_that_does_not_exist_is_refused_by_name(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(InputError, match="no GPU 3 .*has 1: cuda:0.*--device cpu"):
        inference.select_device("cuda:3")
    with pytest.raises(InputError, match="Unknown device 'cuda:x'"):
        inference.select_device("cuda:x")


def test_cuda_out_of_memory_falls_back_to_the_cpu(monkeypatch):
    monkeypatch.setattr(inference, "_to_device", lambda tensor, device: tensor)
    model = FakeModel(fail_on_cuda=torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    batch = np.random.default_rng(1).standard_normal((5, 64, 64)).astype(np.float32)
    messages = []
    output, description = inference.run_network(batch, model, torch.device("cuda"), "cuda:0 (fake)", 2,
                                                 messages=messages)
    np.testing.assert_array_equal(output, (batch > 0) * np.float32(0.95))
    assert model.devices == ["cuda", "cpu"] and model.batch_sizes == [2, 2, 1]
    assert "after GPU out of memory" in description and "ran out of memory" in messages[0]


def test_other_gpu_errors_are_not_hidden(monkeypatch):
    monkeypatch.setattr(inference, "_to_device", lambda tensor, device: tensor)
    model = FakeModel(fail_on_cuda=RuntimeError("illegal memory access"))
    with pytest.raises(RuntimeError, match="illegal memory access"):
        inference.run_network(np.zeros((2, 64, 64), np.float32), model, torch.device("cuda"), "cuda", 1)


def test_segment_exam_uses_the_20_ms_echo_and_maps_back_to_the_exam_grid():
    exam = _exam()
    reports = []
    result = inference.segment_exam(exam, FakeModel(), device="cpu", progress=lambda f, s: reports.append(f))
    expected = np.zeros(exam.volume_shape, np.uint8)
    expected[:, 12:52, 12:52] = 1
    np.testing.assert_array_equal(result.label, expected)
    assert result.probabilities.dtype == np.float32 and result.probabilities.shape == exam.volume_shape
    assert result.parameters["echo_index"] == 1 and result.parameters["echo_time_ms"] == 21.0
    assert result.parameters["slice_voxel_threshold"] == pytest.approx(425 * 0.3125 * 0.446 / 0.25)
    assert result.model_name == "fake" and result.model_version == "9" and result.device.startswith("cpu")
    assert result.cartilage_found and reports[-1] == 1.0 and reports == sorted(reports)


def test_t2_is_fitted_only_in_candidates_and_its_rule_applied():
    exam = _exam()
    seen = {}

    def t2_for(candidates):
        seen["candidates"] = candidates
        t2 = np.full(candidates.shape, 40.0, np.float32)
        t2[:, 12:30, :] = 150.0  # implausible: removed
        return np.where(candidates, t2, 0.0)

    result = inference.segment_exam(exam, FakeModel(), device="cpu", t2_ms=t2_for)
    assert seen["candidates"].sum() == 4 * 40 * 40
    assert result.label.sum() == 4 * 22 * 40 and result.label[:, 12:30].sum() == 0


def test_cancelling_stops_between_batches():
    token = CancelToken()

    def cancel_after_first_batch(fraction, stage):
        if fraction > 0:
            token.cancel()

    model = FakeModel()
    with pytest.raises(OperationCancelled):
        inference.segment_exam(_exam(6), model, device="cpu", progress=cancel_after_first_batch, cancel=token,
                               batch_size=2)
    assert model.batch_sizes == [2]


def _write_exam(tmp_path, exam):
    echo_stack_io = pytest.importorskip("KneeCartilageT2Lib.echo_stack_io")
    return echo_stack_io.write_echo_stack(exam, tmp_path / "echoes.nrrd")


def test_segment_command_writes_a_label_on_the_input_grid(tmp_path, capsys):
    from KneeCartilageT2Lib.volume_io import read_volume

    exam = _exam(3)
    source = _write_exam(tmp_path, exam)
    torch.manual_seed(3)
    weights = model_registry.save_model_safetensors(
        unet.build_unet(levels=2, base_filters=2), tmp_path / "tiny.safetensors",
        {"name": "tiny", "version": "0", "preprocessing": {"mode": "spacing", "pixel_spacing_mm": [0.6, 0.6],
                                                           "size": [48, 48]}})
    output, probabilities = tmp_path / "seg.nrrd", tmp_path / "p.nrrd"
    status = cli.main(["segment", str(source), "-o", str(output), "--model", str(weights), "--device", "cpu",
                       "--probabilities", str(probabilities), "--no-t2-rule"])
    assert status in (0, 3)
    label, prob = read_volume(output), read_volume(probabilities)
    assert label.array.shape == exam.volume_shape and label.array.dtype == np.uint8
    np.testing.assert_allclose(label.ijk_to_ras, exam.ijk_to_ras, atol=1e-6)
    np.testing.assert_allclose(prob.ijk_to_ras, exam.ijk_to_ras, atol=1e-6)
    assert 0.0 <= prob.array.min() and prob.array.max() <= 1.0 and prob.array.std() > 0
    assert "tiny v0" in capsys.readouterr().out


def test_segment_command_without_weights_explains_how_to_get_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KNEE_T2_CACHE", str(tmp_path / "cache"))
    registry_file = tmp_path / "models.json"
    registry_file.write_text(json.dumps({"models": [{"name": "published", "version": "1", "format": "keras-h5",
                                                     "url": (tmp_path / "absent.h5").as_uri()}]}))
    monkeypatch.setattr(model_registry, "REGISTRY_PATH", registry_file)
    monkeypatch.setattr(model_registry, "RESOURCES_DIR", tmp_path)
    source = _write_exam(tmp_path, _exam(2))
    status = cli.main(["segment", str(source), "-o", str(tmp_path / "seg.nrrd")])
    assert status == 2 and not (tmp_path / "seg.nrrd").exists()
    error = capsys.readouterr().err
    assert "knee-t2 models import FILE --name published" in error
