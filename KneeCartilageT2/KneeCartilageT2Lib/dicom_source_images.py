"""The images a DICOM file holds, as ``knee-t2 to-dicom`` matches them to a result's slices.

A classic file is one image: its header is used as it is. An enhanced
multi-frame MR object (:mod:`dicom_enhanced`; one file may hold the whole
MESE series, and the exam loader reads such a file named on its own) is one
image per frame: a :class:`FrameHeader` answers ``get`` with the frame's own
functional groups, then the shared ones, then the top-level dataset, exactly
as the loader reads the frame (EchoTime is the frame's EffectiveEchoTime, or
the EchoTime kept in a legacy converted object). A derived image refers to a
frame by the object's SOP instance and the frame number (DICOM counts frames
from 1: ReferencedFrameNumber).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple, Optional

from .dicom_enhanced import EnhancedFrame, enhanced_frames, is_enhanced

_LATERALITY_CODES = ("R", "L")  # FrameLaterality may also say B (both) or U (unpaired): no Laterality of a series


class ImageReference(NamedTuple):
    """What a derived image's SourceImageSequence item names: SOP class and instance, and the frame (1-based)
    of a multi-frame object (None for a single-frame image)."""

    sop_class_uid: str
    sop_instance_uid: str
    frame_number: Optional[int] = None


class FrameHeader:
    """One frame of an enhanced multi-frame object, read like a classic image's header (``get(keyword)``)."""

    def __init__(self, frame: EnhancedFrame) -> None:
        self.frame = frame

    def get(self, keyword: str, default: Any = None) -> Any:
        if keyword == "EchoTime":
            value = self.frame.echo_time_ms
        elif keyword == "Laterality":
            value = self.frame.attribute("Laterality") or _side_code(self.frame.attribute("FrameLaterality"))
        else:
            value = self.frame.attribute(keyword)
        return default if value is None else value

    @property
    def reference(self) -> ImageReference:
        dataset = self.frame.dataset
        return ImageReference(str(dataset.SOPClassUID), str(dataset.SOPInstanceUID), self.frame.frame_index + 1)


def read_source_images(path: Path) -> list:
    """The image headers of the DICOM file ``path``: ``[header]`` for a classic file, one :class:`FrameHeader` per
    frame of an enhanced object; ``[]`` for a file that is not DICOM or an enhanced object without frame geometry."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        header = pydicom.dcmread(str(path), stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, TypeError, AttributeError, EOFError):
        return []
    if not is_enhanced(header):
        return [header]
    try:
        return [FrameHeader(frame) for frame in enhanced_frames(Path(path), header)]
    except (ValueError, TypeError, AttributeError, KeyError):
        return []  # the loader skips it too ("unreadable geometry"): it cannot have been analysed


def image_reference(header) -> ImageReference:
    """The reference to one image returned by :func:`read_source_images`."""
    if isinstance(header, FrameHeader):
        return header.reference
    return ImageReference(str(header.SOPClassUID), str(header.SOPInstanceUID))


def is_enhanced_file(path: Path) -> bool:
    """Whether ``path`` is an enhanced (multi-frame, functional groups) DICOM object."""
    images = read_source_images(path)
    return bool(images) and isinstance(images[0], FrameHeader)


def _side_code(value) -> Optional[str]:
    code = str(value or "").strip().upper()
    return code if code in _LATERALITY_CODES else None
