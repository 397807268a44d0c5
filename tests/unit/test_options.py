"""One declaration, two front ends: ``retape replay`` flags and the plugin's ``--retape-*``."""

from __future__ import annotations

import argparse

import pytest
from retape.replayer.options import IN_PYTEST, OPTIONS, from_pytest
from retape.replayer.settings import settings_from

from retape.cli import build_parser
from retape.common.errors import RetapeError

pytest_plugins = ["pytester"]


def replay_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["replay"]


def test_every_replay_flag_is_declared_once_and_only_there() -> None:
    flags = {s for a in replay_parser()._actions for s in a.option_strings} - {"-h", "--help"}
    assert flags == {o.flag for o in OPTIONS}
    assert len({o.name for o in OPTIONS}) == len(OPTIONS)


def test_cli_defaults_types_and_choices_come_from_the_declaration() -> None:
    args = replay_parser().parse_args(["x.yaml", "--target", "http://127.0.0.1:9"])
    for option in OPTIONS:
        if option.name != "target":
            assert getattr(args, option.attr) == option.initial, option.name
    with pytest.raises(SystemExit):
        replay_parser().parse_args(["x", "--target", "u", "--noise-baseline", "nope"])


def test_the_plugin_has_every_option_but_those_pytest_already_covers(
    pytester: pytest.Pytester,
) -> None:
    config = pytester.parseconfig()
    for option in IN_PYTEST:
        assert config.getoption(option.pytest_attr) == option.initial, option.pytest_flag
    left_out = {o.name for o in OPTIONS if o not in IN_PYTEST}
    assert left_out == {"json", "junit", "jsonl", "concurrency", "unordered", "speed"}
    for option in OPTIONS:
        if option not in IN_PYTEST:
            assert option.not_in_pytest, option.name  # says what pytest offers instead
            with pytest.raises(ValueError):
                config.getoption(option.pytest_attr)


def test_plugin_values_go_through_the_same_checks_as_the_cli(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PW", "hunter2-hunter2")
    config = pytester.parseconfig(
        "--retape-target", "http://127.0.0.1:9/api", "--retape-secret", "3=PW",
        "--retape-ignore", "$.id", "--retape-refusal", "401,404", "--retape-rate", "5",
        "--retape-deadline", "30", "--retape-compare", "status,body",
    )  # fmt: skip
    settings = settings_from(from_pytest(config.getoption))
    assert str(settings.target) == "http://127.0.0.1:9/api"
    assert dict(settings.credentials.secrets) == {"<redacted:3>": "hunter2-hunter2"}
    assert settings.config.refusal == frozenset({401, 404})
    assert (settings.pacing.rate, settings.deadline) == (5.0, 30.0)
    assert settings.comparison.deep
    with pytest.raises(pytest.UsageError, match="--retape-rate"):
        pytester.parseconfig("--retape-target", "http://127.0.0.1:9", "--retape-rate", "0")


def test_the_plugin_refuses_contradicting_options_by_their_plugin_names(
    pytester: pytest.Pytester,
) -> None:
    config = pytester.parseconfig(
        "--retape-target", "https://127.0.0.1:9", "--retape-ca-file", "x.pem",
        "--retape-insecure",
    )  # fmt: skip
    with pytest.raises(RetapeError, match="--retape-ca-file and --retape-insecure"):
        from_pytest(config.getoption)
