"""Longitudinal change on an analytic knee: a moved follow-up with one planted focal T2 increase."""

from __future__ import annotations

import json

import numpy as np
import pytest

from KneeCartilageT2Lib.cartilage_shell import ShellSpec, build_shell
from KneeCartilageT2Lib.cli import main
from KneeCartilageT2Lib.csv_tables import read_csv
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.geometry import Volume, voxel_centers_ras
from KneeCartilageT2Lib.longitudinal import VisitData, compute_change
from KneeCartilageT2Lib.volume_io import read_volume, write_volume

# T2 depends on depth only, rising linearly from 34 ms at the bone to 50 ms at the surface (deep
# half ~38 ms, superficial half ~46 ms), like cartilage's laminar T2 profile: no jumps at region
# borders that a sub-voxel registration residual could turn into a spurious change, and no
# two-valued cells whose median would jump between the layers.
DEEP_T2_MS, SURFACE_T2_MS = 34.0, 50.0
SPEC = ShellSpec(spacing_mm=(0.7, 0.7, 2.0), lateral_range_mm=(-30.0, 30.0), notch_range_mm=(-5.0, 5.0))
LESION_CENTRE = (17.0, 0.0)  # lateral mm, arc mm (angle 0 = inferior, lateral condyle, central sector)
LESION_RADIUS_MM = 7.0
LESION_DELTA_MS = 10.0


def rigid_motion(angle_deg=3.0, translation=(1.5, -1.0, 2.0)):
    angle = np.radians(angle_deg)
    motion = np.eye(4)
    motion[1:3, 1:3] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    motion[:3, 3] = translation
    return motion


@pytest.fixture(scope="module")
def knee_pair():
    """Baseline shell + a follow-up of the same knee moved rigidly in the scanner, with a lesion."""
    mask, t2, _ = build_shell(SPEC, "right")
    shape = mask.array.shape
    ras = voxel_centers_ras(mask.ijk_to_ras, np.indices(shape).reshape(3, -1).T)
    depth = np.clip((np.hypot(ras[:, 1], ras[:, 2]) - SPEC.inner_radius_mm) / SPEC.thickness_mm, 0.0, 1.0)
    profile = DEEP_T2_MS + (SURFACE_T2_MS - DEEP_T2_MS) * depth.reshape(shape)
    t2 = t2.with_array(np.where(mask.array > 0, profile, 0.0).astype(np.float32))
    rng = np.random.default_rng(1)
    centres, widths = rng.uniform(-25, 25, (30, 3)), rng.uniform(3, 8, 30)
    scene = (rng.uniform(0.2, 1.0, 30) * np.exp(-((ras[:, None] - centres) ** 2).sum(-1) / (2 * widths ** 2))).sum(-1)
    bone = np.hypot(ras[:, 1], ras[:, 2]) < SPEC.inner_radius_mm
    anatomy = (scene + 1.5 * bone).reshape(shape) + 2.5 * mask.array
    arc = np.radians(np.degrees(np.arctan2(-ras[:, 1], -ras[:, 2]))) * SPEC.mid_radius_mm
    lesion = (np.hypot(ras[:, 0] - LESION_CENTRE[0], arc - LESION_CENTRE[1]) <= LESION_RADIUS_MM).reshape(shape)
    lesion &= mask.array > 0
    motion = rigid_motion()
    moved = motion @ mask.ijk_to_ras  # the knee and the slice grid moved together: same arrays
    baseline = VisitData(mask, t2, mask.with_array(anatomy.astype(np.float32)), "right", "dicom", source="baseline")
    followup = VisitData(Volume(mask.array, moved), Volume(t2.array + LESION_DELTA_MS * lesion, moved),
                         Volume(anatomy.astype(np.float32), moved), "right", "dicom", source="follow-up")
    return baseline, followup, lesion, motion


@pytest.fixture(scope="module")
def change(knee_pair):
    baseline, followup, _, _ = knee_pair
    return compute_change(baseline, followup)


def test_registration_recovers_the_motion(change, knee_pair):
    motion = knee_pair[3]
    assert np.allclose(change.registration.baseline_to_followup_ras, motion, atol=0.02)
    assert change.registration.dice_after > 0.97 > change.registration.dice_before


