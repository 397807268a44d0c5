"""Correlations honoured in the other direction: what the client chose, echoed back.

Replay substitutes the values a live server hands out (a new ``chatcmpl-...`` id) into
later requests. A mock has the opposite problem: the ids *it* hands out are the recorded
ones, so a client that uses them sends exactly what was recorded and matches as is;
but a value the *client* chose (a request id, an ``event_id`` it generated) and the
server echoed is different on every run. :class:`Substitutions` hands those back as the
client sent them, using the correlations the cassette declares.

CORRELATION CALL SITE: until the correlation format exists in the cassette this
passes everything through unchanged.
"""

from __future__ import annotations

from retape.cassette.model import Body, Message
from retape.serve.match import Incoming, Recorded


class Substitutions:
    """Per-served-cassette memory of the values the client chose."""

    def __init__(self, recorded: list[Recorded]) -> None:
        self.recorded = recorded

    def incoming(self, incoming: Incoming) -> Incoming:
        return incoming

    def response_body(self, found: Recorded) -> Body | None:
        return found.interaction.response.body

    def server_message(self, found: Recorded, message: Message) -> str | bytes:
        return message.payload()

    def client_message(self, found: Recorded, recorded: Message, sent: str | bytes) -> None:
        return None
