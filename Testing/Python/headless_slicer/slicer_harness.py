"""A headless Slicer for tests: slicer-core's real MRML scene and module logics, without Qt.

``slicer-core`` (PyPI) is Slicer's C++ core without the application: it has the
MRML scene, the storage nodes and the module logics, but no ``slicer.app``,
``slicer.mrmlScene``, ``slicer.modules``, ``slicer.ScriptedLoadableModule`` and
no Qt. This harness supplies the missing pieces so that the module file
``KneeCartilageT2.py`` imports unchanged and its Logic and Test classes run
against a real scene:

* :class:`HeadlessSlicer` builds a scene, ``vtkSlicerApplicationLogic`` and the
  Colors, Volumes, Segmentations, Markups, Sequences, Tables, Plots and Subject
  hierarchy logics, registered with ``SetModuleLogic`` the way the application
  does, and assigns ``slicer.mrmlScene``; ``slicer.modules.<name>.logic()``
  returns them.
* :func:`install_slicer_stand_ins` provides a Qt-free
  ``slicer.ScriptedLoadableModule`` whose Module/Logic/Test base classes
  behave like Slicer's own (parameter node, ``runTest`` discovery, icon
  lookup) and ``slicer.i18n``; ``qt``/``ctk`` and ``slicer.q*`` names import but
  raise :class:`HeadlessQtError` as soon as they are used, so a test can never
  pass by silently skipping GUI code.

Inside a real Slicer nothing here is installed: the stand-ins are only added
when ``qt`` cannot be imported.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import sys
import tempfile
import types
import unittest
from typing import Dict, Optional

import slicer
import vtk
from vtkmodules.vtkCommonCore import vtkCollection

QT_MODULES = ("qt", "ctk", "ctkqt")
MODULE_LOGIC_CLASSES = (
    # (name in slicer.modules, name given to SetModuleLogic, class)
    ("data", "Data", "vtkSlicerDataModuleLogic"),  # removes display/storage nodes with their node, as in Slicer
    ("volumes", "Volumes", "vtkSlicerVolumesLogic"),
    ("segmentations", "Segmentations", "vtkSlicerSegmentationsModuleLogic"),
    ("markups", "Markups", "vtkSlicerMarkupsLogic"),
    ("sequences", "Sequences", "vtkSlicerSequencesLogic"),
    ("tables", "Tables", "vtkSlicerTablesLogic"),
    ("plots", "Plots", "vtkSlicerPlotsLogic"),
    ("subjecthierarchy", "SubjectHierarchy", "vtkSlicerSubjectHierarchyModuleLogic"),
)


class HeadlessQtError(RuntimeError):
    """Raised when code under the headless harness touches Qt, which slicer-core does not have."""


def _raise_qt(name: str):
    raise HeadlessQtError(
        "'%s' needs Qt, which the headless slicer-core harness does not have. Keep GUI code in the "
        "Widget and test it in real Slicer; the Logic must not use Qt." % name
    )


class _QtNamespace(types.ModuleType):
    """An importable ``qt``/``ctk`` whose every attribute raises :class:`HeadlessQtError`."""

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        _raise_qt("%s.%s" % (self.__name__, name))


def _slicer_qt_getattr(name: str):
    """Module ``__getattr__`` for ``slicer``: qMRML*/qSlicer* widgets raise, anything else is missing."""
    if name.startswith(("qMRML", "qSlicer")):
        _raise_qt("slicer." + name)
    raise AttributeError("module 'slicer' has no attribute %r" % name)


class _ModuleStandIn:
    """What ``slicer.modules.<name>`` offers headless: the module's logic and its name."""

    def __init__(self, name: str, logic) -> None:
        self.name = name
        self._logic = logic

    def logic(self):
        return self._logic

    def widgetRepresentation(self):
        _raise_qt("slicer.modules.%s.widgetRepresentation()" % self.name)


