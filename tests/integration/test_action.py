"""The composite Action's scripts, run as GitHub runs them, against the demo target.

GitHub is not here, so this plays its part: each ``run:`` step in order with the env
the step declares (``${{ inputs.* }}`` and ``${{ steps.*.outputs.* }}`` resolved),
``GITHUB_OUTPUT``/``GITHUB_ENV``/``GITHUB_STEP_SUMMARY`` files, and the ``uses:`` steps
(setup-python, upload-artifact) left out. The install step is replaced by pointing
``RETAPE_BIN`` at this checkout's retape, the one thing it would have produced.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import DEMO_TOKEN, REPO, demo_target

ACTION = yaml.safe_load((REPO / "action.yml").read_text())
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _resolve(value: str, inputs: dict[str, str], outputs: dict[str, dict[str, str]]) -> str:
    def one(match: re.Match[str]) -> str:
        kind, _, name = match.group(1).partition(".")
        if kind == "inputs":
            return inputs[name]
        if kind == "steps":
            step, _, key = name.partition(".outputs.")
            return outputs.get(step, {}).get(key, "")
        raise AssertionError(f"unexpected expression {match.group(0)}")

    return EXPRESSION.sub(one, value)


def run_action(tmp_path: Path, **given: str) -> tuple[int, str, dict[str, dict[str, str]]]:
    inputs = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    inputs.update(given)
    files = {n: tmp_path / n for n in ("output", "env", "summary")}
    for path in files.values():
        path.write_text("")
    base_env = {
        **os.environ,
        "RETAPE_BIN": str(Path(sys.executable).parent / "retape"),
        "RETAPE_TEST_KEY": DEMO_TOKEN,
        "GITHUB_ENV": str(files["env"]),
        "GITHUB_STEP_SUMMARY": str(files["summary"]),
        "RUNNER_TEMP": str(tmp_path),
    }
    outputs: dict[str, dict[str, str]] = {}
    failed = 0
    for step in ACTION["runs"]["steps"]:
        if "run" not in step or step.get("id") == "install":
            continue
        if failed and "always()" not in str(step.get("if", "")):
            continue
        files["output"].write_text("")
        env = {k: _resolve(str(v), inputs, outputs) for k, v in (step.get("env") or {}).items()}
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]], cwd=tmp_path, capture_output=True, text=True,
            env={**base_env, **env, "GITHUB_OUTPUT": str(files["output"])}, timeout=120,
        )  # fmt: skip
        lines = files["output"].read_text().splitlines()
        outputs[step["id"]] = dict(line.split("=", 1) for line in lines if "=" in line)
        failed = failed or done.returncode
    return failed, files["summary"].read_text(), outputs


@pytest.mark.parametrize(("variant", "code"), [("fixed", 0), ("regressed", 1)])
def test_action_replays_writes_reports_and_a_job_summary(
    tmp_path: Path, variant: str, code: int
) -> None:
    with demo_target(variant) as target:
        failed, summary, outputs = run_action(
            tmp_path, cassettes=f"{REPO / 'sessions'}", target=target,
            **{"bearer-env": "RETAPE_TEST_KEY"},
        )  # fmt: skip
    assert outputs["replay"]["exit-code"] == str(code)
    assert failed == code
    assert summary.startswith(f"## retape replay: exit {code}\n")
    assert (tmp_path / "retape-junit.xml").read_text().startswith("<?xml")
    assert (tmp_path / "retape-report.md").exists()
    if code:
        assert "expected 101, got 500" in summary
    assert DEMO_TOKEN not in summary


def test_every_input_the_steps_use_is_declared() -> None:
    text = (REPO / "action.yml").read_text()
    used = set(re.findall(r"inputs\.([a-z-]+)", text.split("runs:", 1)[1]))
    assert used <= set(ACTION["inputs"])
    assert ACTION["runs"]["using"] == "composite"


def test_pre_commit_hooks_run_retape_commands_on_cassettes() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == {"retape-scan", "retape-validate"}
    for hook in hooks:
        assert re.search(hook["files"], "sessions/chat.yaml")
        assert not re.search(hook["files"], ".github/workflows/ci.yaml")
        command = hook["entry"].split()
        done = subprocess.run(
            [str(Path(sys.executable).parent / command[0]), *command[1:],
             "sessions/chat.yaml", "sessions/realtime.yaml"],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
