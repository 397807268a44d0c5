"""The unit tier starts no processes: a test that tries belongs in tests/integration/."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: subprocess.Popen, args: Any, *rest: Any, **kwargs: Any) -> None:
        raise AssertionError(
            f"a unit test started a process ({args!r}); move it to tests/integration/"
        )

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)
