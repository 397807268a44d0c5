"""One cassette's replay state: live values captured from live responses, and cookies.

A cassette records a session against one server; replayed against a fresh one, the
ids, tokens and cookies that server minted are different. The cassette says where each
such value came from and where the client used it (``uses:``, see
:mod:`retape.cassette.correlate`); this state carries them over, as the recorded client
did:

* :meth:`SessionState.prepare` puts the live value in place of the recorded one in
  every target of an interaction before it is sent (path, headers, body, client
  messages), or says why it cannot be sent (its source did not come back);
* :meth:`SessionState.observe` takes each needed value from the live response once an
  interaction is done, and keeps the cookies it set (a cookie jar, as a browser keeps
  one per site), sent on later requests of the cassette in place of the recorded,
  redacted ``Cookie``;
* :meth:`SessionState.message_rewriter` does the same inside one websocket session,
  for a client message that uses what a server message said earlier in it.

Values whose recording is a ``<redacted:N>`` placeholder, or that go into a credential
header, are secrets the server minted (an ephemeral ``client_secret``, an OAuth
``access_token``): they are used where the recording used them, win over
``--bearer-env``, and are listed in :attr:`SessionState.secrets` so every output masks
them. Pure: no I/O, driven by the engine.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, quote_plus

from retape.replayer.results import NOT_SENT, Outcome

from retape.cassette.correlate import html_fields, set_cookies, sse_events
from retape.cassette.message_log import replaced
from retape.cassette.model import Correlation, Header, Interaction, Message, header_value
from retape.cassette.redact import CREDENTIAL_HEADERS, is_placeholder
from retape.cassette.refs import MISSING, Source, Target, get_at, replace_at

SECRET_SHOWN = "<minted secret>"  # what reports show for a secret's live value
_SHOWN = 12  # characters of a value shown in a substitution line
_DEFAULT_KEY = "type"


def _short(value: str) -> str:
    return value if len(value) <= _SHOWN else value[: _SHOWN - 1] + "…"


@dataclass(frozen=True)
class Substitution:
    """One live value put where the recording had another: a line of the reports."""

    interaction: int
    target: str  # "path", "header authorization", "message 6 $.item_id"
    recorded: str
    live: str
    source: str  # "#5 $.id"
    name: str
    secret: bool = False

    @property
    def text(self) -> str:
        """``#6 path: d34d… (recorded) -> 152e… (from #5 $.id)``; a secret is not shown."""
        live = SECRET_SHOWN if self.secret else _short(self.live)
        recorded = _short(self.recorded)
        return (
            f"#{self.interaction} {self.target}: {recorded} (recorded) -> {live} "
            f"(from {self.source}, {self.name})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "name": self.name,
            "source": self.source,
            "recorded": self.recorded,
            "live": SECRET_SHOWN if self.secret else self.live,
            "secret": self.secret,
        }


@dataclass
class Prepared:
    """An interaction ready to send, with what was substituted to make it so."""

    interaction: Interaction
    live_headers: list[Header] = field(default_factory=list)  # minted credentials, cookies
    substitutions: list[Substitution] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # correlations that matched nothing
    blocked: str | None = None  # why it cannot be sent: a needed value did not come back


class CookieJar:
    """Cookies the live target set in this cassette's session, by name (and path)."""

    def __init__(self) -> None:
        self._cookies: dict[str, tuple[str, str]] = {}  # name -> (value, path)

    def __bool__(self) -> bool:
        return bool(self._cookies)

    def update(self, headers: Iterable[Header]) -> None:
        for name, value in headers:
            if name.lower() != "set-cookie":
                continue
            attributes = [a.strip() for a in value.split(";")[1:]]
            path = next(
                (a.partition("=")[2] or "/" for a in attributes if a.lower().startswith("path=")),
                "/",
            )
            expired = any(
                a.lower().startswith("max-age=")
                and a.partition("=")[2].strip().startswith(("0", "-"))
                for a in attributes
            )
            for cookie, content in set_cookies([(name, value)]):
                if expired or not content:
                    self._cookies.pop(cookie, None)
                else:
                    self._cookies[cookie] = (content, path)

    def header_for(self, request_path: str) -> str:
        """The ``Cookie`` value for a request to ``request_path``, as a browser sends it."""
        path = request_path.split("?", 1)[0]
        return "; ".join(
            f"{name}={value}"
            for name, (value, prefix) in self._cookies.items()
            if path.startswith(prefix.rstrip("/") + "/") or path == prefix or prefix == "/"
        )

    def values(self) -> list[str]:
        return [value for value, _ in self._cookies.values()]


