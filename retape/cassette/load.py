"""Reading cassettes, which are untrusted input.

A cassette may come from a stranger's bug report, so it is parsed with PyYAML's safe
loader only (no Python tags, nothing executed), validated against the schema, and
every failure becomes a one-line :class:`CassetteError` naming the file and line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from retape.cassette import fastload
from retape.cassette.depth import check_nesting
from retape.cassette.errors import CassetteError
from retape.cassette.model import Cassette, Interaction, Recording
from retape.cassette.safe_yaml import SafeLoader
from retape.cassette.torn import warn_torn_tail, without_torn_tail
from retape.cassette.validate import validate_data

CASSETTE_SUFFIXES = (".yaml", ".yml")
# Larger files are refused before parsing; RETAPE_MAX_CASSETTE_MB raises the bound.
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
# A "*name" where YAML could read it as an alias; only then are the events checked exactly.
_ALIAS_HINT = re.compile(r"(?:^|[\s\[{,:?-])\*[^\s,\[\]{}]", re.MULTILINE)


def max_bytes() -> int:
    raw = os.environ.get("RETAPE_MAX_CASSETTE_MB")
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        return int(float(raw) * 1024 * 1024)
    except ValueError:
        raise CassetteError(f"RETAPE_MAX_CASSETTE_MB={raw!r} is not a number") from None


def open_checked(path: str) -> BinaryIO:
    """The cassette file opened for reading, or a CassetteError saying why not.

    Refused before a byte is read: a pipe or device (reading would block or never end)
    and a file over the size bound.
    """
    limit = max_bytes()
    try:
        if not Path(path).is_file() and Path(path).exists() and not Path(path).is_dir():
            raise CassetteError("not a regular file (a pipe or device is not read)", path=path)
        size = Path(path).stat().st_size
        if size > limit:
            raise CassetteError(
                f"{size} bytes is over the {limit}-byte limit (set RETAPE_MAX_CASSETTE_MB)",
                path=path,
            )
        return open(path, "rb")
    except IsADirectoryError:
        raise CassetteError("is a directory, expected a cassette file", path=path) from None
    except FileNotFoundError:
        raise CassetteError("no such file", path=path) from None
    except OSError as exc:
        raise CassetteError(f"cannot read: {exc.strerror or exc}", path=path) from None


def read_text(path: str | Path) -> str:
    """The file's text, or a CassetteError saying why it cannot be had."""
    name = str(path)
    with open_checked(name) as handle:
        try:
            raw = handle.read()
        except OSError as exc:
            raise CassetteError(f"cannot read: {exc.strerror or exc}", path=name) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CassetteError(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            path=name,
            line=line,
        ) from None


def refuse_aliases(text: str, *, path: str) -> None:
    """Refuse YAML aliases: retape never writes them, and expanding them is how an
    "alias bomb" turns a small file into gigabytes once anything walks the data."""
    if not _ALIAS_HINT.search(text):
        return
    try:
        for event in yaml.parse(text, Loader=SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise CassetteError(
                    "YAML aliases (*name) are not allowed in a cassette",
                    path=path,
                    line=event.start_mark.line + 1 if event.start_mark else None,
                )
    except yaml.YAMLError:
        return  # the parse proper reports the syntax error with its line


def parse_yaml(text: str, *, path: str) -> Any:
    """Parse with the safe loader; a syntax error or a tag becomes a CassetteError."""
    check_nesting(text, path=path)
    refuse_aliases(text, path=path)
    try:
        return yaml.load(text, Loader=SafeLoader)  # safe loader: no tags honoured
    except RecursionError:  # the pure-Python composer, where libyaml is missing
        raise CassetteError("invalid YAML: nested too deeply", path=path) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        line = mark.line + 1 if mark is not None else None
        raise CassetteError(f"invalid YAML: {problem}", path=path, line=line) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise CassetteError(
            f"invalid YAML: {exc.reason} (character 0x{exc.character:x})", path=path, line=line
        ) from None
    except yaml.YAMLError as exc:
        raise CassetteError(f"invalid YAML: {exc}", path=path) from None


def cassette_from_data(data: dict[str, Any], *, path: str | None = None) -> Cassette:
    """Build the model from data that passed :func:`validate_data`."""
    return Cassette(
        recording=Recording.from_data(data.get("recording")),
        interactions=[Interaction.from_data(item) for item in data.get("interactions") or []],
        path=path,
    )


def load_cassette(path: str | Path) -> Cassette:
    """Read, parse and validate one cassette file.

    :mod:`cassette.fastload` answers first, but only for a valid file it can vouch is
    read exactly as PyYAML reads it; everything else, every error included, takes the
    safe loader and the schema as before.
    """
    name = str(path)
    data, _ = load_text(read_text(path), path=name)
    return cassette_from_data(data, path=name)


def parse_and_validate(text: str, *, path: str) -> dict[str, Any]:
    data = fastload.load_valid(text)
    if data is None:
        data = parse_yaml(text, path=path)
        validate_data(data, path=path, text=text)
    return data


def load_text(text: str, *, path: str) -> tuple[dict[str, Any], str]:
    """Validated data, and the text it was read from.

    If the file is invalid only because its final interaction was cut short by a killed
    recorder (see :mod:`cassette.torn`), that interaction is dropped with a warning and
    the returned text is the part that was read.
    """
    try:
        return parse_and_validate(text, path=path), text
    except CassetteError:
        kept = without_torn_tail(text)
        if kept is None:
            raise
        try:
            data = parse_and_validate(kept, path=path)
        except CassetteError:
            pass
        else:
            warn_torn_tail(kept, path=path)
            return data, kept
        raise


def find_cassettes(paths: list[str]) -> list[Path]:
    """Expand files and directories (recursively, ``*.yaml``/``*.yml``) in a stable order."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.suffix in CASSETTE_SUFFIXES and p.is_file())
            )
        elif path.exists():
            found.append(path)
        else:
            raise CassetteError("no such file or directory", path=raw)
    return found
