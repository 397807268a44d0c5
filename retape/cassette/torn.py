"""A cassette whose last interaction was cut short by a killed recorder.

The recorder appends each interaction with one ``write(2)``, and every block it writes
ends with a newline. Linux can stop a large write part-way when the process is killed
(SIGKILL during a multi-megabyte block), leaving a final item without its newline.
That tail is the one thing a reader may drop, and only when the file does not load
with it: everything before it completed, and dropping it (with a warning) keeps the
promise that a killed recorder loses nothing it completed. A file that ends with a
newline is never trimmed, so a hand edit that breaks the last item is still reported
as an error, not silently dropped.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("retape")


def without_torn_tail(text: str) -> str | None:
    """``text`` minus an unfinished final top-level item, or None if it has none."""
    if not text or text.endswith("\n"):
        return None
    start = text.rfind("\n- ")
    return None if start < 0 else text[: start + 1]


def warn_torn_tail(kept: str, *, path: str) -> None:
    logger.warning(
        "%s:%d: ignoring the last interaction: it is incomplete (the recorder was stopped "
        "while writing it)",
        path,
        kept.count("\n") + 1,
    )