def test_region_change_is_the_planted_increase_and_zero_elsewhere(change, knee_pair):
    baseline, _, lesion, _ = knee_pair
    n_cartilage = int(baseline.mask.sum())
    assert change.delta("all") == pytest.approx(LESION_DELTA_MS * lesion.sum() / n_cartilage, rel=0.05)
    for region in ("M", "MA", "MC", "MP", "LA", "LP", "DMC", "SMC"):
        assert abs(change.delta(region)) < 0.3, region
    assert change.delta("LC") > 1.0
    assert change.delta("M") == pytest.approx(0.0, abs=0.05)
    row = change.rows[0]
    assert row["region"] == "all" and row["n_voxels_baseline"] == row["n_voxels_followup"] == n_cartilage


def test_the_planted_lesion_is_found_where_it_was_put(change):
    lesions = change.lesions
    assert len(lesions.clusters) == 1
    cluster = lesions.clusters[0]
    assert cluster.region == "LC"
    assert cluster.area_mm2 == pytest.approx(np.pi * LESION_RADIUS_MM ** 2, rel=0.2)
    assert cluster.mean_delta_t2_ms == pytest.approx(LESION_DELTA_MS, abs=3.0)
    assert cluster.centroid_col_mm == pytest.approx(LESION_CENTRE[1], abs=2.0)
    assert cluster.centroid_row_mm == pytest.approx(LESION_CENTRE[0], abs=2.0)  # mm from the notch centre
    labels_3d = change.lesion_labels_3d.array
    assert labels_3d.shape == change.followup_label_on_baseline.array.shape
    assert 300 < int((labels_3d > 0).sum()) < 1500


def test_lesion_maps_use_the_cell_statistic_of_the_parameters(change, knee_pair):
    from KneeCartilageT2Lib.change_maps import geometry_from_analysis, project_t2
    from KneeCartilageT2Lib.lesions import LesionParameters
    from KneeCartilageT2Lib.longitudinal import ChangeOptions

    baseline, followup, _, _ = knee_pair
    published = compute_change(baseline, followup, ChangeOptions(lesions=LesionParameters.published()))
    geometry = geometry_from_analysis(change.baseline_regions, baseline.label.ijk_to_ras)
    t2 = np.asarray(baseline.t2.array)
    mid_depth = project_t2(geometry, baseline.mask, t2, statistic="mid-depth-median").array
    median = project_t2(geometry, baseline.mask, t2, statistic="median").array
    mean = project_t2(geometry, baseline.mask, t2, statistic="mean").array
    assert np.array_equal(np.isnan(change.baseline_map.array), np.isnan(median))  # same cells covered
    assert np.allclose(change.baseline_map.array, mid_depth, equal_nan=True)
    assert np.allclose(published.baseline_map.array, mean, equal_nan=True)
    assert np.nanmax(np.abs(median - mean)) > 0.1  # the two statistics do differ on this shell
    assert len(published.lesions.clusters) == 1 and published.lesions.clusters[0].region == "LC"


def with_fit_noise(visit, seed, sd_ms=3.0):
    """The visit with independent Gaussian noise (ms) on its T2 map, like a fitted map.

    The noiseless shell has only 3-4 distinct T2 values across a cell's depth, so the median of a
    projection cell jumps between them when the visits' cells hold slightly different voxels at an
    edge; fitted T2 maps carry noise of a few ms per voxel, which smooths the median out.
    """
    t2 = np.asarray(visit.t2.array)
    noisy = np.where(visit.mask, t2 + np.random.default_rng(seed).normal(0.0, sd_ms, t2.shape), 0.0)
    return VisitData(visit.label, visit.t2.with_array(noisy.astype(np.float32)), visit.anatomy, visit.laterality,
                     visit.laterality_source, source=visit.source)


def test_a_decrease_is_not_a_lesion(knee_pair):
    baseline, followup, _, _ = knee_pair
    swapped = compute_change(with_fit_noise(followup, 11), with_fit_noise(baseline, 12))
    assert swapped.lesions.clusters == []
    assert swapped.delta("LC") < -1.0
    assert swapped.lesions.difference_ms[swapped.lesions.mask].min() < -8.0  # the decrease is there


def test_different_knees_are_refused(knee_pair):
    baseline, followup, _, _ = knee_pair
    left = VisitData(followup.label, followup.t2, followup.anatomy, "left", "dicom")
    with pytest.raises(InputError, match="same knee"):
        compute_change(baseline, left)


