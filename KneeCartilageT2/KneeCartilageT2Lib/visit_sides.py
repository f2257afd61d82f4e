"""Which knee two visits show: the one side a change analysis measures both with, or a refusal.

A change (follow-up minus baseline T2 per region, :mod:`longitudinal`) means
something only on one knee: a left and a right knee measured as one swap
medial and lateral between the visits, so a reader would see a medial
"increase" that is the other knee's lateral cartilage. Each visit's side is
either known (the DICOM Laterality tag, an echo stack sidecar's Laterality field, or given by the user) or only
estimated from its cartilage (:mod:`side_estimate`; confidence 0.5 = a coin
toss up to 0.9). :func:`decide_pair_side` applies one rule to every
combination:

* Sides that agree: that side, with a note when one was only estimated.
* Sides that disagree are refused (:class:`errors.InputError`) when both are
  *confident*: known, or estimated with a confidence of at least
  :data:`CONFIDENT_ESTIMATE` (0.7: the cues agree by at least half their
  typical difference on average, or the knee lies clearly to one side of the
  scanner's isocentre; the real right knees at hand and their mirror images
  reach 0.86-0.89). Two confident sides that disagree are as likely to be two
  different knees as one wrong estimate, and a known side is refused against
  a confident estimate for the same reason: the reader gives the side of the
  visit in doubt and runs again.
* Sides that disagree where one is an uncertain estimate are measured with
  the known side, else with the more confident estimate (the baseline's on a
  tie), and a warning names both sides, their sources and confidences, and
  what to do.
* An unknown side that could not be estimated takes the other visit's side,
  with a warning that the knee could not be checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .errors import InputError
from .exam import normalize_laterality
from .side_estimate import SideEstimate
from .side_words import side_source_phrase

CONFIDENT_ESTIMATE = 0.7  # an estimated side this sure (0.5-0.9 scale) counts as confident; below it, only warned about
KNOWN_SOURCES = ("dicom", "sidecar", "user")
SIDE_HINT = (
    "give each visit's knee side where it is known: --baseline-laterality / --followup-laterality of knee-t2 "
    "change, the side column of a knee-t2 batch manifest, or the panel's 'Knee side' in Slicer (then measure "
    "that visit again)")


@dataclass
class VisitSide:
    """One visit's knee side and how it is known.

    Attributes:
        name: ``"baseline"`` or ``"follow-up"`` (for the messages).
        laterality: ``"right"``, ``"left"``, or ``"unknown"`` when neither known nor estimated.
        source: ``"dicom"`` (Laterality tag), ``"sidecar"`` (an echo stack sidecar's Laterality field),
            ``"user"`` (given), ``"estimated"`` (from the cartilage) or ``"unknown"``.
        confidence: 1.0 for a known side, the estimator's 0.5-0.9 for an estimated one, 0.0 for unknown.
        estimate: the :class:`side_estimate.SideEstimate` of an estimated side (its note says why).
        reason: why an unknown side was not estimated.
    """

    name: str
    laterality: str
    source: str
    confidence: float
    estimate: Optional[SideEstimate] = None
    reason: str = ""

    @classmethod
    def known(cls, name: str, laterality: str, source: str) -> "VisitSide":
        """A side from the data or the user (``source`` ``"dicom"``/``"sidecar"``/``"user"``); ``"unknown"``
        stays unknown."""
        side = normalize_laterality(laterality)
        if side == "unknown":
            return cls(name, "unknown", "unknown", 0.0)
        return cls(name, side, source if source in KNOWN_SOURCES else "user", 1.0)

    @classmethod
    def estimated(cls, name: str, estimate: SideEstimate) -> "VisitSide":
        """A side estimated from the visit's own cartilage."""
        return cls(name, normalize_laterality(estimate.laterality), "estimated", float(estimate.confidence), estimate)

    @property
    def is_known(self) -> bool:
        return self.source in KNOWN_SOURCES

    @property
    def is_confident(self) -> bool:
        """Known, or estimated with a confidence of at least :data:`CONFIDENT_ESTIMATE`."""
        return self.is_known or (self.source == "estimated" and self.confidence >= CONFIDENT_ESTIMATE)

    def describe(self) -> str:
        """E.g. ``"a right knee (from the DICOM Laterality tag)"``, ``"a left knee (estimated from the cartilage,
        confidence 0.62)"``: the source in the words of :func:`side_words.side_source_phrase`."""
        if self.source in KNOWN_SOURCES or self.source == "estimated":
            return "a %s knee (%s)" % (self.laterality, side_source_phrase(self.source, self.confidence))
        return "of unknown side (%s)" % (self.reason or "not in its data and not estimated")

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready: ``laterality``, ``source``, ``confidence`` (rounded to 0.001)."""
        return {"laterality": self.laterality, "source": self.source, "confidence": round(float(self.confidence), 3)}


@dataclass
class PairSide:
    """The side both visits of a change are measured with, and what was said about it.

    Attributes:
        laterality: ``"right"`` or ``"left"``.
        source: where that side came from: ``"dicom"``, ``"sidecar"``, ``"user"`` or ``"estimated"``.
        confidence: 1.0 when known, else the confidence of the estimate used.
        baseline / followup: each visit's own :class:`VisitSide`.
        warnings: plain-language notes for the reader (estimated, disagreeing or unchecked sides).
    """

    laterality: str
    source: str
    confidence: float
    baseline: VisitSide
    followup: VisitSide
    warnings: List[str] = field(default_factory=list)

    @property
    def sides_disagree(self) -> bool:
        """Both visits have a side (known or estimated) and they differ."""
        sides = (self.baseline.laterality, self.followup.laterality)
        return "unknown" not in sides and sides[0] != sides[1]

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready: the side used with its source and confidence, and each visit's own side."""
        return {"laterality": self.laterality, "source": self.source, "confidence": round(float(self.confidence), 3),
                "sides_disagree": self.sides_disagree, "baseline": self.baseline.to_dict(),
                "followup": self.followup.to_dict()}

    def measuring_arguments(self, visit: VisitSide) -> Tuple[str, str, Optional[SideEstimate]]:
        """``(laterality, laterality_source, side_estimate)`` for :func:`regions.analyse_regions` that measure
        ``visit`` with this pair's side (its own estimate when it agrees, so its confidence and note are kept)."""
        if visit.is_known:
            return visit.laterality, visit.source, None
        if self.source in KNOWN_SOURCES:
            return self.laterality, self.source, None
        if visit.estimate is not None and visit.laterality == self.laterality:
            return "unknown", "user", visit.estimate
        other = self.followup if visit is self.baseline else self.baseline
        own = ("this visit's own cartilage points to a %s knee" % visit.laterality if visit.laterality != "unknown"
               else "this visit's side could not be estimated")
        note = "taken from the %s's estimate for both visits (%s)." % (other.name, own)
        return "unknown", "user", recorded_estimate(self.laterality, self.confidence, note)


def decide_pair_side(baseline: VisitSide, followup: VisitSide) -> PairSide:
    """The side to measure both visits with (see the module doc for the rule).

    Raises:
        InputError: the sides disagree and both are confident (known, or estimated with a confidence of at
            least :data:`CONFIDENT_ESTIMATE`), or neither visit's side is known or could be estimated.
    """
    sides = (baseline, followup)
    present = [side for side in sides if side.laterality != "unknown"]
    if not present:
        raise InputError("The knee side of neither visit is known, and it could not be estimated from the cartilage "
                         "(baseline: %s; follow-up: %s): %s." % (baseline.reason or "no estimate",
                                                                  followup.reason or "no estimate", SIDE_HINT))
    disagree = len(present) == 2 and baseline.laterality != followup.laterality
    if disagree and baseline.is_confident and followup.is_confident:
        raise InputError(
            "The baseline and the follow-up look like different knees: the baseline is %s, the follow-up %s (an "
            "estimate counts as sure from a confidence of %.2f). Change can only be measured on the same knee (a "
            "left and a right knee swap medial and lateral). Check which knee each visit shows and %s."
            % (baseline.describe(), followup.describe(), CONFIDENT_ESTIMATE, SIDE_HINT))
    chosen, why = _chosen_side(baseline, followup)
    pair = PairSide(chosen.laterality, chosen.source, chosen.confidence, baseline, followup)
    if disagree:
        pair.warnings.append(
            "Check the knee side: the baseline is %s, the follow-up %s. Both visits were measured as a %s knee (%s); "
            "if they are in fact different knees, medial and lateral are swapped between them and this change is "
            "not valid. To settle it, %s." % (baseline.describe(), followup.describe(), chosen.laterality, why,
                                              SIDE_HINT))
    elif len(present) == 1:
        missing = followup if chosen is baseline else baseline
        pair.warnings.append(
            "Knee side unknown for the %s and not estimated (%s): it could not be checked that both visits show the "
            "same knee; both were measured as the %s's %s knee. To check, %s."
            % (missing.name, missing.reason or "no estimate", chosen.name, chosen.laterality, SIDE_HINT))
    elif baseline.source == followup.source == "estimated":
        pair.warnings.append(
            "Knee side in neither visit's data: both were estimated from their cartilage as a %s knee (confidence "
            "%.2f at the baseline, %.2f at the follow-up) and measured as one. To be sure they are the same knee, %s."
            % (chosen.laterality, baseline.confidence, followup.confidence, SIDE_HINT))
    elif "estimated" in (baseline.source, followup.source):
        guessed, known = (baseline, followup) if baseline.source == "estimated" else (followup, baseline)
        pair.warnings.append(
            "Knee side unknown for the %s (not in its data): it is taken to be %s, and the %s is %s; both visits "
            "were measured as a %s knee." % (guessed.name, guessed.describe(), known.name, known.describe(),
                                             chosen.laterality))
    return pair


def _chosen_side(baseline: VisitSide, followup: VisitSide) -> Tuple[VisitSide, str]:
    """The visit whose side both are measured with, and why (for the disagreement warning)."""
    for visit in (baseline, followup):
        if visit.is_known:
            return visit, "the known side"
    if followup.laterality == "unknown":
        return baseline, "the baseline's side"
    if baseline.laterality == "unknown" or followup.confidence > baseline.confidence:
        return followup, "the more confident estimate"
    if baseline.confidence > followup.confidence:
        return baseline, "the more confident estimate"
    return baseline, "the baseline's estimate, as sure as the follow-up's"


def recorded_estimate(laterality: str, confidence: Any, note: str = "") -> Optional[SideEstimate]:
    """A :class:`side_estimate.SideEstimate` rebuilt from a side and confidence recorded elsewhere (an analysis
    folder's ``regions.json``, a Slicer node's attributes); None when either is missing or not plausible
    (a side other than right/left, a confidence outside 0.5-1), so that the side is estimated again instead.

    Its score (-1..1, + = right) is the one that gives the confidence (confidence = 0.5 + 0.4 |score|).
    """
    try:
        side = normalize_laterality(laterality) if isinstance(laterality, str) else "unknown"
        value = float(confidence)
    except (InputError, TypeError, ValueError):
        return None
    if side == "unknown" or not 0.5 <= value <= 1.0:
        return None
    magnitude = min((value - 0.5) / 0.4, 1.0)
    return SideEstimate(side, value, magnitude if side == "right" else -magnitude, note=note)

