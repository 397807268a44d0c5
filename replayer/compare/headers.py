"""The ``headers`` aspect: every recorded response header must come back with its value.

Only headers the recording had are checked (servers and proxies add headers freely);
headers that differ on every response by design (``date``, ``content-length``, the
websocket accept key) and credential headers are never compared.
"""

from __future__ import annotations

from retape.replayer.compare.diff_json import MISSING, Difference
from retape.replayer.compare.ignore import IgnoreRules

from retape.cassette.model import Header
from retape.cassette.redact import is_placeholder

VOLATILE = frozenset(
    {"date", "age", "expires", "last-modified", "etag", "server", "via", "x-request-id"}
    | {"content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}
    | {"set-cookie", "sec-websocket-accept"}
)


def _values(headers: list[Header]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in headers:
        found.setdefault(name.lower(), []).append(value.strip())
    return found


def compare_headers(
    expected: list[Header], actual: list[Header], *, rules: IgnoreRules
) -> list[Difference]:
    """One difference per recorded header that is missing or has another value."""
    wanted, got = _values(expected), _values(actual)
    found: list[Difference] = []
    for name, values in wanted.items():
        if name in VOLATILE or rules.ignores_header(name) or any(map(is_placeholder, values)):
            continue
        left = ", ".join(values)
        right = ", ".join(got[name]) if name in got else MISSING
        if left != right:
            found.append(Difference("headers", "header", name, left, right))
    return found
