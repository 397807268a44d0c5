"""Fixtures shared by the test modules."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from tests.support import demo_target


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
