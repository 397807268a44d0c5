"""User-facing errors.

Every mistake a user can make (a bad flag, an unreadable or invalid cassette, an
unreachable target) is a :class:`RetapeError`. The CLI catches it once, prints its
one-line ``str()`` on stderr and exits 2. Anything else escaping is a bug in retape.
"""

from __future__ import annotations


class RetapeError(Exception):
    """A problem caused by input or environment, reported as one line (exit code 2)."""


class CassetteError(RetapeError):
    """A cassette that cannot be read, parsed or validated.

    ``str()`` gives ``file:line: place: message`` with the parts that are known, so an
    editor or a CI log viewer can jump straight to the spot.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        place: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.place = place

    def __str__(self) -> str:
        return " ".join(self._full().split())  # always one line, whatever a library said

    def _full(self) -> str:
        where = self.path or "<cassette>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        if self.place:
            return f"{where}: {self.place}: {self.message}"
        return f"{where}: {self.message}"
