"""Live credentials for replay: taken from the environment, never from argv or cassettes.

A cassette stores credentials as placeholders (``Bearer <redacted:1>``) and lists the
headers that carried them in ``request.credentials``. At replay those headers are
dropped and the live ones put in their place, only on the interactions that were
recorded with credentials, so an unauthenticated request stays unauthenticated and a
recorded 401 still replays as a 401.

The values are secrets: they are never part of a message, ``repr`` or report, and
:meth:`Credentials.scrub` masks them in any text that came from a library.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from retape.replayer.auth.mask import MASK, Masker
from retape.replayer.auth.secrets import parse_secrets

from retape.cassette.model import Header, Request
from retape.cassette.redact import is_placeholder
from retape.common.errors import RetapeError

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VALID_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP header name (RFC 9110)
__all__ = ["MASK", "Credentials", "credentials_from_args", "secret_parts"]


def secret_parts(value: str) -> list[str]:
    """A credential header value and the secrets inside it: the part after a scheme
    word (``Bearer X``), and each cookie value (``a=1; b=2``)."""
    parts = [value, value.partition(" ")[2]]
    for pair in value.split(";"):
        name, equals, cookie = pair.strip().partition("=")
        if equals and name:
            parts.append(cookie)
    return [part.strip() for part in parts if part.strip()]


@dataclass(frozen=True)
class Credentials:
    """Headers to send on interactions recorded with credentials."""

    headers: tuple[Header, ...] = field(default=(), repr=False)
    # Values for redaction placeholders in what the client sends (--secret N=VAR).
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Every live value above in every form it may come back in; other code registers
    # more with ``masker.add`` (a token minted during the run). See :mod:`auth.mask`.
    masker: Masker = field(default_factory=Masker, repr=False, compare=False)

    def __post_init__(self) -> None:
        for _, value in self.headers:
            for part in secret_parts(value):
                self.masker.add(part)
        for value in self.secrets.values():
            self.masker.add(value)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name.lower() for name, _ in self.headers)

    def headers_for(self, request: Request, *, drop: frozenset[str]) -> list[Header]:
        """The recorded headers to send, with credentials swapped for the live ones.

        ``drop`` names (lower case) the headers the HTTP or WebSocket client manages
        itself. A recorded value holding a placeholder is never sent.
        """
        carried = set(request.credentials)
        if carried:
            carried |= self.names
        kept = [
            (name, value)
            for name, value in request.headers
            if name.lower() not in drop
            and name.lower() not in carried
            and not is_placeholder(value)
        ]
        return kept + list(self.headers) if request.credentials else kept

    def scrub(self, text: str) -> str:
        """``text`` with every live secret masked, in every form (see :mod:`auth.mask`)."""
        return self.masker.text(text)


def _expand(template: str, *, flag: str, environ: Mapping[str, str]) -> str:
    def value_of(match: re.Match[str]) -> str:
        variable = match.group(1)
        if not _VALID_NAME.fullmatch(variable):
            raise RetapeError(f"{flag}: {variable!r} is not an environment variable name")
        value = environ.get(variable, "")
        if not value:
            state = "is empty" if variable in environ else "is not set"
            raise RetapeError(f"{flag}: environment variable {variable} {state}")
        if any(ch in value for ch in "\r\n\0"):
            raise RetapeError(f"{flag}: environment variable {variable} contains a line break")
        return value

    if "${" in _VARIABLE.sub("", template):
        raise RetapeError(f"{flag}: unterminated '${{' in a header value")
    return _VARIABLE.sub(value_of, template)


def _parse_header(spec: str, *, environ: Mapping[str, str]) -> Header:
    # Only the name is ever echoed back: the value may be a literal secret.
    name, colon, template = spec.partition(":")
    name = name.strip()
    if not colon or not _TOKEN.fullmatch(name):
        raise RetapeError("--header expects 'Name: ${VARIABLE}', e.g. 'X-Api-Key: ${MY_KEY}'")
    flag = f"--header {name}"
    value = _expand(template.strip(), flag=flag, environ=environ)
    if not value:
        raise RetapeError(f"{flag}: empty value")
    return name, value


def credentials_from_args(
    *,
    bearer_env: str | None,
    header_specs: Iterable[str] = (),
    secret_specs: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """Build the live credentials from ``--bearer-env`` and ``--header`` flags."""
    env = os.environ if environ is None else environ
    headers: list[Header] = []
    if bearer_env is not None:
        token = _expand("${" + bearer_env + "}", flag="--bearer-env", environ=env)
        headers.append(("Authorization", f"Bearer {token}"))
    for spec in header_specs:
        name, value = _parse_header(spec, environ=env)
        if bearer_env is not None and name.lower() == "authorization":
            raise RetapeError("--header Authorization and --bearer-env both set Authorization")
        headers.append((name, value))
    return Credentials(tuple(headers), parse_secrets(secret_specs, env))
