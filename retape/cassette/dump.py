"""Cassette → YAML text.

The file is written as a header followed by one block per interaction, each block a
complete item of the top-level ``interactions:`` list. Appending a block keeps the
file valid YAML, which is what lets the recorder write each interaction the moment it
completes, in constant time, whatever the cassette size.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from retape.cassette.model import Cassette, InlineList, Interaction, Recording

_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
# Strings a YAML 1.2 reader takes for numbers though YAML 1.1 does not (1e3, 0o17, 08,
# -.5, .iNf, ...). PyYAML quotes only what YAML 1.1 would misread, so these are quoted
# here: every cassette then reads the same in PyYAML and in yaml-rs (cassette.fastload).
_YAML12_NUMBER = re.compile(
    r"[-+]?(?:0[xXoObB][0-9a-fA-F_]+|(?=[0-9_.]*[0-9])[0-9_]*\.?[0-9_]*(?:[eE][-+]?[0-9_]+)?"
    r"|\.(?:[iI][nN][fF]|[nN][aA][nN]))"
)


class _CassetteDumper(_BaseDumper):
    """Safe dumper: no tags, no aliases, block strings for multi-line text."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


# Line breaks to YAML besides "\n" (and carriage returns): inside a block scalar they
# would end lines no reader of the file can see, so such strings are written escaped.
_OTHER_BREAKS = re.compile("[\r\x85\u2028\u2029]")


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if _OTHER_BREAKS.search(data):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    style = "|" if "\n" in data else None
    if style is None and _YAML12_NUMBER.fullmatch(data):
        style = "'"
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _represent_inline(dumper: yaml.SafeDumper, data: InlineList) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_CassetteDumper.add_representer(str, _represent_str)
_CassetteDumper.add_representer(InlineList, _represent_inline)


def _yaml(data: Any) -> str:
    text = yaml.dump(
        data,
        Dumper=_CassetteDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    # PyYAML ends a document with "..." after a keep-chomped block (|+); the marker would
    # end the YAML stream mid-file once the next interaction is appended. Only a marker on
    # its own line: a value may end in "..." too ("Loading...").
    return text[: -len("...\n")] if text.endswith("\n...\n") else text


def dump_header(recording: Recording) -> str:
    """The part of the file before the first interaction, ending in ``interactions:``."""
    head = _yaml({"retape": 1, "recording": recording.to_data()})
    return head + "interactions:\n"


def dump_interaction(interaction: Interaction) -> str:
    """One interaction as a top-level list item, ready to append after the header."""
    return _yaml([interaction.to_data()])


def dump_cassette(cassette: Cassette) -> str:
    parts = [dump_header(cassette.recording)]
    parts.extend(dump_interaction(i) for i in cassette.interactions)
    return "".join(parts)
