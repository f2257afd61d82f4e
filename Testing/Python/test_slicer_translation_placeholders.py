"""Every translated template of the Slicer module is filled in with exactly the names it holds.

The panel's texts are translated before they are filled in: ``_("Saved as case {case}.").format(case=...)``.
A placeholder without its keyword is a KeyError inside Slicer, raised while the panel reports something else
(often an error), so the reader sees a traceback instead of the message; a keyword without its placeholder is a
value the sentence silently lost. A template kept in a variable (two wordings chosen by a condition, then one
``.format``) must find each of its placeholders among that call's keywords. The check reads the source (AST), so
it needs no Slicer; its own rules are tested on small sources first.
"""

from __future__ import annotations

import ast
import string
from pathlib import Path
from typing import Dict, List, Optional, Set

import pytest

MODULE_DIR = Path(__file__).resolve().parents[2] / "KneeCartilageT2"
SLICER_FILES = sorted((MODULE_DIR / "KneeCartilageT2SlicerLib").glob("*.py")) + [MODULE_DIR / "KneeCartilageT2.py"]


def placeholders(template: str) -> Set[str]:
    """The field names of a ``str.format`` template (``{name}``, ``{name!r}``, ``{name:.1f}``, nested specs);
    ``""`` stands for an automatic or numbered field (``{}``, ``{0}``), which a translator cannot move."""
    names: Set[str] = set()
    for _literal, field, spec, _conversion in string.Formatter().parse(template):
        if field is None:
            continue
        name = field.split(".")[0].split("[")[0]
        names.add("" if name == "" or name.isdigit() else name)
        if spec:
            names |= placeholders(spec)
    return names


def _is_translation(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_"


def _templates(node: ast.AST) -> Optional[List[ast.Call]]:
    """The ``_()`` calls an expression is made of: ``_("a")`` or ``_("a") if c else _("b")``; None otherwise."""
    if _is_translation(node):
        return [node]
    if isinstance(node, ast.IfExp):
        body, orelse = _templates(node.body), _templates(node.orelse)
        if body is not None and orelse is not None:
            return body + orelse
    return None


def _scopes(tree: ast.Module):
    yield tree
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield node


def _own_nodes(scope):
    """The nodes of one function (or the module) without those of the functions defined inside it."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def placeholder_problems(source: str) -> List[str]:
    """``"line N: ..."`` for each translated template whose placeholders and ``.format`` keywords disagree, each
    one never filled in, and each filled in with ``%`` or with positional or ``**`` arguments."""
    tree = ast.parse(source)
    problems: List[str] = []
    filled: Set[int] = set()
    for scope in _scopes(tree):
        kept: Dict[str, List[ast.Call]] = {}  # variable -> the templates assigned to it in this scope
        nodes = list(_own_nodes(scope))
        for node in nodes:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                calls = _templates(node.value)
                if calls is not None:
                    kept.setdefault(node.targets[0].id, []).extend(calls)
        for node in nodes:
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _templates(node.left):
                problems.append("line %d: a translated template filled in with %%; use {name} and .format"
                                % node.lineno)
                filled.update(id(call) for call in _templates(node.left))
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "format"):
                continue
            receiver = node.func.value
            direct = _templates(receiver)
            calls = direct if direct is not None else (
                kept.get(receiver.id) if isinstance(receiver, ast.Name) else None)
            if not calls:
                continue
            filled.update(id(call) for call in calls)
            if node.args or any(keyword.arg is None for keyword in node.keywords):
                problems.append("line %d: fill a translated template with keywords only" % node.lineno)
                continue
            keywords = {keyword.arg for keyword in node.keywords}
            used: Set[str] = set()
            for call in calls:
                if not (len(call.args) == 1 and isinstance(call.args[0], ast.Constant)):
                    continue  # not a literal: test_slicer_translation refuses it
                names = placeholders(call.args[0].value)
                used |= names
                if "" in names:
                    problems.append("line %d: name every placeholder ({} or {0} cannot be moved by a translator)"
                                    % call.lineno)
                missing = names - keywords - {""}
                if missing:
                    problems.append("line %d: no keyword for %s (KeyError in Slicer)"
                                    % (call.lineno, ", ".join(sorted(missing))))
            unused = keywords - used
            if unused:
                problems.append("line %d: keyword(s) %s fill no placeholder" % (node.lineno, ", ".join(sorted(unused))))
    for node in ast.walk(tree):
        if _is_translation(node) and id(node) not in filled and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str) \
                and placeholders(node.args[0].value):
            problems.append("line %d: placeholders never filled in (shown as typed)" % node.lineno)
    return sorted(problems, key=lambda text: int(text.split(":")[0].split()[1]))


def test_the_check_finds_each_kind_of_mismatch():
    assert placeholder_problems('t = _("Saved {case} v{version}.").format(case=c, version=v)\n') == []
    assert placeholder_problems('t = _("{n:.1f} ms, {name!r}").format(n=1, name=x)\n') == []
    assert placeholder_problems('t = _("Saved {case}.").format(cases=c)\n') == [
        "line 1: no keyword for case (KeyError in Slicer)", "line 1: keyword(s) cases fill no placeholder"]
    assert placeholder_problems('t = _("Saved {case}.")\n') == ["line 1: placeholders never filled in (shown as typed)"]
    assert placeholder_problems('t = _("Saved {}.").format(c)\n') == [
        "line 1: fill a translated template with keywords only"]
    assert placeholder_problems('t = _("Saved %s.") % c\n') == [
        "line 1: a translated template filled in with %; use {name} and .format"]
    assert placeholder_problems('t = _("{a}: {b:{width}}").format(a=1, b=2)\n') == [
        "line 1: no keyword for width (KeyError in Slicer)"]


def test_the_check_follows_a_template_kept_in_a_variable():
    ok = ('def f(r):\n    text = _("{saved} by {reader}") if r else _("{saved}")\n'
          '    return text.format(saved=1, reader=r)\n')
    assert placeholder_problems(ok) == []
    wrong = ('def f(r):\n    text = _("{saved} by {reader}") if r else _("{when}")\n'
             '    return text.format(saved=1, reader=r)\n')
    assert placeholder_problems(wrong) == ["line 2: no keyword for when (KeyError in Slicer)"]
    elsewhere = ('def f():\n    text = _("{saved}")\n    return text\n'
                 'def g(text):\n    return text.format(saved=1)\n')
    assert placeholder_problems(elsewhere) == ["line 2: placeholders never filled in (shown as typed)"]


@pytest.mark.parametrize("path", SLICER_FILES, ids=lambda path: path.name)
def test_every_translated_template_gets_exactly_its_keywords(path):
    assert placeholder_problems(path.read_text(encoding="utf-8")) == []
