"""What counts as a secret: header names, query parameters, body fields and token shapes.

The defaults cover the common credentials of HTTP APIs. Projects extend them in
``pyproject.toml`` under ``[tool.retape.redact]`` (see docs/security.md) or on the
command line; an allow-list exempts a known false positive.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote_plus

from retape.common.errors import RetapeError
from retape.common.pyproject import read_tool, section, strings

# Headers whose value is "SCHEME CREDENTIAL" (RFC 9110 11.6): the scheme word is not secret,
# so redaction, scanning, auth probes and reproducers all keep it ("Bearer <redacted:1>").
SCHEMED_HEADERS = frozenset({"authorization", "proxy-authorization"})
# Headers that carry *the* credential of a request: their values are replaced by the live
# credential at replay, and ``request.credentials`` lists the ones a request carried.
CREDENTIAL_HEADERS = SCHEMED_HEADERS | {"cookie", "set-cookie", "x-api-key", "api-key"}
# Any other header whose *name* says credential (see ``secret_name``) is redacted too, in
# requests and responses; these are challenges or policies, not secrets.
NOT_SECRET_HEADERS = frozenset(
    {"www-authenticate", "proxy-authenticate", "sec-websocket-protocol", "sec-websocket-accept"}
    | {"sec-websocket-key", "access-control-allow-credentials", "access-control-allow-headers"}
    | {"access-control-expose-headers", "access-control-request-headers", "vary"}
)
QUERY_PARAMS = frozenset(
    {
        "api_key", "apikey", "api-key", "key", "token", "access_token", "refresh_token",
        "id_token", "auth", "sig", "signature", "password", "passwd", "secret",
        "client_secret", "x-amz-signature", "x-amz-security-token", "session",
        "code",  # an OAuth authorization code: exchanged once for a token
    }
)  # fmt: skip
# Compared after normalising: lower case, without "_" and "-" (apiKey == api_key == api-key).
BODY_FIELDS = frozenset(
    {
        "password", "passwd", "pass", "apikey", "token", "accesstoken", "refreshtoken",
        "idtoken", "clientsecret", "secret", "authorization", "privatekey", "sessiontoken",
        "secretkey", "secretaccesskey", "apisecret", "xapikey", "cookie", "setcookie",
        "credentials", "bearer", "auth", "sessionid", "sessionkey", "otp", "pin", "passcode",
    }
)  # fmt: skip
# Words that make a header, query parameter or cookie name a credential's name wherever
# they appear in it (X-Amz-Security-Token, Private-Token, X-Goog-Api-Key, X-CSRF-Token,
# X-Hub-Signature-256, JSESSIONID, ...). Body fields use the stricter ``_FIELD_NAME``: a
# JSON body is full of ``max_tokens`` and ``session`` objects that are not secrets.
_NAME_WORDS = re.compile(
    r"token|secret|api-?key|passw(?:or)?d|csrf|xsrf|signature|session|sessid|credential"
    r"|private-?key|access-?key|cookie"
)
_AUTH_WORD = re.compile(r"(?:^|[^a-z])o?auth(?!or|ority)[a-z]*")
_FIELD_NAME = re.compile(
    r"(?:token|secret|password|passwd|apikey|privatekey|accesskey|csrf|xsrf|signature)$"
    r"|secret|password|passwd|apikey|privatekey|csrf|xsrf"
)
_TRIVIAL = re.compile(r"-?\d{1,12}(?:\.\d+)?|true|false|null|none|yes|no|on|off", re.IGNORECASE)


def trivial(value: object) -> bool:
    """A value no credential is: a number, a flag, nothing (``max_tokens: 100``)."""
    if value is None or isinstance(value, bool | int | float):
        return True
    return isinstance(value, str) and (not value.strip() or bool(_TRIVIAL.fullmatch(value)))


def secret_name(name: str) -> bool:
    """Whether a header, query parameter or cookie name says it holds a credential."""
    lower = name.lower().replace("_", "-")
    return bool(_NAME_WORDS.search(lower) or _AUTH_WORD.search(lower))


@dataclass(frozen=True)
class TokenShape:
    """A regular expression for a well-known token format; ``group`` is the secret part.

    ``hints``: literal strings one of which every match contains. Most strings in a
    recording (JSON keys, model names, chat text) contain none, and a substring test
    is far cheaper than running the expression: redaction runs on every string of
    every interaction. Empty means always run the expression (custom patterns).
    """

    name: str
    pattern: re.Pattern[str]
    group: int = 0
    hints: tuple[str, ...] = ()

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        if self.hints and not any(hint in text for hint in self.hints):
            return iter(())
        return self.pattern.finditer(text)


TOKEN_SHAPES: tuple[TokenShape, ...] = (
    TokenShape(
        "pem-private-key",
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----"
        ),
        hints=("-----BEGIN ",),
    ),
    TokenShape(
        "jwt",
        re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
        hints=("eyJ",),
    ),
    TokenShape(
        "openai-key",
        re.compile(r"\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{16,}"),
        hints=("sk-",),
    ),
    TokenShape("stripe-key", re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"), hints=("k_",)),
    TokenShape(
        "github-token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,})"),
        hints=("gh", "github_pat_"),
    ),
    TokenShape(
        "aws-access-key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), hints=("AKIA", "ASIA")
    ),
    TokenShape("slack-token", re.compile(r"\bxox[abposrce]-[A-Za-z0-9-]{10,}"), hints=("xox",)),
    TokenShape("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), hints=("AIza",)),
    TokenShape("huggingface-token", re.compile(r"\bhf_[A-Za-z0-9]{30,}"), hints=("hf_",)),
    TokenShape(
        "slack-webhook",
        re.compile(r"hooks\.slack\.com/(?:services|workflows|triggers)/([A-Za-z0-9/_-]{16,})"),
        group=1,
        hints=("hooks.slack.com/",),
    ),
    TokenShape(  # a webhook path forwarded without its host
        "slack-webhook-path",
        re.compile(r"/services/(T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{16,})"),
        group=1,
        hints=("/services/T",),
    ),
    TokenShape(
        "discord-webhook",
        re.compile(r"discord(?:app)?\.com/api/webhooks/(\d+/[A-Za-z0-9_-]{20,})"),
        group=1,
        hints=("/api/webhooks/",),
    ),
    TokenShape(
        "telegram-bot-token",
        re.compile(r"(?<![0-9])[0-9]{6,12}:AA[A-Za-z0-9_-]{30,}"),
        hints=(":AA",),
    ),
    TokenShape("bearer-token", re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{8,})"), group=1),
    TokenShape(
        "basic-credentials",
        re.compile(r"(?i)\bbasic\s+([A-Za-z0-9+/]{8,}={0,2})"),
        group=1,
        hints=("asic", "ASIC"),
    ),
    TokenShape(
        "k8s-subprotocol-token",
        re.compile(r"base64url\.bearer\.authorization\.k8s\.io\.([A-Za-z0-9_-]+)"),
        group=1,
        hints=("base64url.bearer.authorization.k8s.io.",),
    ),
    TokenShape(
        "url-password",
        re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:([^/\s@]+)@"),
        group=1,
        hints=("://",),
    ),
)


# "field": "value" in JSON text, and field: "value" (GraphQL arguments, JS, YAML-ish text).
_JSON_STRING_FIELD = re.compile(
    r'(?:"([A-Za-z0-9_.-]{1,64})"|(?<![A-Za-z0-9_$])([A-Za-z_][A-Za-z0-9_]{0,63}))'
    r'\s*:\s*"((?:[^"\\\n]|\\.)*)"'
)
_PARAM = re.compile(r"(?:^|(?<=[&;?#]))([^=&;?#\s]+)=([^&;#\s]*)")
# A whole body that is name=value pairs: read as a form whatever its content type says
# (OAuth token endpoints answer that way under text/plain).
_FORM_TEXT = re.compile(r"\s*[^=&\s]+=[^&\s]*(?:&[^=&\s]+=[^&\s]*)*\s*")
PLACEHOLDER_RE = re.compile(r"<redacted(?::\d+)?>")


@dataclass(frozen=True)
class Span:
    """Where a secret sits in a string, and which rule found it."""

    start: int
    end: int
    rule: str


def normalise_field(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class Rules:
    """The complete redaction rule set in force for one recording or one scan."""

    headers: frozenset[str] = CREDENTIAL_HEADERS
    query: frozenset[str] = QUERY_PARAMS
    fields: frozenset[str] = BODY_FIELDS
    shapes: tuple[TokenShape, ...] = TOKEN_SHAPES
    allow: tuple[re.Pattern[str], ...] = field(default=())

    def extended(
        self,
        *,
        headers: list[str] | tuple[str, ...] = (),
        query: list[str] | tuple[str, ...] = (),
        fields: list[str] | tuple[str, ...] = (),
        patterns: list[str] | tuple[str, ...] = (),
        allow: list[str] | tuple[str, ...] = (),
        where: str = "command line",
    ) -> Rules:
        """These rules plus extra names, regexes and allow-list entries."""
        return replace(
            self,
            headers=self.headers | {h.lower() for h in headers},
            query=self.query | {q.lower() for q in query},
            fields=self.fields | {normalise_field(f) for f in fields},
            shapes=self.shapes
            + tuple(
                TokenShape(f"custom-{n}", _compile(p, where)) for n, p in enumerate(patterns, 1)
            ),
            allow=self.allow + tuple(_compile(a, where) for a in allow),
        )

    def is_allowed(self, value: str) -> bool:
        return any(pattern.fullmatch(value) for pattern in self.allow)

    def is_exempt(self, value: str) -> bool:
        """Nothing to hide: empty, already a placeholder, or allow-listed."""
        return not value or PLACEHOLDER_RE.fullmatch(value) is not None or self.is_allowed(value)

    def is_secret_field(self, name: str, value: object = None) -> bool:
        """A JSON, form or GraphQL field whose value (at any depth) is a secret.

        Names in :data:`BODY_FIELDS` (and ``--redact-field``) always are; a name matched
        only by the credential words is not when its ``value`` is a count or a flag
        (``"max_tokens": 100``).
        """
        normal = normalise_field(name)
        if normal in self.fields:
            return True
        return bool(_FIELD_NAME.search(normal)) and not trivial(value)

    def is_credential_header(self, name: str) -> bool:
        """A header that carries the request's credential (replaced at replay)."""
        return name.lower() in self.headers

    def is_secret_header(self, name: str, value: str | None = None) -> bool:
        """Any header whose value is a secret: the credential headers, and every name
        that says credential (``secret_name``) but a few challenge or policy headers."""
        lower = name.lower()
        if lower in self.headers:
            return True
        return lower not in NOT_SECRET_HEADERS and secret_name(lower) and not trivial(value)

    def is_secret_param(self, name: str, value: str | None = None) -> bool:
        """A query, form, fragment or cookie parameter name (percent-decoded) of a secret."""
        decoded = unquote_plus(name).lower()
        if decoded in self.query or normalise_field(decoded) in self.fields:
            return True
        named = secret_name(decoded) or bool(_FIELD_NAME.search(normalise_field(decoded)))
        return named and not trivial(unquote_plus(value) if value else value)

    @staticmethod
    def looks_like_form(text: str) -> bool:
        """A body made only of ``name=value`` pairs, whatever its content type says."""
        return "=" in text and len(text) < 1 << 20 and _FORM_TEXT.fullmatch(text) is not None

    def spans(self, text: str, *, params: bool = False) -> list[Span]:
        """Secrets inside free text: token shapes, ``"field": "value"`` (and GraphQL's
        ``field: "value"``) pairs and, when ``params`` (a query string, a fragment or a
        form body), ``name=value`` pairs, names and values percent-decoded. Sorted, with
        overlaps removed; placeholders and allow-listed values are not secrets."""
        found: list[Span] = []
        for shape in self.shapes:
            for match in shape.finditer(text):
                found.append(Span(match.start(shape.group), match.end(shape.group), shape.name))
        if '"' in text and ":" in text:
            for match in _JSON_STRING_FIELD.finditer(text):
                name = match[1] or match[2]
                if match[3] and self.is_secret_field(name, match[3]):
                    found.append(Span(match.start(3), match.end(3), f"field:{name}"))
        if params and "=" in text:
            for match in _PARAM.finditer(text):
                if match[2] and self.is_secret_param(match[1], match[2]):
                    found.append(Span(match.start(2), match.end(2), f"param:{match[1]}"))
        return self.clean_spans(text, found)

    def clean_spans(self, text: str, found: list[Span]) -> list[Span]:
        """Sorted, without overlaps, placeholders or allow-listed values."""
        kept: list[Span] = []
        for span in sorted(found, key=lambda s: (s.start, -s.end)):
            value = text[span.start : span.end]
            if kept and span.start < kept[-1].end:
                continue
            if self.is_exempt(value):
                continue
            kept.append(span)
        return kept


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise RetapeError(f"{where}: invalid regular expression {pattern!r}: {exc}") from None


def load_rules(pyproject: Path | None = None) -> Rules:
    """Default rules extended by ``[tool.retape.redact]`` of the nearest pyproject.toml."""
    tool, path = read_tool(pyproject)
    known = {"headers", "query", "fields", "patterns", "allow"}
    table = section(tool, "redact", known, path)
    where = f"{path}: [tool.retape.redact]"
    return Rules().extended(**{key: strings(table, key, where) for key in table}, where=str(path))