def _write_generic_colors(folder: str) -> None:
    """A small ``GenericColors.txt``: Slicer's default labelmap colour table is read from this file.

    slicer-core ships no colour files; without it every labelmap display node
    warns that its colour table is missing.
    """
    os.makedirs(folder, exist_ok=True)
    rows = ["0 background 0 0 0 0"]
    palette = [(128, 174, 128), (241, 214, 145), (177, 122, 101), (111, 184, 210), (216, 101, 79),
               (221, 130, 101), (144, 238, 144), (192, 104, 88), (220, 245, 20), (78, 63, 0)]
    rows += ["%d label_%d %d %d %d 255" % (index, index, *rgb) for index, rgb in enumerate(palette, start=1)]
    with open(os.path.join(folder, "GenericColors.txt"), "w") as handle:
        handle.write("# Generic colours for headless tests\n" + "\n".join(rows) + "\n")


SUBJECT_HIERARCHY_CLASSES = ("vtkMRMLStorableNode", "vtkMRMLPlotChartNode", "vtkMRMLPlotSeriesNode",
                             "vtkMRMLSequenceBrowserNode")


@vtk.calldata_type(vtk.VTK_OBJECT)
def _add_subject_hierarchy_item(scene, event, node) -> None:
    """What Slicer's subject hierarchy plugin logic (Qt) does: every visible data node gets an item."""
    if node is None or scene.IsImporting() or node.GetHideFromEditors():
        return
    if not any(node.IsA(name) for name in SUBJECT_HIERARCHY_CLASSES):
        return
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    if hierarchy is not None and not hierarchy.GetItemByDataNode(node):
        hierarchy.CreateItem(hierarchy.GetSceneItemID(), node)


@vtk.calldata_type(vtk.VTK_OBJECT)
def _remove_subject_hierarchy_item(scene, event, node) -> None:
    """...and the item goes when its node is removed (except while the scene closes)."""
    if node is None or scene.IsClosing() or node.IsA("vtkMRMLSubjectHierarchyNode"):
        return
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    item = hierarchy.GetItemByDataNode(node) if hierarchy is not None else 0
    if item:
        hierarchy.RemoveItem(item, False, False)


class HeadlessSlicer:
    """One MRML scene with the application logic and module logics wired as in Slicer."""

    def __init__(self) -> None:
        self._home = tempfile.mkdtemp(prefix="knee-t2-headless-slicer-")
        _write_generic_colors(os.path.join(self._home, "share", "ColorFiles"))
        self.output_window = slicer.vtkTestingOutputWindow.GetInstance()
        vtk.vtkOutputWindow.SetInstance(self.output_window)
        self.scene = None
        self.app_logic = None
        self.logics: Dict[str, object] = {}
        self.new_scene()

    def new_scene(self):
        """Replace the scene and every logic by fresh ones and point ``slicer.mrmlScene`` at the scene."""
        self.close()
        scene = slicer.vtkMRMLScene()
        crosshair = slicer.vtkMRMLCrosshairNode()
        crosshair.SetCrosshairName("default")
        scene.AddNode(crosshair)
        app_logic = slicer.vtkSlicerApplicationLogic()
        app_logic.SetHomeDirectory(self._home)
        app_logic.SetShareDirectory("share")
        app_logic.SetMRMLScene(scene)
        app_logic.GetColorLogic().SetMRMLScene(scene)
        app_logic.SetSliceLogics(vtkCollection())
        app_logic.SetViewLogics(vtkCollection())
        logics = {"colors": self._register(app_logic, scene, "Colors", slicer.vtkSlicerColorLogic())}
        for module_name, logic_name, class_name in MODULE_LOGIC_CLASSES:
            logics[module_name] = self._register(app_logic, scene, logic_name, getattr(slicer, class_name)())
        slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
        scene.AddObserver(slicer.vtkMRMLScene.NodeAddedEvent, _add_subject_hierarchy_item)
        scene.AddObserver(slicer.vtkMRMLScene.NodeAboutToBeRemovedEvent, _remove_subject_hierarchy_item)
        self.scene, self.app_logic, self.logics = scene, app_logic, logics
        slicer.mrmlScene = scene
        slicer.modules = types.SimpleNamespace(
            **{name: _ModuleStandIn(name, logic) for name, logic in logics.items()}
        )
        self.output_window.ResetNumberOfLoggedMessages()
        return scene

    @staticmethod
    def _register(app_logic, scene, name: str, logic):
        logic.SetMRMLApplicationLogic(app_logic)
        logic.SetMRMLScene(scene)
        app_logic.SetModuleLogic(name, logic)
        return logic

    def vtk_error_count(self) -> int:
        """Number of VTK/MRML error messages logged since the scene was created."""
        return int(self.output_window.GetNumberOfLoggedErrorMessages())

    def close(self) -> None:
        """Empty the scene and detach the logics, so that nothing leaks into the next test."""
        if self.scene is None:
            return
        for logic in self.logics.values():
            logic.SetMRMLScene(None)
        self.app_logic.GetColorLogic().SetMRMLScene(None)
        self.app_logic.SetMRMLScene(None)
        self.scene.Clear(1)
        self.scene, self.app_logic, self.logics = None, None, {}

    def shutdown(self) -> None:
        self.close()
        shutil.rmtree(self._home, ignore_errors=True)


