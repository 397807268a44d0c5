"""mypy over the ``retape`` package as it installs, with repository paths in the output.

mypy cannot follow setuptools' package-dir mapping (``retape.recorder`` lives in
``recorder/``, ``retape.replayer`` in ``replayer/``), and an editable install hides the
mapping behind an import hook mypy does not run. So this builds a throwaway view of the
installed layout out of symlinks, ``.venv/typeview/retape/``: every entry of ``retape/``,
plus ``recorder`` and ``replayer`` linked in under their installed names. mypy checks
the view (settings from ``[tool.mypy]`` in pyproject.toml) and every path it prints is
mapped back to the file in the repository, so editors and people can jump to it.

The mapping is read from pyproject.toml, the one place it is spelled.

Run by ``make lint``; exit status is mypy's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VIEW = REPO / ".venv" / "typeview"


def package_dirs(repo: Path = REPO) -> dict[str, str]:
    """``[tool.setuptools.package-dir]``: import package -> folder in the repository."""
    with (repo / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["tool"]["setuptools"]["package-dir"]


def build_view(repo: Path = REPO, view: Path = VIEW) -> dict[Path, Path]:
    """Lay out the installed tree as symlinks; return view prefix -> repository folder."""
    shutil.rmtree(view, ignore_errors=True)
    mapping = package_dirs(repo)
    prefixes: dict[Path, Path] = {}
    for package, folder in sorted(mapping.items(), key=lambda item: item[0].count(".")):
        where = view.joinpath(*package.split("."))
        source = repo / folder
        if package.count(".") == 0:
            where.mkdir(parents=True)
            for entry in source.iterdir():
                if entry.name == "__pycache__" or entry.name in {
                    p.split(".", 1)[1] for p in mapping if p.count(".") == 1
                }:
                    continue
                (where / entry.name).symlink_to(entry)
        else:
            where.symlink_to(source, target_is_directory=True)
        prefixes[where] = source
    return prefixes


def to_repository(line: str, prefixes: dict[Path, Path]) -> str:
    """``.venv/typeview/retape/replayer/x.py:3: error`` -> ``replayer/x.py:3: error``."""
    # Longest prefix first: retape/replayer/ before retape/.
    for where, source in sorted(prefixes.items(), key=lambda item: -len(str(item[0]))):
        for shown in (str(where), os.path.relpath(where, VIEW), os.path.relpath(where, REPO)):
            if line.startswith(shown + os.sep):
                rest = line[len(shown) + 1 :]
                return f"{os.path.relpath(source, REPO)}{os.sep}{rest}".removeprefix("." + os.sep)
    return line


def main(argv: list[str]) -> int:
    prefixes = build_view()
    command = [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml")]
    command += ["--cache-dir", str(VIEW.parent / ".mypy_cache")]
    command += [*argv, "-p", "retape"]
    env = {**os.environ, "MYPYPATH": str(VIEW)}
    result = subprocess.run(command, cwd=VIEW, env=env, capture_output=True, text=True, check=False)
    for line in (result.stdout + result.stderr).splitlines():
        print(re.sub(r"\s+$", "", to_repository(line, prefixes)))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
