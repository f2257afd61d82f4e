"""The ``knee-t2`` command line: one sub-command per module in :mod:`commands`.

Each module in ``KneeCartilageT2Lib/commands/`` defines ``register(subparsers)``
which adds its parser and sets ``handler`` (a function ``args -> int``).
Errors this package raises on purpose (:class:`KneeT2Error`) and file-system
errors on the paths a user gave (``OSError``: missing folder, permissions,
full disk) print as one clear line and exit with status 2; anything else is
a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
from typing import List, Optional

from . import __version__, commands
from .errors import KneeT2Error


class KneeT2Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that lets ``--t2-range`` take a value starting with a minus sign
    (:func:`commands._analysis_options.attach_t2_range_values`), so that ``--t2-range -5,100`` gets the
    range's own message; the sub-command parsers are of this class too."""

    def parse_known_args(self, args=None, namespace=None):
        from .commands._analysis_options import attach_t2_range_values

        words = sys.argv[1:] if args is None else args
        return super().parse_known_args(attach_t2_range_values(words), namespace)


def build_parser() -> argparse.ArgumentParser:
    """The ``knee-t2`` parser with one sub-command per module of :mod:`commands` (``_`` modules excluded)."""
    parser = KneeT2Parser(
        prog="knee-t2",
        description="Quantitative knee cartilage MRI: femoral cartilage segmentation, T2 maps, "
        "subregional T2 and thickness, longitudinal change, cohorts.",
    )
    parser.add_argument("--version", action="version", version="knee-t2 %s" % __version__)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module("%s.%s" % (commands.__name__, module_info.name))
        if hasattr(module, "register"):
            module.register(subparsers)
    for command_parser in set(subparsers.choices.values()):
        command_parser.description = plain_help(command_parser.description)
        for group in command_parser._action_groups:
            group.description = plain_help(group.description)
    return parser


_ROLE = re.compile(r":(?:mod|func|class|data|meth|attr):`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def plain_help(text: Optional[str]) -> Optional[str]:
    """Help text as a terminal shows it: reStructuredText marks of the docstrings made plain.

    The command modules' docstrings are their ``--help`` descriptions; Sphinx roles
    (``:mod:`X```) and double-backquoted literals read as noise there, so both
    become the single-backquoted names the help texts use elsewhere (`knee-t2 batch`).
    """
    if not text:
        return text
    return _LITERAL.sub(r"`\1`", _ROLE.sub(r"`\1`", text))


def main(argv: Optional[List[str]] = None) -> int:
    """Run ``knee-t2`` with ``argv``; returns the exit status (2: an error of ours, printed as one line)."""
    try:
        parser = build_parser()  # imports every command module: Ctrl-C often lands here, at the start
    except KeyboardInterrupt:
        print("knee-t2: interrupted", file=sys.stderr)
        return 130
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 1
    try:
        return int(handler(args) or 0)
    except KneeT2Error as error:
        print("knee-t2 %s: error: %s" % (args.command, error), file=sys.stderr)
        return 2
    except OSError as error:  # a path the user gave cannot be read or written (missing, permissions, disk full)
        print("knee-t2 %s: error: %s. Check the path, its permissions and the free disk space."
              % (args.command, error), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("knee-t2 %s: interrupted" % args.command, file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
