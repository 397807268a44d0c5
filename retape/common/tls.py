"""Loading a PEM file of CA certificates: one place for the recorder's ``--upstream-ca-file``
and the replayer's ``--ca-file``, so both fail the same way, at start, in one line.

Without this check the recorder would only notice a bad file at the first upstream
connection (as a 502), and the replayer at the first https request.
"""

from __future__ import annotations

import ssl

from retape.common.errors import RetapeError


def ca_context(path: str, *, flag: str) -> ssl.SSLContext:
    """A client context that trusts the CA certificate(s) in ``path`` instead of the system's.

    ``flag`` names the option in the error (``--ca-file FILE: no such file``).
    """
    try:
        return ssl.create_default_context(cafile=path)
    except FileNotFoundError:
        raise RetapeError(f"{flag} {path}: no such file") from None
    except ssl.SSLError as exc:
        raise RetapeError(
            f"{flag} {path}: not a PEM file of CA certificates ({exc.reason or exc})"
        ) from None
    except OSError as exc:
        raise RetapeError(f"{flag} {path}: cannot read: {exc.strerror or exc}") from None
