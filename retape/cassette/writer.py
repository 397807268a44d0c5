"""Append-only cassette persistence.

Each completed interaction is serialised and written with a single ``write(2)`` on a
file opened with ``O_APPEND``. A process killed at any moment (even SIGKILL) therefore
leaves every interaction it finished writing intact: the kernel holds written data
whatever happens to the process. ``fsync`` (``durable=True``) additionally survives a
machine crash, at a cost per interaction; the default flushes to the OS only.

An exclusive ``flock`` is held while writing so a second recorder on the same file is
refused at start instead of interleaving blocks.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from retape.cassette.dump import dump_header, dump_interaction
from retape.cassette.errors import CassetteError
from retape.cassette.load import load_text, read_text
from retape.cassette.model import Interaction, Recording
from retape.cassette.redact import highest_placeholder
from retape.common.files import write_atomically


class CassetteWriter:
    """Writes a cassette header once, then appends interactions one block at a time."""

    def __init__(self, path: str | Path, recording: Recording, *, durable: bool = False) -> None:
        self.path = Path(path)
        self.durable = durable
        self._fd = self._open_locked()
        self.next_id = 1
        # A second session appended to a file continues its placeholder numbers too, so
        # two different secrets never share one "<redacted:N>" (``--secret N=VAR``).
        self.next_placeholder = 1
        try:
            if os.fstat(self._fd).st_size == 0:
                self._write(dump_header(recording))
            else:
                self.next_id = self._continue_existing()
        except BaseException:
            self.close()
            raise

    def _continue_existing(self) -> int:
        """Check an existing cassette can be appended to; return the next id."""
        original = read_text(self.path)
        data, text = load_text(original, path=str(self.path))
        if text != original:  # a block cut short by a kill: drop it before appending
            os.ftruncate(self._fd, len(text.encode("utf-8")))
        top_level = [
            line
            for line in text.splitlines()
            if line and not line[0].isspace() and not line.startswith(("#", "- "))
        ]
        if not top_level or top_level[-1].rstrip() != "interactions:":
            raise CassetteError(
                "cannot append: 'interactions:' must be the last top-level key, as a block "
                "list (rewrite the file with 'retape redact' or record to a new file)",
                path=str(self.path),
            )
        if not text.endswith("\n"):
            self._write("\n")
        self.next_placeholder = highest_placeholder(text) + 1
        return max((i["id"] for i in data.get("interactions") or []), default=0) + 1

    def _open_locked(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise CassetteError(
                f"cannot write: {exc.strerror or exc}", path=str(self.path)
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise CassetteError(
                "another recorder is writing this cassette", path=str(self.path)
            ) from None
        return fd

    def _write(self, text: str) -> None:
        data = text.encode("utf-8")
        written = os.write(self._fd, data)
        while written < len(data):  # only on a full disk or a signal; finish the block
            written += os.write(self._fd, data[written:])
        if self.durable:
            os.fsync(self._fd)

    def append(self, interaction: Interaction) -> Interaction:
        """Assign the next id, write the interaction, and return it."""
        interaction.id = self.next_id
        self.next_id += 1
        self._write(dump_interaction(interaction))
        return interaction

    def close(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1


def rewrite_interactions(path: Path, change: Callable[[Interaction], Interaction]) -> None:
    """Rewrite a closed cassette atomically with ``change`` applied to every interaction,
    reading and writing one interaction at a time."""
    from retape.cassette.stream import iter_interactions, open_cassette

    recording = open_cassette(path).recording

    def pieces() -> Iterable[str]:
        yield dump_header(recording)
        for interaction in iter_interactions(path):
            yield dump_interaction(change(interaction))

    write_atomically(path, pieces())
