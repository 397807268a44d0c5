"""Re-record the shipped cassettes in sessions/ through the real recorder.

Starts the demo target (fixed variant) with a fresh random API key, puts
``retape record`` in front of it, and drives it with real clients (httpx and
websockets) the way a user of an OpenAI-compatible server would. The key lives only
in this process's memory and the children's environment; the script fails if it
shows up in a cassette.
"""

from __future__ import annotations

import secrets
import sys

from demo.clients import chat_session, realtime_session, stateful_session
from demo.processes import REPO, free_port, recording, running

SESSIONS = REPO / "sessions"


def main() -> int:
    token = "sk-" + secrets.token_urlsafe(24)
    port = free_port()
    upstream = f"http://127.0.0.1:{port}"
    demo = [sys.executable, "-m", "demo", "--variant", "fixed", "--port", str(port)]
    SESSIONS.mkdir(exist_ok=True)
    with running(demo, port=port, env={"RETAPE_DEMO_API_KEY": token}):
        sessions = (
            ("chat", chat_session),
            ("realtime", realtime_session),
            ("stateful", stateful_session),
        )
        for name, session in sessions:
            out = SESSIONS / f"{name}.yaml"
            with recording(upstream, out) as base:
                session(base, token)
            if token in out.read_text():
                raise SystemExit(f"{out}: the API key reached the cassette")
            print(f"recorded {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
