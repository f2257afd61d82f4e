"""Echo times (ms) that 3D Slicer writes into the header of a 4D NRRD: a sequence's index values or a MultiVolume's
frame labels.

* A volume sequence (``*.seq.nrrd``, as :func:`echo_stack_io.write_echo_stack`
  and Slicer's Sequences module write it) labels its echo axis ``EchoTime``
  (``labels``) and lists the times in ``axis <n> index values:=TE1 TE2 ...``
  in that axis's ``units``.
* A MultiVolume (MultiVolumeImporter / MultiVolumeExplorer) keeps one label
  per frame in ``MultiVolume.FrameLabels``, with the DICOM tag that tells the
  frames apart and its units; frames told apart by anything but echo time are
  refused.

``header`` is a :class:`~KneeCartilageT2Lib.nrrd_header.NrrdHeader`; axis
numbers are NRRD's (axis 0 is the fastest-varying one).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .errors import InputError
from .nrrd_header import NrrdHeader

_TIME_SCALE_TO_MS = {"s": 1000.0, "sec": 1000.0, "seconds": 1000.0, "ms": 1.0, "msec": 1.0, "milliseconds": 1.0,
                     "": 1.0}


def header_echo_times(header: NrrdHeader, axis: int) -> Optional[np.ndarray]:
    """Echo times (ms) of the echo axis ``axis`` from a 3D Slicer sequence header, in file order; None if absent.

    Read only when the axis is labelled as an echo time (``labels`` entry
    containing "echo"): ``axis <axis> index values:=TE1 TE2 ...`` in the
    axis's ``units`` (ms when none; s converted to ms).
    """
    labels, units = header.per_axis("labels"), header.per_axis("units")
    if labels is None or "echo" not in labels[axis].lower():
        return None
    unit = units[axis].strip().lower() if units is not None else "ms"
    if unit not in _TIME_SCALE_TO_MS:
        raise InputError("%s: the echo times of this sequence file are in %r; give them in ms (or s)."
                         % (header.path, unit))
    text = header.key_values.get("axis %d index values" % axis)
    if text is None:
        return None
    try:
        values = np.array([float(value) for value in text.split()], dtype=np.float64)
    except ValueError:
        return None
    return values * _TIME_SCALE_TO_MS[unit]


# 3D Slicer's MultiVolume NRRD (MultiVolumeImporter / MultiVolumeExplorer, "Save" of a multi-volume node) keeps
# one label per frame in these key/values, with the DICOM tag that tells the frames apart and its units.
MULTIVOLUME_LABELS_KEY = "MultiVolume.FrameLabels"
MULTIVOLUME_TAG_KEY = "MultiVolume.FrameIdentifyingDICOMTagName"
MULTIVOLUME_UNITS_KEY = "MultiVolume.FrameIdentifyingDICOMTagUnits"
# The tag names that mean echo time: as MultiVolumeImporter writes it, and as the Slicer module accepts it
# (KneeCartilageT2SlicerLib.exam_from_nodes._frame_label_times).
ECHO_TIME_TAG_NAMES = ("echotime", "echo time", "0018,0081", "0018|0081")


def multivolume_echo_times(header: NrrdHeader) -> Optional[np.ndarray]:
    """Echo times (ms) of a 3D Slicer MultiVolume NRRD, one per frame in file order; None without frame labels.

    ``MultiVolume.FrameLabels:=6.3,12.6,...`` are read as echo times when
    ``MultiVolume.FrameIdentifyingDICOMTagName`` is ``EchoTime`` (or absent,
    as the Slicer module reads a multi-volume node), in the units of
    ``MultiVolume.FrameIdentifyingDICOMTagUnits`` (ms when absent; s is
    converted to ms). Frames told apart by another tag (``TriggerTime`` of a
    DCE or cine series, ``FlipAngle``, ...) are no echoes of a MESE series:
    refused, since their labels are not echo times and the file is likely not
    a T2-mapping series. Labels that are not numbers or units that are not a
    time are refused too, rather than fitted with wrong echo times.
    """
    text = header.key_values.get(MULTIVOLUME_LABELS_KEY)
    if text is None:
        return None
    tag = header.key_values.get(MULTIVOLUME_TAG_KEY, "").strip()
    if tag and tag.lower() not in ECHO_TIME_TAG_NAMES:
        raise InputError(
            "%s is a 3D Slicer multi-volume whose frames are told apart by %s (`%s:=%s`), not by echo time: it looks "
            "like %s series, not a multi-echo spin-echo (MESE) T2-mapping series, and its frame labels are no echo "
            "times. Give the MESE series; if this file really holds one echo per frame, give the echo times with "
            "--echo-times TE1,TE2,... (ms)." % (header.path, tag, MULTIVOLUME_TAG_KEY, tag, _series_kind(tag)))
    unit = header.key_values.get(MULTIVOLUME_UNITS_KEY, "").strip().lower()
    if unit not in _TIME_SCALE_TO_MS:
        raise InputError("%s: the echo times of this multi-volume (`%s`) are in %r (`%s`); they must be in ms (or s). "
                         "Give them with --echo-times TE1,TE2,... (ms)."
                         % (header.path, MULTIVOLUME_LABELS_KEY, unit, MULTIVOLUME_UNITS_KEY))
    try:
        values = np.array([float(part) for part in text.replace(";", ",").split(",") if part.strip()],
                          dtype=np.float64)
    except ValueError:
        raise InputError("%s: `%s:=%s` is not a comma-separated list of echo times; give them with --echo-times "
                         "TE1,TE2,... (ms)." % (header.path, MULTIVOLUME_LABELS_KEY, text.strip()))
    return values * _TIME_SCALE_TO_MS[unit]


def _series_kind(tag: str) -> str:
    """The kind of series, with its article, that a multi-volume whose frames differ in DICOM tag ``tag`` probably
    is (for a refusal message): a DCE/cine series for a time tag, a T1-mapping series for flip angle, TI or TR."""
    lower = tag.lower().replace(" ", "")
    if lower in ("triggertime", "0018,1060", "0018|1060", "contenttime", "acquisitiontime", "seriestime"):
        return "a dynamic (DCE, perfusion or cine)"
    if lower in ("flipangle", "0018,1314", "0018|1314"):
        return "a variable flip angle (T1 mapping)"
    if lower in ("inversiontime", "0018,0082", "0018|0082"):
        return "an inversion-recovery (T1 mapping)"
    if lower in ("repetitiontime", "0018,0080", "0018|0080"):
        return "a variable repetition time (T1 mapping)"
    return "another kind of"
