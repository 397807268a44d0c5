"""mitmproxy flow files (``mitmdump -w``) into cassette interactions.

Read with mitmproxy's own :class:`mitmproxy.io.FlowReader`, which knows every flow
format version mitmproxy ever wrote (and migrates old ones). A flow read back is the
same object the recorder sees live, so it is converted by the recorder's own functions
(:mod:`retape.recorder.convert`): an imported flow and a recorded one become the same
interaction, through the same redaction.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from retape.cassette.model import Interaction
from retape.cassette.redact import Redactor
from retape.convert.detect import CaptureError
from retape.convert.mitmproxy_needed import require_mitmproxy
from retape.convert.pipeline import Imported, Pending

if TYPE_CHECKING:
    from mitmproxy import http

logger = logging.getLogger(__name__)


def read_flows(path: str) -> Imported:
    """Every HTTP and websocket flow with a response; other flows are skipped, said so."""
    version = require_mitmproxy()
    from mitmproxy import exceptions, http
    from mitmproxy.io import FlowReader

    pending = []
    try:
        with open(path, "rb") as handle:
            for number, flow in enumerate(FlowReader(handle).stream(), start=1):
                where = f"{path}: flow {number}"
                if not isinstance(flow, http.HTTPFlow):
                    logger.warning("%s: skipped a %s flow (not HTTP)", where, flow.type)
                    continue
                if flow.response is None:
                    error = flow.error.msg if flow.error else "no response"
                    logger.warning("%s: skipped %s %s: %s", where, flow.request.method,
                                   flow.request.pretty_url[:80], error)  # fmt: skip
                    continue
                pending.append(_pending(flow, where))
    except OSError as exc:
        raise CaptureError(path, f"cannot read: {exc.strerror or exc}") from None
    except (exceptions.FlowReadException, ValueError, TypeError, KeyError, AttributeError,
            IndexError) as exc:  # fmt: skip
        # mitmproxy trusts its own files; a hostile one fails anywhere in its migration
        raise CaptureError(path, f"not a readable mitmproxy flow file: {exc}") from None
    return Imported(pending, version)


def _pending(flow: http.HTTPFlow, where: str) -> Pending:
    from retape.recorder.convert import http_interaction, websocket_interaction

    request = flow.request
    origin = f"{request.scheme}://{request.host}"
    default = {"http": 80, "https": 443}.get(request.scheme)
    if request.port != default:
        origin = f"{origin}:{request.port}"

    def build(redactor: Redactor, recording_start: float) -> Interaction:
        if flow.websocket is not None:
            return websocket_interaction(flow, redactor, recording_start)
        return http_interaction(flow, redactor, recording_start)

    return Pending(request.timestamp_start, origin, build, where)
