"""Choosing among images of one MESE acquisition that cover the same slice and echo twice.

:mod:`dicom_series` finds the multi-echo acquisition by its RepetitionTime.
Two kinds of series share that TR and every (slice, echo time) with the
echoes the fit needs, and without this step the loader could only refuse the
folder ("duplicate echo time"), whatever ``--series`` said:

* **phase, real or imaginary images** stored beside the magnitude ones (a
  scanner set to save them; the same series or another). T2 decays are
  fitted on magnitude images, so the others are left out, with a warning.
  ImageType's values from the third on say which is which: ``P``/``PHASE``,
  ``R``/``REAL``, ``I``/``IMAGINARY`` (Siemens, Philips); anything else (GE's
  ``OTHER``, ``M``, ``M_SE``, none) counts as magnitude. A folder holding
  only such images is refused: it has no magnitude decay to fit.
* **a repeated acquisition** (the technologist ran the MESE again, e.g.
  after the knee moved): two series with the same slices and echo times.
  ``series`` picks one; without it the loader stops and names both, since
  which repeat is usable is the reader's call, not the loader's. A MESE
  stored one series per echo repeats as a set of series: ``series`` then
  names the set (``5,6,7,8``), and the message says so.

Series that share the TR but not their (slice, echo) pairs, such as one
series per echo, are left together as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import numpy as np

from .dicom_files import DicomImage
from .dicom_series import is_series
from .errors import InputError

COMPONENT_TOKENS = {"P": "phase", "PHASE": "phase", "R": "real", "REAL": "real", "I": "imaginary",
                    "IMAGINARY": "imaginary"}
POSITION_DECIMALS = 1  # slice positions (mm along the normal) closer than 0.05 mm are the same slice
TIME_DECIMALS = 2  # echo times (ms)


def image_component(image: DicomImage) -> str:
    """'magnitude', 'phase', 'real' or 'imaginary', from ImageType's third and later values."""
    return component_of_image_type(image.attribute("ImageType"))


def component_of_image_type(values) -> str:
    """'magnitude', 'phase', 'real' or 'imaginary' for an ImageType value (list, or text with backslashes)."""
    values = values or []
    if isinstance(values, str):
        values = values.split("\\")
    for value in list(values)[2:]:
        component = COMPONENT_TOKENS.get(str(value).strip().upper())
        if component:
            return component
    return "magnitude"


def choose_magnitude_and_repeat(images: List[DicomImage], folder: Path,
                                series: Optional[str] = None) -> Tuple[List[DicomImage], List[str]]:
    """(the images to load, warnings): magnitude images only, and one repeat of a repeated series."""
    images, warnings = _magnitude_only(images, folder)
    if len({image.echo_time_ms for image in images if image.echo_time_ms is not None}) < 2:
        return images, warnings  # no multi-echo acquisition here: the loader's own checks say what is wrong
    repeats = _overlapping_series(images)
    if not repeats:
        if series is None:
            _refuse_separate_multi_echo_series(images, folder)
        return _named_series_only(images, series, warnings), warnings
    labels = _series_labels(images)
    if series is None:
        per_echo = _one_echo_per_series(images, repeats)
        raise InputError(
            "%s holds the same MESE acquisition more than once: %s share slice positions and echo times (a "
            "repeated series%s). Choose %s, or keep only %s in the folder; in Slicer, import the folder with the "
            "DICOM module and pick the series."
            % (folder, " and ".join(labels[uid] for uid in sorted(repeats, key=_series_number_of(images))),
               ", stored one series per echo" if per_echo else "",
               "the series of one repeat: --series 5,6,7,... on the command line (their SeriesNumbers)" if per_echo
               else "one: --series NUMBER on the command line (its SeriesNumber)",
               "those series" if per_echo else "that series"))
    wanted = str(series).strip()
    chosen = {image.series_uid for image in images if is_series(image, wanted)}
    if _overlapping_series([image for image in images if image.series_uid in chosen]):
        raise InputError("The series %s in %s overlap each other (the same slices and echo times): name the series "
                         "of one repeat only." % (wanted, folder))
    kept = [image for image in images if image.series_uid in chosen]
    if not kept:
        raise InputError("Series %s in %s holds no magnitude images (phase, real or imaginary only); name the "
                         "magnitude series of the repeat to analyse." % (wanted, folder))
    if len({image.echo_time_ms for image in kept if image.echo_time_ms is not None}) < 2:
        raise InputError("Series %s in %s holds one echo of a repeated MESE stored one series per echo: name every "
                         "series of that repeat, e.g. --series %s." % (wanted, folder, ",".join(
                             _numbers_of_repeat_like(images, chosen))))
    _check_one_repeat(images, chosen, kept, wanted, folder, warnings)
    left_out = sorted({labels[image.series_uid] for image in images if image.series_uid not in chosen})
    warnings.append("Repeated acquisition: %s used as chosen; %s left out." % (
        ", ".join(sorted({labels[uid] for uid in chosen})), ", ".join(left_out)))
    return kept, warnings


