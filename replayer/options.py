"""Every replay option, declared once; ``retape replay``'s flags and the pytest plugin's
``--retape-*`` options are both generated from :data:`OPTIONS`.

The model is mitmproxy's ``optmanager.make_parser``: a front end never spells a flag by
hand, so the CLI and the plugin cannot drift (a new option reaches both, with the same
type, default, choices and help). An option that means nothing inside pytest says why in
:attr:`Option.not_in_pytest`, naming what pytest offers instead; a test pins that every
other one is in the plugin.

Only argparse is imported: ``retape`` imports this on every start, and the plugin on
every pytest run of an environment where retape is installed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from retape.common.errors import RetapeError

DEFAULT_TIMEOUT = 10.0
DEFAULT_CONCURRENCY = 8  # replayer.schedule.DEFAULT_CONCURRENCY, without importing asyncio here
PYTEST_PREFIX = "retape-"


def positive(unit: str = "") -> Callable[[str], float]:
    """An argparse type: a finite number above zero, errors phrased with ``unit``."""
    what = f"a number of {unit}" if unit else "a number"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"expected a positive {what[2:]}, got {text!r}")
        return value

    return parse


def positive_int(text: str) -> int:
    """An argparse type: a whole number, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {text!r}")
    return value


@dataclass(frozen=True)
class Group:
    """A heading in ``--help``; the plugin shows every option under one ``retape`` group."""

    title: str
    description: str | None = None


@dataclass(frozen=True)
class Option:
    """One replay option: ``--NAME`` on the CLI, ``--retape-NAME`` in pytest."""

    name: str
    help: str
    group: Group | None = None
    type: Callable[[str], Any] | None = None
    default: Any = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    repeatable: bool = False  # may be given more than once; the value is a list
    switch: bool = False  # takes no value; True when given
    dest: str | None = None  # attribute name; the flag name with '_' by default
    required_in_cli: bool = False
    exclusive: str | None = None  # options sharing this key may not be given together
    pytest_help: str | None = None  # where the plugin's wording must differ
    not_in_pytest: str | None = None  # why the plugin has no such option, and what instead

    @property
    def attr(self) -> str:
        return self.dest or self.name.replace("-", "_")

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def pytest_flag(self) -> str:
        return f"--{PYTEST_PREFIX}{self.name}"

    @property
    def pytest_attr(self) -> str:
        return f"retape_{self.attr}"

    @property
    def initial(self) -> Any:
        """The value when the option is not given."""
        if self.repeatable:
            return []
        return False if self.switch else self.default

    def kwargs(self, *, help: str) -> dict[str, Any]:
        """``add_argument`` keywords, shared by argparse and pytest's parser."""
        if self.switch:
            return {"action": "store_true", "help": help}
        kwargs: dict[str, Any] = {"help": help, "metavar": self.metavar}
        if self.repeatable:
            kwargs.update(action="append", default=[])
        else:
            kwargs["default"] = self.default
        if self.type is not None:
            kwargs["type"] = self.type
        if self.choices is not None:
            kwargs["choices"] = list(self.choices)
            kwargs.pop("metavar")
        return kwargs


CREDENTIALS = Group(
    "credentials",
    "Sent only on interactions recorded with credentials, in place of the redacted "
    "headers. Values come from the environment, never from the command line.",
)
COMPARISON = Group(
    "comparison",
    "The status is always compared. Deeper aspects are opt-in; ignore rules (JSON paths "
    "such as '$.id' or '$..event_id', or 'header:NAME') come from [tool.retape.compare] "
    "in pyproject.toml, from CASSETTE.noise.toml beside each cassette, and from --ignore.",
)
AUTH_MATRIX = Group("auth matrix")
REPORTS = Group("reports")
LIMITS = Group(
    "limits and TLS",
    "Every network wait is bounded by --timeout; --deadline bounds the whole run. "
    "An https target is verified against the system's CAs unless told otherwise.",
)
PACING = Group(
    "concurrency and pacing",
    "Cassettes run side by side; a cassette's interactions run in recorded order. "
    "Rows are always reported in recorded order. --rate and --speed spare a shared "
    "staging server.",
)
_ITEMS_ALONE = (
    "each pytest item replays one interaction on its own connection; pytest-xdist's "
    "-n spreads items over processes"
)

