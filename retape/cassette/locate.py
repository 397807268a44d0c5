"""Line numbers for places in a cassette, computed only when something needs reporting.

Loading never keeps YAML node marks (that would slow every load); a :class:`Locator`
parses the text into nodes once, on demand, and maps data paths to 1-based lines.
"""

from __future__ import annotations

from collections.abc import Sequence

import yaml

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Locator:
    def __init__(self, text: str) -> None:
        self._text = text
        self._root: yaml.Node | None = None
        self._parsed = False

    def _tree(self) -> yaml.Node | None:
        if not self._parsed:
            self._parsed = True
            try:
                self._root = yaml.compose(self._text, Loader=_Loader)
            except yaml.YAMLError:
                self._root = None
        return self._root

    def line(self, path: Sequence[str | int]) -> int | None:
        """1-based line of the node at ``path`` (or of its nearest existing parent)."""
        node = self._tree()
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in path:
            child = _child(node, part)
            if child is None:
                break
            node = child
            line = node.start_mark.line + 1
        return line


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if getattr(key, "value", None) == part:
                return value
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        return node.value[part] if 0 <= part < len(node.value) else None
    return None
