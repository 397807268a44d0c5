"""``[tool.retape.*]`` tables of the nearest pyproject.toml: project settings live with the
project, as ruff's and pytest's do. One reader serves every table, so every table reports
a typo the same way: ``pyproject.toml: [tool.retape.NAME]: unknown key 'x' (expected ...)``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from retape.common.errors import RetapeError


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest pyproject.toml from ``start`` (default: the working directory) upwards."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def read_tool(pyproject: Path | None = None) -> tuple[dict[str, Any], Path | None]:
    """``[tool.retape]`` of ``pyproject`` (default: the nearest), and the file it came from."""
    path = pyproject or find_pyproject()
    if path is None:
        return {}, None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RetapeError(f"{path}: cannot read [tool.retape]: {exc}") from None
    tool = data.get("tool", {}).get("retape", {})
    if not isinstance(tool, dict):
        raise RetapeError(f"{path}: [tool.retape]: expected a table")
    return tool, path


def section(tool: dict[str, Any], name: str, known: set[str], path: Path | None) -> dict[str, Any]:
    """One ``[tool.retape.NAME]`` table, its keys checked against ``known``."""
    table = tool.get(name, {})
    where = f"{path}: [tool.retape.{name}]"
    if not isinstance(table, dict):
        raise RetapeError(f"{where}: expected a table")
    unknown = sorted(set(table) - known)
    if unknown:
        raise RetapeError(
            f"{where}: unknown key {unknown[0]!r} (expected {', '.join(sorted(known))})"
        )
    return table


def strings(table: dict[str, Any], key: str, where: str) -> list[str]:
    """A list-of-strings value, or a RetapeError saying which key is wrong."""
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RetapeError(f"{where} {key}: expected a list of strings")
    return value
