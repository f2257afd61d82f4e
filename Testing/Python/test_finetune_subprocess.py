"""Fine-tuning in a child process: a new model version appears; cancelling kills the child and registers nothing."""

from __future__ import annotations

import os
import sys
import time

import pytest

pytest.importorskip("torch")

from KneeCartilageT2Lib import finetune  # noqa: E402
from KneeCartilageT2Lib import model_versions as versions  # noqa: E402
from KneeCartilageT2Lib.errors import InputError, OperationCancelled  # noqa: E402
from KneeCartilageT2Lib.progress import CancelToken  # noqa: E402
from test_finetune_versions import save_tiny_model  # noqa: E402

TINY_OPTIONS = dict(crop_size=32, batch_size=4, threads=1)


@pytest.fixture
def tiny_dataset(tiny_phantom_dataset):
    return tiny_phantom_dataset


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KNEE_T2_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


def test_fine_tune_runs_the_trainer_in_a_child_and_registers_a_new_version(tiny_dataset, tmp_path, cache):
    base = save_tiny_model(tmp_path / "base.safetensors", name="tiny-base", version="4")
    reports, lines = [], []
    result = finetune.fine_tune(tiny_dataset, str(base), epochs=1, device="cpu",
                                progress=lambda fraction, stage: reports.append((fraction, stage)),
                                options=finetune.FineTuneOptions(keep_if_not_better=True, **TINY_OPTIONS),
                                log=lines.append)
    assert (result.model.name, result.model.version) == ("tiny-base-finetuned", "1")
    assert result.reference == "tiny-base-finetuned@1" and result.epochs_run == 1 and result.best_epoch in (0, 1)
    assert 0.0 <= result.base_validation_dice <= result.best_validation_dice <= 1.0
    assert any(line.startswith("starting model: validation Dice") for line in lines)  # the base is epoch 0
    assert any(line.startswith("epoch 1/1:") for line in lines)  # the trainer's own log, read from the child
    fractions = [fraction for fraction, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(stage.startswith("epoch 1/1") for _, stage in reports)
    provenance = result.model.extra
    assert provenance["base_model"] == "tiny-base" and provenance["base_version"] == "4"
    assert provenance["dataset"].startswith("corrections") and provenance["epochs"] == 1
    assert provenance["n_cases"] == 1 and len(provenance["validation_cases"]) == 1
    assert provenance["improved_on_base"] is (result.best_epoch == 1)
    assert provenance["base_validation_dice"] == pytest.approx(result.base_validation_dice)

    from KneeCartilageT2Lib.model_registry import load_model

    loaded = load_model("tiny-base-finetuned")
    assert loaded.version == "1" and loaded.spec["preprocessing"]["size"] == [64, 64]
    assert sorted(path.name for path in cache.iterdir()) == ["tiny-base-finetuned-1.safetensors"]



def fake_trainer(tmp_path, script):
    """A stand-in for the training process (a shell script run instead of Python): fast and deterministic."""
    if sys.platform == "win32":
        pytest.skip("the fake trainer is a POSIX shell script")
    path = tmp_path / "fake_python"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return str(path)


def test_cancel_kills_the_child_and_registers_nothing(tiny_dataset, tmp_path, cache):
    """The child has written a partial model and is training when the user cancels."""
    python = fake_trainer(tmp_path, 'echo "Loading dataset x ..."\necho "epoch 1/500: loss 0.5, validation Dice 0.1"\n'
                                    'echo partial > model.safetensors\nexec sleep 120\n')
    base = save_tiny_model(tmp_path / "base.safetensors")
    job = finetune.FineTuneJob(tiny_dataset, str(base), finetune.FineTuneOptions(epochs=500, python=python))
    token = CancelToken()
    seen = []

    def progress(fraction, stage):
        seen.append(stage)
        if stage.startswith("epoch 1/500"):  # training is under way in the child
            token.cancel()

    started = time.time()
    with pytest.raises(OperationCancelled):
        job.start().wait(progress, token)
    assert time.time() - started < 30 and seen[-1].startswith("epoch 1/500")
    assert job.process.poll() is not None  # the child is gone...
    with pytest.raises(ProcessLookupError):
        os.kill(job.process.pid, 0)  # ...and reaped
    assert not job.work_dir.exists()  # with its partial model
    assert versions.installed_versions("tiny-base-finetuned") == []
    assert not cache.exists() or not list(cache.iterdir())


def test_failures_are_reported_before_or_from_the_child(tiny_dataset, tmp_path, cache):
    from KneeCartilageT2Lib.dataset_format import create_dataset

    create_dataset(tmp_path / "empty")
    with pytest.raises(InputError, match="no approved labels"):
        finetune.fine_tune(tmp_path / "empty", "whatever")
    with pytest.raises(InputError, match="published or bundled"):
        finetune.FineTuneJob(tiny_dataset, "x", finetune.FineTuneOptions(name="thomas2020-oai-mese")).start()
    refused = fake_trainer(tmp_path, 'echo "Loading dataset x ..."\n'
                                     'echo "knee-t2 train: error: No model or weights file named \'nope\'." >&2\n'
                                     'exit 2\n')
    with pytest.raises(finetune.FineTuneError, match="Fine-tuning stopped: No model or weights file named 'nope'"):
        finetune.fine_tune(tiny_dataset, "nope", options=finetune.FineTuneOptions(python=refused))
    crashed = fake_trainer(tmp_path, 'echo "Traceback: something broke"\nexit 1\n')
    with pytest.raises(finetune.FineTuneError, match="exit status 1(.|\n)*something broke"):
        finetune.fine_tune(tiny_dataset, "nope", options=finetune.FineTuneOptions(python=crashed))
    assert not cache.exists() or not list(cache.glob("*.safetensors"))


def test_progress_is_read_from_the_trainer_log():
    assert finetune.progress_from_line("Loading dataset /x ...", 4) == (0.01, "Loading the dataset")
    fraction, stage = finetune.progress_from_line("  epoch 2 batch 5/10 loss 0.3 (1.0 s/batch, epoch ETA 5 s)", 4)
    assert fraction == pytest.approx(0.05 + 0.92 * 1.5 / 4) and stage == "Epoch 2/4, batch 5/10"
    fraction, _ = finetune.progress_from_line("epoch 4/4: loss 0.2, validation Dice 0.8 (best 0.8 @ 4), 3 s", 4)
    assert fraction == pytest.approx(0.97)
    assert finetune.progress_from_line("Best epoch 4, validation Dice 0.8", 4) is None


def test_finetune_command_reports_the_new_version(tiny_dataset, tmp_path, cache, monkeypatch, capsys):
    """The CLI wiring, with a stand-in trainer that writes a finished model where the real one would."""
    from KneeCartilageT2Lib.cli import main

    trained = save_tiny_model(tmp_path / "trained.safetensors", training={"epochs_run": 2, "best_epoch": 2,
                                                                          "best_validation_dice": 0.75})
    python = fake_trainer(tmp_path, 'echo "epoch 2/2: loss 0.3, validation Dice 0.75 (best 0.75 @ 2), 1 s"\n'
                                    'cp "%s" model.safetensors\n' % trained)
    monkeypatch.setattr(sys, "executable", python)
    base = save_tiny_model(tmp_path / "base.safetensors", name="site-base")
    assert main(["finetune", str(tiny_dataset), "--model", str(base), "--epochs", "2"]) == 0
    output = capsys.readouterr().out
    assert "  epoch 2/2: loss 0.3" in output  # the trainer's log is shown
    assert "Registered site-base-finetuned v1" in output and "best epoch 2 of 2, validation Dice 0.7500" in output
    assert "--model site-base-finetuned@1" in output
    assert (cache / "site-base-finetuned-1.safetensors").is_file()
