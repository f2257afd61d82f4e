"""Warnings before a reader's label joins a training dataset: is it this exam's, and is it cartilage of this exam?

A label exported onto the wrong exam trains the model on a misplaced answer, and
nothing in the files shows it later: the grids of two exams of one protocol have
the same size, so a label drawn on another knee lies inside this exam and is stored
without complaint. Two checks need no more than what the export already has:

* **the original's exam**: an ``--original`` analysis folder records the hash of
  the images it analysed (``source_sha256`` in ``provenance.json``,
  :func:`result_privacy.exam_fingerprint`). A different hash means the model's
  label, and probably the approved one corrected from it, belongs to other images.
  It is a warning, not a refusal: the same series loaded another way (Slicer's
  DICOM import, other echo times typed in) hashes differently.
* **the agreement with the original**: a reader's correction moves the model's
  label at its edges and adds or removes pieces; it keeps most of it. A complete
  correction of the bootstrap model's label (the truth) on knees it never saw
  overlaps it by Dice 0.869 at the lowest on 24 phantoms of ordinary noise, and
  0.71 on phantoms at SNR 6 (README, bootstrap model and cohort review). Below
  :data:`LOW_EDIT_DICE` (0.5) the two labels share less than half their voxels:
  the approved label was most likely drawn on another exam, shifted, or is
  another structure.

Both return sentences for the user; the export goes on (the reader may really
have redrawn the plate).
"""

from __future__ import annotations

from typing import List, Optional

LOW_EDIT_DICE = 0.5  # approved vs original label Dice below which the export warns


def original_exam_warnings(exam, recorded_sha256: Optional[str], original_name: str) -> List[str]:
    """A sentence when the ``--original`` analysis recorded a hash of other images than ``exam``'s."""
    from .result_privacy import exam_fingerprint

    if not recorded_sha256:
        return []
    if exam_fingerprint(exam) == recorded_sha256:
        return []
    return ["The original %s was analysed from other images than this exam (the hash of its echo images "
            "differs): check that the label you export belongs to this exam. (The same series loaded another "
            "way, e.g. through Slicer or with other echo times, also hashes differently.)" % original_name]


def edit_agreement_warnings(dice: float, voxels_added: int, voxels_removed: int) -> List[str]:
    """A sentence when the approved label shares too little with the model's original (Dice < LOW_EDIT_DICE)."""
    if dice >= LOW_EDIT_DICE:
        return []
    return ["The approved label overlaps the model's original by Dice %.2f only (%d voxels added, %d removed): a "
            "correction keeps most of the model's plate, so check that the label was drawn on this exam, is not "
            "shifted, and is femoral cartilage, before training on it." % (dice, voxels_added, voxels_removed)]