def _write_folder(folder, visit, side):
    folder.mkdir()
    write_volume(visit.label, folder / "label.nrrd")
    write_volume(visit.t2, folder / "t2.nrrd")
    write_volume(visit.anatomy, folder / "anatomy.nrrd")
    (folder / "provenance.json").write_text(json.dumps({"laterality": side, "options": {"laterality": None}}))


def test_cli_on_analysis_folders_writes_the_report(knee_pair, tmp_path, capsys):
    baseline, followup, _, _ = knee_pair
    _write_folder(tmp_path / "v0", baseline, "right")
    _write_folder(tmp_path / "v1", followup, "unknown")
    out = tmp_path / "out"
    assert main(["change", str(tmp_path / "v0"), str(tmp_path / "v1"), "-o", str(out)]) == 0
    rows = read_csv(out / "region_change.csv")
    assert [row["region"] for row in rows][:3] == ["all", "D", "S"]
    assert set(rows[0]) >= {"t2_baseline_ms", "t2_followup_ms", "delta_t2_ms", "n_voxels_baseline", "n_voxels_followup"}
    summary = json.loads((out / "change.json").read_text())
    assert summary["lesions"]["n_lesions"] == 1
    assert any("unknown" in warning for warning in summary["warnings"])
    registration = json.loads((out / "registration.json").read_text())
    assert registration["rotation_deg"] == pytest.approx(3.0, abs=0.3)
    for name in ("lesion_map.png", "delta_t2_map_ms.nrrd", "lesion_clusters_map.nrrd", "lesion_clusters_3d.nrrd"):
        assert (out / "lesions" / name).is_file(), name
    clusters_3d = read_volume(out / "lesions" / "lesion_clusters_3d.nrrd")
    assert np.allclose(clusters_3d.ijk_to_ras, baseline.label.ijk_to_ras)
    assert "Focal lesions: 1" in capsys.readouterr().out
    page = (out / "change_report.html").read_text(encoding="utf-8")
    whole = rows[0]
    assert "Femoral cartilage T2 change \u2013 v0 \u2192 v1" in page and "right knee" in page
    assert "%+.2f ms (follow-up" % float(whole["delta_t2_ms"]) in page
    assert "rotation %.2f\u00b0" % registration["rotation_deg"] in page
    cluster = read_csv(out / "lesions" / "lesion_clusters.csv")[0]
    assert "<td>%s</td><td>%.0f</td>" % (cluster["region"], float(cluster["coverage_area_mm2"])) in page
    rim = summary["lesions"]["coverage_rim_mm"]  # one projection cell: the slice spacing x one arc bin
    assert rim[0] > 0 and rim[1] > 0 and "up to %.1f \u00d7 %.1f mm beside it" % tuple(rim) in page
    assert page.count('src="data:image/png;base64,') == 1 and str(tmp_path) not in page
    (out / "change_report.html").unlink()
    assert main(["report", str(out)]) == 0 and (out / "change_report.html").read_text(encoding="utf-8") == page
    capsys.readouterr()

    # run again into the same folder without registration and with a stricter rule: nothing of the first run stays
    assert main(["change", str(tmp_path / "v0"), str(tmp_path / "v1"), "-o", str(out), "--no-registration",
                 "--lesion-sd-factor", "2", "--lesion-coverage-rim-mm", "2"]) == 0
    page = (out / "change_report.html").read_text(encoding="utf-8")
    assert not (out / "registration.json").exists() and "none: scanner coordinates trusted" in page
    assert "rotation %.2f\u00b0" % registration["rotation_deg"] not in page
    assert "(mean + 2 SD of the plate" in page and "one projection cell" not in page
    capsys.readouterr()

    summary["inputs"]["baseline"] = "C:\\Users\\rad\\DOE_JOHN_1234\\visit0"  # made on Windows, rebuilt here
    (out / "change.json").write_text(json.dumps(summary))
    assert main(["report", str(out)]) == 0
    page = (out / "change_report.html").read_text(encoding="utf-8")
    assert "visit0" in page and "DOE_JOHN" not in page
    (out / "change.json").write_text(json.dumps({"laterality": "right", "warnings": []}))  # no change summary
    assert main(["report", str(out)]) == 2 and "not the summary of a knee-t2 change" in capsys.readouterr().err

    (tmp_path / "v1" / "provenance.json").write_text(json.dumps({"laterality": "left"}))
    assert main(["change", str(tmp_path / "v0"), str(tmp_path / "v1"), "-o", str(out)]) == 2
    assert "same knee" in capsys.readouterr().err


