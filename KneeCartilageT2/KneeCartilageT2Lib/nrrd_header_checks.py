"""What a 4D NRRD header may say that no MESE echo stack can be, refused before ITK reads the file.

ITK (SimpleITK 2.5) reads any non-spatial axis as pixel components, whatever
its ``kinds`` entry says it holds: an RGB volume (a screenshot or a
colour-coded map saved from a viewer) would be fitted as three echoes. And it
converts only the 3D RAS/LAS spaces to its LPS coordinates: a grid in a named
4D RAS or LAS space is read mirrored. Both are refused here, naming the line
to write instead. ``header`` is a :class:`~KneeCartilageT2Lib.nrrd_header.NrrdHeader`.
"""

from __future__ import annotations

from .errors import InputError

# Kinds that say what a non-spatial axis holds, and it is not echoes: colour channels (a screenshot or a
# colour-coded map saved as a volume), tensors, quaternions, complex pairs, spatial vectors (a displacement field).
NON_ECHO_KINDS = ("rgb-color", "rgba-color", "hsv-color", "xyz-color", "3-color", "4-color", "complex", "quaternion",
                  "2-vector", "3-vector", "4-vector", "3-gradient", "3-normal", "2d-symmetric-matrix",
                  "2d-masked-symmetric-matrix", "2d-matrix", "2d-masked-matrix", "3d-symmetric-matrix",
                  "3d-masked-symmetric-matrix", "3d-matrix", "3d-masked-matrix")


def refuse_non_echo_kinds(header) -> None:
    """InputError when an axis's kind says it holds colours, a tensor or a spatial vector (:data:`NON_ECHO_KINDS`).

    ITK reads such an axis as pixel components just like a ``list`` of echoes,
    so an RGB volume would be fitted as three echoes; it is no MESE series.
    """
    found = [(axis, kind) for axis, kind in enumerate(header.kinds or []) if kind in NON_ECHO_KINDS]
    if found:
        axis, kind = found[0]
        original = header.per_axis("kinds")[axis]
        what = ("colour channels (an RGB image, such as a screenshot or a colour-coded map)" if "color" in kind
                else "%s components, not echoes" % original)
        raise InputError("%s: `kinds: %s` says axis %d holds %s; it is not a multi-echo (MESE) series. Give the "
                         "echo images (the DICOM series, or a 4D file whose echo axis is of kind `list`); if this "
                         "axis really holds echoes, write `list` for it in the header." % (header.path,
                                                                                          header.get("kinds"), axis,
                                                                                          what))


# Named 4D spaces whose directions ITK takes as LPS without converting them (it converts only the 3D RAS and
# LAS spaces): a grid in one of these would be read mirrored left-right and front-back (RAS) or left-right (LAS).
UNCONVERTED_4D_SPACES = ("right-anterior-superior-time", "rast", "left-anterior-superior-time", "last")


def refuse_unconverted_space(header) -> None:
    """InputError for a named 4D RAS or LAS space (:data:`UNCONVERTED_4D_SPACES`), which ITK would read mirrored."""
    space = (header.get("space") or "").strip()
    if space.lower() in UNCONVERTED_4D_SPACES:
        raise InputError("%s: `space: %s` is read by ITK as if it were left-posterior-superior (it converts only 3D "
                         "spaces), so the knee would come out mirrored. Write `space: %s` with `none` in `space "
                         "directions` for the echo axis (three numbers per vector and in `space origin`)."
                         % (header.path, space, "right-anterior-superior" if space.lower().startswith("r")
                            else "left-anterior-superior"))
