"""A reader's unfinished corrections, kept as a draft while they edit (no Qt).

While the reader edits the cartilage segment, the panel calls
:func:`keep_draft` once the edits settle: the segment is saved as the input's
draft unless it is the model's output unchanged. When the input's next model
run finishes, :func:`restore_draft` puts the draft back over the model's output
(the model's output stays the original for the export's edit statistics), so
a crash or a closed scene costs at most the last few strokes. The reader puts
back a draft, or one set aside beside it, on request with :mod:`.kept_drafts`.

Every note for the panel is marked for Slicer's translation (``_``,
:mod:`.translation`); file names and node attributes are not.

Where a draft is kept (its :class:`DraftHome`):

* an input that belongs to a case of a training dataset (loaded by *Next
  case*, or exported once by *Accept & export*) carries the dataset folder and
  case id as attributes: ``DIR/drafts/<case>.nrrd``
  (:mod:`KneeCartilageT2Lib.dataset_drafts`);
* any other input: the user cache (:mod:`KneeCartilageT2Lib.local_drafts`),
  under a hash of its SeriesInstanceUID when it came from DICOM, else of a
  digest of its echo images (NRRD, NIfTI: the same file loaded again finds its
  draft). Exporting it to a dataset moves its home there and discards the
  cached draft.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import numpy as np

from KneeCartilageT2Lib import dataset_drafts, local_drafts
from KneeCartilageT2Lib.draft_files import DraftInfo, voxel_digest
from KneeCartilageT2Lib.errors import KneeT2Error
from KneeCartilageT2Lib.geometry import Volume
from KneeCartilageT2Lib.grid_order import reorder_onto

from .exam_from_nodes import echo_images_digest, series_uid_of
from .mrml_helpers import ijk_to_ras_of, set_input_attribute
from .readback import model_label_of, result_nodes_of
from .segmentation_nodes import CARTILAGE_SEGMENT_NAME, read_segment, segment_id_by_name, write_segment
from .translation import tr as _

CASE_ID_ATTRIBUTE = "KneeT2.CaseId"
DATASET_ATTRIBUTE = "KneeT2.Dataset"
DRAFT_DIGEST_ATTRIBUTE = "KneeT2.DraftDigest"  # the voxels last saved as (or restored from) the draft
DRAFT_FILE_ATTRIBUTE = "KneeT2.DraftFileDigest"  # the draft file this input wrote or restored last (its header digest)


@dataclass(frozen=True)
class DraftHome:
    """Where one input's draft lives, and how to reach it; ``name`` is how the panel's notes call it."""

    name: str  # "case 0003" or "this series"
    save: Callable[[Volume, Optional[str]], DraftInfo]
    read: Callable[[], Optional[Tuple[Volume, DraftInfo]]]
    info: Callable[[], Optional[DraftInfo]]
    discard: Callable[[], bool]
    set_aside: Callable[[], Optional[Path]]
    kept: Callable[[], List[Tuple[Path, DraftInfo]]]  # the draft and those set aside, newest first


def mark_dataset_case(reference_volume, dataset_dir, case_id: str) -> None:
    """Record that this input is case ``case_id`` of the dataset in ``dataset_dir``."""
    set_input_attribute(reference_volume, CASE_ID_ATTRIBUTE, str(case_id))
    set_input_attribute(reference_volume, DATASET_ATTRIBUTE, str(dataset_dir))


def dataset_case_of(reference_volume) -> Optional[Tuple[str, str]]:
    """``(dataset folder, case id)`` of an input that belongs to a dataset case, else None."""
    if reference_volume is None:
        return None
    case_id = reference_volume.GetAttribute(CASE_ID_ATTRIBUTE)
    dataset = reference_volume.GetAttribute(DATASET_ATTRIBUTE)
    return (dataset, case_id) if case_id and dataset else None


def draft_home_of(reference_volume) -> Optional[DraftHome]:
    """The input's dataset case, else its place in the user cache; None for an input without image data."""
    case = dataset_case_of(reference_volume)
    if case is not None:
        dataset, case_id = case
        return DraftHome(_("case {case}").format(case=case_id),
                         lambda label, reader: dataset_drafts.save_draft(dataset, case_id, label, reader),
                         lambda: dataset_drafts.read_draft(dataset, case_id),
                         lambda: dataset_drafts.draft_info(dataset, case_id),
                         lambda: dataset_drafts.discard_draft(dataset, case_id),
                         lambda: dataset_drafts.set_aside_draft(dataset, case_id),
                         lambda: dataset_drafts.kept_drafts(dataset, case_id))
    identity = _local_identity(reference_volume)
    if not identity:
        return None
    return DraftHome(_("this series"),
                     lambda label, reader: local_drafts.save_local_draft(identity, label, reader),
                     lambda: local_drafts.read_local_draft(identity),
                     lambda: local_drafts.local_draft_info(identity),
                     lambda: local_drafts.discard_local_draft(identity),
                     lambda: local_drafts.set_aside_local_draft(identity),
                     lambda: local_drafts.kept_local_drafts(identity))


