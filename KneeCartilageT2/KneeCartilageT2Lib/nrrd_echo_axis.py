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
``sizes``, ``kinds`` and ``space directions``. The header is parsed by
:mod:`nrrd_header`; the echo times Slicer writes into it are read by
:mod:`nrrd_echo_times`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import List, Optional

from .errors import InputError
from .nrrd_header import NrrdHeader
from .nrrd_header_checks import refuse_non_echo_kinds, refuse_unconverted_space
from .volume_io import read_image

SPATIAL_KINDS = ("domain", "space")
UNKNOWN_KINDS = ("none", "???")
# Kinds that ITK counts as domain axes: a 4D NRRD whose echo axis has one of these (or no kind) is misread.
ITK_DOMAIN_KINDS = SPATIAL_KINDS + UNKNOWN_KINDS + ("time",)


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
