"""Reading a cassette one interaction at a time, in memory that does not grow with the file.

:func:`cassette.load.load_cassette` builds the whole document; a 100,000-interaction
cassette then costs its size several times over in Python objects. This reader uses
the shape the recorder writes (:mod:`cassette.dump`): a header ending in a line
``interactions:``, then one top-level list item per interaction, each starting with a
line that begins ``- `` at column 0. The header is parsed alone; each item is parsed
and validated alone, as ``retape: 1`` / ``interactions: [item]``, with the same safe
loader, fast path and schema as a whole file, and its error messages are moved back
to the item's place in the file (``file:line: interactions[i]...``).

Splitting on lines is exact for every file it accepts. Inside a top-level item every
line that is part of a node is indented, so a line starting ``- `` at column 0 is the
next item unless it continues a quoted scalar or a flow collection that is still open;
and then the item before it runs out of text in the middle of that scalar or collection
and does not parse on its own. So a file is read item by item only while every item
parses on its own into exactly one interaction and every line at column 0 after
``interactions:`` is an item start, a comment or blank. Anything else (a key after the
list, a document marker, an ``interactions: []`` flow list, a syntax error) and the
file is read whole by :func:`load_cassette` instead, which then also words any error.

:func:`open_cassette` is the first pass: it validates everything, keeping nothing but
the count, a digest of each item and whether it needed the safe parser, so an invalid
file is refused before any traffic. Iterating the returned :class:`CassetteStream` is
the second pass, which parses each item again as it goes: an item whose digest matches
is only parsed, by the path that validated it; one that changed is an error. A long
websocket session's messages are split the same way, on their ``  - `` lines, and read
one at a time when the replay asks for them (:mod:`cassette.message_log`).
"""

from __future__ import annotations

import bisect
import itertools
import os
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from retape.cassette import fastload
from retape.cassette.errors import CassetteError
from retape.cassette.load import load_cassette, open_checked, parse_yaml
from retape.cassette.locate import Locator
from retape.cassette.message_log import SHELL, SHELL_LINES, FileMessages, digest
from retape.cassette.model import Correlation, Interaction, Recording
from retape.cassette.validate import MAX_MESSAGES, validate_data

ITEM_PREFIX = "retape: 1\ninteractions:\n"  # each item is read as a cassette of one
_PREFIX_LINES = ITEM_PREFIX.count("\n")
_FIRST_ITEM = re.compile(r"^interactions\[0\]")
# What PyYAML takes for a line break besides "\n": its lines are the ones that count.
_OTHER_BREAK = re.compile("[\r\x85\u2028\u2029]")
_LINE = re.compile("[^\r\n\x85\u2028\u2029]*(?:\r\n|[\r\n\x85\u2028\u2029]|$)")
_BREAKS = "\r\n\x85\u2028\u2029"
_INTERACTIONS = re.compile(r"interactions:(?:[ \t]+(?:#.*)?)?")  # the last header line
# A session whose messages take more text than this is read message by message
# (cassette.message_log): replay memory is then bounded by a message, not the session.
STREAMED_SESSION_BYTES = 1 << 20


class _ReadWhole(Exception):
    """The file is not in the shape this reader can vouch for: read it whole instead."""


@dataclass(frozen=True)
class _Item:
    index: int  # position in the interactions list
    line: int  # 1-based line of its "- " in the file
    text: str
    unterminated: bool = False  # the last item, without a final newline: maybe torn
    session: _Session | None = None  # its messages are read one by one, not in ``text``


