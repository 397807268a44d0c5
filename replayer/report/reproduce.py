"""Command lines that reproduce one replayed interaction without retape.

A bug report is most useful when the maintainer can paste one command: ``curl`` for
HTTP, a short Python script using the ``websockets`` library for a websocket session
(the command-line websocket clients cannot send custom headers or wait for replies).
The headers are exactly those the replay sent, computed by the same code
(:meth:`Credentials.headers_for`); a live credential always appears as ``$TOKEN`` and
the target as ``$TARGET``, never as the values used.
"""

from __future__ import annotations

import base64
import json
import shlex

from retape.replayer.auth.credentials import Credentials
from retape.replayer.auth.probes import Probe, probe_credentials
from retape.replayer.compare.keys import MessageRules
from retape.replayer.conversation import plan
from retape.replayer.net.http import HOP_BY_HOP, RECOMPUTED
from retape.replayer.net.websocket import HANDSHAKE_MANAGED, subprotocols_of

from retape.cassette.model import Header, Interaction
from retape.cassette.rules import PLACEHOLDER_RE, SCHEMED_HEADERS

TOKEN = "$TOKEN"


def shown_credentials(
    interaction: Interaction, live: Credentials, probe: Probe | None
) -> Credentials:
    """What to print for the credential: ``$TOKEN`` in place of every live value."""
    if probe is not None:
        return probe_credentials(probe, interaction.request, live)
    if not live.headers:  # none supplied: the recorded headers, placeholders as $TOKEN
        request = interaction.request
        recorded = [(n, v) for n, v in request.headers if n.lower() in set(request.credentials)]
        return Credentials(tuple((n, PLACEHOLDER_RE.sub(TOKEN, v)) for n, v in recorded))
    shown = []
    for name, value in live.headers:
        scheme = value.partition(" ")[0] if name.lower() in SCHEMED_HEADERS and " " in value else ""
        shown.append((name, f"{scheme} {TOKEN}" if scheme else TOKEN))
    return Credentials(tuple(shown))


def _double_quoted(text: str) -> str:
    """``text`` in shell double quotes, where only ``$TOKEN`` and ``$TARGET`` expand."""
    escaped = "".join("\\" + ch if ch in '"\\`$' else ch for ch in text)
    for variable in ("TOKEN", "TARGET"):
        escaped = escaped.replace(f"\\${variable}", f"${variable}")
    return f'"{escaped}"'


def _header_arg(header: Header) -> str:
    text = f"{header[0]}: {header[1]}"
    return _double_quoted(text) if TOKEN in header[1] else shlex.quote(text)


def _delimiter(text: str) -> str:
    lines = set(text.splitlines())
    return next(d for d in ("EOF", "RETAPE_EOF", "RETAPE_BODY_END_1") if d not in lines)


def curl_command(interaction: Interaction, *, live: Credentials, probe: Probe | None) -> str:
    """``curl -sS -i -X POST "$TARGET/path" -H ... --data-binary @- <<'EOF'``."""
    request = interaction.request
    credentials = shown_credentials(interaction, live, probe)
    headers = credentials.headers_for(request, drop=HOP_BY_HOP | RECOMPUTED)
    parts = ["curl -sS -i"]
    if request.method == "HEAD":
        parts.append("--head")
    elif request.method != "GET" or request.body is not None:
        parts.append(f"-X {shlex.quote(request.method)}")
    parts.append(_double_quoted(f"$TARGET{request.path}"))
    parts += [f"-H {_header_arg(h)}" for h in headers]
    body = request.body
    if body is None:
        return " \\\n  ".join(parts)
    parts.append("--data-binary @-")
    if body.kind == "base64":
        data = base64.encodebytes(base64.b64decode(body.value)).decode().rstrip("\n")
        end = _delimiter(data)
        return f"base64 -d <<'{end}' | " + " \\\n  ".join(parts) + f"\n{data}\n{end}"
    if body.kind == "json":
        text = json.dumps(body.value, indent=2, ensure_ascii=False)
    else:
        text = str(body.value).removesuffix("\n")
    end = _delimiter(text)
    return " \\\n  ".join(parts) + f" <<'{end}'\n{text}\n{end}"


