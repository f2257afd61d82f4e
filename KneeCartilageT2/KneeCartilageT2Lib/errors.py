"""Exceptions with messages written for the person who has to act on them.

Every error raised for bad input names the problem and what to do about it,
so the CLI can print it as one line and Slicer can show it in a dialog
instead of a traceback.
"""

from __future__ import annotations


class KneeT2Error(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(KneeT2Error):
    """The input data cannot be used (wrong form, inconsistent, missing parts)."""


class NoCartilageFoundError(KneeT2Error):
    """Segmentation left too little cartilage to measure anything."""


class ModelError(KneeT2Error):
    """A model or weights file is unknown, corrupt, or does not match its metadata."""


class OperationCancelled(KneeT2Error):
    """The user cancelled a long-running operation; nothing was written."""
