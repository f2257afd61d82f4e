"""The drafts kept for an input, listed and put back into its segment when the reader asks (no Qt).

Beside the input's draft (saved after each settled edit, :mod:`.case_drafts`),
earlier drafts of it may be kept as ``<name>.superseded-<time>.nrrd``: a draft
another scene wrote, set aside when this scene's edits took its place, or the
segment a restore replaced. :func:`kept_drafts` lists them, newest first;
:func:`restore_kept_draft` puts the chosen one into the input's cartilage
segment:

1. the file is read whole and checked (its voxels match its header's digest,
   it lies on the input's voxels) before anything changes: a file that cannot
   be used is refused with the scene and the drafts as they were;
2. the Segment Editor's undo state is saved (:class:`UndoPoint`), so Undo
   brings back the segment as it was;
3. nothing is lost: the input's draft is set aside, and the segment on screen
   is kept as a set-aside draft too (unless that draft held it already, or it
   is empty, or it is the model's output unchanged, which stays in the scene
   as the original);
4. the chosen draft becomes the input's draft and the segment's voxels;
5. its set-aside copy (the chosen file, or the input's draft set aside in step 3
   when that was the one chosen) is then removed, so the same corrections are
   not listed twice; only once the input's draft has been written and read back
   holding the same voxels, and the copy read back holds them too: if either
   check fails the copy stays.

The panel then re-measures as after an edit
(:meth:`module_actions.ModuleActions.restore_kept_draft`). The list's
entries, notes and errors are marked for Slicer's translation (``_``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Protocol, Tuple

import numpy as np

from KneeCartilageT2Lib.draft_files import DraftInfo, read_draft_file, remove_draft_file, voxel_digest
from KneeCartilageT2Lib.errors import InputError, KneeT2Error

from .case_drafts import (DRAFT_DIGEST_ATTRIBUTE, DraftHome, draft_home_of, draft_on_input_grid, put_draft_in_segment,
                          written_here)
from .readback import model_label_of, result_nodes_of
from .segmentation_nodes import CARTILAGE_SEGMENT_NAME, read_segment, segment_id_by_name
from .translation import tr as _

SET_ASIDE_MARK = ".superseded-"  # in the name of a draft set aside (draft_files.set_aside_draft_file)


class UndoPoint(Protocol):
    """What saves the segmentation's state so that Undo can return to it: the panel's qMRMLSegmentEditorWidget."""

    def saveStateForUndo(self) -> None:
        ...


@dataclass(frozen=True)
class KeptDraft:
    """One draft kept for an input: its file, what its header says, and whether it is the input's draft (else one
    set aside)."""

    path: Path
    info: DraftInfo
    current: bool

    def label(self) -> str:
        """How the panel lists it: "2024-05-02 14:03:11 UTC by AB, 5321 voxels (set aside)"."""
        which = _("the current draft") if self.current else _("set aside")
        text = _("{saved} UTC by {reader}, {voxels} voxels ({which})") if self.info.reader else \
            _("{saved} UTC, {voxels} voxels ({which})")
        return text.format(saved=_when(self.info), reader=self.info.reader, voxels=self.info.n_voxels, which=which)


def kept_drafts(reference_volume) -> List[KeptDraft]:
    """The drafts kept for this input (its draft and those set aside), newest first; [] for none."""
    home = draft_home_of(reference_volume) if reference_volume is not None else None
    if home is None:
        return []
    return [KeptDraft(path, info, SET_ASIDE_MARK not in path.name) for path, info in home.kept()]


def restore_kept_draft(reference_volume, path, reader: Optional[str] = None, undo: Optional[UndoPoint] = None) -> str:
    """Put the kept draft at ``path`` into the input's cartilage segment (see the module's steps); the panel's note.

    Raises :class:`InputError`, changing nothing, when the input has no segment
    to restore into, ``path`` is no draft kept for it, or the file cannot be
    read, is damaged or lies on another grid.
    """
    home = draft_home_of(reference_volume) if reference_volume is not None else None
    segmentation = result_nodes_of(reference_volume).segmentation if home is not None else None
    if segmentation is None:
        raise InputError(_("There is no segment to restore a draft into: press 'Segment & measure' first (it puts "
                           "the input's draft back by itself)."))
    segment_id_by_name(segmentation, CARTILAGE_SEGMENT_NAME)  # a removed or renamed segment is named now, not later
    chosen = next((draft for draft in kept_drafts(reference_volume) if draft.path == Path(path)), None)
    if chosen is None:
        raise InputError(_("{file} is no draft kept for {home}; choose one of the drafts listed for it.").format(
            file=path, home=home.name))
    voxels = _read_onto_input(reference_volume, chosen)
    on_screen = read_segment(segmentation, reference_volume)
    if np.array_equal(np.asarray(on_screen.array) > 0, np.asarray(voxels.array) > 0):
        return _("The segment already holds the draft saved {saved} UTC: nothing was changed.").format(
            saved=_when(chosen.info))
    if undo is not None:
        undo.saveStateForUndo()
    replaced, draft_aside = _keep_what_is_there(reference_volume, home, on_screen, reader)
    info = home.save(voxels, chosen.info.reader or reader)
    put_draft_in_segment(reference_volume, segmentation, voxels, info)
    copy = draft_aside if chosen.current else chosen.path  # the chosen voxels, in a second file now
    removed = _remove_copy_held_by_draft(reference_volume, home, voxels, copy)
    if draft_aside is not None and not (chosen.current and removed):
        replaced += " " + _("The draft that was current is kept as {file}.").format(file=draft_aside)
    text = _("Draft of {home} saved {saved} UTC by {reader} ({voxels} voxels) restored into the segment.") \
        if chosen.info.reader else _("Draft of {home} saved {saved} UTC ({voxels} voxels) restored into the segment.")
    if removed and not chosen.current:
        replaced += " " + _("The restored draft is the current draft now; its set-aside copy was removed.")
    return text.format(home=home.name, saved=_when(chosen.info), reader=chosen.info.reader,
                       voxels=chosen.info.n_voxels) + " " + replaced


def _remove_copy_held_by_draft(reference_volume, home: DraftHome, voxels, copy: Optional[Path]) -> bool:
    """Remove ``copy`` (the set-aside draft that should hold ``voxels``) once both it and the input's draft, read
    back from their files, hold exactly ``voxels``; True when removed. Any doubt keeps it (a file unreadable,
    damaged, other voxels: another scene of the series may have written the draft just before it was set aside,
    and the copy then holds that scene's corrections): a duplicate costs a file, a lost copy the reader's work."""
    if copy is None or not Path(copy).is_file():
        return False
    if not (_holds(reference_volume, home.read, voxels)
            and _holds(reference_volume, lambda: read_draft_file(Path(copy)), voxels)):
        return False
    return remove_draft_file(Path(copy))


def _holds(reference_volume, read, voxels) -> bool:
    """Whether the draft ``read()`` returns (``(Volume, DraftInfo)`` or None) lies on the input's voxels and marks
    exactly ``voxels``; False when it cannot be read."""
    try:
        found = read()
    except (KneeT2Error, OSError, RuntimeError, ValueError):
        return False
    on_grid = draft_on_input_grid(reference_volume, found[0]) if found is not None else None
    return on_grid is not None and np.array_equal(np.asarray(on_grid.array) > 0, np.asarray(voxels.array) > 0)


def _read_onto_input(reference_volume, chosen: KeptDraft):
    """The chosen draft's voxels on the input's grid; InputError when the file cannot be used."""
    try:
        found = read_draft_file(chosen.path)
    except (KneeT2Error, OSError, RuntimeError, ValueError) as error:
        raise InputError(_("The draft {file} could not be read ({error}); nothing was changed.").format(
            file=chosen.path, error=_last_line(error)))
    if found is None:
        raise InputError(_("The draft {file} is damaged (its voxels do not match its header); nothing was "
                           "changed.").format(file=chosen.path))
    voxels = draft_on_input_grid(reference_volume, found[0])
    if voxels is None:
        raise InputError(_("The draft {file} lies on another grid than this exam; nothing was changed.").format(
            file=chosen.path))
    return voxels


def _keep_what_is_there(reference_volume, home: DraftHome, on_screen,
                        reader: Optional[str]) -> Tuple[str, Optional[Path]]:
    """Set the input's draft aside and keep the segment on screen as a set-aside draft: ``(note saying where the
    segment is kept, where the input's draft was set aside)``; the second is None when there was no draft or its
    set-aside file is the one keeping the segment on screen."""
    mask = np.asarray(on_screen.array) > 0
    draft = home.info()
    draft_holds_screen = (draft is not None and written_here(reference_volume, draft)
                          and reference_volume.GetAttribute(DRAFT_DIGEST_ATTRIBUTE) == voxel_digest(mask))
    draft_aside = home.set_aside() if draft is not None else None
    original = model_label_of(reference_volume)
    if draft_holds_screen:
        screen_kept = draft_aside
    elif not mask.any():
        screen_kept, note = None, _("The segment it replaced was empty.")
    elif original is not None and np.array_equal(np.asarray(original.array) > 0, mask):
        screen_kept, note = None, _("The segment it replaced was the model's output, kept in the scene as the "
                                    "original.")
    else:
        home.save(on_screen.with_array(mask.astype(np.uint8)), reader)
        screen_kept = home.set_aside()
    if screen_kept is not None:
        note = _("The segment it replaced is kept as the draft {file} (Undo, or restoring that draft, brings it "
                 "back).").format(file=screen_kept)
    return note, (draft_aside if draft_aside != screen_kept else None)


def _last_line(error: Exception) -> str:
    """The line of a reader's error that says what is wrong (ITK's messages end with it, after the call stack)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip() not in ("", ")")]
    return lines[-1] if lines else type(error).__name__


def _when(info: DraftInfo) -> str:
    return info.saved.replace("T", " ").rstrip("Z")[:19]
