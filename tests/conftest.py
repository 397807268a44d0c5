"""Fixtures shared by the test modules."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.recorder_support import start_recorder
from tests.support import demo_target

TIERS = {"unit", "integration"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier (its folder): ``pytest -m unit`` runs the fast one."""
    for item in items:
        tier = item.path.parent.name
        if tier in TIERS:
            item.add_marker(tier)


@pytest.fixture(scope="module")
def target() -> Iterator[Callable[[str], str]]:
    """Demo target variants by name, each started at most once per module, all stopped after."""
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}

        def get(variant: str) -> str:
            if variant not in urls:
                urls[variant] = stack.enter_context(demo_target(variant))
            return urls[variant]

        yield get


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HOME for recorders started in a module: mitmproxy keeps its CA in ~/.mitmproxy."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture
def record(server: str, home: Path, tmp_path: Path) -> Callable[..., Any]:
    """Start ``retape record`` in front of the module's ``server`` fixture, into tmp_path."""

    def start(*extra: str) -> Any:
        return start_recorder(server, *extra, out=tmp_path / "cassette.yaml", home=home)

    return start
