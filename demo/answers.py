"""How the demo model words and streams its answers, per variant.

Every build streams an answer word by word; ``rechunked`` cuts the same text into
chunks of two words (as another build or another run of a real model may), and
``wrong-answer`` says something else. The first is noise a replay must see through,
the second a regression it must report.
"""

from __future__ import annotations


def worded(text: str, variant: str) -> str:
    """The answer's text as this variant says it."""
    return text.replace("said", "typed", 1) if variant == "wrong-answer" else text


def pieces(text: str, variant: str) -> list[str]:
    """The chunks a stream of ``text`` is cut into; joined, they are ``text``."""
    words = text.split()
    size = 2 if variant == "rechunked" else 1
    groups = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    return [group if i == 0 else f" {group}" for i, group in enumerate(groups)]
