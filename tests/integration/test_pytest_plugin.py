"""The pytest plugin: cassettes collected as test files, rows as items, CLI verdicts.

Each test runs a real pytest in a subprocess (``pytester``) against a real demo target,
with the plugin loaded the way users get it: through the ``pytest11`` entry point.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.test_replay_cli import TOKEN_ENV, replay, rows_of
from tests.integration.test_replay_deep import authenticated_only, capture, edit
from tests.support import PYTHON, REPO

pytest_plugins = ["pytester"]
KEY_VAR = "RETAPE_TEST_KEY"


@pytest.fixture
def tester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv(KEY_VAR, TOKEN_ENV[KEY_VAR])
    return pytester


def run(tester: pytest.Pytester, base: str, *args: str) -> pytest.RunResult:
    return tester.runpytest_subprocess(
        "--retape-target", base, "--retape-bearer-env", KEY_VAR, *args, timeout=120
    )


def verdicts(junit: Path) -> dict[str, bool]:
    """testcase name -> passed, from pytest's own --junitxml."""
    cases = ET.parse(junit).getroot().iter("testcase")
    return {c.get("name", ""): c.find("failure") is None and c.find("error") is None for c in cases}


def test_without_a_target_the_plugin_collects_nothing(tester: pytest.Pytester) -> None:
    authenticated_only(tester.path)
    result = tester.runpytest_subprocess("--collect-only", timeout=60)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_only_cassettes_are_collected_with_readable_ids(
    tester: pytest.Pytester, target: Callable[[str], str]
) -> None:
    authenticated_only(tester.path)
    (tester.path / "settings.yaml").write_text("retries: 3\nretape_like: true\n")
    result = run(tester, target("fixed"), "--collect-only", "-q", "--retape-auth-matrix")
    ids = [line for line in result.outlines if "::" in line]
    assert ids == [
        f"authed.yaml::#{n}-{kind}{suffix}"
        for n, kind in ((1, "http-GET-/v1/models"), (2, "http-POST-/v1/chat/completions"),
                        (3, "websocket-GET-/v1/realtime"))
        for suffix in ("", "[no-credential]", "[wrong-credential]")
    ]  # fmt: skip


@pytest.mark.parametrize("variant", ["open-websocket", "fixed", "regressed"])
def test_same_verdicts_as_the_cli(
    tester: pytest.Pytester, target: Callable[[str], str], variant: str
) -> None:
    cassette = authenticated_only(tester.path)
    base = target(variant)
    report = tester.path / "cli.json"
    cli = replay(str(cassette), "--target", base, "--bearer-env", KEY_VAR, "--auth-matrix",
                 "--json", str(report))  # fmt: skip
    result = run(tester, base, "--retape-auth-matrix", "--junitxml", "junit.xml", "-p",
                 "no:cacheprovider")  # fmt: skip
    assert (result.ret, cli.returncode) in ((0, 0), (1, 1))
    expected = {}
    for row in rows_of(report):
        suffix = f"[{row['probe']}]" if row["probe"] else ""
        name = f"#{row['id']}-{row['type']}-{row['method']}-{row['path']}{suffix}"
        expected[name] = row["ok"]
    assert verdicts(tester.path / "junit.xml") == expected


