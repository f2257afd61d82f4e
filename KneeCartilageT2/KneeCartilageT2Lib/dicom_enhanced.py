"""Frames of enhanced (multi-frame) MR DICOM objects, read as slice images.

Enhanced MR Image Storage (how Philips and Siemens XA scanners often export
a MESE series) and Legacy Converted Enhanced MR Image Storage keep a whole
series, or one echo, in one file. The facts a slice stack needs are in
functional groups (DICOM PS3.3 C.7.6.16), per frame in
PerFrameFunctionalGroupsSequence or once for every frame in
SharedFunctionalGroupsSequence:

* PlanePositionSequence > ImagePositionPatient, PlaneOrientationSequence >
  ImageOrientationPatient, PixelMeasuresSequence > PixelSpacing,
  SliceThickness, SpacingBetweenSlices (LPS, mm);
* MREchoSequence > EffectiveEchoTime (ms); a legacy converted object keeps
  the original EchoTime in Unassigned{PerFrame,Shared}ConvertedAttributesSequence;
* PixelValueTransformationSequence > RescaleSlope, RescaleIntercept (may
  differ per frame, so each frame is rescaled with its own); Philips' private
  MR Scale Slope from the frame's private sequence (:mod:`dicom_philips`);
* FrameAnatomySequence > FrameLaterality.

Each frame becomes an :class:`EnhancedFrame`: a
:class:`~KneeCartilageT2Lib.dicom_files.DicomImage` whose header values are
looked up in its own functional groups first, then in the shared ones, then
in the top-level dataset. The loader then orders, checks and stacks frames
exactly as it does classic single-frame files. A file's pixel data is
decoded once and shared by its frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .dicom_files import DicomImage, decoded_pixels
from .errors import InputError


def is_enhanced(dataset) -> bool:
    """True for a multi-frame object with functional groups (enhanced or legacy converted)."""
    return "PerFrameFunctionalGroupsSequence" in dataset


def enhanced_frames(path: Path, dataset) -> List["EnhancedFrame"]:
    """One :class:`EnhancedFrame` per frame of ``dataset``, in stored frame order.

    Raises ValueError (reported by the folder scan as unreadable geometry)
    when the functional groups do not describe every frame.
    """
    count = int(dataset.get("NumberOfFrames", 1) or 1)
    per_frame = dataset.PerFrameFunctionalGroupsSequence
    if len(per_frame) != count:
        raise ValueError("PerFrameFunctionalGroupsSequence has %d items for %d frames" % (len(per_frame), count))
    shared_groups = dataset.get("SharedFunctionalGroupsSequence")
    shared = _group_values(shared_groups[0]) if shared_groups else {}
    pixels = _SharedPixels(path, dataset, count)
    shared_item = shared_groups[0] if shared_groups else None
    return [EnhancedFrame(path, dataset, index, dict(shared, **_group_values(item)), pixels, (item, shared_item))
            for index, item in enumerate(per_frame)]


class EnhancedFrame(DicomImage):
    """Frame ``index`` (0-based) of an enhanced multi-frame object, as one slice image."""

    ECHO_TIME_KEYWORDS = ("EffectiveEchoTime", "EchoTime")

    def __init__(self, path: Path, dataset, index: int, group_values: Dict[str, Any], pixels: "_SharedPixels",
                 group_items: Tuple[Any, Any] = (None, None)) -> None:
        self.frame_index = index
        self._group_values = group_values
        self._group_items = group_items
        self._pixels = pixels
        super().__init__(path, dataset)
        self.sop_instance_uid = "%s frame %d" % (self.sop_instance_uid, index + 1)

    def attribute(self, keyword: str) -> Any:
        """The frame's own functional groups, then the shared ones, then the top-level dataset."""
        if keyword in self._group_values:
            return self._group_values[keyword]
        return self.dataset.get(keyword)

    def _scale_slope_sources(self) -> List[Tuple[Any, bool]]:
        """This frame's groups (Philips nests the scale in a private sequence), the shared ones, the top level."""
        frame_item, shared_item = self._group_items
        return [(frame_item, True), (shared_item, True), (self.dataset, False)]

    @property
    def display_name(self) -> str:
        return "%s/%s frame %d" % (self.path.parent.name, self.path.name, self.frame_index + 1)

    def stored_pixels(self) -> np.ndarray:
        """The stored pixel values (rows, cols) of this frame."""
        return self._pixels.frame(self.frame_index, self.shape)


class _SharedPixels:
    """A file's decoded pixel data, decoded on first use and shared by its frames."""

    def __init__(self, path: Path, dataset, count: int) -> None:
        self.path = path
        self.dataset = dataset
        self.count = count
        self._frames: Optional[np.ndarray] = None

    def frame(self, index: int, shape: tuple) -> np.ndarray:
        if self._frames is None:
            frames = decoded_pixels(self.dataset, self.path)
            frames = frames[None] if frames.ndim == 2 else frames
            if frames.shape != (self.count,) + tuple(shape):
                raise InputError("%s holds pixel data of shape %s but its header says %d frames of %dx%d; the file "
                                 "is corrupt." % (self.path, frames.shape, self.count, shape[0], shape[1]))
            self._frames = frames
        return self._frames[index]


def _group_values(groups_item) -> Dict[str, Any]:
    """``{keyword: value}`` of the attributes inside one functional groups item.

    Each functional group is a sequence of one item (e.g. PlanePositionSequence
    holding ImagePositionPatient); their attributes are gathered into one
    mapping. Attributes directly in the item are kept as they are.
    """
    values: Dict[str, Any] = {}
    for element in groups_item:
        keyword = element.keyword
        if not keyword:
            continue
        if element.VR == "SQ":
            if len(element.value):
                for inner in element.value[0]:
                    if inner.keyword and inner.VR != "SQ":
                        values.setdefault(inner.keyword, inner.value)
        else:
            values.setdefault(keyword, element.value)
    return values
