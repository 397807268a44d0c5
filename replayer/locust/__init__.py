"""Cassettes as a distributed Locust load test: ``retape locust`` and ``CassetteUser``.

Importing :class:`CassetteUser` imports Locust, which monkey-patches the process for
gevent; this package itself stays cheap, so the ``retape`` command can list the
``locust`` subcommand without patching anything.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CassetteUser", "RetapeFailure"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from retape.replayer.locust import user

        return getattr(user, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