def _exam_from(visit, seed, side="right"):
    """A noisy 8-echo MESE exam whose cartilage has the visit's T2 (surroundings 30 ms, bone 10 ms); ``side``:
    its Laterality, as DICOM would give it."""
    from KneeCartilageT2Lib.exam import MeseExam

    times = 6.312 * np.arange(1, 9)
    cartilage = visit.mask
    t2 = np.where(cartilage, visit.t2.array, np.where(visit.anatomy.array > 1.4, 10.0, 30.0))
    pd = np.where(cartilage, 1.0, 0.6) * 1000.0
    echoes = pd[None] * np.exp(-times[:, None, None, None] / t2[None])
    echoes += np.random.default_rng(seed).normal(0, 5.0, echoes.shape)
    return MeseExam(np.abs(echoes).astype(np.float32), times, visit.label.ijk_to_ras, side)


def test_cli_on_exams_with_given_segmentations(knee_pair, tmp_path):
    from KneeCartilageT2Lib.echo_stack_io import write_echo_stack

    baseline, followup, _, _ = knee_pair
    for name, visit, seed, side in (("v0", baseline, 1, "right"), ("v1", followup, 2, "unknown")):
        write_echo_stack(_exam_from(visit, seed, side), tmp_path / ("%s.nrrd" % name))
        write_volume(visit.label, tmp_path / ("%s_seg.nrrd" % name))
    out = tmp_path / "out"
    status = main(["change", str(tmp_path / "v0.nrrd"), str(tmp_path / "v1.nrrd"), "-o", str(out),
                   "--baseline-seg", str(tmp_path / "v0_seg.nrrd"), "--followup-seg", str(tmp_path / "v1_seg.nrrd"),
                   "--no-visit-folders",  # the visits' own analysis folders (figures) cost seconds
                   "--baseline-laterality", "unknown"])  # "unknown": what the data says, as for analysis folders
    assert status == 0
    rows = {row["region"]: row for row in read_csv(out / "region_change.csv")}
    assert float(rows["M"]["delta_t2_ms"]) == pytest.approx(0.0, abs=0.5)
    assert float(rows["LC"]["delta_t2_ms"]) > 1.0
    assert float(rows["all"]["t2_baseline_ms"]) == pytest.approx(42.0, abs=1.5)  # half 38, half 46 ms
    assert not (out / "baseline").exists()
    summary = json.loads((out / "change.json").read_text())
    assert summary["lesions"]["n_lesions"] == 1
    # the exam's own side (its Laterality) is kept, and the follow-up's estimate comes with its confidence
    # an echo stack's side comes from its sidecar's Laterality field, and is credited to it (not to a DICOM tag)
    assert summary["side"]["baseline"] == {"laterality": "right", "source": "sidecar", "confidence": 1.0}
    page = (out / "change_report.html").read_text(encoding="utf-8")
    assert "baseline right (from the Laterality field of the echo stack&#x27;s JSON sidecar)" in page
    assert "DICOM" not in page
    assert summary["side"]["followup"] == {"laterality": "right", "source": "estimated", "confidence": 0.5}
    assert any("unknown for the follow-up" in text and "confidence 0.50" in text for text in summary["warnings"])


