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

Not every abrupt end is a slice the network missed: the refinement's
minimum-area slice rule (:mod:`refinement`, step 4) empties a thin margin
slice the network did find (the reference's 425 OAI pixels are about a fifth
of a fullest slice, more than a true margin slice often holds). Given what
the rule removed (:class:`slice_rule.SliceRule`), the checks say so instead
and count such an end apart, when the removed cartilage holds at least
:data:`FOUND_MARGIN_SHARE` (0.05) of the fullest slice's area: the share from
which the plate-end benchmark (``benchmarks/bench_plate_ends.py``) counts true
cartilage beyond an end as a margin slice. Less is a speck in a slice the
network missed: on the bootstrap model's 13 abrupt ends over 24 phantoms of
the unseen knee, the rule had emptied the slice beyond 2 times, of 8 and 2
network voxels where the truth held 249 each. Such an end stays a miss, and
its message names the speck.

A plate on a single slice has both its ends there, each holding the whole of
the fullest slice: it is told as one finding, a segmentation that most likely failed.

Slice numbers in the messages are the 0-based indices along axis 0, as
Slicer's Data Probe shows K and as the module's *Next slice to check* jumps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from .slice_rule import SliceRule

MINOR_RUN_SHARE = 0.15
ABRUPT_END_SHARE = 0.45
FOUND_MARGIN_SHARE = 0.05


@dataclass(frozen=True)
class PlateEnd:
    """One end of the plate along the slice axis.

    Attributes:
        slice_index: the last filled slice at this end.
        next_slice: the slice beyond it (``slice_index - 1`` or ``+ 1``); -1 or the
            slice count when the end is the series' first or last slice.
        area_share: cartilage voxels in ``slice_index`` / voxels in the plate's fullest slice
            (unrounded, so that ``abrupt`` always agrees with it).
        at_series_edge: True when there is no slice beyond (the series ends there).
        abrupt: ``area_share >= ABRUPT_END_SHARE``.
        rule_emptied_voxels: cartilage voxels the slice rule removed from ``next_slice``
            (0 when it removed none there, or when what it removed is not known).
        rule_emptied_share: ``rule_emptied_voxels`` / voxels in the plate's fullest slice.
    """

    slice_index: int
    next_slice: int
    area_share: float
    at_series_edge: bool
    abrupt: bool
    rule_emptied_voxels: int = 0
    rule_emptied_share: float = 0.0

    @property
    def removed_beyond(self) -> bool:
        """An abrupt end inside the series whose next slice held a margin's worth of network cartilage (at least
        :data:`FOUND_MARGIN_SHARE` of the fullest slice) that the slice rule removed: not a slice the network missed."""
        return self.abrupt and not self.at_series_edge and self.rule_emptied_share >= FOUND_MARGIN_SHARE

    @property
    def missed_beyond(self) -> bool:
        """An abrupt end inside the series whose next slice the network left empty, or all but a speck that the
        slice rule removed: a margin slice probably missed."""
        return self.abrupt and not self.at_series_edge and not self.removed_beyond


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
               minor_share: float = MINOR_RUN_SHARE, slice_rule: Optional[SliceRule] = None) -> List[PlateEnd]:
    """The plate's two ends along axis 0, lower index first (none for an empty mask).

    The plate is the span of its major parts (:func:`plate_slice_gaps`), so a
    detached false positive does not count as an end. A plate on a single
    slice has two ends at that slice, one on each side (:func:`single_slice`).
    ``slice_rule``: what the refinement's slice rule removed, to fill
    :attr:`PlateEnd.rule_emptied_voxels` and its share.
    """
    per_slice = _per_slice(mask)
    span = _major_span(per_slice, minor_share)
    if span is None:
        return []
    start, stop = span
    fullest = float(per_slice[start:stop + 1].max())
    ends = []
    for index, step in ((start, -1), (stop, +1)):
        share = float(per_slice[index]) / fullest
        beyond = index + step
        removed = slice_rule.voxels_removed(beyond) if slice_rule is not None else 0
        ends.append(PlateEnd(int(index), int(beyond), share, not 0 <= beyond < per_slice.size,
                             share >= abrupt_share, removed, removed / fullest))
    return ends


def single_slice(ends: List[PlateEnd]) -> Optional[int]:
    """The plate's one slice when both its ends lie in the same slice, else None (a strong sign of failure:
    femoral cartilage spans many sagittal slices)."""
    if len(ends) == 2 and ends[0].slice_index == ends[1].slice_index:
        return ends[0].slice_index
    return None