class IdSet:
    """The interaction ids seen so far, as runs of consecutive ids.

    The recorder numbers from 1 upwards, so a whole cassette is one run and the check
    for duplicate ids costs the same for ten interactions as for a million.
    """

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []  # inclusive

    def add(self, ident: int) -> bool:
        """Add ``ident``; False if it was already there."""
        at = bisect.bisect_right(self._starts, ident) - 1
        if at >= 0 and ident <= self._ends[at]:
            return False
        joins_left = at >= 0 and self._ends[at] == ident - 1
        joins_right = at + 1 < len(self._starts) and self._starts[at + 1] == ident + 1
        if joins_left and joins_right:
            self._ends[at] = self._ends[at + 1]
            del self._starts[at + 1], self._ends[at + 1]
        elif joins_left:
            self._ends[at] = ident
        elif joins_right:
            self._starts[at + 1] = ident
        else:
            self._starts.insert(at + 1, ident)
            self._ends.insert(at + 1, ident)
        return True

    def __len__(self) -> int:
        return len(self._starts)  # runs, not ids: what the set costs


def _lines(path: str) -> Iterator[tuple[int, str]]:
    """The file's lines as PyYAML counts them (``\\r``, NEL, LS and PS break lines too),
    decoded as UTF-8 one by one, each with the byte offset it starts at."""
    with open_checked(path) as file:
        offset = 0
        number = 0
        try:
            for raw in file:
                number += 1
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    # A line break is never part of a UTF-8 sequence: the first bad byte
                    # of the first bad line is the first bad byte of the file.
                    raise CassetteError(
                        f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                        f"{offset + exc.start})",
                        path=path,
                        line=number,
                    ) from None
                if "\r" not in line and (line.isascii() or _OTHER_BREAK.search(line) is None):
                    yield offset, line  # the others (NEL, LS, PS) are not ASCII
                else:
                    at = offset
                    for part in _LINE.findall(line):
                        if part:
                            yield at, part
                            at += len(part.encode("utf-8"))
                offset += len(raw)
        except OSError as exc:
            raise CassetteError(f"cannot read: {exc.strerror or exc}", path=path) from None
    yield offset, ""  # where the file ends: the last line's end


def _is_blank_or_comment(line: str) -> bool:
    stripped = line.strip(" \t" + _BREAKS)
    return not stripped or stripped.startswith("#")


class _Session:
    """Where the messages of one long websocket session are in the file (see
    :mod:`cassette.message_log`): its item's text then holds ``messages: []`` in their
    place, ``lines`` lines after ``line``, the line of its ``messages:`` key."""

    def __init__(self, line: int) -> None:
        self.line = line
        self.lines = 0
        self.offsets: array[int] = array("q")
        self.sizes: array[int] = array("q")


@dataclass(frozen=True)
class _Chunk:
    """One message of a long session, read on its own."""

    item: int  # index of its interaction
    number: int  # its index among the session's messages
    line: int  # 1-based line of its "  - "
    text: str

    @property
    def unterminated(self) -> bool:
        return not self.text.endswith("\n")  # the file's end: maybe a torn tail


_MESSAGES = "  messages:"  # the key a session's messages follow, as the recorder writes it
_MESSAGE_START = "  - "
_NONE: list[_Chunk] = []  # what most lines complete; never appended to