def test_cli_lesion_options_map_onto_parameters():
    from KneeCartilageT2Lib.cli import build_parser
    from KneeCartilageT2Lib.commands.change import _lesion_parameters

    parser = build_parser()
    default = _lesion_parameters(parser.parse_args(["change", "a", "b", "-o", "o"]))
    assert (default.cluster_sd_factor, default.interpolation) == (2.0, "nearest")
    assert (default.cell_statistic, default.min_increase_ms, default.depth_margin) == ("mid-depth-median", 4.0, 0.15)
    published = _lesion_parameters(parser.parse_args(["change", "a", "b", "-o", "o", "--lesion-published",
                                                      "--lesion-min-area-percent", "2"]))
    assert (published.cluster_sd_factor, published.interpolation) == (0.0, "linear")
    assert (published.cell_statistic, published.min_increase_ms) == ("mean", 0.0)
    chosen = _lesion_parameters(parser.parse_args(["change", "a", "b", "-o", "o", "--lesion-min-increase-ms", "0",
                                                   "--lesion-cell-statistic", "mean", "--lesion-depth-margin", "0.2"]))
    assert (chosen.cell_statistic, chosen.min_increase_ms, chosen.depth_margin) == ("mean", 0.0, 0.2)
    assert published.min_cluster_fraction == pytest.approx(0.02)
    gated = _lesion_parameters(parser.parse_args(["change", "a", "b", "-o", "o", "--lesion-min-z", "3"]))
    assert gated.min_cell_z == 3.0 and published.min_cell_z == 0.0
    # with --lesion-published, options given explicitly still win over the published values
    mixed = _lesion_parameters(parser.parse_args(["change", "a", "b", "-o", "o", "--lesion-published",
                                                  "--lesion-cell-statistic", "median", "--lesion-coverage-rim-mm", "0"]))
    assert (mixed.cell_statistic, mixed.interpolation, mixed.coverage_rim_mm) == ("median", "linear", 0.0)
    assert (default.coverage_core_percentile, default.coverage_rim_mm) == (75.0, None)  # None: one projection cell


def test_a_visit_compared_with_itself_keeps_the_scanner_frame_and_finds_nothing(knee_pair):
    """The optimiser stops a few hundredths of a mm from the identity; that jitter moved voxels between projection
    cells and, on the real GE exam compared with itself, made a 24 mm^2 'lesion' of +7.7 ms."""
    baseline, followup, _, _ = knee_pair
    unchanged = VisitData(baseline.label, baseline.t2, baseline.anatomy, "right", "dicom", source="same again")
    result = compute_change(baseline, unchanged)
    registration = result.registration
    assert registration.kept_scanner_frame and registration.to_dict()["kept_scanner_frame"] is True
    np.testing.assert_array_equal(registration.baseline_to_followup_ras, np.eye(4))
    assert result.lesions.clusters == [] and np.nanmax(np.abs(result.lesions.difference_ms)) == 0.0
    assert max(abs(row["delta_t2_ms"]) for row in result.rows) == 0.0
    moved = compute_change(baseline, followup).registration  # a real motion still gets its transform
    assert not moved.kept_scanner_frame and moved.rotation_deg > 1.0


def test_sparser_follow_up_slices_are_named_instead_of_a_misleading_overlap_error(knee_pair):
    baseline, followup, _, _ = knee_pair

    def every_other_slice(volume):
        ijk_to_ras = np.array(volume.ijk_to_ras, dtype=float)
        ijk_to_ras[:3, 2] *= 2.0  # 4 mm between the slices kept
        return Volume(np.asarray(volume.array)[::2], ijk_to_ras)

    sparse = VisitData(every_other_slice(followup.label), every_other_slice(followup.t2),
                       every_other_slice(followup.anatomy), "right", "dicom", source="4 mm follow-up")
    result = compute_change(baseline, sparse)
    assert result.lesions is None and np.isfinite(result.delta("all"))
    assert any("follow-up's slices are 4.0 mm apart, the baseline's 2.0 mm" in text for text in result.warnings)


# --- the knee side of the two visits ------------------------------------------------------------------------------

def _estimated(name, side, confidence):
    from KneeCartilageT2Lib.visit_sides import VisitSide, recorded_estimate

    return VisitSide.estimated(name, recorded_estimate(side, confidence))


def _estimated_text(side, confidence):
    """How the messages name a visit's estimated side (the words of side_words.side_source_phrase)."""
    return "%s knee (estimated from the cartilage, confidence %.2f)" % (side, confidence)


