"""Choosing the MESE acquisition when a DICOM folder holds a whole study.

A study exported from PACS puts the localizer, the morphological series and
the MESE series side by side. The images are grouped into *acquisitions* by
RepetitionTime: the echoes of one MESE acquisition share it, whether the
scanner stored them as one series or as one series per echo, while a
localizer, a T1 or a PD series has its own. An acquisition with two or more
echo times is a multi-echo candidate.

* One candidate: it is loaded and the other series are named in a warning
  (so is a series of the same acquisition without any echo time, such as a
  T2 map the scanner derived from the echoes).
* Several: the loader stops and lists them; ``series`` (a SeriesNumber or
  SeriesInstanceUID) then picks the acquisition holding that series, so one
  number also selects every per-echo series of a MESE stored that way.
  ``series`` may name several series (``5,6,7``: a repeated MESE stored one
  series per echo, :mod:`dicom_repeats`); they must be of one acquisition.
* None: nothing is chosen here; the loader's own checks say what is wrong.

A MESE echo stored with a wrong geometry keeps the acquisition's TR, so it
stays in its acquisition and the loader still refuses it; it is never dropped
silently.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .dicom_files import DicomImage
from .errors import InputError

TR_DECIMALS = 0  # acquisitions are told apart by RepetitionTime rounded to 1 ms


def select_acquisition(images: List[DicomImage], folder: Path,
                       series: Optional[str] = None) -> Tuple[List[DicomImage], List[str]]:
    """(the images to load, warnings) for the folder's multi-echo acquisition (see the module docstring)."""
    series_ids = {image.series_uid for image in images}
    if series is None and len(series_ids) <= 1:
        return images, []
    acquisitions = _acquisitions(images)
    candidates = [group for group in acquisitions if len(_echo_times(group)) >= 2]
    if series is not None:
        wanted = str(series).strip()
        if not named_series(wanted):
            raise InputError("--series %r names no series; give a SeriesNumber (e.g. 5) or SeriesInstanceUID, or "
                             "the numbers of a per-echo set separated by commas (e.g. 15,16,17,18)." % str(series))
        missing = [number for number in named_series(wanted) if not any(is_series(image, number) for image in images)]
        if missing:
            raise InputError("No series %s in %s; it holds %s." % (", ".join(missing), folder,
                                                                    _listing(acquisitions)))
        holding = [group for group in acquisitions if any(is_series(image, wanted) for image in group)]
        if len(holding) > 1:
            raise InputError("The series %s in %s belong to different acquisitions (%s); name the series of one "
                             "MESE." % (wanted, folder, _listing(holding)))
        chosen = holding[0]
        if chosen not in candidates:
            raise InputError("Series %s in %s has only one echo time; the multi-echo series there: %s."
                             % (wanted, folder, _listing(candidates) or "none"))
    elif len(candidates) == 1:
        chosen = candidates[0]
    elif len(candidates) > 1:
        raise InputError(
            "%s holds %d multi-echo acquisitions: %s. Choose one (--series NUMBER on the command line, its "
            "SeriesNumber), or select a folder holding only the MESE series." % (folder, len(candidates),
                                                                             _listing(candidates)))
    else:
        return images, []
    chosen = _without_timeless_series(chosen)
    kept = {id(image) for image in chosen}
    left_out = [image for image in images if id(image) not in kept]
    if not left_out:
        return chosen, []
    labels = sorted({image.series_label for image in left_out})
    return chosen, ["%d other series in the folder were not used: %s." % (len(labels), ", ".join(labels))]


def _without_timeless_series(group: List[DicomImage]) -> List[DicomImage]:
    """The group less its series that carry no EchoTime at all.

    A map the scanner derived from the echoes (a T2 map series) keeps the
    acquisition's TR but has no echo time of its own.
    """
    timed = {image.series_uid for image in group if image.echo_time_ms is not None}
    return [image for image in group if image.series_uid in timed]


def _acquisitions(images: List[DicomImage]) -> List[List[DicomImage]]:
    """Images grouped by RepetitionTime, in first-seen order."""
    groups: Dict[Optional[float], List[DicomImage]] = {}
    for image in images:
        key = _rounded_number(image.attribute("RepetitionTime"))
        groups.setdefault(key, []).append(image)
    return list(groups.values())


def _rounded_number(value) -> Optional[float]:
    """A header number rounded to ``TR_DECIMALS``; None when absent or not a number."""
    try:
        return round(float(value), TR_DECIMALS)
    except (TypeError, ValueError):
        return None


def _echo_times(group: List[DicomImage]) -> set:
    return {round(image.echo_time_ms, 3) for image in group if image.echo_time_ms is not None}


def named_series(wanted: str) -> List[str]:
    """The SeriesNumbers/SeriesInstanceUIDs a ``--series`` value names: one, or several separated by commas,
    semicolons or spaces (``"5,6,7"``)."""
    return [part for part in re.split(r"[,;\s]+", str(wanted).strip()) if part]


def is_series(image: DicomImage, wanted: str) -> bool:
    """Whether ``image`` belongs to a series ``wanted`` names (its SeriesNumber or SeriesInstanceUID; several
    may be named, :func:`named_series`)."""
    number = str(image.dataset.get("SeriesNumber", "") or "").strip()
    return any(name in (number, image.series_uid) for name in named_series(wanted))


def _listing(groups: List[List[DicomImage]]) -> str:
    """'series 5 "MESE" (8 echo times, 192 images); series 3 "loc" (1 echo time, 3 images)'."""
    parts = []
    for group in groups:
        labels = ", ".join(sorted({image.series_label for image in group}))
        count = len(_echo_times(group))
        parts.append("%s (%d echo time%s, %d images)" % (labels, count, "" if count == 1 else "s", len(group)))
    return "; ".join(parts)