class _ItemText:
    """The lines of one top-level item as they come, and its messages once they are many.

    While its messages are fewer than :data:`STREAMED_SESSION_BYTES` the item is kept
    whole, as every other item; past that, its messages are handed on one by one as
    :class:`_Chunk` and only where each one is (:class:`_Session`) is kept.
    """

    def __init__(self, index: int, line: int, text: str) -> None:
        self.index, self.start = index, line
        self.lines = [text]
        self.region: int | None = None  # index in lines after "  messages:", while in it
        self.region_bytes = 0
        self.starts: list[tuple[int, int, int]] = []  # (index in lines, line, offset)
        self.session: _Session | None = None
        self.chunk: list[str] = []
        self.chunk_at = (0, 0)  # line, offset of the chunk being read
        self.count = 0  # messages handed on

    def add(self, number: int, offset: int, line: str) -> list[_Chunk]:
        """Take the item's next line; the messages it completes (most lines: none).

        A plain method, the commonest lines first: this runs for every line of a file."""
        if self.region is None:
            messages = line.startswith(_MESSAGES) and line.rstrip(_BREAKS) == _MESSAGES
            if messages and self.session is None:
                self.region = len(self.lines) + 1
            self.lines.append(line)
            return _NONE
        if line.startswith("   ") or line[:1] in ("\t", "#") or _is_blank_or_comment(line):
            return self._inside_message(line)
        if line.startswith(_MESSAGE_START):
            ended = self._message_ends(offset)
            if self.session is None:
                self.starts.append((len(self.lines), number, offset))
            else:
                self.chunk_at = (number, offset)
            return ended + self._inside_message(line)
        ended = self.end_region(offset)  # the item's next key, such as "  close:"
        self.lines.append(line)
        return ended

    def _inside_message(self, line: str) -> list[_Chunk]:
        if self.session is not None:
            self.session.lines += 1
            self.chunk.append(line)
            return _NONE
        self.lines.append(line)
        self.region_bytes += len(line)
        if self.region_bytes > STREAMED_SESSION_BYTES and self.starts:
            return self.start_streaming()
        return _NONE

    def _message_ends(self, offset: int) -> list[_Chunk]:
        if self.session is None or not self.chunk:
            return _NONE
        line, began = self.chunk_at
        self.session.offsets.append(began)
        self.session.sizes.append(offset - began)
        chunk = _Chunk(self.index, self.count, line, "".join(self.chunk))
        self.count += 1
        self.chunk = []
        return [chunk]

    def end_region(self, offset: int) -> list[_Chunk]:
        """The messages ended (at byte ``offset``): hand on the last one."""
        if self.region is None:
            return _NONE
        self.region = None
        return self._message_ends(offset)

    def start_streaming(self) -> list[_Chunk]:
        """Many messages: hand on the ones read so far and keep no more of their text.

        Only when the item's text before its messages parses with ``messages: []``:
        otherwise a quoted or flow scalar is still open there, ``  messages:`` is part of
        it and not the key, and the item stays whole."""
        assert self.region is not None
        first = self.region
        head = [*self.lines[: first - 1], _MESSAGES + " []\n"]
        starts, self.starts = self.starts, []
        if not _parses("".join(head)):
            self.region = None
            return _NONE
        region = self.lines[first:]
        session = self.session = _Session(self.start + first - 1)
        session.lines = len(region)
        self.lines = head
        chunks = []
        for (at, line, began), (following, _, ends) in itertools.pairwise(starts):
            session.offsets.append(began)
            session.sizes.append(ends - began)
            text = "".join(region[at - first : following - first])
            chunks.append(_Chunk(self.index, self.count, line, text))
            self.count += 1
        at, line, began = starts[-1]
        self.chunk = region[at - first :]
        self.chunk_at = (line, began)
        return chunks

    def item(self, *, final: bool = False) -> _Item:
        text = "".join(self.lines)
        unterminated = final and not text.endswith("\n")
        return _Item(self.index, self.start, text, unterminated, self.session)


def _parses(text: str) -> bool:
    try:
        parse_yaml(ITEM_PREFIX + text, path="")
    except CassetteError:
        return False
    return True