def _python_header(header: Header) -> str:
    name, value = header
    if TOKEN not in value:
        return f"({name!r}, {value!r})"
    before, _, after = value.partition(TOKEN)
    pieces = [repr(before)] if before else []
    pieces.append('os.environ["TOKEN"]')
    if after:
        pieces.append(repr(after))
    return f"({name!r}, {' + '.join(pieces)})"


_K8S = "base64url.bearer.authorization.k8s.io."


def _subprotocols_expression(offered: list[str]) -> str:
    """The offer as Python source; a redacted token is read from ``$TOKEN``."""
    if not offered:
        return "None"
    items = []
    for item in offered:
        if not PLACEHOLDER_RE.search(item):
            items.append(repr(item))
        elif item.startswith(_K8S):
            encoded = 'base64.urlsafe_b64encode(os.environ["TOKEN"].encode()).decode().rstrip("=")'
            items.append(f"{_K8S!r} + {encoded}")
        else:
            items.append('os.environ["TOKEN"]')
    return "[" + ", ".join(items) + "]"


def _turns(interaction: Interaction, rules: MessageRules) -> list[str]:
    """The conversation as the replay plays it (:func:`replayer.conversation.plan`): per
    turn, the messages to send, how many the server answered, and the message kinds
    that ended its answer."""
    steps = []
    for turn in plan(interaction, rules=rules, timeout=10.0).turns:
        sends = [repr(interaction.messages[i].payload()) for i in turn.client]
        ends = sorted({e.key for e in turn.terminals})
        sent = "[" + ", ".join(sends) + "]"
        steps.append(f"({sent}, {len(turn.server)}, {ends!r}),")
    return steps


def websocket_script(
    interaction: Interaction,
    *,
    live: Credentials,
    probe: Probe | None,
    rules: MessageRules | None = None,
) -> str:
    """A shell here-document running a Python websocket client through the recording."""
    request = interaction.request
    credentials = shown_credentials(interaction, live, probe)
    headers = credentials.headers_for(request, drop=HANDSHAKE_MANAGED)
    rules = rules or MessageRules()
    turns = _turns(interaction, rules) if probe is None and interaction.accepted else []
    offered = _subprotocols_expression(subprotocols_of(request.headers))
    url = f'os.environ["TARGET"].replace("http", "ws", 1) + {request.path!r}'
    lines = [
        "import asyncio, base64, json, os",
        "from websockets.asyncio.client import connect",
        "from websockets.exceptions import ConnectionClosed, InvalidStatus",
        "",
        f"URL = {url}",
        "HEADERS = [" + ", ".join(_python_header(h) for h in headers) + "]",
        f"KEY = {list(rules.key)!r}  # the field naming a message's kind",
        "# The recorded conversation, turn by turn: the client's messages, then how many",
        "# the server answered and the kinds of message that ended its answer.",
        "TURNS = [" + "".join(f"\n    {step}" for step in turns) + ("\n]" if turns else "]"),
        "",
        "",
        "def kind(text):",
        "    try:",
        "        value = json.loads(text)",
        "    except (TypeError, ValueError):",
        "        return None",
        "    for part in KEY:",
        "        value = value.get(part) if isinstance(value, dict) else None",
        "    return value",
        "",
        "",
        "async def main():",
        "    try:",
        "        ws = await connect(URL, additional_headers=HEADERS,"
        f" subprotocols={offered}, open_timeout=10)",
        "    except InvalidStatus as exc:",
        '        print("handshake refused:", exc.response.status_code, exc.response.body[:500])',
        "        return",
        '    print("handshake accepted: 101")',
        "    async with ws:",
        "        try:",
        "            for sends, count, ends in TURNS:",
        "                for message in sends:",
        '                    print(">", message)',
        "                    await ws.send(message)",
        "                for got in range(1, 10_000):",
        "                    if not ends and got > count:",
        "                        break",
        "                    reply = await asyncio.wait_for(ws.recv(), 10)",
        '                    print("<", reply)',
        "                    if kind(reply) in ends:",
        "                        break",
        "        except ConnectionClosed as exc:",
        '            print("closed by the server:", exc.rcvd)',
        "        except asyncio.TimeoutError:",
        '            print("no server message within 10s")',
        "",
        "",
        "asyncio.run(main())",
    ]
    script = "\n".join(lines)
    end = _delimiter(script)
    return f"python - <<'{end}'\n{script}\n{end}"
