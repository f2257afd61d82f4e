"""Model registry: cache location, download/import with hash checks, bundled default, safe loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from KneeCartilageT2Lib import model_registry as registry  # noqa: E402
from KneeCartilageT2Lib import unet  # noqa: E402
from KneeCartilageT2Lib.errors import ModelError  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
KERAS_FIXTURE = FIXTURES / "keras_unet_small_weights.h5"
SMALL_ARCHITECTURE = {"levels": 4, "base_filters": 3, "batch_norm": False, "in_channels": 1}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KNEE_T2_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


@pytest.fixture
def fake_registry(tmp_path, monkeypatch, cache):
    """A registry with one small Keras model downloadable from a file:// url, and empty Resources/."""
    resources = tmp_path / "resources"
    resources.mkdir()
    served = tmp_path / "served" / "small.h5"
    served.parent.mkdir()
    shutil.copy(KERAS_FIXTURE, served)
    entry = {
        "name": "small-keras", "version": "1", "format": "keras-h5", "sha256": None,
        "url": served.as_uri(), "filename": "small.h5", "architecture": SMALL_ARCHITECTURE,
        "preprocessing": {"mode": "resize", "size": [32, 48]},
    }
    path = resources / "models.json"
    path.write_text(json.dumps({"default_preference": ["bootstrap", "small-keras"], "models": [entry]}))
    monkeypatch.setattr(registry, "RESOURCES_DIR", resources)
    monkeypatch.setattr(registry, "REGISTRY_PATH", path)
    return {"entry": entry, "served": served, "resources": resources, "path": path}


def test_cache_lives_in_the_users_folder_not_the_extension(cache, monkeypatch):
    assert registry.cache_dir() == cache and cache.is_dir()
    monkeypatch.delenv("KNEE_T2_CACHE")
    assert registry.cache_dir(create=False) == Path.home() / ".cache" / "knee-t2" / "models"


def test_published_model_entry_describes_the_reference_network():
    entry = registry.registry_entries()["thomas2020-oai-mese"]
    assert entry["format"] == "keras-h5" and entry["sha256"] is None
    assert entry["url"].endswith("model_weights_quartileNormalization_echoAug.h5")
    spec = registry.spec_from_entry(entry)
    assert unet.count_parameters(unet.build_unet_from_spec(spec["architecture"])) == 34585761
    assert spec["refinement"]["min_slice_voxels"] == 425
    assert spec["refinement"]["reference_pixel_area_mm2"] == pytest.approx(0.3125 * 0.446)
    assert spec["preprocessing"]["target_te_ms"] == 20.0 and spec["preprocessing"]["size"] == [384, 384]


def test_first_download_is_converted_and_its_hash_recorded(fake_registry, cache):
    reports = []
    model = registry.load_model("small-keras", device="cpu", progress=lambda f, s: reports.append(f))
    assert reports and reports[-1] == pytest.approx(1.0)
    assert model.name == "small-keras" and model.spec["architecture"]["levels"] == 4
    assert (cache / "small-keras-1.safetensors").is_file()
    assert not list(cache.glob("*.partial")) and not list(cache.glob("*.download"))
    recorded = json.loads((cache / registry.KNOWN_HASHES_FILE).read_text())["small-keras"]
    assert recorded["sha256"] == registry.sha256_of_file(KERAS_FIXTURE)
    expected = np.load(FIXTURES / "keras_unet_small_expected.npz")
    with torch.no_grad():
        probabilities = model(torch.from_numpy(expected["inputs"])[:, None])[:, 0].numpy()
    assert np.abs(probabilities - expected["probabilities"]).max() < 1e-4


def test_a_later_download_that_differs_from_the_first_is_refused(fake_registry, cache):
    registry.ensure_weights("small-keras")
    assert registry.clear_cache() == 1 and not (cache / "small-keras-1.safetensors").exists()  # a listed download
    with open(fake_registry["served"], "r+b") as handle:  # the server now sends other bytes
        handle.seek(-8, 2)
        handle.write(b"tampered")
    with pytest.raises(ModelError, match="sha256"):
        registry.ensure_weights("small-keras")
    assert not (cache / "small-keras-1.safetensors").exists()


def test_registry_sha256_mismatch_and_truncated_file_are_refused(fake_registry, cache, tmp_path):
    entry = dict(fake_registry["entry"], sha256="0" * 64)
    fake_registry["path"].write_text(json.dumps({"models": [entry]}))
    with pytest.raises(ModelError, match="expected"):
        registry.ensure_weights("small-keras")
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(KERAS_FIXTURE.read_bytes()[:60000])
    fake_registry["path"].write_text(json.dumps({"models": [fake_registry["entry"]]}))
    with pytest.raises(ModelError, match="truncated"):
        registry.import_weights_file(truncated, "small-keras")
    assert not (cache / registry.KNOWN_HASHES_FILE).exists()  # a bad first file is never trusted