def _key(correlation: Correlation) -> tuple[Source, str | None]:
    return correlation.source, correlation.match


def _is_secret(correlation: Correlation, credential_headers: frozenset[str]) -> bool:
    if is_placeholder(correlation.value):
        return True
    return any(t.part == "header" and t.name in credential_headers for t in correlation.targets)


def _picked(text: str | None, match: str | None) -> str | None:
    if text is None or match is None:
        return text
    found = re.search(match, text)
    return found.group(1) if found else None


def _scalar(value: Any) -> str | None:
    if value is MISSING or value is None or isinstance(value, dict | list | bool):
        return None
    return str(value)


def _message_key(message: Message, key: str) -> Any:
    if message.kind == "json" and isinstance(message.value, dict):
        return message.value.get(key, "json")
    return message.kind


def live_message(
    recorded: Sequence[Message],
    index: int,
    received: Iterable[Message],
    *,
    key: str = _DEFAULT_KEY,
) -> Message | None:
    """The live server message that stands for recorded message ``index``: the one of the
    same kind (its ``type``) in the same place among messages of that kind."""
    if not 0 <= index < len(recorded) or recorded[index].sender != "server":
        return None
    kind = _message_key(recorded[index], key)
    ordinal = sum(
        1
        for m in itertools.islice(recorded, index)
        if m.sender == "server" and _message_key(m, key) == kind
    )
    same = (m for m in received if _message_key(m, key) == kind)
    return next(itertools.islice(same, ordinal, None), None)


