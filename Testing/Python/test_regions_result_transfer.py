"""Worker results travel as JSON + NPZ: everything comes back, nothing is ever unpickled."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest

from KneeCartilageT2Lib.cartilage_shell import ShellSpec, build_shell
from KneeCartilageT2Lib.regions import analyse_regions
from KneeCartilageT2Lib.result_transfer import TransferError, arrays_path, read_transfer, write_transfer


@pytest.fixture(scope="module")
def analysis():
    mask, t2, _ = build_shell(ShellSpec(spacing_mm=(0.6, 0.6, 3.0)), "right")
    return analyse_regions(mask, t2, "right", laterality_source="user")


def test_region_analysis_round_trips_exactly(analysis, tmp_path):
    value = {"analysis": analysis, "pair": (1, np.float32(2.5)), "missing": float("nan"), 3: [None, True]}
    back = read_transfer(write_transfer(value, tmp_path / "result.json"))
    copy = back["analysis"]
    assert json.dumps(copy.rows) == json.dumps(analysis.rows)  # NaN written alike on both sides
    np.testing.assert_array_equal(copy.subregion_labels.array, analysis.subregion_labels.array)
    assert copy.subregion_labels.array.dtype == analysis.subregion_labels.array.dtype
    np.testing.assert_array_equal(copy.subregion_labels.ijk_to_ras, analysis.subregion_labels.ijk_to_ras)
    np.testing.assert_array_equal(copy.projections["t2"].array, analysis.projections["t2"].array)
    assert copy.orientation.laterality == "right" and copy.orientation.side_source == "user"
    np.testing.assert_array_equal(copy.orientation.lateral_ras, analysis.orientation.lateral_ras)
    assert copy.details == analysis.details and copy.warnings == analysis.warnings
    assert back["pair"] == (1, 2.5) and isinstance(back["pair"][1], np.float32)
    assert math.isnan(back["missing"]) and back[3] == [None, True]


def test_the_files_are_strict_json_and_a_pickle_free_npz(analysis, tmp_path):
    path = write_transfer({"analysis": analysis, "x": float("inf")}, tmp_path / "result.json")
    json.loads(path.read_text(), parse_constant=lambda name: pytest.fail("non-strict JSON: %s" % name))
    with np.load(str(arrays_path(path)), allow_pickle=False) as data:
        assert all(data[key].dtype != object for key in data.files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json", "result.npz"]


def test_what_the_slice_rule_emptied_comes_back_from_the_worker(tmp_path):
    """An analysis carries the slice rule's record to the Slicer module's checks; it used to be refused."""
    from KneeCartilageT2Lib.slice_rule import SliceRule

    rule = SliceRule(35.68, {2: 21, 19: 8})
    back = read_transfer(write_transfer({"slice_rule": rule}, tmp_path / "result.json"))["slice_rule"]
    assert back == rule and back.voxels_removed(19) == 8


@dataclass
class Foreign:
    value: int


def test_unknown_types_are_refused_on_writing_and_on_reading(tmp_path):
    with pytest.raises(TransferError, match="TRANSFER_CLASSES"):
        write_transfer({"x": Foreign(1)}, tmp_path / "a.json")
    with pytest.raises(TransferError):
        write_transfer({"x": object()}, tmp_path / "b.json")
    path = write_transfer({"x": 1}, tmp_path / "c.json")
    document = json.loads(path.read_text())
    document["value"] = {"__dataclass__": "os.system", "fields": {"command": "echo hacked"}}
    path.write_text(json.dumps(document))
    with pytest.raises(TransferError, match="not a result type"):
        read_transfer(path)


def test_worker_and_its_caller_never_use_pickle():
    from pathlib import Path

    import KneeCartilageT2Lib

    root = Path(KneeCartilageT2Lib.__file__).parents[1]
    for name in ("KneeCartilageT2Lib/worker.py", "KneeCartilageT2Lib/result_transfer.py",
                 "KneeCartilageT2SlicerLib/processing.py"):
        assert "import pickle" not in (root / name).read_text(), name