# --- slicer.ScriptedLoadableModule without Qt -------------------------------------------------


class ScriptedLoadableModule:
    """Qt-free twin of Slicer's base class: fills ``parent`` and registers ``runTest``."""

    def __init__(self, parent) -> None:
        self.parent = parent
        self.moduleName = self.__class__.__name__
        parent.title = ""
        parent.categories = []
        parent.dependencies = []
        parent.contributors = []
        parent.helpText = ""
        parent.acknowledgementText = ""
        module_dir = os.path.dirname(parent.path)
        for extension in (".svg", ".png"):
            icon_path = os.path.join(module_dir, "Resources", "Icons", self.moduleName + extension)
            if os.path.isfile(icon_path):
                parent.icon = icon_path  # Slicer makes a qt.QIcon of this file
                break
        if not hasattr(slicer, "selfTests"):
            slicer.selfTests = {}
        slicer.selfTests[self.moduleName] = self.runTest

    def resourcePath(self, filename: str) -> str:
        return os.path.join(os.path.dirname(self.parent.path), "Resources", filename)

    def getDefaultModuleDocumentationLink(self, docPage=None) -> str:
        return ""

    def runTest(self, msec: int = 100, **kwargs) -> None:
        module = importlib.import_module(self.__module__)
        test_case = getattr(module, self.moduleName + "Test")()
        test_case.messageDelay = msec
        test_case.runTest(**kwargs)


class ScriptedLoadableModuleWidget:
    """The widget base class needs Qt: constructing it headless raises."""

    def __init__(self, parent=None) -> None:
        _raise_qt(self.__class__.__name__)


class ScriptedLoadableModuleLogic:
    """Same parameter-node behaviour as Slicer's base class, on ``slicer.mrmlScene``."""

    def __init__(self, parent=None) -> None:
        self.moduleName = self.__class__.__name__
        if self.moduleName.endswith("Logic"):
            self.moduleName = self.moduleName[:-5]
        self.isSingletonParameterNode = True

    def getParameterNode(self):
        scene = slicer.mrmlScene
        if self.isSingletonParameterNode:
            node = scene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
            if node:
                if node.GetAttribute("ModuleName") != self.moduleName:
                    node.SetAttribute("ModuleName", self.moduleName)
                return node
        else:
            for node in self.getAllParameterNodes():
                return node
        return scene.AddNode(self.createParameterNode())

    def getAllParameterNodes(self):
        scene = slicer.mrmlScene
        nodes = [scene.GetNthNodeByClass(i, "vtkMRMLScriptedModuleNode")
                 for i in range(scene.GetNumberOfNodesByClass("vtkMRMLScriptedModuleNode"))]
        return [node for node in nodes if node.GetAttribute("ModuleName") == self.moduleName]

    def createParameterNode(self):
        node = slicer.mrmlScene.CreateNodeByClass("vtkMRMLScriptedModuleNode")
        node.UnRegister(None)
        if self.isSingletonParameterNode:
            node.SetSingletonTag(self.moduleName)
        node.SetAttribute("ModuleName", self.moduleName)
        node.SetName(slicer.mrmlScene.GenerateUniqueName(self.moduleName))
        return node


