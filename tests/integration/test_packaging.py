"""What ``pip install retape`` gives a user, checked in fresh virtualenvs from a real wheel.

Three promises (README "Install"): the wheel puts one top-level name, ``retape``, into
site-packages; ``pip install retape openai pytest`` resolves on Python 3.11 (the base
install has no mitmproxy, whose h11 pin the OpenAI SDK cannot live with) and pytest then
shows the plugin's options; ``pip install 'retape[record]'`` brings a recorder that runs.

Slow by nature (two environments, one with mitmproxy: about 2.5 minutes in all on the
2-core CI machine) but bounded: every pip call has a timeout. Skipped, not failed, only
when pip cannot reach a package index at all.
"""

from __future__ import annotations

import runpy
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import httpx
import pytest

from retape.cassette import load_cassette
from tests.support import REPO, free_port, output_of, running, stop

PIP_TIMEOUT = 240  # seconds for one pip call; a run makes four
_OFFLINE = (
    "No matching distribution found",
    "Could not find a version that satisfies",
    "Failed to establish a new connection",
    "Network is unreachable",
    "Temporary failure in name resolution",
)


def run(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run outside the repository, so nothing is imported or read from the source tree."""
    return subprocess.run(
        [str(a) for a in args],
        cwd=Path(str(args[0])).parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def pip(python: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    result = run(python, "-m", "pip", "--disable-pip-version-check", *args, timeout=PIP_TIMEOUT)
    if result.returncode != 0 and any(s in result.stdout + result.stderr for s in _OFFLINE):
        pytest.skip(f"pip cannot reach a package index: {result.stderr.strip()[-300:]}")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


def fresh_venv(where: Path) -> Path:
    venv.create(where, with_pip=True, clear=True)
    return where / "bin" / "python"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``pip install .`` would build, built once for the module from a clean copy
    (an in-tree build/ could carry modules deleted since into the wheel)."""
    source = tmp_path_factory.mktemp("source") / "retape"
    junk = (".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis")
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*junk, "bench", "sessions"))
    out = tmp_path_factory.mktemp("wheel")
    pip(Path(sys.executable), "wheel", "--no-deps", "--wheel-dir", out, source)
    (built,) = out.glob("retape-*.whl")
    return built


def test_the_wheel_carries_every_module_of_the_repository(wheel: Path) -> None:
    """A package folder missing from pyproject's list would install without its modules."""
    layers = runpy.run_path(str(REPO / "scripts" / "check_layers.py"))
    expected = {
        "/".join(name.split(".")) + ("/__init__.py" if path.name == "__init__.py" else ".py")
        for name, path in layers["module_files"](REPO)
    }
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n for n in archive.namelist() if n.endswith(".py")}
    assert expected - shipped == set()
    assert shipped - expected == set()


def top_level_names(python: Path) -> set[str]:
    """What the retape distribution put at the top of site-packages, from its RECORD."""
    code = (
        "import importlib.metadata as m\n"
        "files = m.distribution('retape').files or []\n"
        "names = {f.parts[0] for f in files if not f.parts[0].endswith('.dist-info')}\n"
        "print(' '.join(sorted(n for n in names if n != '..')))\n"  # ../../bin/retape
    )
    result = run(python, "-c", code)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


@pytest.mark.timeout(2 * PIP_TIMEOUT)
def test_base_install_is_one_package_beside_openai_with_the_plugin(
    wheel: Path, tmp_path: Path
) -> None:
    python = fresh_venv(tmp_path / "replay-only")
    pip(python, "install", f"{wheel}", "openai", "pytest")
    assert top_level_names(python) == {"retape"}
    assert run(python, "-c", "import mitmproxy").returncode != 0  # not pulled in
    assert run(python, "-c", "import openai, retape.replayer.engine").returncode == 0
    help_text = run(python, "-m", "pytest", "--help", "-p", "no:cacheprovider")
    assert help_text.returncode == 0, help_text.stderr
    for flag in ("--retape-target", "--retape-secret", "--retape-ca-file", "--retape-markdown"):
        assert flag in help_text.stdout, flag
    out = tmp_path / "never.yaml"
    record = run(tmp_path / "replay-only" / "bin" / "retape", "record",
                 "--upstream", "http://127.0.0.1:9", "--out", out)  # fmt: skip
    assert record.returncode == 2
    assert "pip install 'retape[record]'" in record.stderr and record.stderr.count("\n") == 1
    assert not out.exists()


@pytest.mark.timeout(2 * PIP_TIMEOUT)
def test_the_record_extra_brings_a_recorder_that_records(wheel: Path, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "recorder")
    pip(python, "install", f"{wheel}[record]")
    assert top_level_names(python) == {"retape"}
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "hello.txt").write_text("hello\n")
    upstream, proxy = free_port(), free_port()
    serve = [sys.executable, "-m", "http.server", str(upstream), "--bind", "127.0.0.1",
             "--directory", str(tmp_path / "site")]  # fmt: skip
    out = tmp_path / "recorded.yaml"
    record = [tmp_path / "recorder" / "bin" / "retape", "record", "--quiet",
              "--upstream", f"http://127.0.0.1:{upstream}", "--listen", f"127.0.0.1:{proxy}",
              "--out", out]  # fmt: skip
    with (
        running(serve, port=upstream),
        running([str(a) for a in record], port=proxy, env={"HOME": str(tmp_path)}) as recorder,
    ):
        reply = httpx.get(f"http://127.0.0.1:{proxy}/hello.txt", timeout=10)
        assert reply.status_code == 200 and reply.text == "hello\n"
        assert stop(recorder) == 0, output_of(recorder)
    (interaction,) = load_cassette(out).interactions
    assert interaction.request.path == "/hello.txt" and interaction.response.status == 200
