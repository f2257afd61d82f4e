"""Model versions: a fine-tuned model is registered in the cache, listed, and selectable by name or name@version."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from KneeCartilageT2Lib import model_registry as registry  # noqa: E402
from KneeCartilageT2Lib import model_versions as versions  # noqa: E402
from KneeCartilageT2Lib.errors import InputError, ModelError  # noqa: E402

TINY_PREPROCESSING = {"mode": "spacing", "pixel_spacing_mm": [1.0, 1.0], "size": [64, 64], "target_te_ms": 20.0,
                      "normalization": "quartile", "canonical_orientation": True}


def save_tiny_model(path, seed=0, name="tiny-base", version="1", training=None):
    """A self-describing 2-level, 4-filter U-Net on a 64 x 64 grid of 1 mm pixels (as `knee-t2 train` writes)."""
    from KneeCartilageT2Lib.model_files import save_model_safetensors
    from KneeCartilageT2Lib.unet import build_unet

    torch.manual_seed(seed)
    module = build_unet(levels=2, base_filters=4, batch_norm=True)
    spec = {"name": name, "version": version, "preprocessing": dict(TINY_PREPROCESSING),
            "architecture": dict(module.architecture), "training": training or {}}
    return save_model_safetensors(module, path, spec)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KNEE_T2_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


def _first_weight(path):
    from KneeCartilageT2Lib.model_files import read_safetensors_tensors

    tensors = read_safetensors_tensors(path)
    return tensors[sorted(key for key in tensors if key.endswith("weight"))[0]]


def test_registered_versions_are_listed_numbered_and_loadable_by_name(tmp_path, cache):
    training = {"cases": ["knee_001", "knee_002"], "validation_cases": ["knee_002"], "epochs_run": 3,
                "best_epoch": 2, "best_validation_dice": 0.8125,
                "init": {"init_model": "tiny-base", "init_version": "1", "init_source": "/x/tiny.safetensors"}}
    first = versions.register_model_version(save_tiny_model(tmp_path / "a.safetensors", 1, training=training),
                                            "tiny-base-finetuned", dataset=tmp_path / "my_dataset")
    second = versions.register_model_version(save_tiny_model(tmp_path / "b.safetensors", 2, training=training),
                                             "tiny-base-finetuned", base_model="tiny-base-finetuned", base_version="1")
    assert (first.version, second.version) == ("1", "2")
    assert first.location == str(cache / "tiny-base-finetuned-1.safetensors")
    provenance = first.extra
    assert provenance["base_model"] == "tiny-base" and provenance["base_version"] == "1"
    assert provenance["cases"] == ["knee_001", "knee_002"] and provenance["n_cases"] == 2
    assert provenance["epochs"] == 3 and provenance["best_validation_dice"] == pytest.approx(0.8125)
    assert provenance["dataset"] == "my_dataset" and str(tmp_path) not in json.dumps(provenance)
    assert "tiny-base v1 fine-tuned on 2 case(s) of my_dataset, 3 epoch(s), validation Dice 0.812" in first.description
    assert second.extra["base_model"] == "tiny-base-finetuned" and second.extra["base_version"] == "1"

    listed = [(info.name, info.version) for info in registry.list_models()]
    assert ("tiny-base-finetuned", "1") in listed and ("tiny-base-finetuned", "2") in listed
    newest = registry.load_model("tiny-base-finetuned")
    assert (newest.name, newest.version) == ("tiny-base-finetuned", "2")
    older = registry.load_model("tiny-base-finetuned@1")
    assert older.version == "1" and older.source == first.location
    assert not np.array_equal(_first_weight(first.location), _first_weight(second.location))
    with torch.inference_mode():
        assert older(torch.zeros(1, 1, 64, 64)).shape == (1, 1, 64, 64)
    assert [item.version for item in versions.installed_versions("tiny-base-finetuned")] == ["1", "2"]
    assert versions.installed_versions("tiny-base-finetuned")[0].provenance["cases"] == ["knee_001", "knee_002"]
    with pytest.raises(ModelError, match="tiny-base-finetuned@7"):
        registry.load_model("tiny-base-finetuned@7")


def test_versions_order_numerically_and_survive_removal_without_reuse(tmp_path, cache):
    weights = save_tiny_model(tmp_path / "w.safetensors")
    for _ in range(10):
        info = versions.register_model_version(weights, "site-model")
    assert info.version == "10"
    assert versions.find_installed_model("site-model").name == "site-model-10.safetensors"  # 10 after 9
    versions.remove_model_version("site-model@10")
    assert versions.find_installed_model("site-model").name == "site-model-9.safetensors"
    (cache / "site-model-11.safetensors.lock").write_text("123")  # a registration in progress elsewhere
    assert versions.register_model_version(weights, "site-model").version == "12"
    versions.remove_model_version("site-model@12")  # the newest removed: its number is still never reused
    (cache / "site-model-11.safetensors.lock").unlink()
    assert versions.register_model_version(weights, "site-model").version == "13"


def test_clearing_the_cache_keeps_fine_tuned_and_imported_models_and_imports_never_replace_one(tmp_path, cache):
    weights = save_tiny_model(tmp_path / "w.safetensors")
    own = Path(versions.register_model_version(weights, "site-model").location)
    assert registry.clear_cache() == 0 and own.is_file()  # cannot be fetched again: kept
    exported = save_tiny_model(tmp_path / "from_elsewhere.safetensors", seed=5, name="site-model", version="1")
    with pytest.raises(ModelError, match="site-model@1 is already installed .* --name NAME"):
        registry.import_weights_file(exported)  # another workstation's site-model v1 is other weights
    assert np.array_equal(_first_weight(own), _first_weight(weights))
    again = save_tiny_model(tmp_path / "again.safetensors", seed=7, name="visiting", version="1")
    first = registry.import_weights_file(again)
    assert registry.import_weights_file(again) == first  # the same file again: already installed


def test_names_of_shipped_models_and_bad_files_are_refused(tmp_path, cache):
    weights = save_tiny_model(tmp_path / "w.safetensors")
    reserved = next(iter(registry.registry_entries()))
    with pytest.raises(InputError, match="another name"):
        versions.register_model_version(weights, reserved)
    with pytest.raises(InputError, match="not usable"):
        versions.register_model_version(weights, "bad name@2")
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(3, np.float32)}, str(tmp_path / "bare.safetensors"))
    with pytest.raises(ModelError, match="no 'knee_t2_spec'"):
        versions.register_model_version(tmp_path / "bare.safetensors", "other")
    assert not list(cache.glob("*.safetensors")) and not list(cache.glob("*.lock"))


def test_default_names_follow_the_lineage(tmp_path):
    assert versions.finetuned_name("knee-t2-bootstrap") == "knee-t2-bootstrap-finetuned"
    assert versions.finetuned_name("knee-t2-bootstrap-finetuned@3") == "knee-t2-bootstrap-finetuned"
    path = save_tiny_model(tmp_path / "some_file.safetensors", name="from-spec")
    assert versions.finetuned_name(str(path)) == "from-spec-finetuned"
    assert versions.split_model_reference("m@2") == ("m", "2")
    assert versions.split_model_reference("m") == ("m", None)


def test_a_fine_tune_that_did_not_beat_its_base_is_not_registered(tmp_path, cache):
    """The trainer flags improved_on_init False: NotImprovedError names the base and its Dice; the cache stays empty."""
    from KneeCartilageT2Lib.finetune import NotImprovedError, register_if_improved

    training = {"improved_on_init": False, "validation_cases": ["case_0004"], "best_epoch": 0,
                "init": {"init_model": "tiny-base", "init_version": "3", "validation_dice": 0.8123}}
    trained = save_tiny_model(tmp_path / "trained.safetensors", training=training)
    with pytest.raises(NotImprovedError, match=r"did not improve on tiny-base v3.*1 held-back.*0\.812"):
        register_if_improved(trained, "tiny-base-finetuned", tmp_path)
    assert versions.installed_versions("tiny-base-finetuned") == []
    info, spec = register_if_improved(trained, "tiny-base-finetuned", tmp_path, keep_if_not_better=True)
    assert info.version == "1" and info.extra["improved_on_base"] is False and spec["best_epoch"] == 0
    improved = save_tiny_model(tmp_path / "better.safetensors", training=dict(training, improved_on_init=True))
    assert register_if_improved(improved, "tiny-base-finetuned", tmp_path)[0].version == "2"
