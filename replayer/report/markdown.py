"""``--markdown FILE``: a report to paste into a GitHub issue, readable on its own.

For each failing row: what was sent, what was expected, what came back, the diff, and a
command that reproduces it without retape (:mod:`replayer.reproduce`). Credentials are
never written: the reproducer says ``$TOKEN``, and response excerpts were scrubbed of
the live values before they reached a result.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from retape.replayer.auth.credentials import Credentials
from retape.replayer.auth.probes import Probe
from retape.replayer.compare.aspects import messages_note
from retape.replayer.report.reproduce import curl_command, shown_credentials, websocket_script
from retape.replayer.report.text import format_differences, printable, printable_lines
from retape.replayer.results import Result, Summary

from retape.cassette.model import Cassette, Interaction

MAX_REPRODUCER = 20_000  # characters; past this the cassette is the better attachment


def _code(text: str) -> str:
    """Inline code that survives backticks, table pipes and control characters."""
    text = printable(text.replace("\n", " ")).replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def _block(text: str, language: str = "") -> str:
    text = printable_lines(text)
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{language}\n{text}\n{fence}"


def _sent(interaction: Interaction, result: Result, live: Credentials) -> str:
    probe = Probe(result.probe) if result.probe else None
    what = f"{_code(f'{interaction.request.method} {interaction.request.path}')}"
    what += " websocket handshake" if interaction.type == "websocket" else ""
    shown = shown_credentials(interaction, live, probe).headers
    if probe is Probe.NO_CREDENTIAL:
        what += ", **no credential** (the recorded credential headers removed)"
    elif shown and interaction.request.credentials:
        kind = "a **wrong** credential" if probe else "a valid credential"
        what += f", with {kind}: " + ", ".join(_code(f"{n}: {v}") for n, v in shown)
    if interaction.type == "websocket" and interaction.accepted:
        sent = sum(m.sender == "client" for m in interaction.messages)
        what += (
            f", then the {sent} recorded client messages"
            if probe is None
            else " (if accepted, a probe plays the first turn only: served, or closed by the"
            " server?)"
        )
    return what


def _got(result: Result) -> str:
    got = _code(str(result.actual_status)) if result.actual_status is not None else "no status"
    if result.error:
        got += f" ({result.error})"
    if result.failure:
        got += f": **{result.failure}**"
    elif result.differences and result.status_matched:
        got += f", with {result.problem}"
    note = messages_note(result.details)
    return printable(f"{got}; {note}" if note else got).replace("|", "\\|")


def _section(result: Result, interaction: Interaction | None, live: Credentials) -> list[str]:
    out = [f"### {result.verdict} {_code(result.cassette)} {_code(result.title)}", ""]
    expected = f"{_code(result.expected)}"
    if result.probe:
        expected += " (a refusal: the probe carries no valid credential)"
    if interaction is not None:
        out += ["| | |", "|---|---|", f"| sent | {_sent(interaction, result, live)} |"]
    else:
        out += ["| | |", "|---|---|"]
    out += [f"| expected | {expected} |", f"| got | {_got(result)} |", ""]
    if result.differences:
        out += ["Differences:", "", _block("\n".join(format_differences(result, limit=50))), ""]
    excerpt = result.details.get("response_excerpt")
    if excerpt:
        out += ["Response body (start):", "", _block(excerpt), ""]
    if interaction is not None:
        probe = Probe(result.probe) if result.probe else None
        build = websocket_script if interaction.type == "websocket" else curl_command
        command = build(interaction, live=live, probe=probe)
        out.append("Reproduce without retape (`TARGET` = the server under test, `TOKEN` = a key):")
        out.append("")
        if len(command) > MAX_REPRODUCER:
            out.append(f"(too long to paste: attach {_code(result.cassette)} instead)")
        else:
            out.append(_block(command, "sh"))
        out.append("")
    return out


def render_markdown(
    results: Sequence[Result],
    summary: Summary,
    *,
    cassettes: Sequence[Cassette],
    target: str,
    credentials: Credentials,
) -> str:
    interactions = {(c.path or "<cassette>", i.id): i for c in cassettes for i in c.interactions}
    failing = [r for r in results if not r.ok]
    head = "all passed" if not failing else f"{len(failing)} of {summary.total} rows failed"
    out = [
        f"## retape replay: {head}",
        "",
        f"Target {_code(target)}; {summary.total} rows ({summary.probes} auth probes): "
        f"{summary.passed} passed, {summary.failed} failed, {summary.errors} errors.",
        "",
    ]
    if failing:
        out += ["| verdict | cassette | row | problem |", "|---|---|---|---|"]
        out += [
            f"| {r.verdict} | {_code(r.cassette)} | {_code(r.title)} | {_code(r.problem)} |"
            for r in failing
        ]
        out.append("")
    for result in failing:
        out += _section(result, interactions.get((result.cassette, result.id)), credentials)
    # Rows were masked when judged; the reproducers are built here, from the cassette.
    return credentials.masker.text("\n".join(out).rstrip("\n") + "\n")


def write_markdown(path: str | Path, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")
