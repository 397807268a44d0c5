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
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from retape.replayer.auth.probes import Probe
    from retape.replayer.compare.ignore import IgnoreRules
    from retape.replayer.compare.keys import MessageRules
    from retape.replayer.results import Result
    from retape.replayer.settings import Settings

    from retape.cassette.model import Cassette, Interaction

_CASSETTE_MARKER = re.compile(rb"^retape:", re.MULTILINE)
_SNIFF_BYTES = 4096


class _Run:
    """The session's plugin object: the settings, once; the rate, the deadline, the learner.

    Registered in :func:`pytest_configure`. In an xdist controller it also gathers every
    worker's rows for ``--retape-markdown``; each worker saves what it learned.
    """

    def __init__(self, settings: Settings, *, controller: bool) -> None:
        import time

        from retape.replayer.schedule import RateLimit

        self.settings = settings
        # Loop time is monotonic time, so one deadline and one rate serve every item's loop.
        self.deadline_at = time.monotonic() + settings.deadline if settings.deadline else None
        self.starts = RateLimit(settings.pacing.rate)
        self.learner = settings.learner()
        self.controller = controller  # not an xdist worker: writes the --retape-markdown report
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = getattr(report, "retape_row", None)
        if row is not None and self.controller:
            self.rows.append(row)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from retape.common.errors import RetapeError

        try:
            if self.learner is not None:
                for path, n, _dropped in self.learner.save():
                    self.notes.append(f"learned {n} noise rule{'s' if n != 1 else ''} -> {path}")
            if self.controller and self.settings.markdown:
                _write_markdown(self)
        except RetapeError as exc:
            self.notes.append(f"error: {exc}")
            session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for note in self.notes:
            terminalreporter.write_line(f"retape: {note}")


_RUN = pytest.StashKey[_Run]()


def pytest_addoption(parser: pytest.Parser) -> None:
    from retape.replayer.options import add_pytest_options

    add_pytest_options(parser.getgroup("retape", "retape: replay cassettes as tests"))


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("retape_target"):
        return
    from retape.replayer.options import from_pytest
    from retape.replayer.settings import check_writable, settings_from

    from retape.common.errors import RetapeError

    try:
        settings = settings_from(from_pytest(config.getoption))
        check_writable("--retape-markdown", settings.markdown)
    except RetapeError as exc:
        raise pytest.UsageError(f"retape: {exc}") from None
    run = _Run(settings, controller=not hasattr(config, "workerinput"))
    config.stash[_RUN] = run
    config.pluginmanager.register(run, "retape-run")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """With --retape-markdown, each row rides on its report: pytest serialises a report's
    ``__dict__``, so pytest-xdist ships the row to the controller with it."""
    report = yield
    row = getattr(item, "row", None)
    if call.when == "call" and row is not None and item.config.stash[_RUN].settings.markdown:
        vars(report)["retape_row"] = row.to_json()
    return report


def _write_markdown(run: _Run) -> None:
    """The CLI's --markdown report, from the rows of every item (every worker's too)."""
    from retape.replayer.report.markdown import render_markdown, write_markdown
    from retape.replayer.results import Result, Summary

    from retape.cassette.load import load_cassette
    from retape.cassette.model import Cassette
    from retape.common.errors import RetapeError

    rows = [Result.from_json(row) for row in run.rows]
    wanted: dict[str, set[int]] = {}
    for row in rows:
        if not row.ok:
            wanted.setdefault(row.cassette, set()).add(row.id)
    shown = []
    for path, ids in wanted.items():
        cassette = load_cassette(path)
        shown.append(
            Cassette(cassette.recording, [i for i in cassette.interactions if i.id in ids], path)
        )
    settings = run.settings
    text = render_markdown(
        rows,
        Summary.of(rows, duration=sum(r.duration for r in rows)),
        cassettes=shown,
        target=str(settings.target),
        credentials=settings.credentials,
    )
    path = settings.markdown or ""
    try:
        write_markdown(path, text)
    except OSError as exc:
        raise RetapeError(
            f"--retape-markdown {path}: cannot write: {exc.strerror or exc}"
        ) from None


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
    if _RUN not in parent.config.stash or not _is_cassette(file_path):
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
        from retape.replayer.auth.probes import probes_for
        from retape.replayer.noise.file import noise_path, read_noise

        from retape.cassette.errors import RetapeError
        from retape.cassette.model import Cassette
        from retape.cassette.stream import open_cassette

        settings = self.config.stash[_RUN].settings
        shown = os.path.relpath(self.path, self.config.invocation_params.dir)
        try:
            # Streamed, so that a long session is read message by message when it runs.
            stream = open_cassette(shown if not shown.startswith("..") else self.path)
            cassette = Cassette(stream.recording, list(stream), stream.path)
            noise = read_noise(noise_path(self.path), base=settings.config.messages)
            messages = noise.message_rules(settings.config.messages)
        except RetapeError as exc:
            raise self.CollectError(str(exc)) from None
        for interaction in cassette.interactions:
            rules = settings.ignore + noise.rules_for(interaction.id)
            probes = probes_for(interaction, settings.config) if settings.auth_matrix else []
            for probe in [None, *probes]:
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
        self.row: Result | None = None

    def runtest(self) -> None:
        import asyncio

        from retape.cassette.errors import RetapeError

        try:
            result = asyncio.run(self._replay())
        except RetapeError as exc:  # an unreachable target, said once per item
            raise RetapeFailure(str(exc)) from None
        self.row = result
        if not result.ok:
            raise ReplayFailed(result)

    async def _replay(self) -> Result:
        import asyncio

        from retape.replayer.engine import Replayer
        from retape.replayer.net.http import open_session

        run = self.config.stash[_RUN]
        settings = run.settings
        async with open_session(tls=settings.target.tls) as session:
            replayer = Replayer(
                session,
                settings.target,
                settings.credentials,
                settings.timeout,
                settings.comparison,
                settings.config,
                rules_for=lambda cassette, interaction: self.rules,
                messages_for=lambda cassette: self.messages,
                deadline_at=run.deadline_at,
            )
            learner = run.learner if self.probe is None else None
            if learner is not None and learner.first_pass:
                await run.starts.wait()
                await learner.observe(replayer, self.cassette, self.interaction)
                await asyncio.sleep(learner.pass_gap)
            await run.starts.wait()
            return await replayer.run(self.cassette, self.interaction, self.probe, learner=learner)

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
