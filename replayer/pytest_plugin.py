"""pytest plugin: cassettes as test files, interactions and auth probes as test items.

``pytest sessions/ --retape-target URL --retape-bearer-env VAR`` collects every YAML
file whose first key is ``retape:`` and makes each interaction (and, with
``--retape-auth-matrix``, each probe) an item with an id like
``#3-websocket-GET-/v1/realtime[no-credential]``, so ``-k``, ``-x``, ``--junitxml``,
``--lf`` and pytest-xdist work as usual. A failure shows the same diff as the CLI.

Each item replays its interaction on its own (a fresh connection, no state carried
from the items before it): that is what lets pytest select, reorder and distribute
items. A cassette whose interactions depend on each other (create, then use) is best
replayed with ``retape replay``, which keeps the recorded order.

Registered through the ``pytest11`` entry point, so it is loaded in every pytest run
of an environment where retape is installed: without ``--retape-target`` it does
nothing at all (and imports nothing beyond pytest).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from retape.replayer.auth.credentials import Credentials
    from retape.replayer.auth.probes import Probe
    from retape.replayer.compare.aspects import Comparison
    from retape.replayer.compare.ignore import IgnoreRules
    from retape.replayer.compare.keys import MessageRules
    from retape.replayer.config import ReplayConfig
    from retape.replayer.net.target import Target
    from retape.replayer.results import Result

    from retape.cassette.model import Cassette, Interaction

_CASSETTE_MARKER = re.compile(rb"^retape:", re.MULTILINE)
_SNIFF_BYTES = 4096


@dataclass(frozen=True)
class Settings:
    target: Target
    credentials: Credentials
    comparison: Comparison
    config: ReplayConfig
    auth_matrix: bool
    timeout: float


_SETTINGS = pytest.StashKey[Settings]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("retape", "retape: replay cassettes as tests")
    group.addoption(
        "--retape-target",
        metavar="URL",
        help="replay collected cassettes (*.yaml with a top-level 'retape:') against URL; "
        "without it the plugin does nothing",
    )
    group.addoption(
        "--retape-bearer-env",
        metavar="VAR",
        help="send 'Authorization: Bearer $VAR' where a credential was recorded",
    )
    group.addoption(
        "--retape-header",
        action="append",
        default=[],
        metavar="'NAME: ${VAR}'",
        help="send this header where a credential was recorded (repeatable)",
    )
    group.addoption(
        "--retape-auth-matrix",
        action="store_true",
        help="add a no-credential and a wrong-credential probe per authenticated interaction",
    )
    group.addoption(
        "--retape-compare",
        default="status",
        metavar="ASPECTS",
        help="comma-separated: status, headers, body, messages (default status)",
    )
    group.addoption(
        "--retape-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="bound on every network wait (default 10)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("retape_target"):
        return
    from retape.replayer.auth.credentials import credentials_from_args
    from retape.replayer.compare.aspects import Comparison, parse_aspects
    from retape.replayer.config import load_config
    from retape.replayer.net.target import parse_target

    from retape.cassette.errors import RetapeError

    timeout = config.getoption("retape_timeout")
    try:
        if not 0 < timeout < float("inf"):
            raise RetapeError(f"--retape-timeout: expected a positive number, got {timeout}")
        project = load_config()
        config.stash[_SETTINGS] = Settings(
            target=parse_target(config.getoption("retape_target")),
            credentials=credentials_from_args(
                bearer_env=config.getoption("retape_bearer_env"),
                header_specs=config.getoption("retape_header"),
            ),
            comparison=Comparison(
                parse_aspects(config.getoption("retape_compare")), project.message_key
            ),
            config=project,
            auth_matrix=config.getoption("retape_auth_matrix"),
            timeout=timeout,
        )
    except RetapeError as exc:
        raise pytest.UsageError(f"retape: {exc}") from None


def _is_cassette(path: Path) -> bool:
    """A cassette says so in its first key; any other YAML file is none of our business."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return False
    return _CASSETTE_MARKER.search(head) is not None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> CassetteFile | None:
    if _SETTINGS not in parent.config.stash or not _is_cassette(file_path):
        return None
    return CassetteFile.from_parent(parent, path=file_path)