def _check_one_repeat(images, chosen: Set[str], kept, wanted: str, folder: Path, warnings: List[str]) -> None:
    """The chosen series of a repeated per-echo MESE must hold every echo time, and should be one repeat's.

    Refuses a choice that leaves echo times of the acquisition out (``--series 15,16`` of 15-18); warns
    when the choice is not the series numbered together (``15,16,17,28``: echo 4 of another repeat).
    """
    missing = sorted(_echo_times(images) - _echo_times(kept))
    if missing:
        raise InputError("Series %s in %s hold %d of the %d echo times of this MESE (not TE %s ms): name every "
                         "series of one repeat, e.g. --series %s." % (
                             wanted, folder, len(_echo_times(kept)), len(_echo_times(images)),
                             ", ".join("%g" % value for value in missing),
                             ",".join(_numbers_of_repeat_like(images, {min(chosen, key=_series_number_of(images))}))))
    if len(chosen) < 2:
        return
    named = set(_numbers_of_repeat_like(images, chosen))  # the chosen set is complete: these are its numbers
    groups = [_numbers_of_repeat_like(images, {uid}) for uid in sorted(chosen)]
    together = max(groups, key=lambda group: (len(named & set(group)), [-_natural(n) for n in group]))
    if set(together) != named:
        warnings.append("Series %s were chosen together, but the series numbered together with most of them are "
                        "%s: check that every echo comes from the same repeat." % (wanted, ",".join(together)))


