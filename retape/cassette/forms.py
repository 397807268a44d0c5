"""The forms a secret takes when it is copied somewhere: one list for redaction and masking.

A token seen in a header comes back percent-encoded in a query string, base64-encoded
inside a Basic credential or a JWT-like blob, JSON-escaped in a body. The recorder's
:class:`~cassette.redact.Redactor` (values learned in a session) and the replayer's
``Masker`` (live credentials) both search for every form listed here, so a value that is
known once is found in all of them.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import quote, quote_plus

_BASE64ISH = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")


def forms_of(value: str, *, shortest: int = 4) -> set[str]:
    """Raw, percent-encoded, base64 and base64url (with and without padding),
    JSON-escaped; for a value that is itself base64 of text (a ``Basic`` credential),
    that text and its ``user:password`` parts too. Forms under ``shortest`` are left out:
    they would match by chance."""
    raw = value.encode("utf-8", "surrogateescape")
    forms = {value, quote(value, safe=""), quote_plus(value), quote(value)}
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode("ascii")
        forms |= {text, text.rstrip("=")}
    forms.add(value.replace("\\", "\\\\").replace('"', '\\"').replace("/", "\\/"))
    if _BASE64ISH.fullmatch(value):
        try:
            decoded = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_")
            text = decoded.decode("utf-8")
        except (binascii.Error, ValueError):
            pass
        else:
            if text.isprintable():
                forms.add(text)
                forms |= set(text.split(":"))
    return {form for form in forms if len(form) >= shortest}
