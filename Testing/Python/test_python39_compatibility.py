"""Code that runs inside Slicer 5.8 (Python 3.9) must not need a newer Python.

vermin parses every module of the scripted module, the core package and the
Slicer glue and reports the minimum Python version each construct needs;
type hints are safe because every module uses ``from __future__ import annotations``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

MODULE_DIR = Path(__file__).resolve().parents[2] / "KneeCartilageT2"


def _module_files():
    return sorted(path for path in MODULE_DIR.rglob("*.py") if "__pycache__" not in path.parts)


def test_vermin_finds_nothing_that_needs_more_than_python_3_9():
    pytest.importorskip("vermin")
    completed = subprocess.run(
        [sys.executable, "-c", "import sys; from vermin import main; sys.exit(main())", "-t=3.9-", "--no-tips", "--violations", "--eval-annotations",
         str(MODULE_DIR)],
        capture_output=True, text=True,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_every_module_with_annotations_postpones_their_evaluation():
    missing = []
    for path in _module_files():
        tree = ast.parse(path.read_text())
        annotated = any(
            isinstance(node, (ast.AnnAssign, ast.arg)) and getattr(node, "annotation", None) is not None
            or isinstance(node, ast.FunctionDef) and node.returns is not None
            for node in ast.walk(tree)
        )
        postponed = any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
                        and any(alias.name == "annotations" for alias in node.names) for node in tree.body)
        if annotated and not postponed:
            missing.append(str(path.relative_to(MODULE_DIR)))
    assert not missing, "add `from __future__ import annotations` to: " + ", ".join(missing)


def test_core_package_never_imports_torch_or_slicer_at_module_level():
    offenders = []
    for path in (MODULE_DIR / "KneeCartilageT2Lib").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] in ("torch", "slicer", "vtk", "qt", "ctk") for name in names):
                offenders.append(path.name)
    assert not offenders, "import these lazily, inside functions: " + ", ".join(sorted(set(offenders)))