def _removed_text(end: PlateEnd, slice_rule: SliceRule) -> str:
    """The sentence for a slice beyond an end whose cartilage the slice rule removed."""
    return ("Slice %d's cartilage, %d voxels, was removed by the minimum-area rule of %d voxels per slice: check "
            "whether it is real cartilage and restore it with the Segment Editor if so."
            % (end.next_slice, end.rule_emptied_voxels, slice_rule.smallest_kept))


def _speck_text(end: PlateEnd, slice_rule: Optional[SliceRule], where: str = "there") -> str:
    """For a missed slice beyond an end: what little the network found ``where`` (words naming the slice) and the
    slice rule removed; '' when it removed nothing there."""
    if slice_rule is None or not end.rule_emptied_voxels:
        return ""
    return (" (the network found only %d voxels %s, which the minimum-area rule of %d voxels per slice removed)"
            % (end.rule_emptied_voxels, where, slice_rule.smallest_kept))


def slice_coverage_messages(mask: np.ndarray, slice_rule: Optional[SliceRule] = None) -> List[str]:
    """Words for the user: slices to check for missed cartilage or false positives (module docstring).

    ``slice_rule``: what the refinement's slice rule removed (None for a label
    it did not make): an abrupt end beyond which it emptied a slice is told as such.
    """
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
    ends = plate_ends(mask, slice_rule=slice_rule)
    only = single_slice(ends)
    if only is not None:
        text = ("The plate is a single slice (%d): femoral cartilage spans many sagittal slices, so the segmentation "
                "most likely failed." % only)
        beside = [end for end in ends if end.missed_beyond]
        if beside:
            specks = "".join(_speck_text(end, slice_rule, "in slice %d" % end.next_slice) for end in beside)
            text += " Check slice(s) %s beside it for missed cartilage%s." % (
                ", ".join(str(end.next_slice) for end in beside), specks)
        for end in ends:
            if end.removed_beyond:
                text += " " + _removed_text(end, slice_rule)
        return messages + [text]
    for end in ends:
        if not end.abrupt:
            continue
        if end.at_series_edge:
            messages.append("The plate reaches the series' %s slice (%d) with %.0f%% of its fullest slice's area: "
                            "it may go on outside the scanned slices, and the summaries leave that part out."
                            % ("first" if end.next_slice < 0 else "last", end.slice_index, 100 * end.area_share))
        elif end.removed_beyond:
            messages.append("The plate ends abruptly at slice %d (%.0f%% of its fullest slice's area), but the network "
                            "did find cartilage beyond it. %s"
                            % (end.slice_index, 100 * end.area_share, _removed_text(end, slice_rule)))
        else:
            messages.append("The plate ends abruptly at slice %d (%.0f%% of its fullest slice's area; a condyle "
                            "margin usually thins out over its last slice): check slice %d for missed cartilage%s."
                            % (end.slice_index, 100 * end.area_share, end.next_slice, _speck_text(end, slice_rule)))
    return messages


def slices_to_check(mask: np.ndarray, slice_rule: Optional[SliceRule] = None) -> List[Tuple[int, str]]:
    """``(slice index, reason)`` of the slices a reader should look at, most consequential first.

    The slice beyond an abrupt end (a missed margin slice biases the plate's T2;
    or one whose cartilage the slice rule removed, given ``slice_rule``), then
    empty slices inside the plate, then slices cut off from it. Ends at the
    series' edge have no slice to show and are left out. A plate on a single
    slice gives the slices on both sides of it.
    """
    missed, detached = plate_slice_gaps(mask)
    ends = plate_ends(mask, slice_rule=slice_rule)
    only = single_slice(ends)
    found = []
    for end in ends:
        if not (end.abrupt and not end.at_series_edge):
            continue
        where = ("the plate is a single slice (%d)" % only if only is not None
                 else "the plate ends abruptly at slice %d" % end.slice_index)
        if end.removed_beyond:
            found.append((end.next_slice, "%s; the minimum-area rule (%d voxels) removed this slice's %d voxels of "
                                          "cartilage: real? restore them"
                          % (where, slice_rule.smallest_kept, end.rule_emptied_voxels)))
        else:
            found.append((end.next_slice,
                          "%s: cartilage missed here?%s" % (where, _speck_text(end, slice_rule, "here"))))
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
