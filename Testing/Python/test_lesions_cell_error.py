"""The sampling error of projection cells, and lesion candidates that must exceed it (``min_cell_z``).

On the real GE exam compared with a copy of itself moved in the scanner, the registration's
sub-voxel error moved 1 % of the voxels between cells; cells of 6-10 voxels with T2 from 10 to
60 ms then changed their median by up to 8 ms, and a 2.2 % 'lesion' of +7.7 ms appeared.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from KneeCartilageT2Lib.lesions import LesionParameters, find_lesion_clusters
from KneeCartilageT2Lib.projection import N_ANGULAR_BINS, cell_standard_error, mid_depth_standard_error


def test_a_cells_error_is_its_robust_spread_over_root_n_never_below_the_pooled_spread():
    wide = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0])  # MAD 20 ms
    narrow = np.array([40.0, 41.0, 42.0, 43.0, 44.0])  # MAD 1 ms
    values = np.concatenate([wide, narrow, [55.0]])
    rows = np.zeros(values.size, dtype=int)
    cols = np.r_[np.full(9, 3), np.full(5, 7), [11]]
    error = cell_standard_error(rows, cols, values, 1, "median")
    pooled = 1.4826 * np.median([20.0, 1.0])  # the cells with at least 5 voxels
    assert error[0, 3] == pytest.approx(1.2533 * 1.4826 * 20.0 / 3.0)
    assert error[0, 7] == pytest.approx(1.2533 * pooled / np.sqrt(5))  # its own spread is below the pooled one
    assert error[0, 11] == pytest.approx(1.2533 * pooled)  # one voxel cannot show a spread
    assert np.isnan(error[0, 0]) and error.shape == (1, N_ANGULAR_BINS)
    mean_error = cell_standard_error(rows[:9], cols[:9], wide, 1, "mean")
    assert mean_error[0, 3] == pytest.approx(np.std(wide) / 3.0)


def test_the_mid_depth_error_uses_the_voxels_its_median_uses():
    values = np.array([5.0, 40.0, 41.0, 42.0, 43.0, 44.0, 95.0])
    depth = np.array([0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 1.0])  # the surface voxels are left out
    zeros = np.zeros(values.size, dtype=int)
    banded = mid_depth_standard_error(zeros, zeros, values, depth, 1, 0.15)
    assert banded[0, 0] == pytest.approx(cell_standard_error(zeros[1:6], zeros[1:6], values[1:6], 1)[0, 0])


def _map(array, error=None):
    rows, cols = np.arange(40.0) * 4.0, np.arange(60.0) * 2.5  # 4 mm x 2.5 mm cells, as on the GE protocol
    return SimpleNamespace(array=array, row_positions_mm=rows, col_positions_mm=cols, standard_error=error)


def test_an_increase_within_the_cells_sampling_error_is_not_a_lesion_one_beyond_it_is():
    rng = np.random.default_rng(3)
    baseline = 40.0 + rng.normal(0, 0.5, (40, 60))
    patch = np.zeros((40, 60), bool)
    patch[15:20, 20:30] = True  # 5 x 10 cells = 20 x 25 mm, 4 % of the plate
    followup = baseline + rng.normal(0, 0.5, (40, 60)) + 8.0 * patch
    shaky, steady = np.full((40, 60), 4.0), np.full((40, 60), 1.0)  # 2 x combined error: 11.3 ms, 2.8 ms
    gated = LesionParameters(min_cell_z=2.0)
    assert find_lesion_clusters(_map(baseline, shaky), _map(followup, shaky), gated).clusters == []
    found = find_lesion_clusters(_map(baseline, steady), _map(followup, steady), gated).clusters
    assert len(found) == 1 and found[0].mean_delta_t2_ms == pytest.approx(8.0, abs=1.0)
    ungated = find_lesion_clusters(_map(baseline, shaky), _map(followup, shaky), LesionParameters(min_cell_z=0.0))
    assert len(ungated.clusters) == 1  # the gate is what removed it
    no_errors = find_lesion_clusters(_map(baseline), _map(followup), gated)
    assert len(no_errors.clusters) == 1  # maps that carry no error are not gated


def test_a_negative_z_is_refused():
    from KneeCartilageT2Lib.errors import InputError

    with pytest.raises(InputError, match="minimum z"):
        find_lesion_clusters(_map(np.full((40, 60), 40.0)), _map(np.full((40, 60), 40.0)),
                             LesionParameters(min_cell_z=-1.0))
