"""Removing credentials before anything reaches disk.

Redaction is consistent within a cassette: the same secret always becomes the same
placeholder (``<redacted:1>``), so a reader can still see that two requests used the
same token. Only a hash of each secret is kept in memory, never the secret.
"""

from __future__ import annotations

import hashlib
import re

from cassette.model import Header

# Header values that are credentials: they never reach a cassette.
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"}
)
# Headers whose scheme word ("Bearer", "Basic") is kept in front of the placeholder.
_SCHEMED_HEADERS = frozenset({"authorization", "proxy-authorization"})
PLACEHOLDER_RE = re.compile(r"<redacted(?::\d+)?>")


def is_placeholder(value: str) -> bool:
    """True if a value holds a redaction placeholder and must never be sent as-is."""
    return PLACEHOLDER_RE.search(value) is not None


class Redactor:
    """Maps each distinct secret to a numbered placeholder, per cassette."""

    def __init__(self, extra_headers: frozenset[str] = frozenset()) -> None:
        self.credential_headers = CREDENTIAL_HEADERS | {h.lower() for h in extra_headers}
        self._numbers: dict[bytes, int] = {}

    def placeholder(self, secret: str) -> str:
        digest = hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()
        number = self._numbers.setdefault(digest, len(self._numbers) + 1)
        return f"<redacted:{number}>"

    def redact_headers(self, headers: list[Header]) -> tuple[list[Header], list[str]]:
        """Return the headers with credential values replaced, and which names carried one."""
        out: list[Header] = []
        carried: list[str] = []
        for name, value in headers:
            lower = name.lower()
            if lower not in self.credential_headers:
                out.append((name, value))
                continue
            if lower not in carried:
                carried.append(lower)
            scheme, sep, secret = value.partition(" ")
            if lower in _SCHEMED_HEADERS and sep and secret:
                out.append((name, f"{scheme} {self.placeholder(secret.strip())}"))
            else:
                out.append((name, self.placeholder(value)))
        return out, carried
