"""What one replayed interaction produced, and the totals of a run.

These are plain data so every reporter (text, JSON, JUnit, Markdown, the pytest plugin)
reads the same facts and the machine-readable reports stay stable (docs/replay.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from retape.replayer.compare.diff_json import MISSING, Difference
from retape.replayer.conversation import SessionFacts

from retape.cassette.model import Header, Message

NOT_SENT = "not sent"  # an error for a request retape chose not to send
DEADLINE_NOT_RUN = "not run: deadline reached"  # --deadline passed before it started
DEADLINE_STOPPED = "stopped: deadline reached"  # --deadline passed while it ran


class ErrorKind(StrEnum):
    """Why a row has an error: published as ``error_kind`` in the JSON reports (a contract,
    docs/replay.md), so CI can tell a slow target from a broken one without parsing text.

    ``error`` stays the human sentence; the kind is what a machine should branch on.
    """

    TIMEOUT = "timeout"
    """A network wait passed ``--timeout``."""
    REFUSED = "refused"
    """Nothing accepted the connection."""
    DNS = "dns"
    """The target's host name did not resolve."""
    CLOSED = "closed"
    """The server closed or reset the connection before it had answered in full."""
    TLS = "tls"
    """The TLS handshake or the certificate check failed."""
    CONNECT = "connect"
    """Any other failure to connect (network unreachable, ...)."""
    PROTOCOL = "protocol"
    """The answer was not valid HTTP or WebSocket (an invalid handshake, a cut body)."""
    NOT_SENT = "not_sent"
    """retape chose not to send it: it needs a ``--secret`` that was not given."""
    DEADLINE = "deadline"
    """``--deadline`` passed before it started (not run) or while it ran (stopped)."""
    OTHER = "other"
    """Anything else a client library raised; ``error`` says what."""

    @property
    def answered(self) -> bool:
        """A row reads "expected 200, got <error>"; one never answered: "expected 200, <error>"."""
        return self not in (ErrorKind.NOT_SENT, ErrorKind.DEADLINE)


@dataclass
class Outcome:
    """What the network said, before any verdict: a status, or an error, or both.

    ``status`` can be set together with ``error`` when the status line arrived but the
    rest did not (for example a response body that never finished). ``headers``,
    ``body`` and ``messages`` are what deeper comparison reads; they live only until
    the interaction is judged.
    """

    status: int | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    headers: list[Header] = field(default_factory=list)
    body: bytes | None = None  # decoded; also a rejected handshake's body
    # Server messages received (websocket only): a spool for a long session, read back
    # one at a time (replayer.spool), and the conversation turn each fell in.
    messages: Sequence[Message] | None = None
    turns: Sequence[int] | None = None
    session: SessionFacts | None = None  # how an accepted websocket session went
    # Websocket timings for load measurements (retape locust), never published in reports:
    # the handshake's seconds, and when each client message went out, in seconds since the
    # handshake completed (the clock of ``messages[i].at``).
    handshake_seconds: float | None = None
    sent_at: Sequence[float] = field(default_factory=list)
    error_kind: ErrorKind | None = None  # set with every error; OTHER when not given

    def __post_init__(self) -> None:
        if self.error is not None and self.error_kind is None:
            self.error_kind = ErrorKind.OTHER