OPTIONS: tuple[Option, ...] = (
    Option(
        "target",
        "http(s)://host:port[/prefix]; the prefix goes before every recorded path",
        metavar="URL",
        required_in_cli=True,
        pytest_help="replay collected cassettes (*.yaml with a top-level 'retape:') against "
        "URL, http(s)://host:port[/prefix]; without it the plugin does nothing",
    ),
    Option(
        "timeout",
        f"bound on every network wait (default {DEFAULT_TIMEOUT:g})",
        type=positive("seconds"),
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
    ),
    Option("bearer-env", "send 'Authorization: Bearer $VAR'", CREDENTIALS, metavar="VAR"),
    Option(
        "header",
        "send this header, ${VAR} expanded from the environment (repeatable)",
        CREDENTIALS,
        repeatable=True,
        dest="headers",
        metavar="'NAME: ${VAR}'",
    ),
    Option(
        "secret",
        "value for placeholder <redacted:N> in what the client sends (a form password, "
        "a query key), from environment variable VAR (repeatable); an interaction with an "
        "unfilled placeholder is reported, not sent",
        CREDENTIALS,
        repeatable=True,
        dest="secrets",
        metavar="N=VAR",
    ),
    Option(
        "compare",
        "comma-separated: status, headers, body, messages (default status)",
        COMPARISON,
        default="status",
        metavar="ASPECTS",
    ),
    Option(
        "ignore",
        "ignore this JSON path or header:NAME in every interaction (repeatable)",
        COMPARISON,
        repeatable=True,
        metavar="RULE",
    ),
    Option(
        "shape",
        "compare this JSON path by shape only: same keys and value types, values free "
        "(model output); '$' for whole bodies and messages (repeatable)",
        COMPARISON,
        repeatable=True,
        metavar="RULE",
    ),
    Option(
        "learn-noise",
        "learn the fields that differ between two runs and add them to "
        "CASSETTE.noise.toml before comparing",
        COMPARISON,
        switch=True,
    ),
    Option(
        "noise-baseline",
        "learn from two replays (default), or from the recording and one replay "
        "(only against the build that was recorded)",
        COMPARISON,
        choices=("replay", "recording"),
        default="replay",
    ),
    Option(
        "auth-matrix",
        "also replay every interaction recorded with a credential without one and "
        "with a wrong one; each must be refused",
        AUTH_MATRIX,
        switch=True,
    ),
    Option(
        "refusal",
        "statuses that count as a refusal (default 401,403 or [tool.retape.auth_matrix])",
        AUTH_MATRIX,
        metavar="CODES",
    ),
    Option(
        "json",
        "write a JSON report",
        REPORTS,
        metavar="FILE",
        not_in_pytest="pytest reports per item: --junitxml, or pytest-reportlog's --report-log",
    ),
    Option(
        "junit",
        "write a JUnit XML report",
        REPORTS,
        metavar="FILE",
        not_in_pytest="pytest's own --junitxml writes one testcase per item",
    ),
    Option(
        "jsonl",
        "write JSON Lines: one row per line as it is reported",
        REPORTS,
        metavar="FILE",
        not_in_pytest="pytest-reportlog's --report-log writes one line per item",
    ),
    Option("markdown", "write a Markdown report to paste into an issue", REPORTS, metavar="FILE"),
    Option(
        "deadline",
        "stop sending after this long; the rest are reported as 'not run: deadline "
        "reached' rows and the run exits 1 (default: no deadline)",
        LIMITS,
        type=positive("seconds"),
        metavar="SECONDS",
    ),
    Option(
        "ca-file",
        "verify an https target with the CA certificate(s) in this PEM file",
        LIMITS,
        metavar="FILE",
        exclusive="trust",
    ),
    Option(
        "insecure",
        "do not verify an https target's certificate (self-signed staging)",
        LIMITS,
        switch=True,
        exclusive="trust",
    ),
    Option(
        "concurrency",
        f"at most N interactions in flight at once (default {DEFAULT_CONCURRENCY})",
        PACING,
        type=positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        not_in_pytest=_ITEMS_ALONE,
    ),
    Option(
        "unordered",
        "let a cassette's interactions run at the same time (only when none depends "
        "on an earlier one; a cassette with correlations keeps its order)",
        PACING,
        switch=True,
        not_in_pytest=_ITEMS_ALONE,
    ),
    Option(
        "rate",
        "start at most R requests per second, overall (default: no limit)",
        PACING,
        type=positive(),
        metavar="R",
    ),
    Option(
        "speed",
        "follow the recorded timing, F times faster (1 = real time); each cassette "
        "from its first interaction",
        PACING,
        type=positive(),
        metavar="F",
        not_in_pytest="pytest selects and reorders items (-k, --lf, -n), so there is no "
        "recorded timeline to follow",
    ),
)

IN_PYTEST = tuple(o for o in OPTIONS if o.not_in_pytest is None)


def add_arguments(parser: argparse.ArgumentParser, options: Iterable[Option] = OPTIONS) -> None:
    """The ``retape replay`` flags, grouped under their headings, in declaration order."""
    groups: dict[Group, Any] = {}
    exclusive: dict[tuple[Group | None, str], Any] = {}
    for option in options:
        where: Any = parser
        if option.group is not None:
            if option.group not in groups:
                group = option.group
                groups[group] = parser.add_argument_group(group.title, group.description)
            where = groups[option.group]
        if option.exclusive is not None:
            key = (option.group, option.exclusive)
            if key not in exclusive:
                exclusive[key] = where.add_mutually_exclusive_group()
            where = exclusive[key]
        kwargs = option.kwargs(help=option.help)
        if option.required_in_cli:
            kwargs.update(required=True, default=None)
        where.add_argument(option.flag, dest=option.attr, **kwargs)


def add_pytest_options(group: Any, options: Iterable[Option] = IN_PYTEST) -> None:
    """The plugin's ``--retape-*`` options (``group`` is a pytest ``OptionGroup``)."""
    for option in options:
        kwargs = option.kwargs(help=option.pytest_help or option.help)
        group.addoption(option.pytest_flag, dest=option.pytest_attr, **kwargs)


def from_pytest(getoption: Callable[[str], Any]) -> argparse.Namespace:
    """The plugin's values under the CLI's names, so one set-up serves both front ends.

    Options the plugin does not have take the value they have when not given.
    """
    values = {o.attr: o.initial for o in OPTIONS}
    values.update({o.attr: getoption(o.pytest_attr) for o in IN_PYTEST})
    for given in _exclusive_given(values).values():
        if len(given) > 1:
            flags = " and ".join(o.pytest_flag for o in given)
            raise RetapeError(f"{flags} may not be given together")
    return argparse.Namespace(**values)


def _exclusive_given(values: Mapping[str, Any]) -> dict[str, list[Option]]:
    found: dict[str, list[Option]] = {}
    for option in OPTIONS:
        if option.exclusive is not None and values.get(option.attr) not in (None, False, []):
            found.setdefault(option.exclusive, []).append(option)
    return found
