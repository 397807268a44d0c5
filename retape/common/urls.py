"""Checking an http(s) URL given on the command line: the recorder's ``--upstream`` and the
replayer's ``--target`` are checked by one function, so they accept and refuse alike.

A URL from the command line may carry a password (``http://me:pw@host``): that is
refused before anything else, and no message ever echoes such a URL.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from retape.common.errors import RetapeError

HTTP_SCHEMES = ("http", "https")


def split_http_url(
    url: str, *, flag: str, allow_path: bool, credentials_hint: str, scheme_hint: str = ""
) -> SplitResult:
    """``url`` split, its scheme lower-cased, or a one-line :class:`RetapeError` naming ``flag``.

    ``allow_path`` lets a path prefix through (``--target http://host/api``); query and
    fragment are never allowed. ``credentials_hint`` says where credentials go instead.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise RetapeError(f"{flag}: invalid URL {url!r}") from None
    if "@" in parts.netloc:  # not echoed: whatever precedes '@' may be a password
        raise RetapeError(f"{flag}: credentials do not belong in the URL; {credentials_hint}")
    scheme = parts.scheme.lower()
    if scheme not in HTTP_SCHEMES:
        shape = "http(s)://HOST[:PORT]" + ("[/PREFIX]" if allow_path else "")
        raise RetapeError(
            f"{flag}: expected an http:// or https:// URL, {shape}, got {url!r}{scheme_hint}"
        )
    try:
        port = parts.port  # a port out of range or not a number
    except ValueError:
        port = 0
    if port == 0 or any(ch.isspace() or not ch.isprintable() for ch in text):
        raise RetapeError(f"{flag}: invalid URL {url!r}")
    if not parts.hostname:
        raise RetapeError(f"{flag}: no host in {url!r}")
    if parts.query or parts.fragment or (not allow_path and parts.path not in ("", "/")):
        what = "query or fragment" if allow_path else "path, query or fragment"
        raise RetapeError(f"{flag}: expected no {what} in {url!r}")
    return parts._replace(scheme=scheme)
