"""Do the two visits of a change look like the same knee? A warning from the registration's own figures.

The side checks (:mod:`visit_sides`) catch a left knee against a right one; they cannot tell two right
knees apart. A change between two different knees is meaningless (the "change" is anatomy), yet the
registration still returns its best rigid fit, and the regional table its numbers. After registration
the same knee lines up almost perfectly; another knee does not. Two figures of the registration
(:class:`registration.RegistrationResult`) say so:

* ``ncc_after``: the correlation (-1..1) of the baseline's echo image and the registered follow-up's
  inside the metric mask (the baseline cartilage dilated 15 mm): bone, cartilage and fluid contrast.
* ``dice_after``: the overlap (0..1) of the two visits' cartilage labels in the common frame.

Measured with ``benchmarks/bench_registration_quality.py`` (registration as the change runs it;
same-knee follow-ups moved 3 degrees / ~4 mm in the scanner; about 5 minutes on 2 shared cores):

========================================================  ==========  ==============
pair                                                       NCC after   cartilage Dice
========================================================  ==========  ==============
same knee: phantom A (GE protocol), slices placed anew,     0.962       0.858
new noise
same knee: phantom A (OAI protocol), the same               0.959       0.866
same knee: phantom B (GE protocol), the same                0.965       0.860
same knee: the real GE exam, new noise (SNR 40)             1.000       1.000
different: phantom A vs phantom B (GE)                      0.157       0.044
different: phantom B vs phantom A (OAI)                     0.513       0.344
different: GE exam vs phantom A (GE)                        0.199       0.000
different: GE exam vs phantom B (GE)                        0.169       0.028
========================================================  ==========  ==============

The thresholds, :data:`MIN_CORRELATION` 0.70 and :data:`MIN_CARTILAGE_DICE` 0.50, sit between the two
groups with a margin of about 0.2 on each side (same knee: NCC >= 0.96, Dice >= 0.86; different: NCC
<= 0.51, Dice <= 0.34). Real re-scans differ more than phantoms (the coil, the knee's flexion, each
visit's own segmentation), hence the margin below the same-knee figures. Either figure below its
threshold raises the warning. It is a warning, not a refusal: a follow-up after surgery, with a large
effusion or with much cartilage lost may rightly look different, and a poor segmentation of one visit
lowers the Dice too; the reader checks the aligned follow-up and decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from .errors import InputError

MIN_CORRELATION = 0.70  # NCC after registration below this: the visits' images do not line up like one knee's
MIN_CARTILAGE_DICE = 0.50  # overlap of the two visits' cartilage after registration below this: neither


@dataclass
class SameKneeCheck:
    """The same-knee check of one change.

    Attributes:
        correlation: the registration's NCC after alignment (-1..1; None when not computed).
        cartilage_dice: Dice of the two visits' cartilage after alignment (0..1; None without masks).
        min_correlation / min_cartilage_dice: the thresholds it was judged with.
        looks_same: False when a figure fell below its threshold.
    """

    correlation: Optional[float]
    cartilage_dice: Optional[float]
    min_correlation: float
    min_cartilage_dice: float

    @property
    def low_correlation(self) -> bool:
        return self.correlation is not None and self.correlation == self.correlation \
            and self.correlation < self.min_correlation

    @property
    def low_dice(self) -> bool:
        return self.cartilage_dice is not None and self.cartilage_dice < self.min_cartilage_dice

    @property
    def looks_same(self) -> bool:
        return not (self.low_correlation or self.low_dice)

    def warning(self) -> Optional[str]:
        """The reader's warning (its text asks to check, so reports show it in red), or None when it looks the same."""
        if self.looks_same:
            return None
        figures = []
        if self.low_correlation:
            figures.append("image correlation %.2f, warned below %.2f, same-knee pairs about 0.96"
                           % (self.correlation, self.min_correlation))
        if self.low_dice:
            figures.append("cartilage overlap (Dice) %.2f, warned below %.2f, same-knee pairs about 0.86"
                           % (self.cartilage_dice, self.min_cartilage_dice))
        return ("Check that both visits show the same knee: after alignment they do not line up like one knee (%s). "
                "A change between two different knees means nothing. Overlay the aligned follow-up on the baseline; "
                "if it is the same knee (after surgery, with a large effusion or much cartilage lost, or one visit "
                "poorly segmented), read the change with that in mind." % "; ".join(figures))

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready: the figures, the thresholds and the verdict."""
        def rounded(value):
            return None if value is None or value != value else round(float(value), 4)

        return {"looks_like_same_knee": self.looks_same, "correlation": rounded(self.correlation),
                "cartilage_dice": rounded(self.cartilage_dice), "min_correlation": self.min_correlation,
                "min_cartilage_dice": self.min_cartilage_dice}


def check_same_knee(registration, min_correlation: float = MIN_CORRELATION,
                    min_cartilage_dice: float = MIN_CARTILAGE_DICE) -> Optional[SameKneeCheck]:
    """The check of a :class:`registration.RegistrationResult` (None without one: nothing was aligned)."""
    for name, value, low, high in (("min_correlation", min_correlation, -1.0, 1.0),
                                   ("min_cartilage_dice", min_cartilage_dice, 0.0, 1.0)):
        if not low <= float(value) <= high:
            raise InputError("The same-knee threshold %s must be in [%g, %g], got %g." % (name, low, high, value))
    if registration is None:
        return None
    return SameKneeCheck(registration.ncc_after, registration.dice_after, float(min_correlation),
                         float(min_cartilage_dice))


def without_poor_registration_note(warnings: List[str]) -> List[str]:
    """The registration's own "looks poor" note left out: the same-knee warning names the same correlation."""
    return [text for text in warnings if not text.startswith("Registration looks poor")]
