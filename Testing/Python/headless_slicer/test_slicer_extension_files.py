"""The extension's build files and panel: CMake covers every Python file, the .ui matches the code.

These checks need no Slicer: they read CMakeLists.txt, the Qt Designer file
and the module source as text, and catch what only a real Slicer build or a
click in the panel would otherwise reveal (a module file missing from the
package, a widget name typo, a parameter bound to nothing).
"""

from __future__ import annotations

import ast
import re
import struct
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
MODULE_DIR = REPO / "KneeCartilageT2"
MODULE_FILE = MODULE_DIR / "KneeCartilageT2.py"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "KneeCartilageT2.ui"
ICON_FILE = MODULE_DIR / "Resources" / "Icons" / "KneeCartilageT2.png"
PACKAGES = ("KneeCartilageT2Lib", "KneeCartilageT2SlicerLib")
# Widgets whose class matters to the code that drives them.
EXPECTED_CLASSES = {
    "inputSelector": "qMRMLNodeComboBox", "baselineSelector": "qMRMLNodeComboBox", "followupSelector": "qMRMLNodeComboBox",
    "segmentEditorWidget": "qMRMLSegmentEditorWidget", "resultsTableView": "qMRMLTableView",
    "changeTableView": "qMRMLTableView", "datasetPathLineEdit": "ctkPathLineEdit", "progressBar": "QProgressBar",
    "modelComboBox": "QComboBox", "t2PresetComboBox": "QComboBox", "projectionComboBox": "QComboBox",
    "echoTimesLineEdit": "QLineEdit", "readerLineEdit": "QLineEdit", "autoUpdateCheckBox": "QCheckBox",
}
MRML_WIDGETS = ("qMRMLNodeComboBox", "qMRMLSegmentEditorWidget", "qMRMLTableView")


def cmake_globs(cmake_text: str, variable: str):
    """Patterns of ``file(GLOB_RECURSE <variable> RELATIVE ... CONFIGURE_DEPENDS patterns...)``."""
    match = re.search(r"file\(GLOB_RECURSE\s+%s\s+(.*?)\)" % variable, cmake_text, re.S)
    assert match, "no file(GLOB_RECURSE %s ...) in the module CMakeLists.txt" % variable
    words = match.group(1).split()
    return [word for word in words if "*" in word]


def matches_recursive_glob(relative: str, pattern: str) -> bool:
    """CMake GLOB_RECURSE semantics for ``dir/*.ext``: any file below ``dir`` whose name matches."""
    folder, _, name_pattern = pattern.rpartition("/")
    if folder and not relative.startswith(folder + "/"):
        return False
    return re.fullmatch(re.escape(name_pattern).replace(r"\*", ".*"), relative.rpartition("/")[2]) is not None


def ui_widgets():
    root = ElementTree.parse(UI_FILE).getroot()
    return root, {widget.get("name"): widget for widget in root.iter("widget")}


def used_ui_names():
    return set(re.findall(r"self\.ui\.([A-Za-z_][A-Za-z0-9_]*)", MODULE_FILE.read_text()))


def test_module_cmake_globs_cover_every_python_file():
    cmake = (MODULE_DIR / "CMakeLists.txt").read_text()
    patterns = cmake_globs(cmake, "MODULE_LIBRARY_SCRIPTS")
    python_files = [path.relative_to(MODULE_DIR).as_posix() for package in PACKAGES
                    for path in (MODULE_DIR / package).rglob("*.py") if "__pycache__" not in path.parts]
    assert len(python_files) > 20
    uncovered = [path for path in python_files if not any(matches_recursive_glob(path, p) for p in patterns)]
    assert uncovered == []
    assert "${MODULE_NAME}.py" in cmake and "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in cmake


def test_module_cmake_resources_cover_ui_icon_and_model_list():
    patterns = cmake_globs((MODULE_DIR / "CMakeLists.txt").read_text(), "MODULE_PYTHON_RESOURCES")
    for resource in ("Resources/UI/KneeCartilageT2.ui", "Resources/Icons/KneeCartilageT2.png",
                     "KneeCartilageT2Lib/Resources/models.json"):
        assert (MODULE_DIR / resource).is_file(), resource
        assert any(matches_recursive_glob(resource, pattern) for pattern in patterns), resource


