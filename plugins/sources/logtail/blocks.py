"""The one read loop of a log range: big blocks of whole lines, under an optional time limit.

Every reader of a log (:mod:`logtail.search`, the Postfix deliveries tally, the rate-limit
log scan through search) goes through :func:`blocks`: it reads [start, end) in blocks of
``size`` bytes, hands each over as a region of complete lines searched in place (no copy),
and joins only the line that straddles two blocks. Memory stays flat: one block at a time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

#: Bytes read at a time.
BLOCK = 4 << 20


class Budget:
    """A time limit for reading (a time.monotonic() deadline); where the read stopped.

    :func:`blocks` looks at the clock between two blocks, always after a first one (every run
    progresses); a reader that hands lines over one by one may also stop after a line (see
    :func:`logtail.search.matching_lines`). ``stopped_at`` is then the offset just after the
    last complete line dealt with, where the next run goes on.
    """

    #: Lines handed over between two looks at the clock.
    EVERY = 64

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.stopped_at: int | None = None

    def spent(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


@dataclass(frozen=True)
class Region:
    """``data[first:last]`` is whole lines (the last one without its newline only at the end
    of the range); ``data[0]`` is at offset ``base`` of the file."""

    data: bytes
    first: int
    last: int
    base: int

    def offset(self, index: int) -> int:
        """The file offset of ``data[index]``."""
        return self.base + index


def blocks(
    handle: BinaryIO,
    start: int,
    end: int,
    size: int = BLOCK,
    budget: Budget | None = None,
) -> Iterator[Region]:
    """The bytes [start, end) of an open file as regions of whole lines, in order.

    A block without a newline (one very long line) is joined to the next. With a ``budget``
    the read stops between two blocks once it is spent, after the first one, and sets
    ``budget.stopped_at``.
    """
    handle.seek(start)
    position, carry = start, b""
    while position < end:
        done = position - len(carry)
        if budget is not None and done > start and budget.spent():
            budget.stopped_at = done
            return
        chunk = handle.read(min(size, end - position))
        if not chunk:
            break
        position += len(chunk)
        last = len(chunk) if position >= end else chunk.rfind(b"\n") + 1
        if last == 0:  # no newline in a whole block: one very long line
            carry += chunk
            continue
        first = 0
        if carry:
            first = chunk.find(b"\n") + 1 or len(chunk)
            joined = carry + chunk[:first]
            yield Region(joined, 0, len(joined), done)
        yield Region(chunk, first, last, position - len(chunk))
        carry = chunk[last:]
    if carry:
        yield Region(carry, 0, len(carry), position - len(carry))