def _split(path: str) -> Iterator[str | _Item | _Chunk]:
    """The header text (through ``interactions:``), then each top-level item, a long
    session's messages one by one before the item they belong to.

    Raises :class:`_ReadWhole` at the first line that is not in the recorder's shape.
    """
    lines = _lines(path)
    header: list[str] = []
    for _, line in lines:
        if not line:
            raise _ReadWhole
        header.append(line)
        if _INTERACTIONS.fullmatch(line.rstrip(_BREAKS)):
            break
    else:
        raise _ReadWhole
    yield "".join(header)
    number = len(header)
    item: _ItemText | None = None
    index = 0
    for offset, line in lines:
        if not line:  # the end of the file
            if item is not None:
                yield from item.end_region(offset)
                yield item.item(final=True)
            return
        number += 1
        if line.startswith("- "):
            if item is not None:
                yield from item.end_region(offset)
                yield item.item()
                index += 1
            item = _ItemText(index, number, line)
        elif item is not None and (line[:1] in (" ", "\t", "#") or not line.strip(_BREAKS)):
            # The two commonest lines taken here, as ItemText.add would take them: a
            # method call per line was a third of this loop on a long session.
            if item.region is None and not line.startswith(_MESSAGES):
                item.lines.append(line)
            elif item.session is not None and item.region is not None and line[:3] == "   ":
                item.session.lines += 1
                item.chunk.append(line)
            else:
                chunks = item.add(number, offset, line)
                if chunks:
                    yield from chunks
        elif item is None and _is_blank_or_comment(line):
            continue  # between "interactions:" and the first item
        else:
            raise _ReadWhole


def _header(text: str, *, path: str) -> dict[str, Any]:
    """The header's data, when it is valid and ends with an empty ``interactions:``."""
    try:
        data = parse_yaml(text, path=path)
        if not isinstance(data, dict) or data.get("interactions", 0) is not None:
            raise _ReadWhole
        if not (fastload.enabled() and fastload.conforms(data)):  # the hand check first:
            validate_data(data, path=path, text=text)  # importing jsonschema costs 0.3 s
    except CassetteError:
        raise _ReadWhole from None  # the whole file gets to say what is wrong
    return data


def _moved(error: CassetteError, item: _Item, *, path: str) -> CassetteError:
    """An error found in an item read alone, said of its place in the whole file."""
    line = error.line + item.line - _PREFIX_LINES - 1 if error.line is not None else item.line
    place = error.place
    if place is not None:
        place = _FIRST_ITEM.sub(f"interactions[{item.index}]", place)
    return CassetteError(error.message, path=path, line=line, place=place)


def _item_data(item: _Item, *, path: str, vouched: bool = False) -> tuple[dict[str, Any], bool]:
    """One item, parsed and validated alone, and whether it took the fast path."""
    text = ITEM_PREFIX + item.text
    # Vouched: these bytes of this file took the fast path and were validated on the
    # first pass; parsing them is all that is left (the schema check was a fifth of it).
    data = fastload.reparse(text) if vouched else None
    if not (isinstance(data, dict) and isinstance(data.get("interactions"), list)):
        data = fastload.load_valid(text)
    fast = data is not None
    if data is None:
        try:
            data = parse_yaml(text, path=path)
        except CassetteError:
            raise _ReadWhole from None  # maybe not an error at all once the file is whole
        items = data.get("interactions") if isinstance(data, dict) else None
        if not isinstance(items, list) or len(items) != 1:
            raise _ReadWhole
        try:
            validate_data(data, path=path, text=text)
        except CassetteError as exc:
            raise _moved(exc, item, path=path) from None
    items = data["interactions"]
    if len(items) != 1:
        raise _ReadWhole
    return items[0], fast


def _duplicate(item: _Item, ident: int, *, path: str) -> CassetteError:
    text = ITEM_PREFIX + item.text
    error = CassetteError(
        f"duplicate interaction id {ident}",
        path=path,
        line=Locator(text).line(["interactions", 0, "id"]),
        place="interactions[0].id",
    )
    return _moved(error, item, path=path)


def _signature(path: str) -> tuple[int, int, int]:
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise CassetteError(f"cannot read: {exc.strerror or exc}", path=path) from None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