def _local_identity(reference_volume) -> str:
    """What names the input's draft in the user cache: its series UID, else a digest of its echo images."""
    if reference_volume is None:
        return ""
    series_uid = series_uid_of(reference_volume)
    if series_uid:
        return series_uid
    digest = echo_images_digest(reference_volume)
    return "echo-images:%s" % digest if digest else ""


def keep_draft(reference_volume, reader: Optional[str] = None) -> str:
    """Save the edited segment as the input's draft; returns what was done, for the panel ("" for nothing).

    Nothing is saved for an input without a draft home or a cartilage segment
    (the last draft then stays), or when the voxels are those saved last. A segment equal to the model's output
    again (the reader undid every edit) discards the draft instead. An empty segment (everything erased) is
    never saved over the last draft: it cannot be exported, and an erase-all by mistake followed by a lost
    scene would otherwise leave an empty draft in place of the reader's corrections.
    """
    segmentation = result_nodes_of(reference_volume).segmentation if reference_volume is not None else None
    if segmentation is None or not segmentation.GetSegmentation().GetSegmentIdBySegmentName(CARTILAGE_SEGMENT_NAME):
        return ""  # no segment (removed or renamed): the last draft stays as it was
    home = draft_home_of(reference_volume)
    if home is None:
        return ""
    segment = read_segment(segmentation, reference_volume)
    mask = np.asarray(segment.array) > 0
    if not mask.any():
        return _("The segment is empty: not saved as a draft (the last draft, if any, is kept).")
    digest = voxel_digest(mask)
    if digest == reference_volume.GetAttribute(DRAFT_DIGEST_ATTRIBUTE):
        return ""
    original = model_label_of(reference_volume)
    foreign = _foreign_draft(reference_volume, home)
    if original is not None and np.array_equal(np.asarray(original.array) > 0, mask):
        set_input_attribute(reference_volume, DRAFT_DIGEST_ATTRIBUTE, digest)
        if foreign is not None:  # not this scene's edits being undone: another scene's (or copy's) corrections
            return ""
        set_input_attribute(reference_volume, DRAFT_FILE_ATTRIBUTE, None)
        return _("Draft discarded: the segment is the model's output again.") if home.discard() else ""
    kept = home.set_aside() if foreign is not None else None
    info = home.save(segment.with_array(mask.astype(np.uint8)), reader)
    set_input_attribute(reference_volume, DRAFT_DIGEST_ATTRIBUTE, digest)
    set_input_attribute(reference_volume, DRAFT_FILE_ATTRIBUTE, info.digest)
    note = _("Draft of {home} saved ({time} UTC).").format(home=home.name, time=info.saved[11:19])
    if kept is not None:
        note += " " + _("An earlier draft (saved {saved} UTC, {voxels} voxels), not made in this scene, was kept as "
                        "{file} ('Restore draft...' puts it back).").format(
            saved=_saved(foreign), voxels=foreign.n_voxels, file=kept)
    return note


def _foreign_draft(reference_volume, home: DraftHome) -> Optional[DraftInfo]:
    """The draft on disk when this input did not write or restore it (a scene reopened from before the edits, the
    same series loaded twice, a draft on another grid left for the reader), else None.

    Such a draft is never discarded or replaced by this input's edits: it may hold the reader's newest work.
    """
    info = home.info()
    return None if info is None or written_here(reference_volume, info) else info


def written_here(reference_volume, info: DraftInfo) -> bool:
    """Whether this input wrote (or restored) the draft file ``info`` describes."""
    return info.digest == reference_volume.GetAttribute(DRAFT_FILE_ATTRIBUTE)