def test_the_side_rule_refuses_confident_disagreement_and_warns_about_an_uncertain_one():
    from KneeCartilageT2Lib.visit_sides import VisitSide, decide_pair_side

    known = VisitSide.known
    with pytest.raises(InputError, match="same knee"):
        decide_pair_side(known("baseline", "right", "dicom"), known("follow-up", "L", "user"))
    assert decide_pair_side(known("baseline", "left", "dicom"), known("follow-up", "left", "user")).warnings == []

    with pytest.raises(InputError) as refused:  # two confident estimates that disagree: as good as two known sides
        decide_pair_side(_estimated("baseline", "left", 0.86), _estimated("follow-up", "right", 0.8))
    message = str(refused.value)
    assert _estimated_text("left", 0.86) in message and _estimated_text("right", 0.80) in message
    assert "--baseline-laterality" in message and "Knee side" in message and "same knee" in message

    uncertain = decide_pair_side(_estimated("baseline", "left", 0.55), _estimated("follow-up", "right", 0.8))
    assert (uncertain.laterality, uncertain.source, uncertain.sides_disagree) == ("right", "estimated", True)
    [warning] = uncertain.warnings
    assert warning.startswith("Check the knee side") and "the more confident estimate" in warning
    assert _estimated_text("left", 0.55) in warning and _estimated_text("right", 0.80) in warning
    assert "--followup-laterality" in warning
    tie = decide_pair_side(_estimated("baseline", "left", 0.6), _estimated("follow-up", "right", 0.6))
    assert tie.laterality == "left" and "the baseline's estimate" in tie.warnings[0]
    agreeing = decide_pair_side(_estimated("baseline", "right", 0.86), _estimated("follow-up", "right", 0.62))
    assert not agreeing.sides_disagree
    assert "confidence 0.86 at the baseline, 0.62 at the follow-up" in agreeing.warnings[0]

    # one side known, the other estimated: the known side is used; a confident estimate against it is refused
    with pytest.raises(InputError, match=r"a right knee \(from the DICOM Laterality tag\).*left knee \(estimated from "
                                         r"the cartilage, confidence 0.85\)"):
        decide_pair_side(known("baseline", "right", "dicom"), _estimated("follow-up", "left", 0.85))
    mixed = decide_pair_side(known("baseline", "right", "dicom"), _estimated("follow-up", "left", 0.6))
    assert (mixed.laterality, mixed.source) == ("right", "dicom")
    assert "the known side" in mixed.warnings[0] and _estimated_text("left", 0.60) in mixed.warnings[0]
    unchecked = decide_pair_side(known("baseline", "right", "user"), known("follow-up", "unknown", "user"))
    assert unchecked.laterality == "right" and "unknown for the follow-up" in unchecked.warnings[0]
    assert "could not be checked" in unchecked.warnings[0]


def _shifted(visit, right_mm, scanner_frame=True):
    """The visit's knee moved ``right_mm`` toward the patient's right in its scanner, its side unknown."""
    move = np.eye(4)
    move[0, 3] = right_mm
    return VisitData(Volume(visit.label.array, move @ visit.label.ijk_to_ras),
                     Volume(visit.t2.array, move @ visit.t2.ijk_to_ras),
                     Volume(visit.anatomy.array, move @ visit.anatomy.ijk_to_ras), "unknown", "user",
                     source=visit.source, scanner_frame=scanner_frame)


def test_each_visit_is_estimated_in_its_own_scanner_frame_and_confident_disagreement_is_refused(knee_pair):
    """The shell's shape says nothing (confidence 0.5); lying 60 mm to one side of the isocentre says that side
    (confidence 0.7). The follow-up's side must be estimated where it lay, not after moving it onto the baseline."""
    baseline, followup, _, _ = knee_pair
    with pytest.raises(InputError) as refused:
        compute_change(_shifted(baseline, 60.0), _shifted(followup, -60.0))
    message = str(refused.value)
    assert "baseline is a right knee (estimated from the cartilage, confidence 0.70)" in message
    assert "follow-up a left knee (estimated from the cartilage, confidence 0.70)" in message


def _write_estimated_folder(folder, visit, side, confidence):
    """An analysis folder whose side was estimated as ``side`` (``confidence`` None: not recorded, as older
    analyses wrote regions.json)."""
    if not folder.exists():
        _write_folder(folder, visit, "unknown")
    orientation = {"laterality": side, "side_source": "estimated", "note": "recorded by the test"}
    if confidence is not None:
        orientation["side_confidence"] = confidence
    (folder / "regions").mkdir(exist_ok=True)
    (folder / "regions" / "regions.json").write_text(json.dumps(
        {"laterality": side, "laterality_source": "estimated", "orientation": orientation}))


