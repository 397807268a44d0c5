"""Replacing a file atomically and durably: one helper for every whole-file write.

``retape redact`` rewrites cassettes in place and ``--learn-noise`` rewrites noise files;
both must leave either the old file or the new one after a crash or a power cut, never
a mix or an empty file. Appends to a cassette being recorded are the writer's own
business (``retape.cassette.writer``: one ``O_APPEND`` write per interaction).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def write_atomically(path: Path, text: str | Iterable[str], *, mode: int | None = None) -> None:
    """Replace ``path`` with ``text`` (UTF-8): temporary file, fsync, rename, fsync the folder.

    The file keeps its permissions; a new one gets ``mode`` (0o644 by default). ``text``
    may be an iterable of pieces, written as they come (a large rewrite is never whole).
    """
    if path.exists():
        mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for piece in [text] if isinstance(text, str) else text:
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644 if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)