def restore_draft(reference_volume) -> Tuple[bool, str]:
    """Put the input's draft into the cartilage segment: ``(restored, message for the reader)``.

    Called when a model run of the input has just written its output. A draft
    that cannot be used (another grid, unreadable) is reported and left on
    disk; the model's output then stays. ``(False, "")`` when there is no draft.
    """
    home = draft_home_of(reference_volume)
    segmentation = result_nodes_of(reference_volume).segmentation if home else None
    if segmentation is None:
        return False, ""
    try:
        found = home.read()
    except (KneeT2Error, OSError, RuntimeError) as error:
        return False, _("The draft of {home} could not be read ({error}); the model's output is shown.").format(
            home=home.name, error=error)
    if found is None:
        return False, ""
    draft, info = found
    voxels = draft_on_input_grid(reference_volume, draft)
    if voxels is None:
        return False, _("The draft of {home} lies on another grid than this exam; it was not restored.").format(
            home=home.name)
    put_draft_in_segment(reference_volume, segmentation, voxels, info)
    if info.reader:
        text = _("Your draft of {home} (saved {saved} UTC by {reader}, {voxels} voxels) was restored over the "
                 "model's output; the model's output stays the original for the export.")
    else:
        text = _("Your draft of {home} (saved {saved} UTC, {voxels} voxels) was restored over the model's output; "
                 "the model's output stays the original for the export.")
    return True, text.format(home=home.name, saved=_saved(info), reader=info.reader, voxels=info.n_voxels)


def draft_on_input_grid(reference_volume, draft: Volume) -> Optional[Volume]:
    """A draft's voxels on the input's grid (as :func:`read_segment` gives the segment), or None when the draft
    lies on other voxels; the same voxels numbered otherwise (a case stored left-handed) are re-indexed."""
    grid = ijk_to_ras_of(reference_volume)
    shape_kji = tuple(reversed(reference_volume.GetImageData().GetDimensions()))
    voxels = reorder_onto(draft.array, draft.ijk_to_ras, grid, shape_kji)
    return None if voxels is None else Volume(voxels, grid)


def put_draft_in_segment(reference_volume, segmentation, voxels: Volume, info: DraftInfo) -> None:
    """Write a draft's voxels (on the input's grid) into the cartilage segment; the input now holds the draft file
    ``info`` describes (:func:`written_here`)."""
    write_segment(segmentation, segment_id_by_name(segmentation, CARTILAGE_SEGMENT_NAME), voxels)
    set_input_attribute(reference_volume, DRAFT_DIGEST_ATTRIBUTE, voxel_digest(voxels.array))  # as this grid lists them
    set_input_attribute(reference_volume, DRAFT_FILE_ATTRIBUTE, info.digest)


def discard_draft_of(reference_volume) -> str:
    """Discard the input's draft (the reader chose to replace their edits); the message ("" when there was none)."""
    home = draft_home_of(reference_volume)
    if home is None:
        return ""
    foreign = _foreign_draft(reference_volume, home)
    if foreign is not None:
        return _("Your draft of {home} (saved {saved} UTC) was not made in this scene, so it was kept; the next "
                 "model run puts it back.").format(home=home.name, saved=_saved(foreign))
    if not home.discard():
        return ""
    set_input_attribute(reference_volume, DRAFT_DIGEST_ATTRIBUTE, None)
    set_input_attribute(reference_volume, DRAFT_FILE_ATTRIBUTE, None)
    return _("The draft of {home} was discarded with the edits this run replaced.").format(home=home.name)


def discard_series_draft(reference_volume) -> bool:
    """Discard the input's draft in the user cache (its edits were just exported to a dataset); True when there
    was one. A draft another scene wrote is kept aside instead (``.superseded-<time>.nrrd``): it may hold
    corrections the export does not."""
    identity = _local_identity(reference_volume)
    if not identity:
        return False
    info = local_drafts.local_draft_info(identity)
    if info is not None and not written_here(reference_volume, info):
        return local_drafts.set_aside_local_draft(identity) is not None
    return local_drafts.discard_local_draft(identity)


def draft_note(reference_volume) -> str:
    """For the panel after choosing an input: whether a draft waits for the model run, or, for an input with a
    segment, one this scene did not write waits to be restored ("" when none)."""
    home = draft_home_of(reference_volume)
    info = home.info() if home is not None else None
    if info is None:
        return ""
    if result_nodes_of(reference_volume).segmentation is not None and not written_here(reference_volume, info):
        return _("A draft of your corrections of {home} (saved {saved} UTC) that this scene did not write is kept: "
                 "'Restore draft...' puts it into the segment (the segment as it is now is kept as a draft first)."
                 ).format(home=home.name, saved=_saved(info))
    return _("A draft of your corrections of {home} (saved {saved} UTC) will replace the model's output after "
             "'Segment & measure'.").format(home=home.name, saved=_saved(info))


def _saved(info: DraftInfo) -> str:
    """When a draft was saved, as the notes give it: "2026-05-02 14:03:11" (UTC)."""
    return info.saved.replace("T", " ")[:19]
