"""Colour tables for small label sets (value, name, RGB 0-255), one singleton per scene."""

from __future__ import annotations

from typing import Any, Callable, Sequence, Tuple

LabelEntry = Tuple[int, str, Tuple[int, int, int]]


def singleton_color_table(scene, singleton_tag: str, name: str, fill: Callable[[Any], None]):
    """The scene's colour table with ``singleton_tag``; created once (user type, ``fill(node)`` sets its colours)."""
    import slicer

    node = scene.GetSingletonNode(singleton_tag, "vtkMRMLColorTableNode")
    if node is not None:
        return node
    node = slicer.vtkMRMLColorTableNode()
    node.SetSingletonTag(singleton_tag)
    node.SetName(name)
    node.SetTypeToUser()
    fill(node)
    scene.AddNode(node)
    return node


def label_color_table(scene, singleton_tag: str, name: str, entries: Sequence[LabelEntry]):
    """A colour table with transparent 0 = background and one named colour per entry (created once)."""

    def fill(node) -> None:
        node.SetNumberOfColors(max(value for value, _, _ in entries) + 1)
        node.SetColor(0, "background", 0.0, 0.0, 0.0, 0.0)
        for value, label_name, (red, green, blue) in entries:
            node.SetColor(int(value), label_name, red / 255.0, green / 255.0, blue / 255.0, 1.0)

    return singleton_color_table(scene, singleton_tag, name, fill)
