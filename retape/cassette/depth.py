"""Refusing deeply nested YAML before any parser can overflow on it.

A 40 KB cassette of 20,000 nested block sequences (``- - - - ... x``) crashed the fast
parser (yaml-rs) with a stack overflow, and PyYAML's pure-Python composer recurses once
per level. A cassette never needs much depth: the format itself is eight levels, and a
``json:`` payload is bounded at :data:`~cassette.validate.MAX_JSON_DEPTH` (200). So any
YAML nested deeper than :data:`MAX_NESTING` levels is refused, as a one-line error,
before it reaches either parser.

Checking exactly means walking the parser's events, which costs about a third of a
load; :func:`may_be_deep` is a cheap test that can only err on the safe side. In block
YAML a level is either more indentation or one more indicator (``- ``, ``? ``, ``: ``)
at the start of a line, so a line at depth ``d`` has at least about ``d / 2`` of those
together; flow collections (``[``, ``{``) nest without indentation, so a run of openers
with nothing but blanks, scalars and commas between them counts too. Only when the cheap
test cannot vouch for a text does :func:`check_nesting` walk the events (libyaml's
parser is iterative and itself stops at 1,000 levels).
"""

from __future__ import annotations

import re
from functools import cache

import yaml

from retape.cassette.errors import CassetteError

MAX_NESTING = 256  # YAML collection levels; the format plus a 200-deep JSON fit easily
# A line at depth d has indentation + indicators >= (d - 2) / 2; below this, every
# line is provably shallower than MAX_NESTING.
_PER_LINE = (MAX_NESTING - 2) // 4
_START_EVENTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_END_EVENTS = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
_Parser: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def _suspects() -> tuple[re.Pattern[str], ...]:
    return (
        re.compile(rf"^[ \t]{{{_PER_LINE},}}", re.MULTILINE),  # deep indentation
        re.compile(rf"^[ \t]*(?:[-?:][ \t]+){{{_PER_LINE},}}", re.MULTILINE),  # - - - - x
        # Flow openers without a closer between them: a flow collection's depth is
        # reached through such a run (each opener after the previous, none closed).
        re.compile(rf"[\[{{](?:[^\[\]{{}}]*+[\[{{]){{{_PER_LINE},}}"),
    )


def may_be_deep(text: str) -> bool:
    """False only when ``text`` is certainly nested less than :data:`MAX_NESTING` deep.

    The flow test is a heuristic that closers inside quoted scalars can defeat; it is
    the first line of defence only: the fast path also refuses flow collections nested
    over 12 deep (:mod:`cassette.fastload`), and libyaml refuses 1,000 levels itself.
    """
    return any(pattern.search(text) for pattern in _suspects())


def check_nesting(text: str, *, path: str) -> None:
    """Raise :class:`CassetteError` if ``text`` nests collections over the bound."""
    if not may_be_deep(text):
        return
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Parser):
            if isinstance(event, _START_EVENTS):
                depth += 1
                if depth > MAX_NESTING:
                    raise _too_deep(path, event.start_mark.line + 1 if event.start_mark else None)
            elif isinstance(event, _END_EVENTS):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" in str(exc.problem or ""):
            mark = exc.problem_mark
            raise _too_deep(path, mark.line + 1 if mark else None) from None
        return  # the parse proper reports the syntax error in its own words
    except (yaml.YAMLError, RecursionError):
        return


def _too_deep(path: str, line: int | None) -> CassetteError:
    return CassetteError(
        f"nested deeper than {MAX_NESTING} levels (a cassette never needs that much)",
        path=path,
        line=line,
    )
