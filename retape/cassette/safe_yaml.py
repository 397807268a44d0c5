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
    hand-edited body stays the string it would be in JSON, not a Python date."""


SafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}
