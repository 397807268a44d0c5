"""The one YAML loader cassettes are read with: PyYAML's safe loader (its C version when
built), minus implicit timestamps.

Its own module because both readers need it: :mod:`retape.cassette.load` parses with
it, and :mod:`retape.cassette.fastload` asks it how PyYAML would read a scalar, to use
yaml-rs only where the two agree. Neither then imports the other.
"""

from __future__ import annotations

from typing import Any

import yaml

# The C loader where PyYAML was built with libyaml; the pure-Python one reads the same.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SafeLoader(_BaseLoader):
    """The safe loader, minus implicit timestamps: an unquoted ``2024-01-01`` in a
    hand-edited body stays the string it would be in JSON, not a Python date.

    A key that appears twice in one mapping is refused: PyYAML would silently keep the
    last one, so what a reviewer reads in the file would not be what is replayed.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[object] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: the constructor words that
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
        result: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return result


SafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}
