"""Loading and saving nodes without ``slicer.app``.

``slicer.util.loadVolume``/``saveNode`` go through the application's IO
manager (Qt). These equivalents call the module logics and storage nodes
directly, so they behave the same in Slicer, in a PythonSlicer script and in
the headless test harness. Failures raise :class:`InputError` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import slicer

from KneeCartilageT2Lib.errors import InputError

from .mrml_helpers import module_logic

LOAD_AS_LABELMAP = 1
LOAD_SINGLE_FILE = 4


def _messages_text(messages) -> str:
    text = messages.GetAllMessagesAsString() if messages is not None else ""
    return (" " + text.strip()) if text and text.strip() else ""


def load_volume(path, name: str = "", labelmap: bool = False):
    """Load a NRRD/NIfTI/... volume into ``slicer.mrmlScene`` (via the Volumes logic); returns the node."""
    path = Path(path)
    if not path.is_file():
        raise InputError("Volume file not found: %s" % path)
    options = LOAD_SINGLE_FILE | (LOAD_AS_LABELMAP if labelmap else 0)
    messages = slicer.vtkMRMLMessageCollection()
    node = module_logic("volumes").AddArchetypeVolume(str(path), name or _stem(path), options, None, messages)
    if node is None:
        raise InputError("Cannot load %s as a volume.%s" % (path, _messages_text(messages)))
    return node


def load_segmentation(path, name: str = ""):
    """Load a ``.seg.nrrd`` (or labelmap) file as a segmentation node (via the Segmentations logic)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("Segmentation file not found: %s" % path)
    messages = slicer.vtkMRMLMessageCollection()
    node = module_logic("segmentations").LoadSegmentationFromFile(str(path), True, name or _stem(path), None, messages)
    if node is None:
        raise InputError("Cannot load %s as a segmentation.%s" % (path, _messages_text(messages)))
    return node


def save_node(node, path) -> Path:
    """Write a storable node to ``path`` (format by suffix) without adding a storage node to the scene."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = node.CreateDefaultStorageNode()
    if storage is None:
        raise InputError("'%s' cannot be saved to a file." % node.GetName())
    storage.UnRegister(None)  # a new reference from C++: Python owns the only one now
    storage.SetFileName(str(path))
    if hasattr(storage, "SetUseCompression"):
        storage.SetUseCompression(True)
    if not storage.WriteData(node) or not os.path.isfile(str(path)):
        raise InputError("Could not write '%s' to %s; check the folder is writable." % (node.GetName(), path))
    return path


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".seg.nrrd", ".nii.gz", ".nrrd", ".nhdr", ".nii", ".mha", ".mhd"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem
