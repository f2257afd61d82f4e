"""Which axis of a 4D NRRD echo stack holds the echoes, told from its header text, and reading it that way.

SimpleITK (ITK's NrrdImageIO, through teem; checked with SimpleITK 2.5) picks
the pixel axis of a 4D NRRD from ``kinds`` alone. An axis of kind ``list``,
``vector``, ``point``, ``covariant-vector``, ``3-vector``, ... becomes the
components of a 3D image wherever it lies (first, middle or last), which is
right for an echo stack. Axes of kind ``domain``, ``space``, ``time``,
``none``, ``???``, or of a file without ``kinds``, all count as domain axes:

* with ``space`` / ``space dimension: 3`` the file is refused ("number of
  domain axes in the NRRD file (4) doesn't match dimension of space (3)"),
  although ``space directions: none (..) (..) (..)`` says which axis is not
  spatial;
* without them it is read as a 4D scalar image in file axis order, so echoes
  stored first (the fastest axis, ``sizes: 8 256 256 24``) become x and the
  last spatial axis is taken for the echoes: scrambled data.

:func:`echo_axis` reads the axis from the header: the one axis whose
``space directions`` entry is ``none`` (or whose ``spacings`` entry is NaN in
a file without ``space directions``), else the one axis whose kind is not
spatial. Where SimpleITK would not see that axis as the pixel axis,
:func:`read_echo_stack_image` reads the file through a temporary detached
header that says ``list`` for it and ``domain`` for the others; the data are
not copied (``data file:`` names the original, ``line skip:`` skips its
header; a path that teem would take for a numbered-file pattern, such as a
folder ``scan%03d``, is reached through a link in the temporary folder). A
header that does not say which axis holds the echoes is refused, and so is one
whose kinds or space no echo stack has (:mod:`nrrd_header_checks`: colour
channels, tensors; a named 4D RAS space, which ITK reads mirrored). In a 4D
space (``space dimension: 4``, as ITK writes 4D images) all four axes need a
direction: ITK reads no 3D grid out of it.

Axis numbers are NRRD's: axis 0 is the fastest-varying one, the first entry of
``sizes``, ``kinds`` and ``space directions``.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from .errors import InputError
from .nrrd_header_checks import refuse_non_echo_kinds, refuse_unconverted_space
from .volume_io import read_image

SPATIAL_KINDS = ("domain", "space")
UNKNOWN_KINDS = ("none", "???")
# Kinds that ITK counts as domain axes: a 4D NRRD whose echo axis has one of these (or no kind) is misread.
ITK_DOMAIN_KINDS = SPATIAL_KINDS + UNKNOWN_KINDS + ("time",)
_FIELD_ALIASES = {"datafile": "data file", "lineskip": "line skip", "byteskip": "byte skip"}
_MAX_HEADER_BYTES = 16 << 20
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_DIRECTION = re.compile(r"none|\([^)]*\)", re.IGNORECASE)
_TIME_SCALE_TO_MS = {"s": 1000.0, "sec": 1000.0, "seconds": 1000.0, "ms": 1.0, "msec": 1.0, "milliseconds": 1.0,
                     "": 1.0}


@dataclass
class NrrdHeader:
    """The text header of a NRRD file (``.nrrd`` with attached data, or a detached ``.nhdr``).

    ``fields`` maps lower-case field names (``"kinds"``, ``"space directions"``)
    to their text in file order, ``key_values`` the ``key:=value`` lines,
    ``list_files`` the data file names that follow ``data file: LIST``, and
    ``header_lines`` counts the newlines up to and including the blank line
    that ends the header (what ``line skip`` must skip to reach attached data).
    """

    path: Path
    magic: str
    fields: List[Tuple[str, str]] = field(default_factory=list)
    key_values: Dict[str, str] = field(default_factory=dict)
    list_files: List[str] = field(default_factory=list)
    header_lines: int = 0

    def get(self, name: str) -> Optional[str]:
        """The text of field ``name`` (lower case), or None when the header lacks it."""
        return next((text for key, text in self.fields if key == name), None)

    @property
    def dimension(self) -> int:
        text = self.get("dimension")
        try:
            return int(text) if text is not None else 0
        except ValueError:
            raise InputError("%s: its NRRD header says `dimension: %s`, which is not a whole number; it is not a "
                             "valid NRRD file." % (self.path, text))

    def per_axis(self, name: str) -> Optional[List[str]]:
        """The whitespace-separated entries of a per-axis field, one per axis, or None when it is absent."""
        text = self.get(name)
        if text is None:
            return None
        if name == "space directions":
            entries = _DIRECTION.findall(text)
        elif name in ("labels", "units"):
            entries = _QUOTED.findall(text)
        else:
            entries = text.split()
        if len(entries) != self.dimension:
            raise InputError("%s: its NRRD header's `%s: %s` has %d entries for `dimension: %d`; give one entry per "
                             "axis." % (self.path, name, text, len(entries), self.dimension))
        return entries

    @property
    def kinds(self) -> Optional[List[str]]:
        entries = self.per_axis("kinds")
        return None if entries is None else [entry.lower() for entry in entries]

    @property
    def directionless_axes(self) -> Optional[List[int]]:
        """Axes whose ``space directions`` entry is ``none``; None when the header has no ``space directions``."""
        entries = self.per_axis("space directions")
        return None if entries is None else [axis for axis, entry in enumerate(entries) if entry.lower() == "none"]

    @property
    def space_dimension(self) -> Optional[int]:
        """Number of coordinates of the ``space directions`` vectors (3 for a 3D space, 4 with time); None without."""
        entries = self.per_axis("space directions")
        vectors = [entry for entry in entries or [] if entry.lower() != "none"]
        return vectors[0].count(",") + 1 if vectors else None

    @property
    def spacing_less_axes(self) -> Optional[List[int]]:
        """Axes whose ``spacings`` entry is NaN (no spacing: not a spatial axis); None without ``spacings``."""
        entries = self.per_axis("spacings")
        if entries is None:
            return None
        try:
            return [axis for axis, entry in enumerate(entries) if math.isnan(float(entry))]
        except ValueError:
            raise InputError("%s: its NRRD header's `spacings: %s` holds something other than numbers or nan."
                             % (self.path, self.get("spacings")))


def read_nrrd_header(path) -> Optional[NrrdHeader]:
    """The header of the NRRD file ``path``; None when the file is missing or does not start with ``NRRD000``.

    The header is plain text, one field per line, up to the first empty line
    (attached data follow it) or the end of a detached ``.nhdr``. Lines are
    decoded as Latin-1 so that no byte fails to decode.
    """
    path = Path(path)
    if not path.is_file():
        return None
    with open(str(path), "rb") as stream:
        magic = stream.readline(64)
        if not magic.startswith(b"NRRD000"):
            return None
        header = NrrdHeader(path, magic.decode("latin-1").strip(), header_lines=magic.count(b"\n"))
        size, listing = len(magic), False
        while True:
            line = stream.readline(_MAX_HEADER_BYTES)
            size += len(line)
            if size > _MAX_HEADER_BYTES:
                raise InputError("%s: no empty line ends its NRRD header within %d MiB; it is not a valid NRRD file."
                                 % (path, _MAX_HEADER_BYTES >> 20))
            header.header_lines += line.count(b"\n")
            text = line.decode("latin-1").rstrip("\r\n")
            if not text:  # the empty line that ends the header, or the end of a detached header
                return header
            if listing:
                header.list_files.append(text.strip())
            elif not text.startswith("#"):
                listing = _add_line(header, text)


def _add_line(header: NrrdHeader, text: str) -> bool:
    """Store one header line as a field or a key/value pair; True after ``data file: LIST`` (file names follow)."""
    key_value, field_colon = text.find(":="), text.find(": ")
    if key_value >= 0 and (field_colon < 0 or key_value < field_colon):
        header.key_values[text[:key_value]] = text[key_value + 2:]
        return False
    name, _, description = text.partition(":")
    name = name.strip().lower()
    name = _FIELD_ALIASES.get(name, name)
    header.fields.append((name, description.strip()))
    return name == "data file" and description.split()[:1] == ["LIST"]


def echo_axis(header: NrrdHeader) -> Optional[int]:
    """The axis of a 4D NRRD that holds the echoes, or None for a 4D grid read with the echoes on its 4th axis.

    The echo axis is the one axis the header marks as not spatial: its
    ``space directions`` entry is ``none`` (its ``spacings`` entry NaN in a
    file without ``space directions``), or else its kind is neither
    ``domain``/``space`` nor unknown (``list``, ``vector``, ``time``, ...), or
    else it is the one axis of kind ``none``/``???`` among three spatial ones.
    A file whose four axes are all spatial (``kinds: domain domain domain
    domain``, or four ``space directions`` vectors of a 4D space, as ITK writes
    4D images) keeps ITK's and NIfTI's convention: the 4th axis. Contradicting
    or silent headers are refused with the lines to write instead.
    """
    path, kinds = header.path, header.kinds
    refuse_non_echo_kinds(header)
    refuse_unconverted_space(header)
    marked_by_kind = [axis for axis, kind in enumerate(kinds or []) if kind not in SPATIAL_KINDS + UNKNOWN_KINDS]
    if len(marked_by_kind) > 1:
        raise InputError("%s: `kinds: %s` marks %d axes (%s) as not spatial; an echo stack has one echo axis and "
                         "three spatial ones. Write e.g. `kinds: list domain domain domain` for echoes first."
                         % (path, header.get("kinds"), len(marked_by_kind), _axes(marked_by_kind)))
    by_geometry, source = header.directionless_axes, "space directions"
    if by_geometry is None:
        by_geometry, source = header.spacing_less_axes, "spacings"
    if by_geometry is not None and source == "space directions" and not by_geometry:  # a 4D space
        if marked_by_kind not in ([], [3]):
            raise InputError("%s gives all four axes a direction in a 4D space (`space directions`), which is read "
                             "with the echoes on the 4th axis, but `kinds: %s` marks axis %d. Store the echoes on "
                             "the last axis, or write a 3D space (`space: right-anterior-superior`) with `space "
                             "directions: none` for the echo axis." % (path, header.get("kinds"), marked_by_kind[0]))
        return None
    if by_geometry and source == "space directions" and header.space_dimension == 4:
        raise InputError("%s: its `space directions` are vectors of a 4D space (space and time) but axis %d has "
                         "none, which ITK cannot read. Write a 3D space (`space: right-anterior-superior`, three "
                         "numbers per `space directions` vector and in `space origin`) with `none` for the echo "
                         "axis, or give all four axes a 4D direction (the echoes then on the 4th axis)."
                         % (path, by_geometry[0]))
    if by_geometry:
        if len(by_geometry) > 1:
            raise InputError("%s: `%s: %s` marks %d axes (%s) as not spatial; an echo stack has one echo axis and "
                             "three spatial ones." % (path, source, header.get(source), len(by_geometry),
                                                      _axes(by_geometry)))
        if marked_by_kind and marked_by_kind != by_geometry:
            raise InputError("%s: `%s: %s` says axis %d holds the echoes but `kinds: %s` says axis %d; make them "
                             "agree (e.g. `kinds: list domain domain domain` with `space directions: none (..) (..) "
                             "(..)` for echoes first)." % (path, source, header.get(source), by_geometry[0],
                                                           header.get("kinds"), marked_by_kind[0]))
        return by_geometry[0]
    if marked_by_kind:
        return marked_by_kind[0]
    unknown = [axis for axis, kind in enumerate(kinds or []) if kind in UNKNOWN_KINDS]
    if kinds is not None and len(unknown) == 1:
        return unknown[0]
    if kinds is not None and not unknown:
        return None
    raise InputError(
        "%s is a 4D NRRD whose header does not say which axis holds the echoes (%s, no `space directions`). Add "
        "`kinds: list domain domain domain` to its header if the echoes are its first (fastest-varying) axis, or "
        "`kinds: domain domain domain list` if they are the last; with `space directions`, write `none` for the "
        "echo axis." % (path, "`kinds: %s`" % header.get("kinds") if kinds is not None else "no `kinds` field"))


def _axes(axes: List[int]) -> str:
    return ", ".join(str(axis) for axis in axes)


def read_echo_stack_image(header: NrrdHeader, axis: Optional[int]):
    """The SimpleITK image of the NRRD file ``header.path``, its echo axis ``axis`` read as the pixel components.

    Read as it is when SimpleITK already takes ``axis`` for the pixel axis (or
    ``axis`` is None: a 4D grid, read as a 4D scalar image); otherwise read
    through a temporary detached header in which ``axis`` is of kind ``list``
    and the other three ``domain``, pointing at the original data. A 4D grid
    in a 4D space whose last axis has a kind ITK takes for pixel components
    (``list``) is read through such a header too, with all four ``domain``:
    ITK refuses three domain axes in a 4D space.
    """
    import SimpleITK as sitk

    kinds = header.kinds
    if axis is None:
        if kinds is None or all(kind in ITK_DOMAIN_KINDS for kind in kinds) or header.space_dimension != 4:
            return read_image(header.path, "Echo stack")
        relabelled = " ".join(["domain"] * header.dimension)
    elif kinds is not None and kinds[axis] not in ITK_DOMAIN_KINDS:
        return read_image(header.path, "Echo stack")
    else:
        relabelled = " ".join("list" if each == axis else "domain" for each in range(header.dimension))
    with tempfile.TemporaryDirectory(prefix="knee-t2-nrrd-") as folder:
        temporary = Path(folder) / "echoes.nhdr"
        temporary.write_bytes(_relabelled_header(header, relabelled, Path(folder)))
        try:
            return sitk.ReadImage(str(temporary))
        except RuntimeError as error:  # named after the user's file, not the temporary header
            lines = str(error).strip().splitlines() or ["unknown error"]
            raise InputError("Cannot read %s as an echo stack with its %s: %s"
                             % (header.path, "echoes on axis 3" if axis is None else "echo on axis %d" % axis,
                                lines[-1]))


def _relabelled_header(header: NrrdHeader, kinds: str, folder: Path) -> bytes:
    """A detached header: ``header``'s fields with ``kinds`` replaced and ``data file`` naming the data by a path
    that teem reads as one file name (:func:`_data_file_name`; a link in ``folder`` may be made for it)."""
    path, data_file = header.path, header.get("data file")
    if data_file is not None and (header.list_files or "%" in data_file):
        raise InputError("%s keeps its data in several files (`data file: %s`), which cannot be read with its echo "
                         "axis relabelled; write `kinds: %s` in its header and read it again." % (path, data_file, kinds))
    lines = [header.magic.encode("latin-1")]
    lines += [("%s: %s" % (name, kinds if name == "kinds" else text)).encode("latin-1")
              for name, text in header.fields if name not in ("data file", "line skip")]
    if header.get("kinds") is None:
        lines.append(("kinds: %s" % kinds).encode("latin-1"))
    line_skip = _whole_number(header, "line skip")
    if data_file is None:  # attached data: skip the original header's lines too
        target, line_skip = Path(os.path.abspath(str(path))), line_skip + header.header_lines
    else:
        target = Path(data_file) if os.path.isabs(data_file) else Path(os.path.abspath(str(path))).parent / data_file
    lines.append(b"data file: " + os.fsencode(_data_file_name(target, folder, path)))
    lines.append(("line skip: %d" % line_skip).encode("latin-1"))
    return b"\n".join(lines) + b"\n"


def _data_file_name(target: Path, folder: Path, path: Path) -> str:
    """What ``data file:`` of the temporary header in ``folder`` says to reach ``target``.

    Its absolute path, unless teem would not read that as one file name: a
    ``%`` starts a numbered-file pattern (``scan%03d/echoes.nrrd`` names
    scan000, scan001, ...), and line breaks or whitespace at either end do not
    survive a header line. The data is then reached through a link in
    ``folder`` (symbolic, else hard), named by a plain relative name.
    """
    text = str(target)
    if "%" not in text and "\n" not in text and "\r" not in text and text == text.strip():
        return text
    link = folder / "echo-data"
    for make_link in (os.symlink, os.link):
        try:
            make_link(str(target), str(link))
            return link.name
        except (OSError, NotImplementedError, AttributeError):
            continue
    raise InputError("%s cannot be read with its echo axis relabelled from where it lies (its path %s holds a "
                     "character NRRD headers give another meaning, such as %%); move or rename it, or write the "
                     "kinds its header should have (e.g. `kinds: list domain domain domain`) and read it again."
                     % (path, target))


def _whole_number(header: NrrdHeader, name: str) -> int:
    text = header.get(name)
    try:
        return int(text) if text is not None else 0
    except ValueError:
        raise InputError("%s: its NRRD header says `%s: %s`, which is not a whole number." % (header.path, name, text))


def header_echo_times(header: NrrdHeader, axis: int) -> Optional[np.ndarray]:
    """Echo times (ms) of the echo axis ``axis`` from a 3D Slicer sequence header, in file order; None if absent.

    Read only when the axis is labelled as an echo time (``labels`` entry
    containing "echo"): ``axis <axis> index values:=TE1 TE2 ...`` in the
    axis's ``units`` (ms when none; s converted to ms).
    """
    labels, units = header.per_axis("labels"), header.per_axis("units")
    if labels is None or "echo" not in labels[axis].lower():
        return None
    unit = units[axis].strip().lower() if units is not None else "ms"
    if unit not in _TIME_SCALE_TO_MS:
        raise InputError("%s: the echo times of this sequence file are in %r; give them in ms (or s)."
                         % (header.path, unit))
    text = header.key_values.get("axis %d index values" % axis)
    if text is None:
        return None
    try:
        values = np.array([float(value) for value in text.split()], dtype=np.float64)
    except ValueError:
        return None
    return values * _TIME_SCALE_TO_MS[unit]


# 3D Slicer's MultiVolume NRRD (MultiVolumeImporter / MultiVolumeExplorer, "Save" of a multi-volume node) keeps
# one label per frame in these key/values, with the DICOM tag that tells the frames apart and its units.
MULTIVOLUME_LABELS_KEY = "MultiVolume.FrameLabels"
MULTIVOLUME_TAG_KEY = "MultiVolume.FrameIdentifyingDICOMTagName"
MULTIVOLUME_UNITS_KEY = "MultiVolume.FrameIdentifyingDICOMTagUnits"
# The tag names that mean echo time: as MultiVolumeImporter writes it, and as the Slicer module accepts it
# (KneeCartilageT2SlicerLib.exam_from_nodes._frame_label_times).
ECHO_TIME_TAG_NAMES = ("echotime", "echo time", "0018,0081", "0018|0081")


def multivolume_echo_times(header: NrrdHeader) -> Optional[np.ndarray]:
    """Echo times (ms) of a 3D Slicer MultiVolume NRRD, one per frame in file order; None without frame labels.

    ``MultiVolume.FrameLabels:=6.3,12.6,...`` are read as echo times when
    ``MultiVolume.FrameIdentifyingDICOMTagName`` is ``EchoTime`` (or absent,
    as the Slicer module reads a multi-volume node), in the units of
    ``MultiVolume.FrameIdentifyingDICOMTagUnits`` (ms when absent; s is
    converted to ms). Frames told apart by another tag (``TriggerTime`` of a
    DCE or cine series, ``FlipAngle``, ...) are no echoes of a MESE series:
    refused, since their labels are not echo times and the file is likely not
    a T2-mapping series. Labels that are not numbers or units that are not a
    time are refused too, rather than fitted with wrong echo times.
    """
    text = header.key_values.get(MULTIVOLUME_LABELS_KEY)
    if text is None:
        return None
    tag = header.key_values.get(MULTIVOLUME_TAG_KEY, "").strip()
    if tag and tag.lower() not in ECHO_TIME_TAG_NAMES:
        raise InputError(
            "%s is a 3D Slicer multi-volume whose frames are told apart by %s (`%s:=%s`), not by echo time: it looks "
            "like %s series, not a multi-echo spin-echo (MESE) T2-mapping series, and its frame labels are no echo "
            "times. Give the MESE series; if this file really holds one echo per frame, give the echo times with "
            "--echo-times TE1,TE2,... (ms)." % (header.path, tag, MULTIVOLUME_TAG_KEY, tag, _series_kind(tag)))
    unit = header.key_values.get(MULTIVOLUME_UNITS_KEY, "").strip().lower()
    if unit not in _TIME_SCALE_TO_MS:
        raise InputError("%s: the echo times of this multi-volume (`%s`) are in %r (`%s`); they must be in ms (or s). "
                         "Give them with --echo-times TE1,TE2,... (ms)."
                         % (header.path, MULTIVOLUME_LABELS_KEY, unit, MULTIVOLUME_UNITS_KEY))
    try:
        values = np.array([float(part) for part in text.replace(";", ",").split(",") if part.strip()],
                          dtype=np.float64)
    except ValueError:
        raise InputError("%s: `%s:=%s` is not a comma-separated list of echo times; give them with --echo-times "
                         "TE1,TE2,... (ms)." % (header.path, MULTIVOLUME_LABELS_KEY, text.strip()))
    return values * _TIME_SCALE_TO_MS[unit]


def _series_kind(tag: str) -> str:
    """The kind of series, with its article, that a multi-volume whose frames differ in DICOM tag ``tag`` probably
    is (for a refusal message): a DCE/cine series for a time tag, a T1-mapping series for flip angle, TI or TR."""
    lower = tag.lower().replace(" ", "")
    if lower in ("triggertime", "0018,1060", "0018|1060", "contenttime", "acquisitiontime", "seriestime"):
        return "a dynamic (DCE, perfusion or cine)"
    if lower in ("flipangle", "0018,1314", "0018|1314"):
        return "a variable flip angle (T1 mapping)"
    if lower in ("inversiontime", "0018,0082", "0018|0082"):
        return "an inversion-recovery (T1 mapping)"
    if lower in ("repetitiontime", "0018,0080", "0018|0080"):
        return "a variable repetition time (T1 mapping)"
    return "another kind of"
