"""What one replayed interaction produced, and the totals of a run.

These are plain data so every reporter (text, JSON, JUnit) reads the same facts and the
machine-readable reports stay stable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Outcome:
    """What the network said, before any verdict: a status, or an error, or both.

    ``status`` can be set together with ``error`` when the status line arrived but the
    rest did not (for example a response body that never finished).
    """

    status: int | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    """The verdict for one interaction, in the shape the reports publish."""

    cassette: str
    id: int
    type: str
    method: str
    path: str
    expected_status: int
    actual_status: int | None
    ok: bool
    error: str | None = None
    duration: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.ok:
            return "PASS"
        return "ERROR" if self.error else "FAIL"

    @property
    def title(self) -> str:
        """``#4 websocket GET /v1/realtime``: how a row is named in every report."""
        return f"#{self.id} {self.type} {self.method} {self.path}"

    @property
    def problem(self) -> str:
        """``expected 101, got 500`` (or the error): the one phrase a failure is about."""
        if self.error and self.actual_status is None:
            return f"expected {self.expected_status}, got {self.error}"
        got = f"expected {self.expected_status}, got {self.actual_status}"
        return f"{got} ({self.error})" if self.error else got

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["duration"] = round(self.duration, 6)
        return data


@dataclass(frozen=True)
class Summary:
    total: int
    passed: int
    failed: int
    errors: int
    duration: float

    @classmethod
    def of(cls, results: Iterable[Result], *, duration: float) -> Summary:
        rows = list(results)
        passed = sum(r.ok for r in rows)
        errors = sum(1 for r in rows if not r.ok and r.error)
        return cls(len(rows), passed, len(rows) - passed - errors, errors, duration)

    @property
    def all_passed(self) -> bool:
        return self.passed == self.total

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["duration"] = round(self.duration, 6)
        return data
