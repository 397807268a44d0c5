"""Auth probes: each interaction recorded with a credential, replayed without a valid one.

Replaying authenticated traffic proves authenticated users are still served; only a
probe proves the others are still refused. A bad "fix" that skips auth for websocket
scopes passes every authenticated replay and fails here with a 101.

A probe is just another set of credentials for the same request: ``no-credential``
sends none, ``wrong-credential`` sends the same headers with a value no server
accepts (the scheme word kept, ``Bearer retape-wrong-credential``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from retape.replayer.auth.credentials import Credentials

from retape.cassette.model import Interaction, Request
from retape.cassette.rules import PLACEHOLDER_RE, SCHEMED_HEADERS

if TYPE_CHECKING:
    from retape.replayer.config import ReplayConfig

WRONG = "retape-wrong-credential"


class Probe(StrEnum):
    NO_CREDENTIAL = "no-credential"
    WRONG_CREDENTIAL = "wrong-credential"


def _wrong(name: str, value: str) -> str:
    if name.lower() in SCHEMED_HEADERS and " " in value.strip():
        return f"{value.strip().partition(' ')[0]} {WRONG}"
    return WRONG


def probe_credentials(probe: Probe, request: Request, live: Credentials) -> Credentials:
    """The credentials a probe sends in place of ``live`` for ``request``."""
    if probe is Probe.NO_CREDENTIAL:
        return Credentials(())
    if live.headers:
        return Credentials(tuple((name, _wrong(name, value)) for name, value in live.headers))
    recorded = [(n, v) for n, v in request.headers if n.lower() in set(request.credentials)]
    return Credentials(tuple((n, PLACEHOLDER_RE.sub(WRONG, v)) for n, v in recorded))


def probes_for(interaction: Interaction, config: ReplayConfig) -> list[Probe]:
    """The probes ``--auth-matrix`` adds after an interaction: the one rule, for both the
    CLI and the pytest plugin.

    Only an interaction recorded with a credential is probed (without one there is nothing
    to take away), and not one whose path ``[tool.retape.auth_matrix] public`` names.
    """
    request = interaction.request
    if not request.credentials or config.is_public(request.path):
        return []
    return list(Probe)
