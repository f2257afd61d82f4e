"""A reader's unfinished corrections of a dataset case, kept as its draft while they edit (no Qt).

An input that belongs to a case of a training dataset (loaded by *Next
case*, or exported once by *Accept & export*) carries the dataset folder and
case id as attributes. While the reader edits its cartilage segment, the
panel calls :func:`keep_draft` once the edits settle: the segment is saved
as the case's draft (:mod:`KneeCartilageT2Lib.dataset_drafts`) unless it is
the model's output unchanged. When the case's model run finishes,
:func:`restore_draft` puts the draft back over the model's output (the model's
output stays the original for the export's edit statistics), so a crash or
a closed scene costs at most the last few strokes.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from KneeCartilageT2Lib.dataset_drafts import discard_draft, draft_info, read_draft, save_draft, voxel_digest
from KneeCartilageT2Lib.errors import KneeT2Error

from .readback import model_label_of, result_nodes_of
from .segmentation_nodes import CARTILAGE_SEGMENT_NAME, read_segment, segment_id_by_name, write_segment

CASE_ID_ATTRIBUTE = "KneeT2.CaseId"
DATASET_ATTRIBUTE = "KneeT2.Dataset"
DRAFT_DIGEST_ATTRIBUTE = "KneeT2.DraftDigest"  # the voxels last saved as (or restored from) the draft


def mark_dataset_case(reference_volume, dataset_dir, case_id: str) -> None:
    """Record that this input is case ``case_id`` of the dataset in ``dataset_dir``."""
    reference_volume.SetAttribute(CASE_ID_ATTRIBUTE, str(case_id))
    reference_volume.SetAttribute(DATASET_ATTRIBUTE, str(dataset_dir))


def dataset_case_of(reference_volume) -> Optional[Tuple[str, str]]:
    """``(dataset folder, case id)`` of an input that belongs to a dataset case, else None."""
    if reference_volume is None:
        return None
    case_id = reference_volume.GetAttribute(CASE_ID_ATTRIBUTE)
    dataset = reference_volume.GetAttribute(DATASET_ATTRIBUTE)
    return (dataset, case_id) if case_id and dataset else None


def keep_draft(reference_volume, reader: Optional[str] = None) -> str:
    """Save the edited segment as the case's draft; returns what was done, for the panel ("" for nothing).

    Nothing is saved for an input outside a dataset, without a segment, or
    when the voxels are those saved last. A segment equal to the model's
    output again (the reader undid every edit) discards the draft instead.
    """
    case = dataset_case_of(reference_volume)
    segmentation = result_nodes_of(reference_volume).segmentation if case else None
    if segmentation is None:
        return ""
    dataset, case_id = case
    mask = np.asarray(read_segment(segmentation, reference_volume).array) > 0
    digest = voxel_digest(mask)
    if digest == reference_volume.GetAttribute(DRAFT_DIGEST_ATTRIBUTE):
        return ""
    original = model_label_of(reference_volume)
    if original is not None and np.array_equal(np.asarray(original.array) > 0, mask):
        reference_volume.SetAttribute(DRAFT_DIGEST_ATTRIBUTE, digest)
        return "Draft discarded: the segment is the model's output again." if discard_draft(dataset, case_id) else ""
    info = save_draft(dataset, case_id, mask, reader)
    reference_volume.SetAttribute(DRAFT_DIGEST_ATTRIBUTE, digest)
    return "Draft of case %s saved (%s UTC)." % (case_id, info.saved[11:19])


def restore_draft(reference_volume) -> Tuple[bool, str]:
    """Put the case's draft into the cartilage segment: ``(restored, message for the reader)``.

    Called when a model run of the case has just written its output. A draft
    that cannot be used (another grid, unreadable) is reported and left on
    disk; the model's output then stays. ``(False, "")`` when there is no draft.
    """
    case = dataset_case_of(reference_volume)
    segmentation = result_nodes_of(reference_volume).segmentation if case else None
    if segmentation is None:
        return False, ""
    dataset, case_id = case
    try:
        found = read_draft(dataset, case_id)
    except (KneeT2Error, OSError, RuntimeError) as error:
        return False, "The draft of case %s could not be read (%s); the model's output is shown." % (case_id, error)
    if found is None:
        return False, ""
    draft, info = found
    current = read_segment(segmentation, reference_volume)
    if tuple(draft.array.shape) != tuple(np.shape(current.array)) or not np.allclose(
            draft.ijk_to_ras, current.ijk_to_ras, atol=1e-3):
        return False, "The draft of case %s lies on another grid than this exam; it was not restored." % case_id
    write_segment(segmentation, segment_id_by_name(segmentation, CARTILAGE_SEGMENT_NAME), current.with_array(draft.array))
    reference_volume.SetAttribute(DRAFT_DIGEST_ATTRIBUTE, info.digest)
    by = " by %s" % info.reader if info.reader else ""
    return True, ("Your draft of case %s (saved %s UTC%s, %d voxels) was restored over the model's output; the "
                  "model's output stays the original for the export." % (case_id, info.saved.replace("T", " ")[:19],
                                                                          by, info.n_voxels))


def discard_draft_of(reference_volume) -> str:
    """Discard the case's draft (the reader chose to replace their edits); the message ("" when there was none)."""
    case = dataset_case_of(reference_volume)
    if case is None or not discard_draft(*case):
        return ""
    reference_volume.RemoveAttribute(DRAFT_DIGEST_ATTRIBUTE)
    return "The draft of case %s was discarded with the edits this run replaced." % case[1]


def draft_note(reference_volume) -> str:
    """For the panel after loading a case: whether a draft waits for the model run ("" when none)."""
    case = dataset_case_of(reference_volume)
    info = draft_info(*case) if case else None
    if info is None:
        return ""
    return ("A draft of your corrections (saved %s UTC) will replace the model's output after 'Segment & measure'."
            % info.saved.replace("T", " ")[:19])
