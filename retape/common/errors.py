"""The one user-facing error and the exit codes: the contract every front end keeps.

Every mistake a user can make (a bad flag, an unreadable or invalid cassette, an
unreachable target, a missing optional install) is a :class:`RetapeError`. The CLI
catches it once, prints its one-line ``str()`` on stderr and exits
:attr:`ExitStatus.USAGE`. Anything else escaping is a bug in retape.
"""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    """What ``retape`` exits with (README, docs/replay.md); hurl and httpie use the same shape."""

    OK = 0
    """Every interaction matched (or the command did what was asked)."""
    FAILED = 1
    """At least one interaction did not match, or ``scan`` found something."""
    USAGE = 2
    """A usage error, an unreadable or invalid cassette, an unreachable target."""
    INTERRUPTED = 130
    """Ctrl-C or SIGTERM: the partial summary was printed."""


class RetapeError(Exception):
    """A problem caused by input or environment, reported as one line (exit code 2)."""

    def __str__(self) -> str:
        return " ".join(super().__str__().split())  # always one line, whatever a library said
