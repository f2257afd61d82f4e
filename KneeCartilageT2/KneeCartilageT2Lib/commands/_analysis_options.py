"""Arguments that choose how an exam is analysed, worded once for every command that analyses one.

``analyse``, ``batch`` and ``change`` (for exam inputs) take the same ``--model``, ``--device``,
``--t2-method``, ``--t2-range LOW,HIGH`` (ms) and ``--region-mode``, so that a choice made for one
exam can be made the same way for a cohort or a pair of visits; ``segment`` takes ``--model``,
``--device`` and ``--t2-range``, ``t2map`` ``--t2-range`` (its ``--method`` is also spelt
``--t2-method``, as ``regions --mode`` is ``--region-mode``), ``demo`` ``--device``, and ``next-case``
``--model`` and ``--device``.
:func:`analysis_options` turns them into the :class:`pipeline.AnalysisOptions` that the
analysis records in ``provenance.json``.
"""

from __future__ import annotations

import argparse
import math
import re
from typing import List, Sequence, Tuple

DEFAULT_T2_RANGE_MS = (0.0, 100.0)  # the same default as pipeline.AnalysisOptions and t2_fitting.fit_exam
REGION_MODES = ("improved", "reference")


def parse_t2_range(text: str) -> Tuple[float, float]:
    """``"0,100"`` -> ``(0.0, 100.0)`` ms (valid T2 satisfies LOW < T2 <= HIGH); an argparse error for
    anything else, so a mistyped range is refused before any exam is read, not after the fit."""
    try:
        low, high = (float(part) for part in text.replace(";", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("the T2 range must be LOW,HIGH in ms, e.g. 0,100; got %r" % text)
    if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high <= low:
        raise argparse.ArgumentTypeError("the T2 range must satisfy 0 <= LOW < HIGH (ms), e.g. 0,100; got %r" % text)
    return low, high


def add_t2_range_argument(parser: argparse.ArgumentParser, extra: str = "", default=DEFAULT_T2_RANGE_MS,
                          default_text: str = "0,100") -> None:
    """Add ``--t2-range LOW,HIGH`` (ms); ``extra`` ends its help (what else the range decides)."""
    parser.add_argument("--t2-range", type=parse_t2_range, default=default, metavar="LOW,HIGH",
                        help="valid T2 satisfies LOW < T2 <= HIGH ms (default %s); outside it a voxel's T2 "
                        "is invalid (0 in the T2 map)%s" % (default_text, extra))


_DASH_RANGE = re.compile(r"^-[^-].*[,;]")  # "-5,100": a range whose LOW starts with a minus sign


def attach_t2_range_values(argv: Sequence[str]) -> List[str]:
    """``argv`` with ``--t2-range -5,100`` written ``--t2-range=-5,100`` (also for an abbreviation argparse
    accepts, ``--t2-r -5,100``).

    argparse takes a word that starts with "-" and is no plain number for an option, so a negative LOW
    gave "expected one argument" instead of :func:`parse_t2_range`'s message (LOW must be >= 0). Words after
    ``--`` are left as they are."""
    words = list(argv)
    joined: List[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            joined.extend(words[index:])
            break
        if _names_t2_range(word) and index + 1 < len(words) and _DASH_RANGE.match(words[index + 1]):
            joined.append(word + "=" + words[index + 1])
            index += 2
            continue
        joined.append(word)
        index += 1
    return joined


def _names_t2_range(word: str) -> bool:
    """``--t2-range`` or a prefix of it that no other option shares (``--t2-r``; ``--t2-`` is also --t2-method)."""
    return len(word) > len("--t2-") and "--t2-range".startswith(word)


LABEL_RULE_TEXT = " and the T2 rule leaves it out of the cartilage label"
"""``extra`` of :func:`add_t2_range_argument` for commands that segment."""


def add_t2_method_argument(parser: argparse.ArgumentParser, what: str = "") -> None:
    """Add ``--t2-method`` (mono, loglinear or noise-floor; default mono, the reference pipeline's)."""
    from ..t2_fitting import METHODS

    parser.add_argument("--t2-method", default="mono", choices=METHODS,
                        help="T2 fit%s: mono (default: mono-exponential on echoes 2..N, the reference pipeline's), "
                        "loglinear or noise-floor (see `knee-t2 t2map --help`)" % what)


def add_region_mode_argument(parser: argparse.ArgumentParser, what: str = "") -> None:
    """Add ``--region-mode improved|reference`` (default improved)."""
    parser.add_argument("--region-mode", choices=REGION_MODES, default="improved",
                        help="subregion definition%s: improved (default: notch split, per-condyle sectors, normal "
                        "thickness) or reference (the primary paper's subregions)" % what)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--model NAME|PATH`` and ``--device`` (auto, cpu, cuda, cuda:N or mps)."""
    add_model_argument(parser)
    add_device_argument(parser)


def add_model_argument(parser: argparse.ArgumentParser, where: str = "") -> None:
    """Add ``--model NAME|PATH``, worded alike in every command that runs the network (``where`` names what it
    segments or scores, e.g. " for every scan")."""
    parser.add_argument("--model", default=None, metavar="NAME|PATH",
                        help="model%s: registry model name, imported model name (NAME for its newest version, "
                        "NAME@VERSION for one), or a .safetensors/.h5 file (default: the bundled trained model, "
                        "else the published reference model); see `knee-t2 models list`" % where)


def add_device_argument(parser: argparse.ArgumentParser, where: str = "") -> None:
    """Add ``--device`` (auto, cpu, cuda, cuda:N or mps): the same choices for every command that runs the
    network (``devices.select_device`` checks the device, ``devices.check_device_name`` only the name)."""
    parser.add_argument("--device", default="auto", metavar="DEVICE",
                        help="device for the network%s: auto (default: a working GPU, else the CPU), cpu, cuda, "
                        "cuda:N (GPU number N) or mps (Apple GPU)" % where)


def analysis_options(args: argparse.Namespace, laterality=None):
    """The :class:`pipeline.AnalysisOptions` the parsed arguments choose (absent ones keep their defaults)."""
    from ..pipeline import AnalysisOptions

    return AnalysisOptions(model=getattr(args, "model", None), device=getattr(args, "device", None) or "auto",
                           t2_method=getattr(args, "t2_method", None) or "mono",
                           t2_range_ms=tuple(getattr(args, "t2_range", None) or DEFAULT_T2_RANGE_MS),
                           region_mode=getattr(args, "region_mode", None) or "improved", laterality=laterality)
