"""Phantom cartilage thickness variation: where cartilage may grow or thin, the depth, the options."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from KneeCartilageT2Lib import phantom_tissues as T
from KneeCartilageT2Lib.geometry import spacing_from_matrix
from KneeCartilageT2Lib.phantom import PhantomOptions, simulate_phantom
from KneeCartilageT2Lib.phantom_anatomy import build_anatomy
from KneeCartilageT2Lib.phantom_synthetic import TINY_PROTOCOL, synthetic_knee_labels
from KneeCartilageT2Lib.phantom_thickness import GROWABLE_TISSUES, vary_femoral_thickness


@pytest.fixture(scope="module")
def anatomy():
    return build_anatomy(synthetic_knee_labels(), "synthetic")


def _vary(anatomy, amplitude, seed=3):
    return vary_femoral_thickness(anatomy.tissues, anatomy.cartilage_depth, anatomy.ijk_to_ras, amplitude,
                                  np.random.default_rng(seed))


def test_zero_amplitude_keeps_the_anatomy(anatomy):
    tissues, depth, info = _vary(anatomy, 0.0)
    assert tissues is anatomy.tissues and depth is anatomy.cartilage_depth and info == {"amplitude_mm": 0.0}


def test_cartilage_grows_only_into_soft_tissue_near_it_and_thins_only_superficially(anatomy):
    amplitude = 1.5
    tissues, depth, info = _vary(anatomy, amplitude)
    before = anatomy.tissues == T.FEMORAL_CARTILAGE
    after = tissues == T.FEMORAL_CARTILAGE
    grown, removed = after & ~before, before & ~after
    assert grown.sum() > 0 and removed.sum() > 0, "a 1.5 mm field on a 2.4 mm shell must both grow and thin it"
    assert info["grown_ml"] > 0 and info["removed_ml"] > 0
    # growth: only into soft tissue / fluid / air, never further than the amplitude (+ one voxel diagonal)
    assert np.isin(anatomy.tissues[grown], GROWABLE_TISSUES).all()
    spacing_kji = spacing_from_matrix(anatomy.ijk_to_ras)[::-1]
    distance = ndimage.distance_transform_edt(~before, sampling=spacing_kji)
    assert distance[grown].max() <= amplitude + 1e-6
    # thinning: only the superficial half becomes fluid; the deep half and every other tissue stay
    assert (anatomy.cartilage_depth[removed] > 0.5).all() and (tissues[removed] == T.JOINT_FLUID).all()
    untouched = ~(grown | removed)
    assert np.array_equal(tissues[untouched], anatomy.tissues[untouched])
    # the depth of the new cartilage runs 0 (bone) .. 1 (surface) and the plate stays one piece
    assert depth[after].min() >= 0.0 and depth[after].max() <= 1.0 and depth[after].std() > 0.1
    assert ndimage.label(after)[1] == ndimage.label(before)[1]


def test_the_same_stream_gives_the_same_change(anatomy):
    first, second, other = (_vary(anatomy, 1.5, seed)[0] for seed in (3, 3, 4))
    assert np.array_equal(first, second) and not np.array_equal(first, other)


def test_an_amplitude_beyond_the_limit_is_refused(anatomy):
    with pytest.raises(ValueError, match="thickness amplitude"):
        _vary(anatomy, 2.5)


def test_phantom_option_changes_only_the_cartilage_and_is_recorded(anatomy):
    plain = simulate_phantom(anatomy, PhantomOptions(protocol=TINY_PROTOCOL, seed=2, snr=0.0))
    varied = simulate_phantom(anatomy, PhantomOptions(protocol=TINY_PROTOCOL, seed=2, snr=0.0,
                                                      thickness_variation_mm=1.5))
    change = varied.parameters["cartilage_thickness_change"]
    assert change["amplitude_mm"] == 1.5 and change["grown_ml"] > 0
    assert plain.parameters["cartilage_thickness_change"] == {"amplitude_mm": 0.0}
    # same geometry (the slice grid and transform do not depend on the thickness) but another label
    assert plain.parameters["transform"] == varied.parameters["transform"]
    assert np.array_equal(plain.exam.ijk_to_ras, varied.exam.ijk_to_ras)
    assert not np.array_equal(plain.cartilage_fraction, varied.cartilage_fraction)


def test_phantom_command_refuses_an_implausible_thickness_change(tmp_path, capsys):
    from KneeCartilageT2Lib.cli import main
    from KneeCartilageT2Lib.volume_io import write_volume

    labelmap = write_volume(synthetic_knee_labels(), tmp_path / "knee.nrrd")
    status = main(["phantom", "-o", str(tmp_path / "out"), "--anatomy", str(labelmap),
                   "--thickness-variation-mm", "3"])
    assert status == 2 and "--thickness-variation-mm must be in [0, 1.5], got 3" in capsys.readouterr().err
