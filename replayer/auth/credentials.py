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

import base64
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from retape.replayer.auth.mask import MASK, Masker
from retape.replayer.auth.secrets import parse_secrets

from retape.cassette.model import Header, Request
from retape.cassette.redact import PLACEHOLDER_RE, is_placeholder
from retape.common.errors import RetapeError

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VALID_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_K8S_PREFIX = "base64url.bearer.authorization.k8s.io."
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
    # Headers this one request carries from the live session (replayer.session_state): a
    # credential the server minted, the cookie jar's Cookie. They replace the recorded
    # header and win over --bearer-env/--header of the same name.
    live: tuple[Header, ...] = field(default=(), repr=False)
    # Every live value above in every form it may come back in; other code registers
    # more with ``masker.add`` (a token minted during the run). See :mod:`auth.mask`.
    masker: Masker = field(default_factory=Masker, repr=False, compare=False)

    def __post_init__(self) -> None:
        for _, value in (*self.headers, *self.live):
            for part in secret_parts(value):
                self.masker.add(part)
        for value in self.secrets.values():
            self.masker.add(value)

    def with_live(self, headers: Iterable[Header], minted: Iterable[str] = ()) -> Credentials:
        """These credentials, for one request that carries ``headers`` from its session;
        ``minted`` values (and the live headers) are masked from then on, as the rest."""
        for value in minted:
            self.masker.add(value)
        return replace(self, live=tuple(headers))

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
        live = {name.lower() for name, _ in self.live}
        kept = [
            (name, value)
            for name, value in request.headers
            if name.lower() not in drop
            and name.lower() not in carried
            and name.lower() not in live
            and not is_placeholder(value)
        ]
        supplied = [(n, v) for n, v in self.headers if n.lower() not in live]
        return kept + (supplied if request.credentials else []) + self._live_headers()

    def _live_headers(self) -> list[Header]:
        """The live headers; a jar's Cookie keeps the cookies --header supplied that the
        session did not set itself."""
        out = []
        for name, value in self.live:
            given = [v for n, v in self.headers if n.lower() == name.lower() == "cookie"]
            if given:
                set_here = {pair.split("=", 1)[0].strip() for pair in value.split(";")}
                kept = [
                    pair.strip()
                    for pair in given[0].split(";")
                    if pair.strip() and pair.split("=", 1)[0].strip() not in set_here
                ]
                value = "; ".join([*kept, value]) if value else "; ".join(kept)
            if value:
                out.append((name, value))
        return out

    @property
    def bearer(self) -> str | None:
        """The token of a live ``Authorization: Bearer`` header, if one is sent."""
        for name, value in self.headers:
            scheme, _, token = value.strip().partition(" ")
            if name.lower() == "authorization" and scheme.lower() == "bearer" and token:
                return token.strip()
        return None

    def subprotocols(self, offered: list[str]) -> list[str]:
        """The recorded websocket subprotocol offer with its redacted token filled in.

        A placeholder takes its ``--secret N=VAR`` value, else the ``--bearer-env`` token
        (base64url-encoded for Kubernetes' ``base64url.bearer.authorization.k8s.io.``);
        with neither, that entry (and a ``bearer`` marker before it) is not offered.
        """
        token = self.bearer
        out: list[str] = []
        for item in offered:
            if not is_placeholder(item):
                out.append(item)
                continue
            live = token
            if token is not None and item.startswith(_K8S_PREFIX):
                live = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")

            def fill(match: re.Match[str], live: str | None = live) -> str:
                return self.secrets.get(match[0]) or live or match[0]

            filled = PLACEHOLDER_RE.sub(fill, item)
            if is_placeholder(filled):
                if out and out[-1].lower() == "bearer":
                    out.pop()
                continue
            out.append(filled)
        return out

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
