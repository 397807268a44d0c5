"""Start-up stays cheap: what ``retape`` imports is only visible from a fresh interpreter."""

from __future__ import annotations

import subprocess

from tests.support import PYTHON, REPO


def test_replay_does_not_import_mitmproxy() -> None:
    """Start-up stays cheap: only `retape record` needs mitmproxy."""
    code = (
        "import sys; from retape.cli import build_parser; "
        "build_parser().parse_args(['replay', 'sessions', '--target', 'http://127.0.0.1:9']); "
        "import retape.replayer.engine, retape.replayer.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mitmproxy'))"
    )
    out = subprocess.run([PYTHON, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_importing_the_replay_command_stays_cheap() -> None:
    """`retape` imports replayer.cli on every start; the network stack loads only on replay."""
    code = (
        "import sys, retape.replayer.cli\n"
        "heavy = {'aiohttp', 'websockets', 'rich', 'mitmproxy', 'retape.recorder'}\n"
        "heavy &= set(sys.modules)\n"
        "import retape.replayer.engine, retape.replayer.report.text, retape.replayer.report.junit\n"
        "assert not heavy, heavy\n"
        "assert not {'mitmproxy', 'retape.recorder'} & set(sys.modules)\n"
    )
    result = subprocess.run(
        [PYTHON, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
