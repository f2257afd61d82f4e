"""The panel's fixed choices (values the core understands, labels the reader sees) and option mapping.

Enumerations carry a ``label()`` so that Slicer's parameter-node combo-box
connector shows words (marked for Slicer's translation, ``_``) while the
scene stores the core's values. The
``*_from_parameters`` functions turn the parameter node (or any object with
the same attributes) into the workflow's inputs, so that the widget stays a
thin wiring layer and the mapping is tested headless.
"""

from __future__ import annotations

import enum
from typing import List, Optional, Tuple

from KneeCartilageT2Lib.errors import InputError

from .translation import tr as _
from .workflow import ExamInput, default_options


class KneeSide(enum.Enum):
    AUTO = "auto"
    RIGHT = "right"
    LEFT = "left"

    def label(self) -> str:
        return {"auto": _("From the data (estimated if absent)"), "right": _("Right knee"),
                "left": _("Left knee")}[self.value]


class ComputeDevice(enum.Enum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"

    def label(self) -> str:
        return {"auto": _("Automatic (GPU if it works, else CPU)"), "cpu": _("CPU only"),
                "cuda": _("NVIDIA GPU (CUDA)")}[self.value]


class T2Method(enum.Enum):
    MONO = "mono"
    LOGLINEAR = "loglinear"
    NOISE_FLOOR = "noise-floor"

    def label(self) -> str:
        return {"mono": _("Mono-exponential (paper)"), "loglinear": _("Log-linear (fast)"),
                "noise-floor": _("Noise-floor corrected")}[self.value]


class RegionMode(enum.Enum):
    IMPROVED = "improved"
    REFERENCE = "reference"

    def label(self) -> str:
        return {"improved": _("Anatomical (per-knee boundaries)"),
                "reference": _("Reference (paper, fixed angles)")}[self.value]


class NextCaseStrategy(enum.Enum):
    FIRST = "first"
    RANDOM = "random"
    UNCERTAIN = "uncertain"

    def label(self) -> str:
        return {"first": _("First unlabelled"), "random": _("Random unlabelled"),
                "uncertain": _("Least certain (runs the model)")}[self.value]


def _value(choice) -> str:
    return choice.value if isinstance(choice, enum.Enum) else str(choice)


def parse_echo_times(text: Optional[str]) -> Optional[List[float]]:
    """Echo times typed by the user ("10, 20, 30" ms); None for an empty field (take them from the data)."""
    if text is None or not str(text).strip():
        return None
    try:
        return [float(part) for part in str(text).replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise InputError(_("Echo times must be numbers in ms separated by commas (e.g. 10, 20, 30), got "
                           "{text!r}.").format(text=text))


def exam_input_from_parameters(parameters) -> ExamInput:
    """The analysed input: ``inputNode``, ``echoTimes`` (text, ms), ``side``."""
    return ExamInput(parameters.inputNode, parse_echo_times(parameters.echoTimes), _value(parameters.side))


def input_node_from_parameters(parameters):
    """The selected input node (``inputNode``) alone: what 'Next slice to check' reads (the segment of the input
    as it is now), so that a field it does not use ('Echo times', 'Valid T2') cannot stop it."""
    return parameters.inputNode


def saved_input_from_parameters(parameters) -> ExamInput:
    """What 'Save as DICOM' reads: the input node. The echo times are those its analysis recorded
    (:meth:`ExamInput.analysed_exam`), not the panel's field, which may have changed since; the field
    (``echoTimes``, read only then) serves an old scene whose analysis recorded none, of an input that stores
    none. The side plays no part in the files written."""
    return ExamInput(parameters.inputNode, echo_times_field=parameters.echoTimes)


def export_input_from_parameters(parameters) -> ExamInput:
    """What 'Accept & export' reads: the input node and ``side`` (the side stored with the case). The echo times
    are those its analysis recorded (:meth:`ExamInput.analysed_exam`), the ones the approved segment was made
    on (the ``echoTimes`` field only when neither the analysis nor the input has them, as for 'Save as DICOM');
    the analysis options ('Valid T2', model, ...) play no part."""
    return ExamInput(parameters.inputNode, None, _value(parameters.side), echo_times_field=parameters.echoTimes)


def options_from_parameters(parameters):
    """``AnalysisOptions`` from ``modelName``, ``device``, ``t2Method``, ``t2RangeLowMs``/``t2RangeHighMs``,
    ``regionMode``, ``side``."""
    side = _value(parameters.side)
    return default_options(model=parameters.modelName or None, device=_value(parameters.device),
                           t2_method=_value(parameters.t2Method), t2_range_ms=t2_range_from_parameters(parameters),
                           region_mode=_value(parameters.regionMode), laterality=None if side == "auto" else side)


def t2_range_from_parameters(parameters) -> Tuple[float, float]:
    """The valid T2 range ``(low, high]`` in ms set in the panel (0-100 ms for a scene saved before it existed).

    Checked here, before a worker starts, so a reversed range is one clear line in the panel
    rather than a failed analysis.
    """
    default_low, default_high = default_options().t2_range_ms
    low = float(getattr(parameters, "t2RangeLowMs", default_low))
    high = float(getattr(parameters, "t2RangeHighMs", default_high))
    if not (0.0 <= low < high):
        raise InputError(_("The valid T2 range must go from a lower to a higher value, both >= 0 ms (got {low:g} "
                           "to {high:g} ms): set 'Valid T2' under Model, e.g. 0 to 100 ms.").format(low=low, high=high))
    return (low, high)