def test_disagreeing_estimated_sides_reach_the_cli_change_json_and_report_or_are_refused(knee_pair, tmp_path, capsys):
    import html

    baseline = knee_pair[0]
    _write_estimated_folder(tmp_path / "v0", baseline, "left", 0.55)
    _write_estimated_folder(tmp_path / "v1", baseline, "right", 0.86)  # the same scan again: no registration needed
    out = tmp_path / "out"
    command = ["change", str(tmp_path / "v0"), str(tmp_path / "v1"), "-o", str(out), "--no-registration"]
    assert main(command) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "change.json").read_text())
    [warning] = [text for text in summary["warnings"] if text.startswith("Check the knee side")]
    assert _estimated_text("left", 0.55) in warning and _estimated_text("right", 0.86) in warning
    assert "note: " + warning in printed and "Knee side: both visits measured as a right knee" in printed
    assert summary["laterality"] == "right" and summary["side"] == {
        "laterality": "right", "source": "estimated", "confidence": 0.86, "sides_disagree": True,
        "baseline": {"laterality": "left", "source": "estimated", "confidence": 0.55},
        "followup": {"laterality": "right", "source": "estimated", "confidence": 0.86}}
    page = (out / "change_report.html").read_text(encoding="utf-8")
    assert html.escape(warning) in page and "the visits&#x27; sides disagree: see the notes" in page
    assert "baseline left (estimated from the cartilage, confidence 0.55)" in page

    _write_estimated_folder(tmp_path / "v0", baseline, "left", 0.8)  # now both sure of themselves
    assert main(command) == 2
    error = capsys.readouterr().err
    assert _estimated_text("left", 0.80) in error and _estimated_text("right", 0.86) in error

    # an older folder recorded the estimated side without its confidence: estimated again from its label
    _write_estimated_folder(tmp_path / "v0", baseline, "left", None)
    assert main(command) == 0
    capsys.readouterr()
    side = json.loads((out / "change.json").read_text())["side"]
    assert side["baseline"] == {"laterality": "right", "source": "estimated", "confidence": 0.5}  # the shell: no cue
    assert not side["sides_disagree"]


def test_visit_folders_of_an_earlier_run_do_not_outlive_it(knee_pair, tmp_path, capsys):
    """An earlier run on exams wrote OUTDIR/baseline and OUTDIR/followup; a run on other inputs that writes no
    visit folders must not leave them there to describe exams it did not compare (unless it reads them)."""
    baseline = knee_pair[0]
    out = tmp_path / "out"
    out.mkdir()
    for name in ("baseline", "followup"):
        _write_folder(out / name, baseline, "right")  # as the earlier run left them: knee-t2 analyses
        _mark_as_knee_t2(out / name)
    _write_folder(tmp_path / "v1", baseline, "right")
    assert main(["change", str(out / "baseline"), str(tmp_path / "v1"), "-o", str(out), "--no-registration"]) == 0
    capsys.readouterr()
    assert (out / "baseline" / "label.nrrd").is_file()  # this run's own input stays
    assert not (out / "followup").exists()


def _mark_as_knee_t2(folder):
    """The provenance.json mark and the DONE.json of a folder the pipeline wrote (pipeline.write_analysis)."""
    provenance = json.loads((folder / "provenance.json").read_text())
    (folder / "provenance.json").write_text(json.dumps(dict(provenance, tool="knee-t2")))
    (folder / "DONE.json").write_text(json.dumps({"status": "ok"}))


def test_a_folder_of_label_and_t2_put_together_by_hand_is_no_stale_visit_folder(knee_pair, tmp_path, capsys):
    """OUTDIR/followup holding a label and a T2 map that no knee-t2 run wrote is someone's own: never deleted
    (as the pipeline never writes over such a folder: pipeline.refuse_foreign_folder)."""
    baseline = knee_pair[0]
    out = tmp_path / "out"
    out.mkdir()
    _write_folder(out / "followup", baseline, "right")  # no knee-t2 mark in its provenance.json
    _write_folder(tmp_path / "v0", baseline, "right")
    _write_folder(tmp_path / "v1", baseline, "right")
    assert main(["change", str(tmp_path / "v0"), str(tmp_path / "v1"), "-o", str(out), "--no-registration"]) == 0
    capsys.readouterr()
    assert (out / "followup" / "label.nrrd").is_file() and (out / "followup" / "t2.nrrd").is_file()