def test_a_failure_shows_the_same_diff_as_the_cli(
    tester: pytest.Pytester, target: Callable[[str], str]
) -> None:
    base = target("fixed")
    cassette = capture(base, tester.path)
    edit(cassette, "finish_reason: stop", "finish_reason: length")
    (tester.path / "captured.noise.toml").write_text('ignore = ["$.id", "$.created"]\n')
    result = run(tester, base, "--retape-compare", "body", "-p", "no:cacheprovider")
    assert result.ret == 1
    result.assert_outcomes(passed=3, failed=1)
    cli = replay(str(cassette), "--target", base, "--bearer-env", KEY_VAR, "--compare", "body",
                 "--ignore", "$.id", "--ignore", "$.created")  # fmt: skip
    failing = [line for line in cli.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 1
    diff = '       $.choices[0].finish_reason: "length" -> "stop"'
    assert diff in cli.stdout
    result.stdout.fnmatch_lines([failing[0].replace(str(cassette), "captured.yaml"), diff])


def test_k_x_lf_and_xdist_work_on_items(
    tester: pytest.Pytester, target: Callable[[str], str]
) -> None:
    authenticated_only(tester.path)
    base = target("open-websocket")
    selected = run(tester, base, "--retape-auth-matrix", "-k", "websocket and credential")
    selected.assert_outcomes(failed=2, deselected=7)
    first = run(tester, base, "--retape-auth-matrix", "-x")
    first.assert_outcomes(passed=7, failed=1)
    full = run(tester, base, "--retape-auth-matrix")
    full.assert_outcomes(passed=7, failed=2)
    again = run(tester, base, "--retape-auth-matrix", "--lf")
    again.assert_outcomes(failed=2)
    spread = run(tester, base, "--retape-auth-matrix", "-n", "2", "-p", "no:cacheprovider")
    spread.assert_outcomes(passed=7, failed=2)


def test_markdown_gathers_every_xdist_worker_s_rows_like_the_cli(
    tester: pytest.Pytester, target: Callable[[str], str]
) -> None:
    cassette = authenticated_only(tester.path)
    base = target("open-websocket")
    result = run(tester, base, "--retape-auth-matrix", "--retape-markdown", "report.md",
                 "-n", "2", "-p", "no:cacheprovider")  # fmt: skip
    result.assert_outcomes(passed=7, failed=2)
    ours = (tester.path / "report.md").read_text()
    cli = replay(str(cassette), "--target", base, "--bearer-env", KEY_VAR, "--auth-matrix",
                 "--markdown", str(tester.path / "cli.md"))  # fmt: skip
    assert cli.returncode == 1
    theirs = (tester.path / "cli.md").read_text()
    assert ours.splitlines()[:3] == theirs.splitlines()[:3]  # heading and totals
    assert ours.splitlines()[0] == "## retape replay: 2 of 9 rows failed"
    assert ours.count("[no-credential]") == theirs.count("[no-credential]") > 0
    assert TOKEN_ENV[KEY_VAR] not in ours


def test_learn_noise_works_in_the_plugin(
    tester: pytest.Pytester, target: Callable[[str], str]
) -> None:
    base = target("fixed")
    capture(base, tester.path)
    args = ("--retape-compare", "body", "-p", "no:cacheprovider")
    assert run(tester, base, *args).ret == 1  # ids and timestamps differ run to run
    learned = run(tester, base, *args, "--retape-learn-noise")
    assert learned.ret == 0, learned.stdout.str()
    learned.stdout.fnmatch_lines(["retape: learned * noise rule* -> *captured.noise.toml"])
    noise = (tester.path / "captured.noise.toml").read_text()
    assert '"$.id"' in noise and '"$.created"' in noise
    assert run(tester, base, *args).ret == 0  # the learned rules hold in a plain run


def test_an_invalid_cassette_is_a_collection_error_naming_file_and_line(
    tester: pytest.Pytester, target: Callable[[str], str]
) -> None:
    cassette = authenticated_only(tester.path)
    edit(cassette, "status: 200", "status: two hundred")
    result = run(tester, target("fixed"))
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*authed.yaml:*: interactions[[]0[]].response.status: *"])


def test_a_missing_credential_variable_is_a_usage_error(tester: pytest.Pytester) -> None:
    authenticated_only(tester.path)
    result = tester.runpytest_subprocess(
        "--retape-target", "http://127.0.0.1:9", "--retape-bearer-env", "RETAPE_NOT_SET",
        timeout=60,
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*retape: --bearer-env: environment variable RETAPE_NOT_SET*"])


def test_loading_the_plugin_stays_cheap() -> None:
    """pytest loads the plugin in every run of the environment: it must cost nothing."""
    code = (
        "import sys, retape.replayer.pytest_plugin\n"
        "heavy = {'aiohttp', 'websockets', 'rich', 'yaml', 'mitmproxy'} & set(sys.modules)\n"
        "print(json.dumps(sorted(heavy)))\n"
    )
    result = subprocess.run(
        [PYTHON, "-c", "import json\n" + code], cwd=REPO, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