def _natural(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("inf")


def _refuse_separate_multi_echo_series(images: List[DicomImage], folder: Path) -> None:
    """Two multi-echo series of one protocol on different slices (both knees, two slabs) are not one exam.

    Stacked together they would read as one series with a gap of many centimetres; the user names one
    (``--series 5``), or several with ``--series 5,9`` when they really are parts of one acquisition.
    """
    multi = [uid for uid, values in _echo_times_by_series(images).items() if len(values) >= 2]
    if len(multi) < 2:
        return
    labels, number_of = _series_labels(images), _series_number_of(images)
    named = sorted(multi, key=lambda uid: (number_of(uid), uid))
    raise InputError(
        "%s holds %d multi-echo series of the same protocol on different slices: %s (e.g. both knees, or two "
        "slabs). Choose one: --series NUMBER on the command line (its SeriesNumber), or --series %s when they are "
        "parts of one acquisition; in Slicer, import the folder with the DICOM module and pick the series."
        % (folder, len(multi), " and ".join(labels[uid] for uid in named),
           ",".join(str(int(number_of(uid))) if number_of(uid) != float("inf") else uid for uid in named)))


def _named_series_only(images: List[DicomImage], series: Optional[str], warnings: List[str]) -> List[DicomImage]:
    """The images of the series ``--series`` named, when they hold the echoes (two echo times or more).

    Another MESE with the same TR and other slices (the other knee, another slab) is no repeat, but it
    was not chosen either: it is left out and named in ``warnings``. When the named series hold one echo
    time only (one series of a per-echo set), the whole acquisition is kept for the loader's checks.
    """
    if series is None:
        return images
    wanted = str(series).strip()
    named = [image for image in images if is_series(image, wanted)]
    if len(named) == len(images) or len(_echo_times(named)) < 2:
        return images
    kept = {id(image) for image in named}
    warnings.append("Series %s share the chosen MESE's TR but were not named: left out." % ", ".join(
        sorted({image.series_label for image in images if id(image) not in kept})))
    return named


def _magnitude_only(images: List[DicomImage], folder: Path) -> Tuple[List[DicomImage], List[str]]:
    components = [image_component(image) for image in images]
    magnitude = [image for image, component in zip(images, components) if component == "magnitude"]
    if len(magnitude) == len(images):
        return images, []
    if not magnitude:
        raise InputError(
            "%s holds only %s images (DICOM ImageType), no magnitude images: T2 is fitted on the magnitude of "
            "the echoes. Export the magnitude series of the MESE." % (folder, "/".join(sorted(set(components)))))
    others: Dict[str, Set[str]] = {}
    for image, component in zip(images, components):
        if component != "magnitude":
            others.setdefault(component, set()).add(image.series_label)
    text = "; ".join("%d %s image(s) of %s" % (sum(1 for c in components if c == component), component,
                                              ", ".join(sorted(labels)))
                     for component, labels in sorted(others.items()))
    return magnitude, ["Left out %s: T2 is fitted on the magnitude images." % text]


def _overlapping_series(images: List[DicomImage]) -> Set[str]:
    """UIDs of the series that share a (slice position, echo time) with another series (empty: none)."""
    if len({image.series_uid for image in images}) < 2:
        return set()
    normal = images[0].normal
    owners: Dict[Tuple[float, float], Set[str]] = {}
    for image in images:
        if image.echo_time_ms is None:
            continue
        key = (round(float(np.dot(image.position_lps, normal)), POSITION_DECIMALS),
               round(float(image.echo_time_ms), TIME_DECIMALS))
        owners.setdefault(key, set()).add(image.series_uid)
    return {uid for uids in owners.values() if len(uids) > 1 for uid in uids}


def _numbers_of_repeat_like(images: List[DicomImage], chosen: Set[str]) -> List[str]:
    """SeriesNumbers of the chosen series' likely repeat, as a hint: the series nearest in number added one by one
    while none overlaps those already taken (the per-echo series of one run are numbered together)."""
    number_of = _series_number_of(images)
    start = min(number_of(uid) for uid in chosen)
    start = 0.0 if start == float("inf") else start
    taken = [image for image in images if image.series_uid in chosen]
    members = set(chosen)
    for uid in sorted(set(_series_labels(images)) - chosen, key=lambda uid: (abs(number_of(uid) - start), uid)):
        candidate = [image for image in images if image.series_uid == uid]
        if not _overlapping_series(taken + candidate):
            taken += candidate
            members.add(uid)
    return [str(int(number_of(uid))) if number_of(uid) != float("inf") else uid
            for uid in sorted(members, key=lambda uid: (number_of(uid), uid))]


def _one_echo_per_series(images: List[DicomImage], series_uids: Set[str]) -> bool:
    """Whether each of these series holds a single echo time (a MESE stored one series per echo)."""
    times = {uid: values for uid, values in _echo_times_by_series(images).items() if uid in series_uids}
    return bool(times) and all(len(values) == 1 for values in times.values())


def _echo_times(images: List[DicomImage]) -> Set[float]:
    """The distinct echo times (ms, rounded to ``TIME_DECIMALS``) of these images."""
    return {round(float(image.echo_time_ms), TIME_DECIMALS) for image in images if image.echo_time_ms is not None}


def _echo_times_by_series(images: List[DicomImage]) -> Dict[str, Set[float]]:
    """Series UID -> its distinct echo times (series without any are left out)."""
    times: Dict[str, Set[float]] = {}
    for image in images:
        if image.echo_time_ms is not None:
            times.setdefault(image.series_uid, set()).add(round(float(image.echo_time_ms), TIME_DECIMALS))
    return times


def _series_labels(images: List[DicomImage]) -> Dict[str, str]:
    return {image.series_uid: image.series_label for image in images}


def _series_number_of(images: List[DicomImage]):
    """A sort key: series UID -> its SeriesNumber as a number (series without one last)."""
    numbers: Dict[str, float] = {}
    for image in images:
        try:
            numbers.setdefault(image.series_uid, float(image.dataset.get("SeriesNumber")))
        except (TypeError, ValueError):
            numbers.setdefault(image.series_uid, float("inf"))
    return lambda uid: numbers.get(uid, float("inf"))