@dataclass
class _Validated:
    """Per item (or per message of a long session), in pass order: a digest of its text
    and whether it took the fast path; 9 bytes each, so a million items cost 9 MB."""

    digests: bytearray = field(default_factory=bytearray)
    fast: bytearray = field(default_factory=bytearray)
    sessions: dict[int, _Validated] = field(default_factory=dict)  # by item index

    def add(self, text: str, *, fast: bool) -> None:
        self.digests += digest(text.encode("utf-8"))
        self.fast.append(fast)

    def digest(self, index: int) -> bytes:
        return bytes(self.digests[8 * index : 8 * index + 8])

    def took_fast_path(self, index: int) -> bool:
        return bool(self.fast[index])


class _Reader:
    """One pass over a file: every interaction, each validated as it is read.

    When the file turns out not to be in the recorder's shape, the rest comes from
    :func:`load_cassette` (the items already read are the file's first ones, see the
    module docstring). So does a final item that fails and lacks its final newline: the
    loader decides whether it is the torn tail of a killed recorder (dropped, with a
    warning, see :mod:`cassette.torn`) or an error. ``streamed`` counts the interactions
    read item by item, ``total`` all of them; ``limit`` stops after that many.

    The validating pass leaves a :class:`_Validated` for the next ones: a digest of each
    item's (and each streamed message's) text and whether it took the fast path
    (:mod:`cassette.fastload`). A later pass given it checks each item's digest, then
    only parses an item that took the fast path: neither the fast path's gate nor the
    schema check is run again on the very bytes that passed them (parsing every item
    twice cost half of a replay's time). An item whose bytes changed is an error.
    """

    def __init__(
        self, path: str, *, limit: int | None = None, validated: _Validated | None = None
    ) -> None:
        self.path = path
        self.limit = limit
        self.recording = Recording()
        self.streamed = 0
        self.total = 0
        self.known = validated  # from the validating pass; None: this is that pass
        self.validated = _Validated()
        self._messages = _Validated()  # the streamed session being read

    def __iter__(self) -> Iterator[Interaction]:
        try:
            parts = _split(self.path)
            header = _header(next(parts), path=self.path)  # type: ignore[arg-type]
            self.recording = Recording.from_data(header.get("recording"))
            seen = IdSet()
            for item in parts:
                if self.limit is not None and self.streamed >= self.limit:
                    return
                if isinstance(item, _Chunk):
                    if self.known is None:  # the validating pass: every message is checked
                        self._check_message(item)
                    continue
                assert isinstance(item, _Item)
                vouched = self._vouched(item)
                try:
                    data, fast = _item_data(item, path=self.path, vouched=vouched)
                    if not seen.add(data["id"]):
                        raise _duplicate(item, data["id"], path=self.path)
                except CassetteError as exc:
                    if item.unterminated:
                        raise _ReadWhole from None
                    if item.session is not None:
                        raise _after_messages(exc, item.session) from None
                    raise
                if self.known is None:
                    self.validated.add(item.text, fast=fast)
                if item.session is not None:
                    _check_session(data, item, path=self.path)
                self.streamed = self.total = self.streamed + 1
                interaction = Interaction.from_data(data)
                if item.session is not None:
                    interaction = replace(interaction, messages=self._session(item))
                yield interaction
        except _ReadWhole:
            cassette = load_cassette(self.path)
            self.recording = cassette.recording
            self.total = len(cassette.interactions)
            yield from cassette.interactions[self.streamed :]

    def _check_message(self, chunk: _Chunk) -> None:
        """Validate one message of a long session, as a session of one (``SHELL``)."""
        where = f"interactions[{chunk.item}].messages"
        if chunk.number >= MAX_MESSAGES:
            raise CassetteError(
                f"more than {MAX_MESSAGES} messages in one session",
                path=self.path,
                line=chunk.line,
                place=where,
            )
        alone = _Item(chunk.item, chunk.line - SHELL_LINES, SHELL + chunk.text)
        try:
            _, fast = _item_data(alone, path=self.path)
            self._messages.add(chunk.text, fast=fast)
        except CassetteError as exc:
            if chunk.unterminated:
                raise _ReadWhole from None
            place = exc.place
            if place is not None:
                place = place.replace(f"{where}[0]", f"{where}[{chunk.number}]", 1)
            raise CassetteError(exc.message, path=self.path, line=exc.line, place=place) from None

    def _vouched(self, item: _Item) -> bool:
        """Given the validating pass's digests: this item's bytes are the ones it
        validated by the fast path (an item changed since is an error)."""
        if self.known is None:
            return False
        if self.known.digest(item.index) != digest(item.text.encode("utf-8")):
            raise CassetteError(
                "changed after it was validated; nothing more is replayed from it",
                path=self.path,
                line=item.line,
            )
        return self.known.took_fast_path(item.index)

    def _session(self, item: _Item) -> FileMessages:
        """The messages of a long session, read from the file when asked for."""
        assert item.session is not None
        if self.known is not None:
            messages = self.known.sessions[item.index]
        else:
            messages, self._messages = self._messages, _Validated()
            self.validated.sessions[item.index] = messages
        session = item.session
        return FileMessages(
            self.path, session.offsets, session.sizes, messages.digests, messages.fast
        )


