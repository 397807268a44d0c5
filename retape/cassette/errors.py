"""The format's own error: a cassette that cannot be read, with where it went wrong."""

from __future__ import annotations

from retape.common.errors import RetapeError


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