class ScriptedLoadableModuleTest(unittest.TestCase):
    """Slicer's test base class: ``runTest`` runs setUp + each ``test*`` method; messages are logged."""

    def __init__(self, *args, **kwargs) -> None:
        self.moduleTestNames = []
        super().__init__(*args, **kwargs)
        self.enableScreenshots = False
        self.screenshotScaleFactor = 1.0
        if not self.moduleTestNames:
            self.moduleTestNames = [name for name in dir(self) if "test" in name and callable(getattr(self, name))]

    def delayDisplay(self, message, requestedDelay=None, msec=None) -> None:
        logging.info(message)

    def takeScreenshot(self, name, description, type=-1) -> None:
        self.delayDisplay(description)

    def runTest(self) -> None:
        if not self.moduleTestNames:
            logging.warning("No test is defined in " + self.__class__.__name__)
            return
        self.setUpClass()
        for test_name in self.moduleTestNames:
            self.setUp()
            getattr(self, test_name)()
            self.tearDown()
        self.tearDownClass()


def _make_module(name: str, members: dict, doc: str) -> types.ModuleType:
    module = types.ModuleType(name, doc)
    module.__dict__.update(members)
    module.__all__ = [key for key in members if not key.startswith("_")]
    return module


def _qt_is_real() -> bool:
    module = sys.modules.get("qt")
    if module is not None:
        return not isinstance(module, _QtNamespace)
    try:
        importlib.import_module("qt")
        return True
    except ImportError:
        return False


def install_slicer_stand_ins() -> None:
    """Add the pieces of the Slicer application that slicer-core lacks (idempotent; no-op inside Slicer)."""
    if _qt_is_real():
        return
    for name in QT_MODULES:
        sys.modules.setdefault(name, _QtNamespace(name))
    scripted = _make_module(
        "slicer.ScriptedLoadableModule",
        {
            "ScriptedLoadableModule": ScriptedLoadableModule,
            "ScriptedLoadableModuleWidget": ScriptedLoadableModuleWidget,
            "ScriptedLoadableModuleLogic": ScriptedLoadableModuleLogic,
            "ScriptedLoadableModuleTest": ScriptedLoadableModuleTest,
        },
        "Qt-free stand-in for Slicer's scripted module base classes (headless tests).",
    )
    i18n = _make_module(
        "slicer.i18n",
        {"tr": lambda text: text, "translate": lambda context, text: text},
        "Identity translations (headless tests).",
    )
    for module in (scripted, i18n):
        sys.modules[module.__name__] = module
        setattr(slicer, module.__name__.split(".", 1)[1], module)
    if not hasattr(slicer, "selfTests"):
        slicer.selfTests = {}
    slicer.__getattr__ = _slicer_qt_getattr


class FakeModuleParent:
    """The ``parent`` Slicer passes to a scripted module: a bag of attributes plus the file path."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.icon: Optional[str] = None


def import_module_file(path: str):
    """Import a scripted module file (``<Name>.py``) the way Slicer does: its folder on ``sys.path``."""
    folder, filename = os.path.split(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(os.path.splitext(filename)[0])


class FinishedJob:
    """Stands in for a worker job that has already finished with ``result`` (the worker itself is tested apart)."""

    def __init__(self, result):
        self._result = result

    def result(self):
        return self._result

    def cleanup(self):
        pass


class StandInDicomDatabase:
    """Slicer's DICOM database as the module uses it: ``fileForInstance(uid)`` from a uid -> path table, and
    ``instanceValue(uid, "gggg,eeee")`` read from that file's header."""

    def __init__(self):
        self.files = {}

    def fileForInstance(self, uid):
        return self.files.get(uid, "")

    def instanceValue(self, uid, tag):
        import pydicom

        path = self.files.get(uid)
        if not path:
            return ""
        group, element = (int(part, 16) for part in tag.split(","))
        found = pydicom.dcmread(path, stop_before_pixels=True).get((group, element))
        return str(found.value) if found is not None else ""
