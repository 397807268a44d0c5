"""The cassette format: the one contract the recorder and the replayer share.

A cassette is a YAML file holding recorded HTTP and WebSocket interactions in the
order they happened. This package is pure: it never touches the network and never
imports mitmproxy, so both sides (and third-party tools) can depend on it cheaply.
"""

from retape.cassette.errors import CassetteError
from retape.cassette.load import load_cassette
from retape.cassette.model import (
    Body,
    Cassette,
    Close,
    Interaction,
    Message,
    Recording,
    Request,
    Response,
)
from retape.common.errors import RetapeError

FORMAT_VERSION = 1

__all__ = [
    "FORMAT_VERSION",
    "Body",
    "Cassette",
    "CassetteError",
    "Close",
    "Interaction",
    "Message",
    "Recording",
    "Request",
    "Response",
    "RetapeError",
    "load_cassette",
]
