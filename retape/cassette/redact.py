"""Removing secrets from interactions before anything reaches disk.

One :class:`Redactor` serves one cassette and is applied on every write path (the
recorder, ``retape redact``). Redaction is consistent within a cassette: the same
secret always becomes the same placeholder (``<redacted:1>``), so a reader can still
see that two requests used the same token.

Credential header values seen in a cassette are also remembered (in memory only) and
scrubbed wherever they reappear: a token echoed in a body, a cookie value copied into a
websocket message. Secrets shorter than 8 characters are not searched for that way, as
they would match by chance.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from typing import Any

from retape.cassette.model import (
    Body,
    Correlation,
    Header,
    Interaction,
    Message,
    Request,
    Response,
    header_value,
)
from retape.cassette.rules import (
    CREDENTIAL_HEADERS,
    PLACEHOLDER_RE,
    SCHEMED_HEADERS,
    Rules,
    Span,
)

__all__ = ["CREDENTIAL_HEADERS", "Redactor", "is_placeholder", "placeholders_in"]

# Headers whose scheme word ("Bearer", "Basic") is kept in front of the placeholder.
# Headers holding a URL, whose query string may carry a credential.
_URL_HEADERS = frozenset({"location", "content-location", "referer", "origin", "link"})
_NUMBER = re.compile(r"<redacted:(\d+)>")
MIN_KNOWN_SECRET = 8


def is_placeholder(value: str) -> bool:
    """True if a value holds a redaction placeholder and must never be sent as-is."""
    return PLACEHOLDER_RE.search(value) is not None


def highest_placeholder(text: str) -> int:
    """The largest N of any ``<redacted:N>`` in ``text`` (0 when there is none)."""
    return max((int(n) for n in _NUMBER.findall(text)), default=0)


def placeholders_in(value: Any) -> set[str]:
    """Every placeholder inside a string or a JSON-like structure."""
    if isinstance(value, str):
        return set(PLACEHOLDER_RE.findall(value))
    if isinstance(value, dict):
        return set().union(*(placeholders_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(placeholders_in(v) for v in value)) if value else set()
    return set()


def _is_form(headers: list[Header]) -> bool:
    content_type = header_value(headers, "content-type") or ""
    return content_type.lower().startswith("application/x-www-form-urlencoded")


class Redactor:
    """Applies :class:`Rules` to interactions, numbering secrets per cassette."""

    def __init__(self, rules: Rules | None = None, *, first_number: int = 1) -> None:
        self.rules = rules or Rules()
        self._numbers: dict[bytes, int] = {}
        self._next = first_number
        self._known: list[str] = []  # credential values seen, longest first

    @classmethod
    def continuing(cls, rules: Rules, existing_text: str) -> Redactor:
        """A redactor whose numbers start after the placeholders already in a cassette."""
        return cls(rules, first_number=highest_placeholder(existing_text) + 1)

    @property
    def assigned(self) -> int:
        """How many distinct secrets this redactor has replaced."""
        return len(self._numbers)

    def placeholder(self, secret: str) -> str:
        digest = hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()
        if digest not in self._numbers:
            self._numbers[digest] = self._next
            self._next += 1
        return f"<redacted:{self._numbers[digest]}>"

    # -- strings -------------------------------------------------------------------------

    def _replace(self, text: str, spans: list[Span]) -> str:
        for span in reversed(spans):
            secret = text[span.start : span.end]
            text = text[: span.start] + self.placeholder(secret) + text[span.end :]
        return text

    def learn(self, secret: str) -> None:
        """Remember a credential so it is scrubbed wherever else it shows up."""
        secret = secret.strip()
        if len(secret) >= MIN_KNOWN_SECRET and secret not in self._known:
            self._known.append(secret)
            self._known.sort(key=len, reverse=True)

    def text(self, text: str, *, params: bool = False) -> str:
        spans = self.rules.spans(text, params=params)
        for secret in self._known:
            start = text.find(secret)
            while start >= 0:
                spans.append(Span(start, start + len(secret), "known-credential"))
                start = text.find(secret, start + len(secret))
        return self._replace(text, self.rules.clean_spans(text, spans))

    def binary(self, data: bytes) -> bytes:
        for secret in self._known:
            data = data.replace(secret.encode(), self.placeholder(secret).encode())
        return data

    def path(self, path: str) -> str:
        base, sep, query = path.partition("?")
        return self.text(base) + sep + (self.text(query, params=True) if sep else "")

    def json(self, value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                secret = self.rules.is_secret_field(str(key)) and isinstance(item, str | int)
                if secret and not self.rules.is_exempt(str(item)):
                    out[key] = self.placeholder(str(item))
                else:
                    out[key] = self.json(item)
            return out
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def _exempt(self, value: str) -> bool:
        return (
            value == ""
            or PLACEHOLDER_RE.fullmatch(value) is not None
            or self.rules.is_allowed(value)
        )

    # -- message parts --------------------------------------------------------------------

    def headers(self, headers: list[Header]) -> tuple[list[Header], list[str]]:
        """The headers with credentials replaced, and which credential headers were present."""
        out: list[Header] = []
        carried: list[str] = []
        for name, value in headers:
            lower = name.lower()
            if lower in self.rules.headers:
                if lower not in carried:
                    carried.append(lower)
                out.append((name, self._credential(lower, value)))
            elif lower in _URL_HEADERS:
                out.append((name, self.path(value)))
            else:
                out.append((name, self.text(value)))
        return out, carried

    def _credential(self, lower: str, value: str) -> str:
        if self.rules.is_exempt(value):
            return value
        self._learn_credential(lower, value)
        scheme, sep, secret = value.partition(" ")
        if lower in SCHEMED_HEADERS and sep and secret.strip():
            if self.rules.is_exempt(secret.strip()):
                return value
            return f"{scheme} {self.placeholder(secret.strip())}"
        return self.placeholder(value)

    def _learn_credential(self, lower: str, value: str) -> None:
        self.learn(value)
        if lower == "cookie":
            for pair in value.split(";"):
                self.learn(pair.partition("=")[2])
        elif lower == "set-cookie":
            self.learn(value.split(";", 1)[0].partition("=")[2])
        else:
            self.learn(value.partition(" ")[2])

    def body(self, body: Body | None, headers: list[Header]) -> Body | None:
        if body is None:
            return None
        if body.is_omitted:  # no content was kept; its note's content type is a header value
            return replace(body, content_type=self.text(body.content_type or "") or None)
        if body.kind == "base64":
            return self._binary_body(body)
        if body.kind == "json":
            return replace(body, value=self.json(body.value))
        return replace(body, value=self.text(str(body.value), params=_is_form(headers)))

    def _binary_body(self, body: Body) -> Body:
        raw = body.to_bytes()
        scrubbed = self.binary(raw)
        if scrubbed == raw:
            return body
        return replace(body, value=base64.b64encode(scrubbed).decode("ascii"))

    def message(self, message: Message) -> Message:
        if message.kind == "json":
            return replace(message, value=self.json(message.value))
        if message.kind == "text":
            return replace(message, value=self.text(str(message.value)))
        raw = message.payload()
        assert isinstance(raw, bytes)
        scrubbed = self.binary(raw)
        if scrubbed == raw:
            return message
        return replace(message, value=base64.b64encode(scrubbed).decode("ascii"))

    def interaction(self, interaction: Interaction) -> Interaction:
        """A copy of the interaction with every rule applied to every part."""
        request, response = interaction.request, interaction.response
        # Headers first: the credentials they carry are then scrubbed from everything else.
        req_headers, carried = self.headers(request.headers)
        resp_headers, _ = self.headers(response.headers)
        credentials = list(dict.fromkeys([*request.credentials, *carried]))
        return replace(
            interaction,
            request=Request(
                method=request.method,
                path=self.path(request.path),
                headers=req_headers,
                body=self.body(request.body, request.headers),
                credentials=credentials,
            ),
            response=Response(
                status=response.status,
                headers=resp_headers,
                body=self.body(response.body, response.headers),
                reason=response.reason,
            ),
            messages=[self.message(m) for m in interaction.messages],
            uses=[self.correlation(c) for c in interaction.uses],
        )

    def correlation(self, correlation: Correlation) -> Correlation:
        """A correlation whose recorded value is redacted as its uses are: a minted secret
        (a learned credential) becomes the same placeholder it is in the request."""
        return replace(correlation, value=self.text(correlation.value) or correlation.value)
