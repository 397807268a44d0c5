"""A read-only sequence whose items are made when they are asked for.

What a long websocket session needs in two places: its recorded messages read from the
file (:mod:`retape.cassette.message_log`) and its turns kept as columns of numbers
(:class:`retape.replayer.conversation.Turns`). Both index like a list (negative indices,
slices as lists, ``IndexError`` past the end) without holding their items.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar, overload

T = TypeVar("T")


class OnDemand(Sequence[T]):
    """Subclasses say how many items there are (``__len__``) and make one (:meth:`_item`)."""

    def _item(self, index: int) -> T:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._item(index)

    def __iter__(self) -> Iterator[T]:
        for index in range(len(self)):
            yield self._item(index)