def test_a_batch_pair_names_disagreeing_estimates_in_its_notes_or_fails_with_the_refusal(knee_pair, tmp_path):
    from types import SimpleNamespace

    from KneeCartilageT2Lib.batch_tasks import longitudinal_change, run_change_task

    baseline = knee_pair[0]
    _write_estimated_folder(tmp_path / "base", baseline, "left", 0.6)  # a manifest without sides: both estimated
    _write_estimated_folder(tmp_path / "m12", baseline, "right", 0.9)
    pair = SimpleNamespace(pair_id="S1_base_m12", subject="S1", side=None, followup=SimpleNamespace(visit="m12"))
    scans_done = {"status": "done"}

    def run_pair():
        return run_change_task(pair, scans_done, scans_done, str(tmp_path / "pair"), str(tmp_path / "base"),
                               str(tmp_path / "m12"), longitudinal_change, {})

    status = run_pair()
    assert status["status"] == "done" and status["notes"].startswith("Check the knee side")
    assert _estimated_text("left", 0.60) in status["notes"] and _estimated_text("right", 0.90) in status["notes"]
    record = json.loads((tmp_path / "pair" / "DONE.json").read_text())
    assert record["side"]["sides_disagree"] is True and record["side"]["laterality"] == "right"

    _write_estimated_folder(tmp_path / "base", baseline, "left", 0.8)
    failed = run_pair()
    assert failed["status"] == "failed" and "look like different knees" in failed["error"]
    assert _estimated_text("left", 0.80) in failed["error"]
    assert "side column of a knee-t2 batch manifest" in failed["error"]
    assert not (tmp_path / "pair" / "DONE.json").exists()


def test_change_json_lists_every_file_of_the_folder_the_report_included(change, tmp_path):
    """change.json's ``files`` left out change_report.html, the page written from it right after it."""
    from KneeCartilageT2Lib.longitudinal_io import write_change_outputs

    paths = write_change_outputs(change, tmp_path)
    listed = json.loads((tmp_path / "change.json").read_text())["files"]
    assert listed["report"] == "change_report.html" == paths["report"].name
    assert all((tmp_path / name).is_file() for name in listed.values())
    written = {str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file()}
    assert written - set(listed.values()) == {"change.json"}


def test_a_side_given_for_an_exam_visit_is_recorded_as_the_users_and_the_datas_side_kept(knee_pair, tmp_path):
    """As `analyse --laterality`: the visit folder's provenance keeps the side the data gave ("laterality") apart
    from the side the user gave (options.laterality, regions laterality_source "user")."""
    from KneeCartilageT2Lib.echo_stack_io import write_echo_stack
    from KneeCartilageT2Lib.longitudinal_io import recorded_side

    baseline, followup, _, _ = knee_pair
    for name, visit, seed, side in (("v0", baseline, 1, "unknown"), ("v1", followup, 2, "right")):
        write_echo_stack(_exam_from(visit, seed, side), tmp_path / ("%s.nrrd" % name))
        write_volume(visit.label, tmp_path / ("%s_seg.nrrd" % name))
    out = tmp_path / "out"
    status = main(["change", str(tmp_path / "v0.nrrd"), str(tmp_path / "v1.nrrd"), "-o", str(out),
                   "--baseline-seg", str(tmp_path / "v0_seg.nrrd"), "--followup-seg", str(tmp_path / "v1_seg.nrrd"),
                   "--baseline-laterality", "right"])
    assert status == 0
    provenance = json.loads((out / "baseline" / "provenance.json").read_text())
    assert provenance["laterality"] == "unknown"  # what the data says, not overwritten by the user's side
    assert provenance["options"]["laterality"] == "right"
    assert provenance["regions"]["laterality"] == "right" and provenance["regions"]["laterality_source"] == "user"
    assert recorded_side(out / "baseline") == ("right", "user")
    assert json.loads((out / "followup" / "provenance.json").read_text())["laterality"] == "right"  # its sidecar's
    assert recorded_side(out / "followup") == ("right", "sidecar")  # read back as a visit folder: still the sidecar's
    summary = json.loads((out / "change.json").read_text())
    assert summary["side"]["baseline"]["source"] == "user" and summary["side"]["followup"]["source"] == "sidecar"
    report = (out / "followup" / "report.html").read_text(encoding="utf-8")
    assert "right knee (from the Laterality field of the echo stack&#x27;s JSON sidecar)" in report