def item_name(interaction: Interaction, probe: Probe | None = None) -> str:
    """``#3-websocket-GET-/v1/realtime[no-credential]``: readable, unique in its file."""
    request = interaction.request
    name = f"#{interaction.id}-{interaction.type}-{request.method}-{request.path}"
    # "::" separates node ids and "[" starts their parameters: a path keeps neither.
    name = name.replace("::", ":_:").replace("[", "%5B").replace("]", "%5D")
    return f"{name}[{probe.value}]" if probe is not None else name


class CassetteFile(pytest.File):
    """One cassette: loaded and validated at collection, so a bad file fails early."""

    def collect(self) -> Iterator[InteractionItem]:
        from retape.replayer.noise.file import noise_path, read_noise

        from retape.cassette.errors import RetapeError
        from retape.cassette.load import load_cassette

        settings = self.config.stash[_SETTINGS]
        shown = os.path.relpath(self.path, self.config.invocation_params.dir)
        try:
            cassette = load_cassette(shown if not shown.startswith("..") else self.path)
            noise = read_noise(noise_path(self.path), base=settings.config.messages)
            messages = noise.message_rules(settings.config.messages)
        except RetapeError as exc:
            raise self.CollectError(str(exc)) from None
        for interaction in cassette.interactions:
            rules = settings.config.ignore + noise.rules_for(interaction.id)
            probes = [None, *self._probes(settings, interaction)]
            for probe in probes:
                name = item_name(interaction, probe)
                yield InteractionItem.from_parent(
                    self,
                    name=name,
                    # A string id is parsed like the ids --lf stores ("[...]" = parameters).
                    nodeid=f"{self.nodeid}::{name}",
                    cassette=cassette,
                    interaction=interaction,
                    probe=probe,
                    rules=rules,
                    messages=messages,
                )

    @staticmethod
    def _probes(settings: Settings, interaction: Interaction) -> list[Probe]:
        from retape.replayer.auth.probes import Probe

        request = interaction.request
        if not settings.auth_matrix or not request.credentials:
            return []
        return [] if settings.config.is_public(request.path) else list(Probe)


class ReplayFailed(Exception):
    """Raised by an item whose row did not pass; carries the row for the report."""

    def __init__(self, result: Result) -> None:
        super().__init__(result.problem)
        self.result = result


class InteractionItem(pytest.Item):
    def __init__(
        self,
        *,
        cassette: Cassette,
        interaction: Interaction,
        probe: Probe | None,
        rules: IgnoreRules,
        messages: MessageRules,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.messages = messages
        self.cassette = cassette
        self.interaction = interaction
        self.probe = probe
        self.rules = rules

    def runtest(self) -> None:
        import asyncio

        from retape.cassette.errors import RetapeError

        try:
            result = asyncio.run(self._replay())
        except RetapeError as exc:  # an unreachable target, said once per item
            raise RetapeFailure(str(exc)) from None
        if not result.ok:
            raise ReplayFailed(result)

    async def _replay(self) -> Result:
        from retape.replayer.engine import Replayer
        from retape.replayer.net.http import open_session

        settings = self.config.stash[_SETTINGS]
        async with open_session() as session:
            replayer = Replayer(
                session,
                settings.target,
                settings.credentials,
                settings.timeout,
                settings.comparison,
                settings.config,
                rules_for=lambda cassette, interaction: self.rules,
                messages_for=lambda cassette: self.messages,
            )
            return await replayer.run(self.cassette, self.interaction, self.probe)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from retape.replayer.report.text import format_failure

        if isinstance(excinfo.value, ReplayFailed):
            return format_failure(excinfo.value.result)
        if isinstance(excinfo.value, RetapeFailure):
            return f"retape: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.name} {self.name}"


class RetapeFailure(Exception):
    """A usage-level problem met while running an item (the target is unreachable)."""
