"""``--noise-seed``: the same phantom knee with new noise (a test-retest pair), and the "Wrote phantom" line
naming the planted lesions."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from KneeCartilageT2Lib.phantom import PhantomOptions, simulate_phantom
from KneeCartilageT2Lib.phantom_anatomy import build_anatomy
from KneeCartilageT2Lib.phantom_synthetic import TINY_PROTOCOL, synthetic_knee_labels


@pytest.fixture(scope="module")
def anatomy():
    return build_anatomy(synthetic_knee_labels(), "synthetic")


def _phantom(anatomy, **kwargs):
    return simulate_phantom(anatomy, PhantomOptions(protocol=TINY_PROTOCOL, seed=7, lesions=1, **kwargs))


def test_a_noise_seed_changes_the_noise_alone(anatomy):
    default, again, retest = _phantom(anatomy), _phantom(anatomy, noise_seed=7), _phantom(anatomy, noise_seed=8)
    noiseless = _phantom(anatomy, snr=0.0)
    assert np.array_equal(default.exam.echoes, again.exam.echoes)  # the seed's own noise: phantoms stay the same
    assert not np.array_equal(default.exam.echoes, retest.exam.echoes)
    for name in ("label", "tissues", "t2_truth_ms", "lesion_label"):
        assert np.array_equal(getattr(default, name), getattr(retest, name)), name
    assert np.array_equal(default.exam.ijk_to_ras, retest.exam.ijk_to_ras)
    assert default.parameters["lesions"] == retest.parameters["lesions"]
    assert default.parameters["noise_sigma"] == pytest.approx(retest.parameters["noise_sigma"])
    # both are the noiseless knee plus noise of the same level
    cartilage = default.label > 0
    for phantom in (default, retest):
        error = phantom.exam.echoes[0][cartilage] - noiseless.exam.echoes[0][cartilage]
        assert abs(float(np.mean(error))) < 0.2 * phantom.parameters["noise_sigma"]
    assert retest.parameters["options"]["noise_seed"] == 8


def test_phantom_command_takes_a_noise_seed_and_names_planted_lesions(tmp_path, monkeypatch, capsys):
    from KneeCartilageT2Lib import phantom_protocols
    from KneeCartilageT2Lib.cli import main
    from KneeCartilageT2Lib.volume_io import read_volume, write_volume

    monkeypatch.setitem(phantom_protocols.PROTOCOLS, "ge", replace(TINY_PROTOCOL, name="ge"))
    labelmap = write_volume(synthetic_knee_labels(), tmp_path / "knee.nrrd")
    common = ["--anatomy", str(labelmap), "--seed", "5", "--lesions", "2"]
    assert main(["phantom", "-o", str(tmp_path / "test")] + common) == 0
    first = capsys.readouterr().out
    assert main(["phantom", "-o", str(tmp_path / "retest"), "--noise-seed", "6"] + common) == 0
    second = capsys.readouterr().out
    lesions = json.loads((tmp_path / "retest" / "phantom.json").read_text())["lesions"]
    assert len(lesions) == 2
    assert "2 planted lesions of raised T2 (%s ms; lesions.nrrd)" % ", ".join(
        "%+.1f" % lesion["delta_t2_ms"] for lesion in lesions) in second
    assert "noise seed 6" in second and "noise seed" not in first
    test, retest = (read_volume(tmp_path / name / "t2_truth.nrrd").array for name in ("test", "retest"))
    assert np.array_equal(test, retest)
    echoes = [np.asarray(read_volume(tmp_path / name / "label.nrrd").array) for name in ("test", "retest")]
    assert np.array_equal(echoes[0], echoes[1])
    assert main(["phantom", "-o", str(tmp_path / "none"), "--anatomy", str(labelmap), "--seed", "5"]) == 0
    assert "no planted lesions" in capsys.readouterr().out


def test_noise_seed_is_refused_with_cases(tmp_path, capsys):
    from KneeCartilageT2Lib.cli import main
    from KneeCartilageT2Lib.volume_io import write_volume

    labelmap = write_volume(synthetic_knee_labels(), tmp_path / "knee.nrrd")
    status = main(["phantom", "-o", str(tmp_path / "set"), "--anatomy", str(labelmap), "--cases", "2",
                   "--noise-seed", "3"])
    assert status == 2 and "--noise-seed" in capsys.readouterr().err
