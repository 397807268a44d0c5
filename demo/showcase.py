"""``make demo``: show retape catching the vLLM websocket-auth regression, then passing the fix.

Replays the shipped cassettes in sessions/ with auth on, first against the demo target
with the regressed middleware (``scope["method"]``), then against a build that accepts
the realtime handshake and drops the session after it, then against the fixed one
(``scope.get("method")``), each a freshly started server. Exits 0 only if it showed all
three: on the regressed build the realtime websocket failing 101 -> 500 and the
Responses chain of sessions/stateful.yaml answering 500; on the second the session
failing past its 101; on the fixed build every interaction matching, the stateful session
included, with the ids and the ephemeral realtime key the fresh server minted carried
into the requests that use them.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from demo.processes import REPO, free_port, running

KEY_ENV = "RETAPE_DEMO_API_KEY"
SESSIONS = REPO / "sessions"
VARIANTS = (
    ("regressed", 'AuthenticationMiddleware reads scope["method"] (the vLLM bug)', 1),
    ("drops-session", "accepts the realtime handshake, then closes 1011 on the first event", 1),
    ("fixed", 'AuthenticationMiddleware reads scope.get("method") (the upstream fix)', 0),
)


def _replay(variant: str, token: str, report: Path) -> int:
    """Start the target, run the real ``retape replay`` CLI against it, return its exit code."""
    port = free_port()
    env = {KEY_ENV: token}
    server = [sys.executable, "-m", "demo", "--variant", variant, "--port", str(port)]
    with running(server, port=port, env=env):
        command = [sys.executable, "-m", "retape", "replay", str(SESSIONS.relative_to(REPO))]
        command += ["--target", f"http://127.0.0.1:{port}", "--bearer-env", KEY_ENV]
        command += ["--json", str(report)]
        print(f"$ retape replay sessions --target http://127.0.0.1:{port} --bearer-env {KEY_ENV}")
        sys.stdout.flush()
        return subprocess.run(command, cwd=REPO, env={**os.environ, **env}, timeout=300).returncode


def _websocket_500s(report: Path) -> list[dict]:
    results = json.loads(report.read_text())["results"]
    return [
        r
        for r in results
        if r["type"] == "websocket" and r["expected_status"] == 101 and r["actual_status"] == 500
    ]


def _chain_500s(report: Path) -> list[dict]:
    results = json.loads(report.read_text())["results"]
    return [r for r in results if r["path"] == "/v1/responses" and r["actual_status"] == 500]


def _substitutions(report: Path) -> int:
    return sum(len(r["substitutions"]) for r in json.loads(report.read_text())["results"])


def _broken_sessions(report: Path) -> list[dict]:
    results = json.loads(report.read_text())["results"]
    return [r for r in results if r.get("ws_session_ok") is False and r["actual_status"] == 101]


def main() -> int:
    token = "sk-demo-" + secrets.token_urlsafe(18)  # lives in the environment only
    shown = []
    with tempfile.TemporaryDirectory() as tmp:
        for step, (variant, what, expected_exit) in enumerate(VARIANTS, start=1):
            print(f"\n== {step}/{len(VARIANTS)}  {variant} target: {what}\n")
            report = Path(tmp) / f"{variant}.json"
            code = _replay(variant, token, report)
            if variant == "regressed":
                ok = code == expected_exit and bool(_websocket_500s(report))
                ok = ok and bool(_chain_500s(report))
                verdict = (
                    "caught: the realtime websocket got 500 instead of 101, and the "
                    "Responses chain answered 500"
                )
            elif variant == "drops-session":
                ok = code == expected_exit and bool(_broken_sessions(report))
                verdict = "caught: the handshake still says 101, but the session died after it"
            else:
                carried = _substitutions(report)
                ok = code == expected_exit and carried > 0
                verdict = (
                    "passed: every recorded interaction matched, with "
                    f"{carried} live values this server minted carried over"
                )
            print(f"\n-> {verdict}" if ok else f"\n-> unexpected: retape exited {code}")
            shown.append(ok)
    if all(shown):
        print("\ndemo ok: both regressions were caught, and the fix passed.")
        return 0
    print("\ndemo FAILED: see above.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
