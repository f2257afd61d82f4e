"""Per-echo files: a MESE exam stored as one 3D NIfTI/NRRD file per echo, as BIDS and dcm2niix write it.

BIDS names the echoes of a multi-echo spin echo ``sub-01_echo-1_MESE.nii.gz``,
``sub-01_echo-2_MESE.nii.gz``... (the ``MESE`` suffix of quantitative MRI);
dcm2niix names them ``<series>_e1.nii.gz``, ``<series>_e2.nii.gz``... Each file
has a JSON sidecar of the same name whose ``EchoTime`` is in **seconds**
(BIDS's unit). Naming any one of the files loads them all: the siblings are
the files whose names differ only in the echo number, so magnitude and phase
files (``part-mag``/``part-phase``, ``_e1``/``_e1_ph``) never mix. Some
dcm2niix versions leave the first echo without its suffix (``T2map.nii.gz``
beside ``T2map_e2.nii.gz``...); that file is then echo 1 of the set, whichever
of the files is named.

Echo times come from ``echo_times_ms`` when given (in echo-number order), else
from the sidecars (s -> ms). Every echo must be one 3D volume on the first
one's grid (:mod:`echo_set_checks`); the first file's geometry is the exam's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .atomic_files import file_suffix
from .errors import InputError
from .exam import MeseExam, validate_exam
from .echo_set_checks import (grid_of, order_warning, refuse_given_times_out_of_order, refuse_non_echo_file,
                              refuse_other_grid, refuse_repeated_times)
from .vector_pixel_checks import refuse_non_echo_pixels
from .volume_io import read_image

# (before the echo number, the echo number, after it) for BIDS "..._echo-3_..." and dcm2niix "..._e3.nii.gz"
ECHO_NAME_PATTERNS = (re.compile(r"^(.*_echo-)(\d+)(_.+)$"), re.compile(r"^(.*_e)(\d+)(\.(?:nii|nii\.gz|nrrd))$"))
DCM2NIIX_PATTERN = ECHO_NAME_PATTERNS[1]
UNSUFFIXED_SUFFIXES = (".nii.gz", ".nii", ".nrrd")
# BIDS's part entity, and dcm2niix's suffixes of phase, real and imaginary echoes ("_e2_ph.nii.gz"; "_ph.nii.gz"
# for a first echo written without its "_e1")
NON_MAGNITUDE_NAME = re.compile(r"(?:_part-(?:phase|real|imag)_|_(?:e\d+_)?(?:ph|real|imaginary)\.(?:nii|nrrd))")
MAX_BIDS_ECHO_TIME_S = 1.0  # a BIDS EchoTime above 1 s is a value written in ms


def echo_set_files(path, folder_files: Optional[Sequence[Path]] = None) -> List[Tuple[int, Path]]:
    """``[(echo number, file)]`` of the per-echo set ``path`` belongs to, by echo number; empty when none.

    A set needs at least two files; ``path`` itself is always one of them. ``folder_files``: the
    files of ``path``'s folder when the caller has listed them already (a loop over a folder
    would otherwise list it once per file).
    """
    path = Path(path)
    for pattern in ECHO_NAME_PATTERNS:
        match = pattern.match(path.name)
        if not match:
            continue
        head, _, tail = match.groups()
        if folder_files is None:
            folder_files = [child for child in path.parent.iterdir() if child.is_file()]
        siblings = []
        for candidate in folder_files:
            other = pattern.match(candidate.name)
            if other and other.group(1) == head and other.group(3) == tail:
                siblings.append((int(other.group(2)), candidate))
        if pattern is DCM2NIIX_PATTERN and not any(number == 1 for number, _ in siblings):
            unsuffixed = next((file for file in folder_files if file.name == head[: -len("_e")] + tail), None)
            if unsuffixed is not None:
                siblings.append((1, unsuffixed))
        return sorted(siblings) if len(siblings) >= 2 else []
    suffix = next((end for end in UNSUFFIXED_SUFFIXES if path.name.endswith(end)), None)
    if suffix is None:
        return []
    second = path.with_name(path.name[: -len(suffix)] + "_e2" + suffix)  # a dcm2niix first echo without "_e1"?
    present = second.is_file() if folder_files is None else any(file.name == second.name for file in folder_files)
    return echo_set_files(second, folder_files) if present else []


def is_later_echo_of_a_set(path, folder_files: Optional[Sequence[Path]] = None) -> bool:
    """True for the second and later files of a per-echo set: listings show the set once, by its first file."""
    members = echo_set_files(path, folder_files)
    return bool(members) and members[0][1] != Path(path)


def is_non_magnitude_name(path) -> bool:
    """True for a phase, real or imaginary part (BIDS ``..._part-phase_MESE.nii.gz``, dcm2niix ``..._e1_ph.nii``)."""
    return bool(NON_MAGNITUDE_NAME.search(Path(path).name))


def read_echo_set(path, echo_times_ms: Optional[Sequence[float]] = None) -> MeseExam:
    """Read every echo of the per-echo set ``path`` belongs to; a validated :class:`MeseExam`."""
    import SimpleITK as sitk

    if is_non_magnitude_name(path):
        raise InputError("%s is a phase, real or imaginary part (BIDS part entity): T2 is fitted on the magnitude "
                         "images. Give %s." % (Path(path).name, _magnitude_sibling_name(Path(path))))
    files = echo_set_files(path)
    if not files:
        raise InputError("%s is not one of a set of per-echo files (names differing only in _echo-N or _eN)." % path)
    arrays, first = [], None
    for number, file in files:
        image = read_image(file, "Echo %d" % number)
        refuse_non_echo_pixels(image, file)
        refuse_non_echo_file(image, (number, file))
        if first is None:
            first = (image, (number, file))
        else:
            refuse_other_grid(image, (number, file), *first)
        arrays.append(sitk.GetArrayFromImage(image).astype(np.float32, copy=False))
    warnings = []
    if echo_times_ms is not None:
        times, source = np.asarray([float(value) for value in echo_times_ms], dtype=np.float64), "argument"
        if times.size != len(files):
            raise InputError("%d echo times were given for the %d per-echo files of %s; give one per echo."
                             % (times.size, len(files), Path(path).name))
        refuse_given_times_out_of_order(times, files)
    else:
        times, source = np.array([_sidecar_echo_time_ms(file) for _, file in files]), "BIDS sidecars (EchoTime in s)"
        refuse_repeated_times(times, files, "their sidecars")
        warnings += [text for text in [order_warning(times, files)] if text]
    order = np.argsort(times, kind="stable")
    numbers = [files[i][0] for i in order]
    metadata: Dict[str, Any] = {
        "source": str(path),
        "source_format": "per-echo files",
        "files": [str(files[i][1]) for i in order],
        "echo_times_source": source,
        "geometry_source": "file",
        "warnings": warnings + _gap_warnings(numbers),
    }
    echoes = np.stack([arrays[i] for i in order])
    return validate_exam(MeseExam(echoes, times[order], grid_of(first[0])[1], "unknown", metadata))


def _magnitude_sibling_name(path: Path) -> str:
    """The magnitude part beside a BIDS phase/real/imaginary file, when it is there; else how it is named."""
    sibling = path.with_name(re.sub(r"part-(phase|real|imag)", "part-mag", path.name))
    return str(sibling) if sibling != path and sibling.is_file() else "its magnitude part (part-mag)"


def _sidecar_echo_time_ms(file: Path) -> float:
    """EchoTime (s, BIDS) of a per-echo file's JSON sidecar, in ms."""
    name = file.name
    sidecar = file.with_name(name[: len(name) - len(file_suffix(file))] + ".json")
    if not sidecar.is_file():
        raise InputError("No echo time for %s: its JSON sidecar %s is missing. Give the echo times with "
                         "--echo-times TE1,TE2,... (ms), or keep the sidecars dcm2niix wrote." % (name, sidecar.name))
    try:
        value = json.loads(sidecar.read_text(encoding="utf-8")).get("EchoTime")
        seconds = float(value)
    except (ValueError, TypeError, AttributeError):
        raise InputError("%s holds no EchoTime number (BIDS: seconds); fix it or give --echo-times (ms)." % sidecar)
    if not 0.0 < seconds <= MAX_BIDS_ECHO_TIME_S:
        raise InputError("EchoTime %g in %s is not a time in seconds (BIDS's unit, e.g. 0.0126 for 12.6 ms); fix "
                         "the sidecar or give --echo-times in ms." % (seconds, sidecar))
    return 1000.0 * seconds


def _gap_warnings(numbers: List[int]) -> List[str]:
    missing = sorted(set(range(min(numbers), max(numbers) + 1)) - set(numbers))
    if not missing:
        return []
    return ["Echo file(s) %s of the set are missing; the fit uses the %d echoes found."
            % (", ".join(str(number) for number in missing), len(numbers))]