@dataclass
class Result:
    """The verdict for one interaction or one auth probe, in the shape reports publish.

    ``probe`` is ``None`` for the replay of the recorded interaction, else the probe's
    name (``no-credential``, ``wrong-credential``); a probe expects any status of
    ``expected_statuses`` (a refusal) and has ``expected_status`` ``None``.
    """

    cassette: str
    id: int
    type: str
    method: str
    path: str
    expected_status: int | None
    actual_status: int | None
    ok: bool
    error: str | None = None
    duration: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    probe: str | None = None
    expected_statuses: list[int] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    failure: str | None = None  # why a row failed beyond the status (a probe's verdict)
    session: dict[str, Any] | None = None  # the ws_* fields of an accepted websocket session
    error_kind: ErrorKind | None = None
    # Live values put in place of recorded ones (replayer.session_state), one line each:
    # "#6 path: d34d… (recorded) -> 152e… (from #5 $.id, kernel id)".
    substitutions: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.expected_statuses and self.expected_status is not None:
            self.expected_statuses = [self.expected_status]
        if self.error is not None and self.error_kind is None:
            self.error_kind = ErrorKind.OTHER

    @property
    def verdict(self) -> str:
        if self.ok:
            return "PASS"
        return "ERROR" if self.error else "FAIL"

    @property
    def title(self) -> str:
        """``#4 websocket GET /v1/realtime [no-credential]``: a row's name in every report."""
        title = f"#{self.id} {self.type} {self.method} {self.path}"
        return f"{title} [{self.probe}]" if self.probe else title

    @property
    def expected(self) -> str:
        """``101``, or ``401 or 403`` for a probe."""
        codes = [str(code) for code in self.expected_statuses]
        return " or ".join(codes) if len(codes) <= 2 else f"{', '.join(codes[:-1])} or {codes[-1]}"

    @property
    def session_failed(self) -> bool:
        """An accepted websocket session that did not run (closed early, silent...)."""
        return self.session is not None and self.session.get("ws_problem") is not None

    @property
    def status_matched(self) -> bool:
        return self.actual_status is not None and self.actual_status in self.expected_statuses

    @property
    def problem(self) -> str:
        """``expected 101, got 500`` (or the error, or the difference count): one phrase."""
        if self.error and self.actual_status is None:
            if self.error_kind is not None and not self.error_kind.answered:
                return f"expected {self.expected}, {self.error}"
            return f"expected {self.expected}, got {self.error}"
        got = f"expected {self.expected}, got {self.actual_status}"
        if self.failure and self.status_matched and not self.probe and not self.error:
            return self.failure  # the handshake matched; the session after it did not
        if self.probe and self.session is not None and self.session.get("ws_probe") == "refused":
            code = self.session.get("ws_close_code")
            return f"{got}, then closed {code} before any message: refused after the handshake"
        if self.failure:
            got = f"{self.failure}: {got}"
        if self.error:
            return f"{got} ({self.error})"
        if self.status_matched and self.differences:
            count = len(self.differences)
            aspects = ", ".join(dict.fromkeys(d.aspect for d in self.differences))
            return f"{count} difference{'s' if count != 1 else ''} in {aspects}"
        return got

    def to_json(self) -> dict[str, Any]:
        data = {
            "cassette": self.cassette,
            "id": self.id,
            "probe": self.probe,
            "type": self.type,
            "method": self.method,
            "path": self.path,
            "expected_status": self.expected_status,
            "expected_statuses": list(self.expected_statuses),
            "actual_status": self.actual_status,
            "ok": self.ok,
            "error": self.error,
            "error_kind": self.error_kind.value if self.error_kind else None,
            "failure": self.failure,
            "differences": [d.to_json() for d in self.differences],
            "substitutions": list(self.substitutions),
            "duration": round(self.duration, 6),
            "details": self.details,
        }
        if self.session is not None:
            data.update(self.session)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        """A row back from :meth:`to_json` (the pytest plugin ships rows between processes)."""
        kind = data.get("error_kind")
        return cls(
            cassette=data["cassette"],
            id=data["id"],
            type=data["type"],
            method=data["method"],
            path=data["path"],
            expected_status=data["expected_status"],
            actual_status=data["actual_status"],
            ok=data["ok"],
            error=data["error"],
            duration=data["duration"],
            details=dict(data["details"]),
            probe=data["probe"],
            expected_statuses=list(data["expected_statuses"]),
            differences=[
                Difference(
                    d["aspect"],
                    d["where"],
                    d["path"],
                    d.get("expected", MISSING),
                    d.get("actual", MISSING),
                )
                for d in data["differences"]
            ],
            failure=data["failure"],
            error_kind=ErrorKind(kind) if kind else None,
        )


@dataclass(frozen=True)
class Summary:
    total: int
    passed: int
    failed: int
    errors: int
    duration: float
    probes: int = 0
    differences: int = 0
    # Resources the run created whose recorded delete did not succeed, one note each.
    left_on_target: tuple[str, ...] = ()

    @classmethod
    def of(cls, results: Iterable[Result], *, duration: float) -> Summary:
        tally = Tally()
        for row in results:
            tally.add(row)
        return tally.summary(duration=duration)

    @property
    def all_passed(self) -> bool:
        return self.passed == self.total

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "probes": self.probes,
            "differences": self.differences,
            "left_on_target": list(self.left_on_target),
            "duration": round(self.duration, 6),
        }


@dataclass
class Tally:
    """A :class:`Summary` counted row by row, so a run need not keep its rows."""

    total: int = 0
    passed: int = 0
    errors: int = 0
    probes: int = 0
    differences: int = 0

    def add(self, row: Result) -> None:
        self.total += 1
        self.passed += row.ok
        self.errors += not row.ok and bool(row.error)
        self.probes += bool(row.probe)
        self.differences += len(row.differences)

    def summary(self, *, duration: float) -> Summary:
        failed = self.total - self.passed - self.errors
        return Summary(
            self.total, self.passed, failed, self.errors, duration, self.probes, self.differences
        )