def test_import_offline_under_a_new_name_then_list_and_load(cache):
    path = registry.import_weights_file(KERAS_FIXTURE, "hospital-copy")
    assert path.parent == cache
    names = {info.name: info for info in registry.list_models()}
    assert names["hospital-copy"].available
    model = registry.load_model("hospital-copy", device="cpu")
    assert model.spec["architecture"]["base_filters"] == 3
    assert registry.clear_cache() == 0 and path.exists()  # imported under its own name: cannot be fetched again


def test_truncated_safetensors_is_refused(tmp_path):
    module = unet.build_unet(levels=2, base_filters=2)
    good = registry.save_model_safetensors(module, tmp_path / "m.safetensors", {"name": "m", "version": "1"})
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(ModelError, match="corrupt or truncated"):
        registry.load_model(str(bad))


def test_weights_that_do_not_fit_the_declared_architecture_are_refused(tmp_path):
    module = unet.build_unet(levels=2, base_filters=2)
    path = registry.save_model_safetensors(module, tmp_path / "m.safetensors",
                                           {"name": "m", "architecture": {"levels": 2, "base_filters": 4}})
    with pytest.raises(ModelError, match="do not fit"):
        registry.load_model(str(path))


def test_default_model_prefers_a_bundled_bootstrap_model(fake_registry):
    assert registry.default_model_name() == "small-keras"  # nothing local: first downloadable entry
    module = unet.build_unet(levels=2, base_filters=2)
    registry.save_model_safetensors(module, fake_registry["resources"] / "knee_t2_bootstrap.safetensors",
                                    {"name": "bootstrap", "version": "0.1", "preprocessing": {"mode": "spacing",
                                     "pixel_spacing_mm": [0.5, 0.5], "size": [64, 64]}})
    assert registry.default_model_name() == "bootstrap"
    model = registry.load_model(None, device="cpu")
    assert model.name == "bootstrap" and model.spec["preprocessing"]["mode"] == "spacing"
    assert model.spec["refinement"]["probability_threshold"] == 0.501  # defaults filled in


def test_unknown_model_name_lists_what_exists(cache):
    with pytest.raises(ModelError, match="thomas2020-oai-mese"):
        registry.load_model("no-such-model")


def test_model_code_never_unpickles():
    package = Path(registry.__file__).parent
    for name in ("model_registry.py", "model_files.py", "keras_weights.py", "inference.py", "unet.py"):
        text = (package / name).read_text()
        assert "torch.load(" not in text and "pickle" not in text.replace("unpickle", ""), name


def test_bundled_bootstrap_model_matches_its_listed_checksum_and_is_the_default():
    entry = registry.registry_entries()["knee-t2-bootstrap"]
    path = registry.bundled_weights_path(entry)
    assert path is not None and path.stat().st_size == entry["size_bytes"] < 20_000_000
    from KneeCartilageT2Lib.model_files import sha256_of_file

    assert sha256_of_file(path) == entry["sha256"]
    assert registry.default_model_name() == "knee-t2-bootstrap"
    assert entry["evaluation"]["dice_mean"] >= 0.85


def _same_description(description, loaded):
    assert (description.name, description.version) == (loaded.name, loaded.version)
    assert json.dumps(description.spec, sort_keys=True, default=str) == json.dumps(loaded.spec, sort_keys=True, default=str)


def test_describe_model_gives_load_models_spec_without_the_weights(cache, fake_registry, tmp_path):
    """The CPU half of a split run reads the spec only: bundled, cached, imported, file path, or not installed."""
    for target in ("small-keras", str(KERAS_FIXTURE)):  # the first is downloaded by load_model
        loaded = registry.load_model(target, device="cpu")
        _same_description(registry.describe_model(target), loaded)
    registry.import_weights_file(KERAS_FIXTURE, "hospital-copy")
    _same_description(registry.describe_model("hospital-copy"), registry.load_model("hospital-copy"))

    registry.clear_cache()
    fake_registry["served"].unlink()  # neither installed nor downloadable: the registry entry still describes it
    described = registry.describe_model("small-keras")
    assert described.source == "" and described.version == "1"
    assert described.spec["architecture"]["base_filters"] == 3 and described.spec["preprocessing"]["size"] == [32, 48]
    with pytest.raises(ModelError, match="could not be downloaded"):
        registry.load_model("small-keras")


def test_describe_the_bundled_default_model():
    _same_description(registry.describe_model(None), registry.load_model(None, device="cpu"))


@pytest.mark.parametrize("content, message", [
    ('{"models": [', "not valid JSON"),
    ('{"models": [{"version": "1"}]}', "Entry 1 .* has no \"name\""),
    ('{"models": [{"name": "a"}, {"name": "a"}]}', "names 'a' twice"),
    ('{"models": [{"name": "a", "preprocessing": null}]}', "\"preprocessing\" must be an object"),
])
def test_a_hand_edited_model_list_names_its_mistake(tmp_path, content, message):
    path = tmp_path / "models.json"
    path.write_text(content)
    with pytest.raises(ModelError, match=message):
        registry.load_registry(path)
