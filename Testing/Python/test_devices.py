"""Device names: "cuda:N" means GPU N, checked before use, for the network and the torch T2 fit alike."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from KneeCartilageT2Lib.devices import cuda_index  # noqa: E402
from KneeCartilageT2Lib.errors import InputError  # noqa: E402
from KneeCartilageT2Lib.t2_torch import resolve_torch_device  # noqa: E402


def test_cuda_names_parse_to_a_gpu_number_and_nothing_else_does():
    assert cuda_index("cuda") == 0 and cuda_index("cuda:2") == 2 and cuda_index("CUDA:1") == 1
    for wrong in ("cudax", "cuda:", "cuda:-1", "cuda:one", "cuda1"):
        with pytest.raises(InputError, match="Unknown device"):
            cuda_index(wrong)


def test_the_t2_fit_refuses_a_missing_gpu_number_and_falls_back_on_auto(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(InputError, match="no GPU 2 .*cuda:0..cuda:1"):
        resolve_torch_device("cuda:2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_torch_device("auto") == "cpu"
    assert resolve_torch_device("cpu") == "cpu"
    with pytest.raises(InputError, match="no CUDA GPU"):
        resolve_torch_device("cuda")
    with pytest.raises(InputError, match="Unknown device"):
        resolve_torch_device("tpu")
