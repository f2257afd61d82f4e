"""Does a cartilage mask cover the plate's slices as a femoral plate does? Slices worth a look.

Arrays are ``(slice, row, col)``; axis 0 is the sagittal slice index, the one
a reader scrolls through. Femoral cartilage is one continuous sheet across the
sagittal slices, and at the medial and lateral condyle margins it thins out:
the slice that cuts the margin tangentially holds only a small part of it.
Three things break that pattern, each usually a segmentation error:

* an empty slice inside the plate (a slice the network missed, often the
  trochlea or the notch margins);
* filled slices cut off from the plate by empty ones (a false positive);
* an *abrupt end*: the last filled slice at one end still holds a large share
  of the area of the plate's fullest slice, so the plate most likely goes on
  into the next slice and the network missed it there. Missing a margin slice
  biases the plate's mean T2 low, because the margin's partial-volume voxels
  read high (on phantoms of an unseen knee the bootstrap model's whole-plate
  T2 read up to about 1.2 ms low, mostly from missed margin slices).

:data:`ABRUPT_END_SHARE` (0.45) comes from the true plates of 192 digital
phantoms (both real anatomies, OAI and GE geometry, 3.5 and 4 mm slice
spacing): of their 223 plate ends inside the series, none held more than 0.41
of the fullest slice (99th percentile 0.35). With thinner slices the plate
thins out more gradually, so ends hold less and the rule flags less; with
slices much thicker than 4 mm it may flag true ends.

An end in the series' first or last slice is a different matter: the plate
may go on outside the scanned slices, which no segmentation can fix (the
summaries then leave that part out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

MINOR_RUN_SHARE = 0.15
ABRUPT_END_SHARE = 0.45


@dataclass(frozen=True)
class PlateEnd:
    """One end of the plate along the slice axis.

    Attributes:
        slice_index: the last filled slice at this end.
        next_slice: the slice beyond it (``slice_index - 1`` or ``+ 1``); -1 or the
            slice count when the end is the series' first or last slice.
        area_share: cartilage voxels in ``slice_index`` / voxels in the plate's fullest slice.
        at_series_edge: True when there is no slice beyond (the series ends there).
        abrupt: ``area_share >= ABRUPT_END_SHARE``.
    """

    slice_index: int
    next_slice: int
    area_share: float
    at_series_edge: bool
    abrupt: bool


def _per_slice(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    return mask.reshape(mask.shape[0], -1).astype(bool).sum(axis=1)


def _major_span(per_slice: np.ndarray, minor_share: float):
    """(first, last) slice of the runs of filled slices holding >= ``minor_share`` of the voxels, or None."""
    filled = per_slice > 0
    if not filled.any():
        return None
    edges = np.flatnonzero(np.diff(np.concatenate([[0], filled.astype(np.int8), [0]])))
    runs = list(zip(edges[0::2], edges[1::2] - 1))  # (first, last) slice of each run
    total = float(per_slice.sum())
    major = [(first, last) for first, last in runs if per_slice[first:last + 1].sum() >= minor_share * total]
    if not major:  # broken into many small runs (every other slice, say): all of it is the plate, gaps and all
        major = runs
    return int(major[0][0]), int(major[-1][1])


def plate_slice_gaps(mask: np.ndarray, minor_share: float = MINOR_RUN_SHARE) -> Tuple[np.ndarray, np.ndarray]:
    """Slices where the plate's slice coverage looks wrong: ``(missed, detached)`` indices.

    The mask's runs of consecutive filled slices holding at least ``minor_share``
    of its voxels are the plate's major parts. *missed*: empty slices between
    the first and the last slice of the major parts (usually slices the network
    missed). *detached*: filled slices of the smaller runs lying outside that
    span, cut off from the plate by empty slices (usually a false positive).
    """
    per_slice = _per_slice(mask)
    empty = np.array([], dtype=int)
    span = _major_span(per_slice, minor_share)
    if span is None:
        return empty, empty
    start, stop = span
    inside = np.arange(start, stop + 1)
    missed = inside[per_slice[inside] == 0]
    index = np.arange(per_slice.size)
    detached = np.flatnonzero((per_slice > 0) & ((index < start) | (index > stop)))
    return missed, detached


def plate_ends(mask: np.ndarray, abrupt_share: float = ABRUPT_END_SHARE,
               minor_share: float = MINOR_RUN_SHARE) -> List[PlateEnd]:
    """The plate's two ends along axis 0 (lower index first; one when it fills a single slice).

    The plate is the span of its major parts (:func:`plate_slice_gaps`), so a
    detached false positive does not count as an end.
    """
    per_slice = _per_slice(mask)
    span = _major_span(per_slice, minor_share)
    if span is None:
        return []
    start, stop = span
    fullest = float(per_slice[start:stop + 1].max())
    ends = []
    sides = [(start, -1), (stop, +1)] if start != stop else [(start, -1 if start > 0 else +1)]
    for index, step in sides:
        share = float(per_slice[index]) / fullest
        beyond = index + step
        ends.append(PlateEnd(int(index), int(beyond), round(share, 3),
                             not 0 <= beyond < per_slice.size, share >= abrupt_share))
    return ends


def slice_coverage_messages(mask: np.ndarray) -> List[str]:
    """Words for the user: slices to check for missed cartilage or false positives (module docstring)."""
    missed, detached = plate_slice_gaps(mask)
    messages = []
    if missed.size:
        messages.append("Slice(s) %s hold no cartilage although slices on both sides do: check whether cartilage "
                        "was missed there (often the trochlea or the notch margins)."
                        % ", ".join(str(int(k)) for k in missed))
    if detached.size:
        messages.append("Slice(s) %s hold cartilage apart from the rest of the plate, with empty slices between: "
                        "check for a false positive there, or for a missed slice between them and the plate (a "
                        "condyle margin beyond a missed slice looks the same)." % ", ".join(str(int(k)) for k in detached))
    for end in plate_ends(mask):
        if not end.abrupt:
            continue
        if end.at_series_edge:
            messages.append("The plate reaches the series' %s slice (%d) with %.0f%% of its fullest slice's area: "
                            "it may go on outside the scanned slices, and the summaries leave that part out."
                            % ("first" if end.next_slice < 0 else "last", end.slice_index, 100 * end.area_share))
        else:
            messages.append("The plate ends abruptly at slice %d (%.0f%% of its fullest slice's area; a condyle "
                            "margin usually thins out over its last slice): check slice %d for missed cartilage."
                            % (end.slice_index, 100 * end.area_share, end.next_slice))
    return messages


def slices_to_check(mask: np.ndarray) -> List[Tuple[int, str]]:
    """``(slice index, reason)`` of the slices a reader should look at, most consequential first.

    The slice beyond an abrupt end (a missed margin slice biases the plate's T2),
    then empty slices inside the plate, then slices cut off from it. Ends at the
    series' edge have no slice to show and are left out.
    """
    missed, detached = plate_slice_gaps(mask)
    found = [(end.next_slice, "the plate ends abruptly at slice %d: cartilage missed here?" % end.slice_index)
             for end in plate_ends(mask) if end.abrupt and not end.at_series_edge]
    found += [(int(k), "empty slice inside the plate: cartilage missed here?") for k in missed]
    found += [(int(k), "cut off from the plate: a false positive?") for k in detached]
    return found


def nearest_filled_slice(mask: np.ndarray, slice_index: int) -> Optional[int]:
    """For an empty slice: the nearest slice holding cartilage (the lower one on a tie); None when
    ``slice_index`` itself holds cartilage or the mask is empty."""
    per_slice = _per_slice(mask)
    if per_slice[slice_index] > 0 or not per_slice.any():
        return None
    filled = np.flatnonzero(per_slice)
    return int(filled[np.argmin(np.abs(filled - slice_index) * 2 + (filled > slice_index))])
