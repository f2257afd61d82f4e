"""Sample data lookup and the sdist extraction, on a small synthetic archive (no 92 MB download)."""

from __future__ import annotations

import io
import subprocess
import tarfile

import pytest

from KneeCartilageT2Lib import cli, sample_data
from KneeCartilageT2Lib.errors import InputError

PREFIX = sample_data.SDIST_GE_EXAM_PREFIX
LABEL_MEMBERS = list(sample_data.SDIST_LABEL_FILES)


def make_archive(path, extra=(), n_dicom=3, links=()):
    """A tar.gz with the sdist's inner layout: exam folder, the non-anonymised decoy, label maps."""
    with tarfile.open(str(path), "w:gz") as tar:
        add_dir(tar, PREFIX)
        for index in range(n_dicom):
            add_file(tar, PREFIX + "E1S8I%03d.MR.dcm" % index, b"dicom %d" % index)
        add_file(tar, "mskt-0.1.22/data/MESE_T2_dicom_data/E1S8I000.MR.dcm", b"not anonymised")
        add_file(tar, "mskt-0.1.22/setup.py", b"print('hi')")
        for member in LABEL_MEMBERS:
            add_file(tar, member, b"label " + member.encode())
        for name in extra:
            add_file(tar, name, b"evil")
        for name in links:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return path


def add_file(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def add_dir(tar, name):
    info = tarfile.TarInfo(name.rstrip("/"))
    info.type = tarfile.DIRTYPE
    tar.addfile(info)


def test_extracts_only_the_exam_and_the_labels(tmp_path):
    archive = make_archive(tmp_path / "mskt.tar.gz")
    folders = sample_data.extract_sample_archive(archive, tmp_path / "data", expected_dicom_count=3)
    exam = folders[sample_data.GE_EXAM_FOLDER]
    assert sorted(path.name for path in exam.iterdir()) == ["E1S8I000.MR.dcm", "E1S8I001.MR.dcm", "E1S8I002.MR.dcm"]
    assert (exam / "E1S8I000.MR.dcm").read_bytes() == b"dicom 0"
    labels = folders[sample_data.LABELS_FOLDER]
    assert sorted(path.name for path in labels.iterdir()) == sorted(sample_data.SDIST_LABEL_FILES.values())
    assert sorted(path.name for path in (tmp_path / "data").iterdir()) == ["knee_labels", "mese_knee_ge"]
    assert sample_data.find_ge_exam_dir(cache=tmp_path) == exam
    assert sample_data.find_knee_labels_dir(cache=tmp_path) == labels


def test_wrong_file_count_leaves_nothing(tmp_path):
    archive = make_archive(tmp_path / "mskt.tar.gz", n_dicom=2)
    with pytest.raises(InputError, match="held 2 DICOM files of the GE exam, not 3"):
        sample_data.extract_sample_archive(archive, tmp_path / "data", expected_dicom_count=3)
    assert list((tmp_path / "data").iterdir()) == []


def test_path_traversal_is_refused(tmp_path):
    archive = make_archive(tmp_path / "mskt.tar.gz", extra=[PREFIX + "../../../escaped.txt"])
    with pytest.raises(InputError, match="unsafe name"):
        sample_data.extract_sample_archive(archive, tmp_path / "data", expected_dicom_count=3)
    assert not list(tmp_path.rglob("escaped.txt"))
    assert list((tmp_path / "data").iterdir()) == []


def test_links_are_refused(tmp_path):
    archive = make_archive(tmp_path / "mskt.tar.gz", links=[PREFIX + "link.dcm"])
    with pytest.raises(InputError, match="link"):
        sample_data.extract_sample_archive(archive, tmp_path / "data", expected_dicom_count=3)


def test_environment_variable_comes_first(tmp_path, monkeypatch):
    exam = tmp_path / "my_exam"
    exam.mkdir()
    (exam / "a.dcm").write_bytes(b"x")
    monkeypatch.setenv("KNEE_T2_GE_EXAM", str(exam))
    assert sample_data.find_ge_exam_dir() == exam
    assert sample_data.ge_exam_dir(fetch=False) == exam


def test_absent_data_without_fetch_says_how_to_get_it(tmp_path):
    with pytest.raises(InputError, match="knee-t2 fetch-sample"):
        sample_data.ge_exam_dir(fetch=False, cache=tmp_path)
    assert cli.main(["fetch-sample", "--no-fetch", "--cache", str(tmp_path)]) == 2


def test_cli_prints_the_paths(tmp_path, capsys):
    archive = make_archive(tmp_path / "mskt.tar.gz")
    sample_data.extract_sample_archive(archive, tmp_path / "data", expected_dicom_count=3)
    assert cli.main(["fetch-sample", "--no-fetch", "--cache", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert str(tmp_path / "data" / "mese_knee_ge") in output and str(tmp_path / "data" / "knee_labels") in output


def test_offline_download_is_explained(tmp_path, monkeypatch):
    calls = []

    def offline_pip(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 1, stdout="WARNING: Retrying ... NewConnectionError(...)\n"
                                                              "ERROR: No matching distribution found for mskt==0.1.22")

    monkeypatch.setattr(sample_data.subprocess, "run", offline_pip)
    with pytest.raises(InputError) as caught:
        sample_data.ge_exam_dir(fetch=True, cache=tmp_path, log=lambda text: None)
    message = str(caught.value)
    assert "pip exit code 1" in message and "offline" in message and "KNEE_T2_GE_EXAM" in message
    assert len(calls) == 1 and calls[0][:4] == [sample_data.sys.executable, "-m", "pip", "download"]
    assert "--no-binary" in calls[0] and "mskt==0.1.22" in calls[0]
    assert not list(tmp_path.glob(".download-*"))
