"""Phantom anatomy: label interpretation on the real label maps, the derived tissues, the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from KneeCartilageT2Lib import phantom_tissues as T
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.geometry import Volume, voxel_centers_ras
from KneeCartilageT2Lib.phantom_anatomy import _interpret_labels, build_anatomy
from KneeCartilageT2Lib.phantom_synthetic import synthetic_knee_labels
from KneeCartilageT2Lib.volume_io import read_volume, write_volume


def _centroid_r(labels, matrix, value):
    return voxel_centers_ras(matrix, np.argwhere(labels == value).mean(axis=0, keepdims=True))[0]


def test_extra_labels_of_the_real_map_are_fibula_and_menisci_by_position(knee_labels_dir):
    volume = read_volume(knee_labels_dir / "SAG_3D_DESS_RIGHT_bones_cart_men_fib-label.nrrd")
    notes = {}
    labels = _interpret_labels(np.asarray(volume.array).astype(np.int16), volume.ijk_to_ras, notes)
    matrix = volume.ijk_to_ras
    fibula = _centroid_r(labels, matrix, T.FIBULA)
    tibia = _centroid_r(labels, matrix, T.TIBIA)
    lateral_tibial = _centroid_r(labels, matrix, T.LATERAL_TIBIAL_CARTILAGE)
    medial_tibial = _centroid_r(labels, matrix, T.MEDIAL_TIBIAL_CARTILAGE)
    assert fibula[0] > tibia[0] and fibula[2] < tibia[2]  # lateral (right knee: +R) and below the plateau
    assert abs(_centroid_r(labels, matrix, T.LATERAL_MENISCUS)[0] - lateral_tibial[0]) < 15.0
    assert abs(_centroid_r(labels, matrix, T.MEDIAL_MENISCUS)[0] - medial_tibial[0]) < 15.0
    assert set(notes) == {"label_8", "label_9", "label_10"}


def test_derived_tissues_surround_the_bones(tmp_path):
    anatomy = build_anatomy(synthetic_knee_labels(), "synthetic")
    counts = np.bincount(anatomy.tissues.ravel(), minlength=T.N_TISSUES)
    for tissue in (T.CORTICAL_BONE, T.MUSCLE, T.SUBCUTANEOUS_FAT, T.ARTICULAR_FAT, T.MEDIAL_MENISCUS, T.LATERAL_MENISCUS):
        assert counts[tissue] > 0, T.TISSUE_NAMES[tissue]
    cartilage = anatomy.tissues == T.FEMORAL_CARTILAGE
    depth = anatomy.cartilage_depth[cartilage]
    assert depth.min() >= 0.0 and depth.max() <= 1.0 and depth.std() > 0.1
    assert anatomy.source_laterality == "right"
    # air only outside the body: the corner voxel is air, the bone centre is not
    assert anatomy.tissues[0, 0, 0] == T.AIR


def test_a_map_without_femoral_cartilage_is_refused():
    volume = synthetic_knee_labels()
    labels = np.where(volume.array == T.FEMORAL_CARTILAGE, 0, volume.array)
    with pytest.raises(InputError, match="femoral cartilage"):
        build_anatomy(Volume(labels, volume.ijk_to_ras), "broken")


def test_phantom_command_refuses_an_implausible_anatomical_variety(tmp_path, capsys):
    from KneeCartilageT2Lib.cli import main

    labelmap = write_volume(synthetic_knee_labels(), tmp_path / "knee.nrrd")
    status = main(["phantom", "-o", str(tmp_path / "out"), "--anatomy", str(labelmap), "--scale-jitter", "0.9"])
    assert status == 2 and "--scale-jitter must be in [0, 0.3], got 0.9" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_phantom_command_writes_one_case(tmp_path, monkeypatch):
    from dataclasses import replace

    from KneeCartilageT2Lib import phantom_protocols
    from KneeCartilageT2Lib.cli import main
    from KneeCartilageT2Lib.phantom_synthetic import TINY_PROTOCOL

    # a small stand-in for the OAI protocol keeps the test fast; the real grids are tested elsewhere
    monkeypatch.setitem(phantom_protocols.PROTOCOLS, "oai", replace(TINY_PROTOCOL, name="oai"))
    labelmap = write_volume(synthetic_knee_labels(), tmp_path / "knee.nrrd")
    status = main(["phantom", "-o", str(tmp_path / "out"), "--anatomy", str(labelmap), "--protocol", "oai",
                   "--seed", "5", "--laterality", "left", "--snr", "30", "--lesions", "1",
                   "--deformation-mm", "4.5", "--scale-jitter", "0.15", "--max-rotation", "12"])
    assert status == 0
    parameters = json.loads((tmp_path / "out" / "phantom.json").read_text())
    assert parameters["protocol"]["name"] == "oai" and parameters["laterality"] == "left"
    assert parameters["options"]["snr"] == 30 and len(parameters["lesions"]) == 1
    assert parameters["options"]["deformation_mm"] == 4.5 and parameters["options"]["scale_jitter"] == 0.15
    assert parameters["options"]["max_rotation_deg"] == 12
    assert parameters["anatomy"]["source"] == "knee.nrrd"  # the label map's name, not its folder (it may name a patient)
    label = read_volume(tmp_path / "out" / "label.nrrd")
    assert label.array.shape == TINY_PROTOCOL.shape_kji and label.array.sum() > 0