def test_extension_cmake_metadata():
    cmake = (REPO / "CMakeLists.txt").read_text()
    values = dict(re.findall(r'set\((EXTENSION_[A-Z]+)\s+"([^"]*)"\)', cmake))
    assert values["EXTENSION_CATEGORY"] == "Quantification"
    assert values["EXTENSION_DEPENDS"] == "PyTorch"
    assert values["EXTENSION_HOMEPAGE"].startswith("https://")
    assert values["EXTENSION_ICONURL"].endswith("/KneeCartilageT2/Resources/Icons/KneeCartilageT2.png")
    assert len(values["EXTENSION_DESCRIPTION"]) > 80 and values["EXTENSION_CONTRIBUTORS"]
    assert "add_subdirectory(KneeCartilageT2)" in cmake and "project(KneeCartilageT2)" in cmake


def test_icon_is_a_128_pixel_png_with_content():
    data = ICON_FILE.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (128, 128)
    assert len(data) > 3000  # a drawing, not a flat placeholder


def test_ui_is_a_designer_file_of_a_mrml_widget():
    root, widgets = ui_widgets()
    assert root.tag == "ui" and root.get("version") == "4.0"
    top = root.find("widget")
    assert top.get("class") == "qMRMLWidget" and top.get("name") == "KneeCartilageT2"
    sections = [w.find("property[@name='text']/string").text for w in widgets.values()
                if w.get("class") == "ctkCollapsibleButton"]
    assert sections == ["Input", "Model", "Run", "Correct", "Results", "Export", "Longitudinal"]
    declared = {custom.findtext("class") for custom in root.iter("customwidget")}
    used = {widget.get("class") for widget in widgets.values()}
    standard = {cls for cls in used if cls.startswith("Q")}
    assert used - standard <= declared, "custom widget classes not declared: %s" % (used - standard - declared)


def test_every_widget_the_code_uses_exists_with_the_expected_class():
    _, widgets = ui_widgets()
    missing = sorted(name for name in used_ui_names() if name not in widgets)
    assert missing == []
    wrong = {name: widgets[name].get("class") for name, cls in EXPECTED_CLASSES.items() if widgets[name].get("class") != cls}
    assert wrong == {}
    for name in used_ui_names():
        if name.endswith("Button") and name != "segmentEditorWidget":
            assert widgets[name].get("class") == "QPushButton", name


def test_mrml_widgets_receive_the_scene():
    root, widgets = ui_widgets()
    receivers = {connection.findtext("receiver") for connection in root.iter("connection")
                 if connection.findtext("signal") == "mrmlSceneChanged(vtkMRMLScene*)"}
    mrml = {name for name, widget in widgets.items() if widget.get("class") in MRML_WIDGETS}
    assert mrml and mrml <= receivers


def _parameter_annotations():
    tree = ast.parse(MODULE_FILE.read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "KneeCartilageT2ParameterNode":
            return {item.target.id for item in node.body if isinstance(item, ast.AnnAssign)}
    raise AssertionError("KneeCartilageT2ParameterNode not found")


def test_parameter_bindings_name_real_parameters():
    _, widgets = ui_widgets()
    bound = {}
    for name, widget in widgets.items():
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[name] = prop.findtext("string")
    parameters = _parameter_annotations()
    assert set(bound.values()) <= parameters
    assert bound["inputSelector"] == "inputNode" and bound["sideComboBox"] == "side"
    # Every parameter is shown somewhere: bound in the .ui or set by the widget code.
    unbound = parameters - set(bound.values())
    source = MODULE_FILE.read_text()
    assert all("_parameterNode.%s" % name in source for name in unbound), unbound


@pytest.mark.parametrize("text", ["Segment && measure", "Accept && export"])
def test_button_texts_escape_ampersands_for_qt(text):
    assert text in UI_FILE.read_text().replace("&amp;", "&")
