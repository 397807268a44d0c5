"""The layering contracts of docs/architecture.md, checked on every ``make lint``.

A small AST walk rather than import-linter: grimp finds a package's modules by walking its
folder, and ``retape.recorder`` / ``retape.replayer`` live in folders of their own (the
package-dir mapping in pyproject.toml), so it would never see them. Here the mapping is
spelled once, in :data:`ROOTS`.

Each contract names who may not import what; a violation prints ``file:line: message``
and the script exits 1. So does any import cycle between retape's modules, lazy
(function-level) imports included: a cycle hidden inside a function is still a cycle.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# folder in the repository -> the import package it installs as
ROOTS = {"retape": "retape", "recorder": "retape.recorder", "replayer": "retape.replayer"}

# Modules with no network, process or event-loop I/O: the comparison core and the
# websocket conversation are driven by the engine and unit-tested without a socket.
IO_MODULES = ("aiohttp", "asyncio", "websockets", "socket", "ssl", "subprocess", "yarl")


@dataclass(frozen=True)
class Contract:
    """Modules under ``source`` never import anything under one of ``forbidden``."""

    name: str
    source: str
    forbidden: tuple[str, ...]
    exempt: tuple[str, ...] = ()


CONTRACTS = (
    Contract("the recorder never imports the replayer", "retape.recorder", ("retape.replayer",)),
    Contract("the replayer never imports the recorder", "retape.replayer", ("retape.recorder",)),
    Contract(
        "the cassette format imports neither side nor a front end",
        "retape.cassette",
        ("retape.recorder", "retape.replayer", "retape.cli", "retape.cassette_commands"),
    ),
    Contract(
        "common imports nothing of retape's rooms",
        "retape.common",
        ("retape.cassette", "retape.recorder", "retape.replayer", "retape.cli"),
    ),
    Contract(
        "the sides never import the CLI front end",
        "retape",
        ("retape.cli", "retape.cassette_commands", "retape.io_commands"),
        exempt=("retape.cli", "retape.__main__", "retape.cassette_commands", "retape.io_commands"),
    ),
    Contract(
        "importers and exporters never import the replayer or the mock server",
        "retape.convert",
        ("retape.replayer", "retape.serve", "retape.cli", "retape.io_commands"),
    ),
    Contract(
        "the mock server imports neither the recorder, the replayer nor the converters",
        "retape.serve",
        ("retape.recorder", "retape.replayer", "retape.convert", "mitmproxy"),
    ),
    Contract(
        "the mock server never forwards: no HTTP or websocket client, no raw sockets",
        "retape.serve",
        (
            "aiohttp.client",
            "aiohttp.ClientSession",
            "httpx",
            "requests",
            "urllib.request",
            "websockets",
            "socket",
            "http.client",
        ),
    ),
    Contract("the matcher is pure", "retape.serve.match", (*IO_MODULES, "aiohttp.web")),
    Contract("comparison is pure", "retape.replayer.compare", IO_MODULES),
    Contract("the websocket conversation is pure", "retape.replayer.conversation", IO_MODULES),
    Contract("the cassette format is pure", "retape.cassette", (*IO_MODULES, "mitmproxy")),
    Contract("replay-only installs never need mitmproxy", "retape.replayer", ("mitmproxy",)),
    Contract(
        "nothing installed imports the repository's demo or tests", "retape", ("demo", "tests")
    ),
    Contract(
        "every import of retape's own code goes through the retape package",
        "retape",
        ("cassette", "recorder", "replayer"),
    ),
)


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def module_files(repo: Path = REPO) -> Iterator[tuple[str, Path]]:
    """Every installed module's dotted name and file."""
    for folder, package in ROOTS.items():
        for path in sorted((repo / folder).rglob("*.py")):
            parts = list(path.relative_to(repo / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield ".".join([package, *parts]), path


def imports_of(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import statement, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                drop = node.level - 1 if is_package else node.level
                anchor = anchor[: len(anchor) - drop] if drop else anchor
                base = ".".join([*anchor, base] if base else anchor)
            yield base, node.lineno
            for alias in node.names:  # `from retape.replayer import net` imports a module too
                yield f"{base}.{alias.name}", node.lineno


def violations(repo: Path = REPO) -> list[str]:
    found = []
    for module, path in module_files(repo):
        for contract in CONTRACTS:
            if not _under(module, contract.source):
                continue
            if any(_under(module, e) for e in contract.exempt):
                continue
            for imported, line in imports_of(module, path):
                if any(_under(imported, f) for f in contract.forbidden) and not _under(
                    imported, contract.source
                ):
                    where = path.relative_to(repo)
                    found.append(f"{where}:{line}: imports {imported}: {contract.name}")
    return sorted(set(found))


def import_graph(repo: Path = REPO) -> dict[str, set[str]]:
    """retape module -> the retape modules it imports, lazily or not.

    An import of a module's own parent package is left out: importing ``a.b.c`` always runs
    ``a.b`` first, so that edge is no design choice. Imports under ``if TYPE_CHECKING:`` are
    left out too: they never run.
    """
    files = dict(module_files(repo))
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        typing_only = _typing_only_lines(path)
        graph[module] = {
            imported
            for imported, line in imports_of(module, path)
            if imported in files
            and imported != module
            and not _under(module, imported)
            and line not in typing_only
        }
    return graph


def _typing_only_lines(path: Path) -> set[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that import each other, directly or round about (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def main() -> int:
    problems = violations()
    problems += [f"import cycle: {' <-> '.join(group)}" for group in cycles(import_graph())]
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} layering violation(s); see docs/architecture.md", file=sys.stderr)
        return 1
    print(f"layers: {len(CONTRACTS)} contracts kept, no import cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