class SessionState:
    """What one cassette's replay carries from interaction to interaction."""

    def __init__(
        self, plan: Iterable[tuple[str, Correlation]], *, message_key: str = _DEFAULT_KEY
    ) -> None:
        """``plan``: every correlation of the cassette with the method of the interaction
        that holds it, read before the replay (a cassette is streamed)."""
        self.message_key = message_key
        self.jar = CookieJar()
        self.secrets: set[str] = set()
        self._needed: dict[int, list[Correlation]] = {}
        self._deletes: list[Correlation] = []
        self._captured: dict[tuple[Source, str | None], str | None] = {}
        self._outcome_of: dict[int, tuple[str, int | None]] = {}  # DELETEs: (path, status)
        for method, correlation in plan:
            if not correlation.enabled:
                continue
            if correlation.source.id != correlation.used_by:
                self._needed.setdefault(correlation.source.id, []).append(correlation)
            if method.upper() == "DELETE" and any(t.part == "path" for t in correlation.targets):
                self._deletes.append(correlation)

    @property
    def stateful(self) -> bool:
        return bool(self._needed) or bool(self.jar)

    # -- before sending -----------------------------------------------------------------------

    def prepare(self, interaction: Interaction, *, probe: bool = False) -> Prepared:
        """``interaction`` with every live value in place, or blocked with the reason.

        For an auth probe (``probe``) the same ids are used but no minted credential and
        no cookie: the probe is about sending none, or a wrong one.
        """
        credential_headers = frozenset(interaction.request.credentials) | CREDENTIAL_HEADERS
        prepared = Prepared(interaction)
        for correlation in interaction.uses:
            if not correlation.enabled or correlation.source.id == interaction.id:
                continue
            key = _key(correlation)
            live = self._captured.get(key)
            if live is None:
                prepared.blocked = (
                    f"{NOT_SENT}: needs {correlation.label} from {correlation.source}, "
                    "which this run did not return"
                )
                return prepared
            secret = _is_secret(correlation, credential_headers)
            if secret:
                self.secrets.add(live)
            for target in correlation.targets:
                changed = self._substitute(prepared, correlation, target, live, credential_headers)
                if changed is None:
                    prepared.unmatched.append(
                        f"{correlation.label} ({correlation.source}): the recorded value is not "
                        f"in {target}"
                    )
                elif changed and correlation.value != live:
                    prepared.substitutions.append(
                        Substitution(
                            interaction.id,
                            str(target),
                            correlation.value,
                            live,
                            str(correlation.source),
                            correlation.label,
                            secret,
                        )
                    )
        request = prepared.interaction.request
        if self.jar and any(name.lower() == "cookie" for name, _ in request.headers):
            prepared.live_headers.append(("Cookie", self.jar.header_for(request.path)))
        if probe:
            prepared.live_headers = []
        return prepared

    def _substitute(
        self,
        prepared: Prepared,
        correlation: Correlation,
        target: Target,
        live: str,
        credential_headers: frozenset[str],
    ) -> bool | None:
        """Put ``live`` in ``target``; None when the recorded value is not there."""
        recorded = correlation.value
        interaction = prepared.interaction
        request = interaction.request

        def swap(text: Any) -> Any:
            if not isinstance(text, str):
                return text
            if recorded in text:
                return text.replace(recorded, encode(live))
            return text.replace(quote(recorded, safe=""), quote(live, safe=""))

        form = (
            (header_value(request.headers, "content-type") or "")
            .lower()
            .startswith("application/x-www-form-urlencoded")
        )

        def encode(value: str) -> str:
            """In a form body or a query the live value goes percent-encoded."""
            if target.part == "body" and form:
                return quote_plus(value)
            if target.part == "path" and "?" in request.path:
                query_at = request.path.index("?")
                if recorded in request.path[query_at:]:
                    return quote(value, safe="")
            return value

        if target.part == "path":
            if recorded not in request.path and quote(recorded, safe="") not in request.path:
                return None
            prepared.interaction = replace(
                interaction, request=replace(request, path=swap(request.path))
            )
            return True
        if target.part == "header":
            found = False
            headers: list[Header] = []
            for name, value in request.headers:
                if name.lower() == target.name and recorded in value:
                    found = True
                    if target.name in credential_headers:
                        prepared.live_headers.append((name, swap(value)))
                        continue  # sent as a live header, in place of --bearer-env's
                    value = swap(value)
                headers.append((name, value))
            if not found:
                return None
            prepared.interaction = replace(interaction, request=replace(request, headers=headers))
            return True
        if target.part == "body":
            body = request.body
            if body is None or body.is_omitted or body.kind == "base64":
                return None
            new_value, found = _swapped(body.value, target.path, recorded, swap)
            if not found:
                return None
            prepared.interaction = replace(
                interaction, request=replace(request, body=replace(body, value=new_value))
            )
            return True
        index = target.index or 0
        messages = interaction.messages
        if not 0 <= index < len(messages) or messages[index].sender != "client":
            return None
        message = messages[index]
        new_value, found = _swapped(message.value, target.path, recorded, swap)
        if not found:
            return None
        swapped = replaced(messages, index, replace(message, value=new_value))
        prepared.interaction = replace(interaction, messages=swapped)
        return True

    def message_rewriter(
        self, interaction: Interaction, prepared: Prepared
    ) -> Callable[[int, Message, Iterable[Message]], Message] | None:
        """For a websocket session whose client messages use what its own server said
        earlier: the function the conversation calls before sending message ``index``."""
        own = [
            c
            for c in interaction.uses
            if c.enabled and c.source.id == interaction.id and c.source.part == "message"
        ]
        if not own:
            return None
        recorded = interaction.messages

        def rewrite(index: int, message: Message, received: Iterable[Message]) -> Message:
            for correlation in own:
                for target in correlation.targets:
                    if target.part != "message" or target.index != index:
                        continue
                    source = correlation.source
                    live_source = live_message(
                        recorded, source.index or 0, received, key=self.message_key
                    )
                    live = None
                    if live_source is not None and live_source.kind == "json":
                        live = _picked(
                            _scalar(get_at(live_source.value, source.path)), correlation.match
                        )
                    if live is None:
                        prepared.blocked = (
                            f"needs {correlation.label} from {source}, which this run did not "
                            "return"
                        )
                        continue
                    value, found = _swapped(
                        message.value,
                        target.path,
                        correlation.value,
                        _replacer(correlation.value, live),
                    )
                    if found:
                        message = replace(message, value=value)
                        if live != correlation.value:
                            prepared.substitutions.append(
                                Substitution(
                                    interaction.id,
                                    str(target),
                                    correlation.value,
                                    live,
                                    str(source),
                                    correlation.label,
                                    is_placeholder(correlation.value),
                                )
                            )
            return message

        return rewrite

    # -- after the response -------------------------------------------------------------------

    def observe(self, interaction: Interaction, outcome: Outcome) -> None:
        """Keep the cookies the live response set and every value later interactions need."""
        if interaction.request.method.upper() == "DELETE":
            self._outcome_of[interaction.id] = (interaction.request.path, outcome.status)
        if outcome.status is not None:
            self.jar.update(outcome.headers)
        needed = self._needed.get(interaction.id)
        if not needed:
            return
        reader = _LiveReader(interaction, outcome, self.message_key)
        credential_headers = frozenset(interaction.request.credentials) | CREDENTIAL_HEADERS
        for correlation in needed:
            key = _key(correlation)
            if key not in self._captured or self._captured[key] is None:
                live = _picked(reader.value(correlation.source), correlation.match)
                self._captured[key] = live
                if live is not None and _is_secret(correlation, credential_headers):
                    self.secrets.add(live)  # masked from now on, this row's report included

    def left_behind(self) -> list[str]:
        """Resources this run created whose recorded delete did not succeed."""
        notes = []
        for correlation in self._deletes:
            live = self._captured.get(_key(correlation))
            if live is None:
                continue  # never created in this run: nothing to leave behind
            ran = self._outcome_of.get(correlation.used_by)
            shown = SECRET_SHOWN if live in self.secrets else live
            if ran is None:
                why = f"its delete #{correlation.used_by} was not sent"
            elif ran[1] is None or not 200 <= ran[1] < 300:
                why = f"its delete #{correlation.used_by} got {ran[1] or 'no answer'}"
            else:
                continue
            notes.append(
                f"{correlation.label} {shown} (created by {correlation.source}) may be left on "
                f"the target: {why}"
            )
        return list(dict.fromkeys(notes))


