"""API-key middleware modelled on vLLM's `AuthenticationMiddleware`, in selectable variants.

The variants exist so recordings can show a real regression and its fixes side by side:

- ``fixed``: upstream behaviour, ``scope.get("method")`` so websocket scopes are authenticated.
- ``regressed``: ``scope["method"]`` -- websocket scopes have no "method" key, so every
  websocket connection raises KeyError and uvicorn rejects the handshake with HTTP 500.
- ``open-websocket``: a bad "fix" that skips auth for every non-HTTP scope.

Variants that break (or merely change) the session after an accepted handshake, to show
the verdicts past the status (auth as in ``fixed`` unless said otherwise):

- ``drops-session``: the realtime session greets, then closes 1011 on the first event;
- ``auth-after-handshake``: the middleware lets websockets through and the realtime
  endpoint checks the key itself, closing 1008 before any event when it is wrong
  (as Tornado and Bokeh apps do): a refusal after the handshake;
- ``rechunked``: the same answers streamed in other chunks, with fresh ids as always;
- ``wrong-answer``: answers whose text differs.
"""

import hashlib
import secrets
from collections.abc import Awaitable, Callable

from starlette.datastructures import URL, Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

AUTH_VARIANTS: tuple[str, ...] = ("fixed", "regressed", "open-websocket")
SESSION_VARIANTS: tuple[str, ...] = (
    "drops-session",
    "auth-after-handshake",
    "rechunked",
    "wrong-answer",
)
VARIANTS: tuple[str, ...] = AUTH_VARIANTS + SESSION_VARIANTS


def token_hashes(tokens: list[str]) -> list[bytes]:
    # Hash once so comparisons are constant-time over equal-length digests, as vLLM does.
    return [hashlib.sha256(t.encode("utf-8")).digest() for t in tokens]


def verify_bearer(headers: Headers, hashes: list[bytes]) -> bool:
    """True when the bearer token matches any configured key."""
    value = headers.get("Authorization")
    if not value:
        return False
    scheme, _, param = value.partition(" ")
    if scheme.lower() != "bearer":
        return False
    param_hash = hashlib.sha256(param.encode("utf-8")).digest()
    match = False
    for token_hash in hashes:
        match |= secrets.compare_digest(param_hash, token_hash)
    return match


class AuthenticationMiddleware:
    """Pure ASGI middleware: paths under /v1 need `Authorization: Bearer <key>`."""

    def __init__(
        self,
        app: ASGIApp,
        tokens: list[str],
        variant: str = "fixed",
        ephemeral: Callable[[str], bool] | None = None,
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
        self.app = app
        self.variant = variant
        self.api_tokens = token_hashes(tokens)
        # Keys minted by POST /v1/realtime/sessions: good only for their realtime websocket.
        self.ephemeral = ephemeral or (lambda key: False)

    def verify_token(self, headers: Headers) -> bool:
        """True when the bearer token matches any configured key."""
        return verify_bearer(headers, self.api_tokens)

    def _passes_through(self, scope: Scope) -> bool:
        """Whether the scope skips auth entirely; this line is where the variants differ."""
        if self.variant == "regressed":
            # Faithful to the vLLM bug: KeyError for websocket scopes, surfacing as HTTP 500.
            return scope["type"] not in ("http", "websocket") or scope["method"] == "OPTIONS"
        if self.variant in ("open-websocket", "auth-after-handshake"):
            return scope["type"] != "http" or scope.get("method") == "OPTIONS"
        return scope["type"] not in ("http", "websocket") or scope.get("method") == "OPTIONS"

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if self._passes_through(scope):
            return self.app(scope, receive, send)
        root_path = scope.get("root_path", "")
        url_path = URL(scope=scope).path.removeprefix(root_path)
        headers = Headers(scope=scope)
        if url_path.startswith("/v1/realtime/sessions/") and scope["type"] == "websocket":
            key = headers.get("Authorization", "").partition(" ")[2]
            if self.ephemeral(key):  # the endpoint checks it is this session's key
                return self.app(scope, receive, send)
        if url_path.startswith("/v1") and not self.verify_token(headers):
            # Starlette prefixes "websocket." for websocket scopes: an ASGI denial response.
            response = JSONResponse(content={"error": "Unauthorized"}, status_code=401)
            return response(scope, receive, send)
        return self.app(scope, receive, send)
