"""A file of the wrong kind, or a folder where a file belongs (and the reverse), gets one clear line.

Found by running every command of the README with plausible mistakes: a folder given as a mask
("Volume file not found" although it was there), a probability or T2 map given as the approved label
(exported as a training case of the whole image), a label map given as model weights ("corrupt or
truncated"), a manifest that is a folder, a spreadsheet or a semicolon CSV (a traceback for the
first two), outputs named as folders refused only after every exam was read, a batch output
folder given to next-case (read as a folder of exams; exit status 0 with nothing scored).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from KneeCartilageT2Lib import cli
from KneeCartilageT2Lib.echo_stack_io import write_echo_stack
from KneeCartilageT2Lib.errors import InputError
from KneeCartilageT2Lib.phantom_defaults import shell_exam
from KneeCartilageT2Lib.result_dicom_source import find_source_study
from KneeCartilageT2Lib.volume_io import write_volume


@pytest.fixture(scope="module")
def exam_files(tmp_path_factory):
    """An echo stack of unknown side, its label, a T2-like map and a probability-like map on its grid."""
    exam, label, t2_truth = shell_exam(seed=6, snr=60.0)
    exam.laterality = "unknown"
    root = tmp_path_factory.mktemp("kinds")
    write_echo_stack(exam, root / "echoes.nrrd")
    write_volume(exam.volume_like(label.astype(np.uint8)), root / "label.nrrd")
    t2_ms = np.where(label > 0, np.asarray(t2_truth, np.float32) + 0.37, 0.0).astype(np.float32)  # as fitted
    write_volume(exam.volume_like(t2_ms), root / "t2.nrrd")
    probabilities = np.clip(label * 0.9 + 0.013, 0.0, 1.0).astype(np.float32)
    write_volume(exam.volume_like(probabilities), root / "probabilities.nrrd")
    return root


def _error(capsys, argv, status=2) -> str:
    assert cli.main(argv) == status
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


def test_a_folder_named_as_a_volume_file_is_called_a_folder(exam_files, tmp_path, capsys):
    error = _error(capsys, ["t2map", str(exam_files / "echoes.nrrd"), "-o", str(tmp_path / "t2.nrrd"),
                            "--mask", str(tmp_path)])
    assert "is a folder, not a volume file" in error and "not found" not in error
    error = _error(capsys, ["regions", str(exam_files / "echoes.nrrd"), "--segmentation", str(exam_files / "label.nrrd"),
                            "--t2", str(exam_files / "echoes.nrrd"), "-o", str(tmp_path / "regions")])
    assert "echoes.nrrd" in error and "8 components" in error  # the 4D echo stack named as the T2 map


def test_a_probability_or_t2_map_is_not_taken_as_a_label(exam_files, tmp_path, capsys):
    error = _error(capsys, ["export", str(exam_files / "echoes.nrrd"), "--segmentation",
                            str(exam_files / "probabilities.nrrd"), "--dataset", str(tmp_path / "dataset")])
    assert "probabilities.nrrd holds fractional values" in error and "not a label map" in error
    assert not (tmp_path / "dataset").exists()
    error = _error(capsys, ["regions", str(exam_files / "echoes.nrrd"), "--segmentation", str(exam_files / "t2.nrrd"),
                            "--t2", str(exam_files / "t2.nrrd"), "-o", str(tmp_path / "regions")])
    assert "t2.nrrd holds fractional values" in error


def test_a_file_that_is_no_model_weights_is_named_so(exam_files, tmp_path, capsys, monkeypatch):
    pytest.importorskip("safetensors")
    from KneeCartilageT2Lib import model_registry
    from KneeCartilageT2Lib.errors import ModelError

    monkeypatch.setenv("KNEE_T2_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelError, match="is not a model weights file"):
        model_registry.load_model(str(exam_files / "label.nrrd"), device="cpu")
    error = _error(capsys, ["models", "import", str(exam_files / "label.nrrd"), "--name", "mine"])
    assert "not a model weights file" in error and "corrupt" not in error
    error = _error(capsys, ["models", "import", str(exam_files), "--name", "mine"])
    assert "is a folder" in error and "not found" not in error


@pytest.mark.parametrize("content, message", [
    (b"\x1f\x8b\x08\x00binary", "not a UTF-8 text CSV"),
    ("subject,visit,input\nJos\u00e9,v1,exam\n".encode("latin-1"), "not a UTF-8 text CSV"),
    (b"subject;visit;input\ns1;v1;exam\n", "separated by semicolons"),
])
def test_a_manifest_that_is_no_comma_csv_is_named_so(tmp_path, capsys, content, message):
    (tmp_path / "cohort.csv").write_bytes(content)
    assert message in _error(capsys, ["batch", str(tmp_path / "cohort.csv"), "-o", str(tmp_path / "out")])


def test_a_folder_named_as_the_manifest_is_called_a_folder(tmp_path, capsys):
    error = _error(capsys, ["inspect", "--manifest", str(tmp_path)])
    assert "is a folder" in error and "not found" not in error


def test_output_files_named_as_folders_are_refused_before_any_input_is_read(exam_files, tmp_path, capsys):
    assert "manifest.csv" in _error(capsys, ["manifest", str(tmp_path / "no_bids_here"), "-o", str(tmp_path)])
    assert cli.main(["inspect", str(exam_files / "echoes.nrrd"), "--csv", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "is a folder" in captured.err and "echoes" not in captured.out  # refused before the exam was read


def test_an_agreement_set_given_as_a_file_is_called_a_file(exam_files, tmp_path, capsys):
    error = _error(capsys, ["agreement", str(exam_files / "label.nrrd"), str(exam_files), "-o", str(tmp_path / "out")])
    assert "label.nrrd is a file" in error and "not found" not in error


def test_a_dicom_source_that_is_a_file_is_called_a_file(exam_files):
    with pytest.raises(InputError, match="is a file, not a folder of DICOM images"):
        find_source_study(exam_files / "echoes.nrrd", np.eye(4), 1, None)


def test_inspect_shows_the_side_the_manifest_gives_the_batch(exam_files, tmp_path, capsys):
    (tmp_path / "cohort.csv").write_text("subject,visit,side,input\ns1,v1,L,%s\n" % (exam_files / "echoes.nrrd"))
    assert cli.main(["inspect", "--manifest", str(tmp_path / "cohort.csv")]) == 0
    assert "side: left" in capsys.readouterr().out


def test_next_case_reads_a_batch_output_folder_and_fails_when_nothing_is_scored(exam_files, tmp_path, capsys):
    batch = tmp_path / "batch"
    (batch / "scans" / "s1").mkdir(parents=True)
    (batch / "status.csv").write_text("kind,id,status\nscan,s1,done\n")
    (batch / "scans" / "s1" / "probabilities.nrrd").write_bytes((exam_files / "probabilities.nrrd").read_bytes())
    assert cli.main(["next-case", str(batch), "--json"]) == 0
    ranking = json.loads(capsys.readouterr().out)
    assert ranking["kind"] == "analyses" and [row["case"] for row in ranking["ranking"]] == ["s1"]
    exams = tmp_path / "exams"
    (exams / "notes").mkdir(parents=True)
    (exams / "notes" / "readme.txt").write_text("not an exam")
    assert cli.main(["next-case", str(exams)]) == 1
    assert "No case could be scored" in capsys.readouterr().out


def test_training_into_a_folder_still_to_be_made_saves_its_state(tmp_path):
    torch = pytest.importorskip("torch")
    from KneeCartilageT2Lib.training_state import read_state_info, save_state

    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.Adam(model.parameters())
    best = {key: value.clone() for key, value in model.state_dict().items()}
    path = save_state(tmp_path / "models" / "new" / "m.state.safetensors", model, best, optimizer,
                      {"epoch": 0})
    assert read_state_info(path) == {"epoch": 0}


@pytest.mark.parametrize("command", [["report"], ["review"], ["to-dicom", "-o", "dicom_out"]])
def test_a_file_of_a_result_folder_named_instead_of_the_folder(tmp_path, capsys, monkeypatch, command):
    (tmp_path / "report.html").write_text("<html></html>")
    monkeypatch.chdir(tmp_path)
    error = _error(capsys, command[:1] + ["report.html"] + command[1:])
    assert "report.html is a file: give the folder that holds it" in error


def test_batch_takes_output_as_every_other_command_does():
    parser = cli.build_parser()
    assert parser.parse_args(["batch", "cohort.csv", "--output", "results"]).out == "results"
    assert parser.parse_args(["batch", "cohort.csv", "--out", "results"]).out == "results"


def test_export_refuses_a_dataset_that_is_a_file_or_inside_the_exam_folder(exam_files, tmp_path, capsys):
    from KneeCartilageT2Lib.dicom_writer import write_dicom_series
    from KneeCartilageT2Lib.echo_stack_io import read_echo_stack

    write_dicom_series(read_echo_stack(exam_files / "echoes.nrrd"), tmp_path / "exam")
    label = str(exam_files / "label.nrrd")
    error = _error(capsys, ["export", str(tmp_path / "exam"), "--segmentation", label, "--dataset", label])
    assert "is a file, not a folder" in error and "Errno" not in error
    for dataset in (tmp_path / "exam", tmp_path / "exam" / "dataset"):
        error = _error(capsys, ["export", str(tmp_path / "exam"), "--segmentation", label, "--dataset", str(dataset)])
        assert "inside the exam folder" in error
    assert not (tmp_path / "exam" / "dataset").exists() and not (tmp_path / "exam" / "dataset.json").exists()


def four_labels_by_slice(slices: int) -> np.ndarray:
    """Labels 1..4 over four blocks of slices, shaped to multiply a (slice, row, col) cartilage mask."""
    return (1 + np.arange(slices) * 4 // slices).astype(np.uint8)[:, None, None]


@pytest.mark.parametrize("name, make, message", [
    ("probabilities.nrrd", None, r"probabilities\.nrrd holds values of at most 1 \(largest 0\.913\): it is a "
                                 r"probability map \(or a T2 map in seconds\), not a T2 map in ms"),
    ("label.nrrd", None, r"label\.nrrd holds values of at most 1 \(largest 1\): it is a binary mask or label map"),
    ("labels.nrrd", lambda label: label * four_labels_by_slice(label.shape[0]),
     r"labels\.nrrd holds only the whole numbers 1, 2, 3, 4: it is a label map, not a T2 map"),
    ("t2_seconds.nrrd", lambda label: (label * 0.042).astype(np.float32), r"T2 map in seconds"),
])
def test_a_probability_or_label_map_is_not_taken_as_the_t2_map(exam_files, tmp_path, capsys, name, make, message):
    """Before, regions measured these as T2 of 0-1 ms (or 1-4 ms per label) and reported it without a word."""
    from KneeCartilageT2Lib.volume_io import read_volume

    path = exam_files / name
    if make is not None:
        label = read_volume(exam_files / "label.nrrd")
        write_volume(label.with_array(make(np.asarray(label.array))), tmp_path / name)
        path = tmp_path / name
    error = _error(capsys, ["regions", str(exam_files / "echoes.nrrd"), "--segmentation",
                            str(exam_files / "label.nrrd"), "--t2", str(path), "-o", str(tmp_path / "regions"),
                            "--no-figure"])
    assert re.search(message, error), error
    assert not (tmp_path / "regions" / "regions.csv").exists()


def test_real_t2_maps_are_still_measured_even_rounded_to_whole_ms(exam_files, tmp_path, capsys):
    from KneeCartilageT2Lib.volume_io import read_t2_map, read_volume

    t2 = read_volume(exam_files / "t2.nrrd")
    write_volume(t2.with_array(np.round(np.asarray(t2.array)).astype(np.uint16)), tmp_path / "t2_whole_ms.nrrd")
    assert read_t2_map(tmp_path / "t2_whole_ms.nrrd").array.max() > 30
    write_volume(t2.with_array(np.zeros_like(t2.array)), tmp_path / "nothing_fitted.nrrd")
    assert not read_t2_map(tmp_path / "nothing_fitted.nrrd").array.any()
    assert cli.main(["regions", str(exam_files / "echoes.nrrd"), "--segmentation", str(exam_files / "label.nrrd"),
                     "--t2", str(exam_files / "t2.nrrd"), "-o", str(tmp_path / "regions"), "--no-figure"]) == 0
    assert (tmp_path / "regions" / "regions.csv").is_file()
