"""Removing secrets from interactions before anything reaches disk.

One :class:`Redactor` serves one cassette and is applied on every write path (the
recorder, ``retape redact``) and is what ``retape scan`` asks (:mod:`cassette.scan`), so
the two cannot disagree. Redaction is consistent within a cassette: the same secret
always becomes the same placeholder (``<redacted:1>``), so a reader can still see that
two requests used the same token.

What is a secret (docs/security.md has the list):

* by *name*: credential headers, and any header, query, fragment, form, multipart,
  cookie, JSON or GraphQL field whose name says credential (:mod:`cassette.rules`); a
  secret-named field's whole value goes, lists and objects included, at any depth;
* by *shape*: well-known token formats, wherever they occur (paths, SSE text,
  websocket text and binary frames, close reasons, any header);
* by *having been seen*: every value redacted anywhere is remembered (in memory only)
  and scrubbed wherever it reappears, raw or percent-, base64- or base64url-encoded
  (:func:`cassette.forms.forms_of`). Values shorter than :data:`MIN_KNOWN_SECRET`
  characters are not searched for that way, as they would match by chance.

Within one interaction a value learned late (a token in the response body) is also
scrubbed from the parts redacted before it: the interaction is redacted again whenever
the first pass learned something. Across interactions, the recorder rewrites the file
when it closes if a value learned later appears in lines already written
(:meth:`Redactor.learned` counts what was learned, see ``recorder.addon``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from typing import Any
from urllib.parse import unquote_plus

from retape.cassette.forms import forms_of
from retape.cassette.model import (
    Body,
    Close,
    Correlation,
    Header,
    Interaction,
    Message,
    Request,
    Response,
    header_value,
)
from retape.cassette.rules import CREDENTIAL_HEADERS, PLACEHOLDER_RE, Rules, Span, trivial

__all__ = ["CREDENTIAL_HEADERS", "Redactor", "is_placeholder", "placeholders_in"]

# Headers whose scheme word ("Bearer", "Basic") is kept in front of the placeholder.
_SCHEME = re.compile(r"(?i)(bearer|basic|digest|token|negotiate|aws4-hmac-sha256|hoba)\s+(.+)")
# Headers holding a URL, whose query string and fragment may carry a credential.
_URL_HEADERS = frozenset({"location", "content-location", "referer", "origin", "link", "refresh"})
_NUMBER = re.compile(r"<redacted:(\d+)>")
_K8S_PROTOCOL = re.compile(r"(base64url\.bearer\.authorization\.k8s\.io\.)(.+)")
_BOUNDARY = re.compile(r'(?i)boundary="?([^";]+)"?')
_PART_NAME = re.compile(r'(?i)content-disposition:[^\r\n]*?\bname="([^"]*)"')
MIN_KNOWN_SECRET = 8
_HIGH_AS_NUL = {code: 0 for code in range(0x80, 0x100)}
KNOWN = "known-credential"


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


def _media(headers: list[Header]) -> str:
    return (header_value(headers, "content-type") or "").split(";", 1)[0].strip().lower()


class Redactor:
    """Applies :class:`Rules` to interactions, numbering secrets per cassette."""

    def __init__(self, rules: Rules | None = None, *, first_number: int = 1) -> None:
        self.rules = rules or Rules()
        self._numbers: dict[bytes, int] = {}
        self._next = first_number
        self._secret_of: dict[str, str] = {}  # every known form -> the secret it encodes
        self._pattern: re.Pattern[str] | None = None
        self._stale = False
        self.learned = 0  # how many distinct values were learned so far
        self.rule_of: dict[int, str] = {}  # placeholder number -> the rule that found it

    @classmethod
    def continuing(cls, rules: Rules, existing_text: str) -> Redactor:
        """A redactor whose numbers start after the placeholders already in a cassette."""
        return cls(rules, first_number=highest_placeholder(existing_text) + 1)

    @property
    def assigned(self) -> int:
        """How many distinct secrets this redactor has replaced."""
        return len(self._numbers)

    def placeholder(self, secret: str, rule: str = "secret") -> str:
        if PLACEHOLDER_RE.fullmatch(secret.strip()):
            return secret  # already redacted: redaction is idempotent
        # One number per secret in any of its forms: an _xsrf cookie and the same value
        # percent-encoded in a login form are one secret, so one correlation can link them.
        secret = self._secret_of.get(secret, secret)
        digest = hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()
        if digest not in self._numbers:
            self._numbers[digest] = self._next
            self.rule_of[self._next] = rule
            self._next += 1
        self.learn(secret)
        return f"<redacted:{self._numbers[digest]}>"

    # -- learning -------------------------------------------------------------------------

    def learn(self, secret: str) -> None:
        """Remember a credential so it is scrubbed wherever else it shows up, in any form."""
        secret = secret.strip()
        if len(secret) < MIN_KNOWN_SECRET or secret in self._secret_of or trivial(secret):
            return
        if PLACEHOLDER_RE.search(secret) or self.rules.is_allowed(secret):
            return
        self.learned += 1
        decoded = unquote_plus(secret) if "%" in secret or "+" in secret else secret
        for value in {secret, decoded}:
            for form in forms_of(value, shortest=MIN_KNOWN_SECRET):
                if PLACEHOLDER_RE.search(form):
                    continue
                self._secret_of.setdefault(form, secret)
                latin = form.encode("utf-8", "surrogateescape").decode("latin-1")
                self._secret_of.setdefault(latin, secret)  # as found in binary data
        self._stale = True

    def known_forms(self) -> list[str]:
        """Every form of every learned value (for a quick "does this text hold one?")."""
        return list(self._secret_of)

    def _known(self) -> re.Pattern[str] | None:
        if self._stale:
            ordered = sorted(self._secret_of, key=len, reverse=True)  # whole values first
            self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
            self._stale = False
        return self._pattern

    # -- strings -------------------------------------------------------------------------

    def _replace(self, text: str, spans: list[Span]) -> str:
        for span in reversed(spans):
            found = text[span.start : span.end]
            text = text[: span.start] + self.placeholder(found, span.rule) + text[span.end :]
        return text

    def text(self, text: str, *, params: bool = False, view: str | None = None) -> str:
        """``text`` with every secret replaced. ``view`` (same length) is what the rules
        read instead, when that differs from what known values are searched in."""
        if not text:
            return text
        view = text if view is None else view
        params = params or self.rules.looks_like_form(view)
        spans = self.rules.spans(view, params=params)
        known = self._known()
        if known is not None:
            spans += [Span(m.start(), m.end(), KNOWN) for m in known.finditer(text)]
        return self._replace(text, self.rules.clean_spans(text, spans))

    def binary(self, data: bytes) -> bytes:
        """Bytes read as Latin-1 (one character per byte, so nothing is lost): token
        shapes, secret fields and known values are found in binary frames too. The rules
        read bytes over 0x7f as NUL, so a token next to binary noise still ends there."""
        text = data.decode("latin-1")
        scrubbed = self.text(text, view=text.translate(_HIGH_AS_NUL))
        return data if scrubbed == text else scrubbed.encode("latin-1")

    def path(self, path: str) -> str:
        """A path or URL: shapes in the path, secret parameters in query and fragment."""
        rest, hash_, fragment = path.partition("#")
        base, sep, query = rest.partition("?")
        out = self.text(base) + sep + (self.text(query, params=True) if sep else "")
        return out + hash_ + (self.text(fragment, params=True) if hash_ else "")

    def json(self, value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if self.rules.is_secret_field(str(key), item):
                    out[key] = self._secret_value(item, f"field:{key}")
                else:
                    out[key] = self.json(item)
            return out
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def _secret_value(self, value: Any, rule: str) -> Any:
        """Everything under a secret-named field: every string and number, at any depth."""
        if isinstance(value, dict):
            return {key: self._secret_value(item, rule) for key, item in value.items()}
        if isinstance(value, list):
            return [self._secret_value(item, rule) for item in value]
        if isinstance(value, bool) or value is None:
            return value
        text = str(value)
        if isinstance(value, str) and self.rules.is_exempt(text):
            return value
        return self.placeholder(text, rule)

    # -- message parts --------------------------------------------------------------------

    def headers(self, headers: list[Header]) -> tuple[list[Header], list[str]]:
        """The headers with secrets replaced, and which credential headers were present
        (``sec-websocket-protocol`` among them when a subprotocol carried a token)."""
        out: list[Header] = []
        carried: list[str] = []
        for name, value in headers:
            lower = name.lower()
            if lower == "sec-websocket-protocol":
                redacted = self._subprotocols(value)
                if redacted != value and lower not in carried:
                    carried.append(lower)
                out.append((name, redacted))
            elif self.rules.is_credential_header(lower):
                if lower not in carried:
                    carried.append(lower)
                out.append((name, self._credential(lower, value)))
            elif self.rules.is_secret_header(lower, value):
                out.append((name, self._credential(lower, value)))
            elif lower in _URL_HEADERS:
                out.append((name, self.path(value)))
            else:
                out.append((name, self.text(value)))
        return out, carried

    def _credential(self, lower: str, value: str) -> str:
        if self.rules.is_exempt(value.strip()):
            return value
        rule = f"header:{lower}"
        if lower == "cookie":
            self._learn_pairs(value.split(";"))
        elif lower == "set-cookie":
            self._learn_pairs(value.split(";", 1)[:1])
        scheme = _SCHEME.fullmatch(value.strip())
        if scheme:  # the scheme word stays readable: "Bearer <redacted:1>"
            secret = scheme[2].strip()
            if self.rules.is_exempt(secret):
                return value
            self._learn_basic(scheme[1], secret)
            return f"{scheme[1]} {self.placeholder(secret, rule)}"
        return self.placeholder(value, rule)

    def _learn_pairs(self, pairs: list[str]) -> None:
        for pair in pairs:
            self.learn(pair.partition("=")[2])

    def _learn_basic(self, scheme: str, secret: str) -> None:
        """A Basic credential's password is a secret of its own (forms_of decodes it)."""
        self.learn(secret)
        if scheme.lower() == "basic":
            for form in forms_of(secret, shortest=MIN_KNOWN_SECRET):
                if ":" in form:
                    self.learn(form.partition(":")[2])

    def _subprotocols(self, value: str) -> str:
        """``bearer, <token>`` and Kubernetes' ``base64url.bearer.authorization.k8s.io.
        <token>`` offers keep their shape with the token replaced (replay fills it)."""
        items = value.split(",")
        out: list[str] = []
        previous = ""
        for item in items:
            stripped = item.strip()
            k8s = _K8S_PROTOCOL.fullmatch(stripped)
            if previous.lower() == "bearer" and stripped and not self.rules.is_exempt(stripped):
                item = item.replace(stripped, self.placeholder(stripped, "subprotocol:bearer"))
            elif k8s and not self.rules.is_exempt(k8s[2]):
                for form in forms_of(k8s[2], shortest=MIN_KNOWN_SECRET):
                    self.learn(form)  # the token it encodes, wherever it is sent raw
                token = self.placeholder(k8s[2], "subprotocol:k8s")
                item = item.replace(stripped, k8s[1] + token)
            else:
                item = item.replace(stripped, self.text(stripped)) if stripped else item
            out.append(item)
            previous = stripped
        return ",".join(out)

    def body(self, body: Body | None, headers: list[Header]) -> Body | None:
        if body is None:
            return None
        if body.is_omitted:  # no content was kept; its note's content type is a header value
            return replace(body, content_type=self.text(body.content_type or "") or None)
        media = _media(headers)
        if media.startswith("multipart/"):
            return self._multipart_body(body, headers)
        if body.kind == "base64":
            return self._binary_body(body)
        if body.kind == "json":
            return replace(body, value=self.json(body.value))
        form = media == "application/x-www-form-urlencoded"
        return replace(body, value=self.text(str(body.value), params=form))

    def _binary_body(self, body: Body) -> Body:
        raw = body.to_bytes()
        scrubbed = self.binary(raw)
        if scrubbed == raw:
            return body
        return replace(body, value=base64.b64encode(scrubbed).decode("ascii"))

    def _multipart_body(self, body: Body, headers: list[Header]) -> Body:
        """Each part of a ``multipart/form-data`` body: a secret-named field's content
        goes whole; any other part is redacted as text."""
        boundary = _BOUNDARY.search(header_value(headers, "content-type") or "")
        raw = body.to_bytes() if body.kind != "json" else None
        if boundary is None or raw is None:
            return self._binary_body(body) if body.kind == "base64" else body
        text = raw.decode("latin-1")
        delimiter = "--" + boundary[1]
        parts = text.split(delimiter)
        for index, part in enumerate(parts[1:], 1):
            head, blank, content = part.partition("\r\n\r\n")
            if not blank:
                head, blank, content = part.partition("\n\n")
            name = _PART_NAME.search(head)
            value = content.rstrip("\r\n")
            tail = content[len(value) :]
            if name and value and self.rules.is_secret_field(name[1], value):
                content = self.placeholder(value, f"field:{name[1]}") + tail
            else:
                content = self.text(content)
            parts[index] = head + blank + content if blank else self.text(part)
        scrubbed = delimiter.join([self.text(parts[0]), *parts[1:]]).encode("latin-1")
        if scrubbed == raw:
            return body
        if body.kind == "text":
            return replace(body, value=scrubbed.decode("utf-8", "replace"))
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

    def close(self, close: Close | None) -> Close | None:
        if close is None or not close.reason:
            return close
        return replace(close, reason=self.text(close.reason))

    def interaction(self, interaction: Interaction) -> Interaction:
        """A copy of the interaction with every rule applied to every part.

        If the pass learned a value (a token minted in the response body), the
        interaction is redacted once more so the parts before it lose it too.
        """
        learned = self.learned
        redacted = self._interaction(interaction)
        if self.learned != learned:
            redacted = self._interaction(interaction)
        return redacted

    def _interaction(self, interaction: Interaction) -> Interaction:
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
                reason=self.text(response.reason),
            ),
            messages=[self.message(m) for m in interaction.messages],
            close=self.close(interaction.close),
            uses=[self.correlation(c) for c in interaction.uses],
        )

    def correlation(self, correlation: Correlation) -> Correlation:
        """A correlation whose recorded value is redacted as its uses are: a minted secret
        (a learned credential) becomes the same placeholder it is in the request."""
        return replace(correlation, value=self.text(correlation.value) or correlation.value)
