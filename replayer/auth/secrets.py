"""Placeholders outside credential headers: filled from the environment, or not sent.

Redaction can leave ``<redacted:N>`` in what the client sent: a password in a form
body, an ``api_key`` in a query string, a token inside a websocket message. Sending the
placeholder as if it were the value would test nothing and may lock an account, so
such an interaction is only replayed once every placeholder in it has a value:
``--secret N=VAR`` takes placeholder ``N``'s value from environment variable ``VAR``.
Credential headers are not filled here: they are replaced by --bearer-env/--header. Any
other header with an unfilled placeholder is dropped rather than blocking the interaction.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from retape.replayer.results import NOT_SENT

from retape.cassette.message_log import LazyMessages, mapped
from retape.cassette.model import Interaction, Message
from retape.cassette.redact import CREDENTIAL_HEADERS, PLACEHOLDER_RE
from retape.common.errors import RetapeError

_SPEC = re.compile(r"(?:<redacted:)?(\d+)>?=([A-Za-z_][A-Za-z0-9_]*)")


def parse_secrets(specs: Iterable[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``['3=LOGIN_PASSWORD']`` → ``{'<redacted:3>': value}``; values never echoed."""
    env = os.environ if environ is None else environ
    secrets: dict[str, str] = {}
    for spec in specs:
        match = _SPEC.fullmatch(spec.strip())
        if not match:
            raise RetapeError(f"--secret expects N=VARIABLE (e.g. 3=LOGIN_PASSWORD), got {spec!r}")
        number, variable = match.groups()
        value = env.get(variable, "")
        if not value:
            state = "is empty" if variable in env else "is not set"
            raise RetapeError(f"--secret {number}: environment variable {variable} {state}")
        secrets[f"<redacted:{number}>"] = value
    return secrets


def _fill(value: Any, secrets: Mapping[str, str], missing: set[str]) -> Any:
    if isinstance(value, str):
        if "<redacted" not in value:
            return value

        def swap(match: re.Match[str]) -> str:
            if match[0] in secrets:
                return secrets[match[0]]
            missing.add(match[0])
            return match[0]

        return PLACEHOLDER_RE.sub(swap, value)
    if isinstance(value, dict):
        return {key: _fill(item, secrets, missing) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, secrets, missing) for item in value]
    return value


def fill_placeholders(
    interaction: Interaction, secrets: Mapping[str, str]
) -> tuple[Interaction, list[str]]:
    """The interaction with what the client sends filled in, and the placeholders that block it.

    Only the client's side is filled (path, headers other than credential headers, body,
    client messages); the recorded response is what to expect and stays as it is.
    """
    if not _mentions_placeholder(interaction):
        return interaction, []  # the common case: nothing to fill, nothing to copy
    missing: set[str] = set()
    request = interaction.request
    # Credential headers are replaced by --bearer-env/--header, never filled here.
    carried = set(request.credentials) | CREDENTIAL_HEADERS
    # A header still holding a placeholder is dropped when sent (Credentials.headers_for):
    # headers are filled when a value is given, but never block the interaction.
    unfilled_in_headers: set[str] = set()
    headers = [
        (name, value if name.lower() in carried else _fill(value, secrets, unfilled_in_headers))
        for name, value in request.headers
    ]
    body = request.body
    if body is not None and body.kind in ("json", "text"):
        body = replace(body, value=_fill(body.value, secrets, missing))

    def filled_message(m: Message) -> Message:
        return replace(m, value=_fill(m.value, secrets, missing)) if m.sender == "client" else m

    if isinstance(interaction.messages, LazyMessages):  # a long session, read as needed:
        for message in interaction.messages:  # what is missing is known before anything is sent
            if message.sender == "client":
                _fill(message.value, secrets, missing)
    messages = mapped(interaction.messages, filled_message)
    filled = replace(
        interaction,
        request=replace(
            request, path=_fill(request.path, secrets, missing), headers=headers, body=body
        ),
        messages=messages,
    )
    return filled, sorted(missing, key=lambda p: int(p.split(":")[1].rstrip(">")))


def _mentions_placeholder(interaction: Interaction) -> bool:
    """Cheap pre-check: could anything the client sends hold a placeholder?"""
    request = interaction.request
    if "<redacted" in request.path or any("<redacted" in v for _, v in request.headers):
        return True
    if request.body is not None and "<redacted" in repr(request.body.value):
        return True
    return any("<redacted" in repr(m.value) for m in interaction.messages if m.sender == "client")


def needs_secret_error(missing: list[str]) -> str:
    numbers = [p.split(":")[1].rstrip(">") for p in missing]
    flags = " ".join(f"--secret {n}=VAR" for n in numbers)
    return f"{NOT_SENT}: it needs the redacted value(s) {', '.join(missing)} (pass {flags})"
