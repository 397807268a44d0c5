"""The one message for a flow-file command run without the ``[record]`` extra."""

from __future__ import annotations

from retape.common.errors import RetapeError

MISSING = (
    "mitmproxy flow files need mitmproxy, which is not installed: pip install 'retape[record]'"
)


def require_mitmproxy() -> str:
    """mitmproxy's version, or a one-line :class:`RetapeError` naming the extra."""
    try:
        from mitmproxy import version
    except ImportError:
        raise RetapeError(MISSING) from None
    return version.VERSION
