"""The text header of a NRRD file (``.nrrd`` with attached data, or a detached ``.nhdr``), parsed field by field.

Only the header is read (never the data): :mod:`nrrd_echo_axis` tells from it
which axis of a 4D file holds the echoes, :mod:`nrrd_echo_times` reads the
echo times 3D Slicer writes into it, and :mod:`nrrd_header_checks` refuses
what no echo stack can be. Axis numbers are NRRD's: axis 0 is the
fastest-varying one, the first entry of ``sizes``, ``kinds`` and ``space
directions``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .errors import InputError

_FIELD_ALIASES = {"datafile": "data file", "lineskip": "line skip", "byteskip": "byte skip"}
_MAX_HEADER_BYTES = 16 << 20
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_DIRECTION = re.compile(r"none|\([^)]*\)", re.IGNORECASE)


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