def _check_session(data: dict[str, Any], item: _Item, *, path: str) -> None:
    if data["type"] != "websocket":
        assert item.session is not None
        raise CassetteError(
            "messages are only allowed on a websocket interaction",
            path=path,
            line=item.session.line + 1,  # where the list starts, as the loader says
            place=f"interactions[{item.index}].messages",
        )


def _after_messages(error: CassetteError, session: _Session) -> CassetteError:
    """An error in an item whose messages were taken out, said of its line in the file."""
    if error.line is None or error.line <= session.line:
        return error
    line = error.line + session.lines
    return CassetteError(error.message, path=error.path, line=line, place=error.place)


@dataclass
class CassetteStream:
    """A validated cassette file whose interactions are read again on each iteration.

    ``whole`` is True for a file not in the recorder's shape: it is then loaded whole
    (:func:`load_cassette`) each time it is iterated.
    """

    path: str
    recording: Recording
    count: int
    whole: bool = False
    signature: tuple[int, int, int] = field(default=(0, 0, 0), repr=False)
    validated: _Validated | None = field(default=None, repr=False)  # see _Reader
    # Every correlation (``uses:``) with the method of the interaction holding it, kept
    # from the validating pass: replay needs to know what to capture before it streams.
    correlations: tuple[tuple[str, Correlation], ...] = field(default=(), repr=False)

    def __iter__(self) -> Iterator[Interaction]:
        if _signature(self.path) != self.signature:
            raise CassetteError(
                "changed after it was validated; nothing more is replayed from it",
                path=self.path,
            )
        if self.whole:
            yield from load_cassette(self.path).interactions
        else:  # a torn tail, found (and warned about) the first time, is not read again
            yield from _Reader(self.path, limit=self.count, validated=self.validated)


def iter_interactions(path: str | Path) -> Iterator[Interaction]:
    """Every interaction of the file, in one pass, each validated as it is read.

    A problem raises :class:`CassetteError` when it is reached, after the interactions
    before it were yielded; :func:`open_cassette` checks the whole file first.
    """
    yield from _Reader(str(path))


def open_cassette(path: str | Path) -> CassetteStream:
    """Validate the whole file in one pass that keeps no interaction; raise
    :class:`CassetteError` if anything is wrong, in the same words as
    :func:`load_cassette` (for an item, said of its line and index in the file)."""
    name = str(path)
    signature = _signature(name) if Path(name).is_file() else (0, 0, 0)
    reader = _Reader(name)
    correlations: list[tuple[str, Correlation]] = []
    for interaction in reader:
        correlations.extend((interaction.request.method, c) for c in interaction.uses)
    whole = reader.total > reader.streamed
    return CassetteStream(
        name,
        reader.recording,
        reader.total,
        whole,
        signature,
        reader.validated,
        tuple(correlations),
    )