def _replacer(recorded: str, live: str) -> Callable[[Any], Any]:
    def swap(text: Any) -> Any:
        return text.replace(recorded, live) if isinstance(text, str) else text

    return swap


def _swapped(
    value: Any, path: tuple | None, recorded: str, swap: Callable[[Any], Any]
) -> tuple[Any, bool]:
    """``value`` with ``swap`` applied at ``path`` (or to the whole text); was it there?"""
    if path is None:
        if isinstance(value, str):
            present = recorded in value or quote(recorded, safe="") in value
            return (swap(value), True) if present else (value, False)
        text = json.dumps(value, ensure_ascii=False)
        if recorded not in text:
            return value, False
        return json.loads(swap(text)), True
    leaf = get_at(value, path)
    if not isinstance(leaf, str) or recorded not in leaf:
        return value, False
    return replace_at(value, path, swap)


class _LiveReader:
    """Values out of one live outcome, each part parsed at most once."""

    def __init__(self, interaction: Interaction, outcome: Outcome, message_key: str) -> None:
        self.interaction = interaction
        self.outcome = outcome
        self.message_key = message_key
        self._text: str | None = None
        self._json: Any = MISSING
        self._parsed = False

    def text(self) -> str:
        if self._text is None:
            self._text = (self.outcome.body or b"").decode("utf-8", errors="replace")
        return self._text

    def json(self) -> Any:
        if not self._parsed:
            self._parsed = True
            try:
                self._json = json.loads(self.text())
            except ValueError:
                self._json = MISSING
        return self._json

    def value(self, source: Source) -> str | None:
        outcome = self.outcome
        if outcome.status is None:
            return None
        if source.part == "body":
            if not source.path:
                return self.text() or None
            return _scalar(get_at(self.json(), source.path))
        if source.part == "header":
            return next((v for n, v in outcome.headers if n.lower() == source.name), None)
        if source.part == "cookie":
            return dict(set_cookies(outcome.headers)).get(source.name)
        if source.part == "html":
            return dict(reversed(html_fields(self.text()))).get(source.name)
        if source.part == "event":
            events = sse_events(self.text())
            index = source.index or 0
            return _scalar(get_at(events[index], source.path)) if index < len(events) else None
        message = live_message(
            self.interaction.messages,
            source.index or 0,
            outcome.messages or [],
            key=self.message_key,
        )
        if message is None or message.kind != "json":
            return None
        return _scalar(get_at(message.value, source.path))
