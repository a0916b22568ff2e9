"""Finding the lines that hold one of a few fixed texts in a big log, at grep's speed.

The file is read in big blocks, searched in place like grep does: for each fingerprint,
``bytes.find`` of its single rarest byte (memchr, several GB/s), then the whole fingerprint
is compared only where that byte is. The rarest byte is taken from a sample of the log
itself (see :class:`Needle`). A line is handed over only when it matched. Memory stays
flat: one block at a time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

#: Bytes read at a time.
BLOCK = 4 << 20
#: Bytes of the log sampled to pick each fingerprint's anchor byte.
SAMPLE = 1 << 18
#: An anchor byte seen more than once per COMMON bytes of the sample is too common.
COMMON = 4096


@dataclass(frozen=True)
class Needle:
    """A fingerprint and the offset of its anchor: the byte that is rarest in the log.

    ``bytes.find`` of a long needle runs at 1 to 4 GB/s (CPython's Horspool loop steps
    one byte at a time whenever the next byte is one of the needle's). ``bytes.find`` of
    one byte is memchr, like grep's inner loop, so each fingerprint costs one memchr pass
    plus a comparison wherever its rarest byte occurs.

    When even the rarest byte is common in the log (more than once in ``COMMON`` bytes of
    the sample), each of its places would cost a step of Python: then ``whole`` is set and
    the whole fingerprint is searched for instead (``bytes.find``, 2 to 4 GB/s).
    """

    text: bytes
    at: int
    whole: bool = False

    @classmethod
    def pick(cls, text: bytes, sample: bytes) -> Needle:
        """The fingerprint's byte least frequent in ``sample`` (the first on a tie)."""
        counts = {byte: sample.count(byte) for byte in sorted(set(text))}
        rarest = min(range(len(text)), key=lambda i: (counts[text[i]], i))
        return cls(text, rarest, counts[text[rarest]] * COMMON > len(sample))

    def lines(self, data: bytes, start: int, end: int, found: set[int]) -> None:
        """Adds the offsets of the lines of data[start:end] holding the fingerprint."""
        if self.whole:
            self._whole_lines(data, start, end, found)
            return
        anchor, text, at = self.text[self.at : self.at + 1], self.text, self.at
        size = len(text)
        hit = data.find(anchor, start + at, end)
        while hit >= 0:
            first = hit - at
            if data.startswith(text, first, first + size) and first + size <= end:
                found.add(data.rfind(b"\n", start, first) + 1 or start)
                tail = data.find(b"\n", first + size, end)
                if tail < 0:
                    break
                hit = data.find(anchor, tail + at, end)
            else:
                hit = data.find(anchor, hit + 1, end)

    def _whole_lines(self, data: bytes, start: int, end: int, found: set[int]) -> None:
        text = self.text
        hit = data.find(text, start, end)
        while hit >= 0:
            found.add(data.rfind(b"\n", start, hit) + 1 or start)
            tail = data.find(b"\n", hit + len(text), end)
            if tail < 0:
                break
            hit = data.find(text, tail, end)


def needles(fingerprints: Sequence[bytes], sample: bytes) -> tuple[Needle, ...]:
    return tuple(Needle.pick(text, sample) for text in fingerprints)


def _heads(
    data: bytes,
    start: int,
    end: int,
    fingerprints: Sequence[Needle],
    extra: re.Pattern[bytes] | None,
) -> set[int]:
    """Offsets of the lines of data[start:end] that hold a fingerprint or match ``extra``."""
    found: set[int] = set()
    for needle in fingerprints:
        needle.lines(data, start, end, found)
    if extra is not None:
        for match in extra.finditer(data, start, end):
            found.add(data.rfind(b"\n", start, match.start()) + 1 or start)
    return found


def _lines(data: bytes, heads: set[int], end: int) -> Iterator[bytes]:
    for head in sorted(heads):
        tail = data.find(b"\n", head, end)
        yield data[head : tail if tail >= 0 else end]


def _lines_at(data: bytes, heads: set[int], end: int, base: int) -> Iterator[tuple[bytes, int]]:
    """Like _lines, with the file offset just after each line (data starts at ``base``)."""
    for head in sorted(heads):
        tail = data.find(b"\n", head, end)
        stop = tail if tail >= 0 else end
        yield data[head:stop], base + min(stop + 1, end)


class Budget:
    """A time limit for reading (a time.monotonic() deadline); where the read stopped.

    A read that runs out of time stops after a line it handed over (the time the caller
    spends on the lines counts), or between two blocks; ``stopped_at`` is then the offset
    just after the last complete line dealt with, where the next run goes on.
    """

    #: Lines handed over between two looks at the clock.
    EVERY = 64

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.stopped_at: int | None = None

    def spent(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


def matching_lines(
    handle: BinaryIO,
    start: int,
    end: int,
    fingerprints: Sequence[Needle],
    extra: re.Pattern[bytes] | None = None,
    block: int = BLOCK,
    budget: Budget | None = None,
) -> Iterator[bytes]:
    """Whole lines of [start, end) holding a fingerprint or matching ``extra``, in order.

    Blocks are searched in place (no copy); only the line that straddles two blocks is
    joined. With a ``budget``, the read stops once it is spent (see :class:`Budget`).
    """
    if budget is not None and budget.deadline is not None:
        yield from _budgeted_lines(handle, start, end, fingerprints, extra, block, budget)
        return
    handle.seek(start)
    position, carry = start, b""
    while position < end:
        chunk = handle.read(min(block, end - position))
        if not chunk:
            break
        position += len(chunk)
        last = len(chunk) if position >= end else chunk.rfind(b"\n") + 1
        if last == 0:  # no newline in a whole block: one very long line
            carry += chunk
            continue
        first = chunk.find(b"\n") + 1 if carry else 0
        if carry:
            joined = carry + chunk[:first]
            yield from _lines(
                joined, _heads(joined, 0, len(joined), fingerprints, extra), len(joined)
            )
        yield from _lines(chunk, _heads(chunk, first, last, fingerprints, extra), last)
        carry = chunk[last:]
    if carry:
        yield from _lines(carry, _heads(carry, 0, len(carry), fingerprints, extra), len(carry))


def _budgeted_lines(
    handle: BinaryIO,
    start: int,
    end: int,
    fingerprints: Sequence[Needle],
    extra: re.Pattern[bytes] | None,
    block: int,
    budget: Budget,
) -> Iterator[bytes]:
    """matching_lines under a time limit: the same lines, up to where the budget ran out."""
    handle.seek(start)
    position, carry, handed = start, b"", 0
    while position < end:
        if position - len(carry) > start and budget.spent():  # always a line further
            budget.stopped_at = position - len(carry)
            return
        chunk = handle.read(min(block, end - position))
        if not chunk:
            break
        base = position - len(carry)
        position += len(chunk)
        last = len(chunk) if position >= end else chunk.rfind(b"\n") + 1
        if last == 0:  # no newline in a whole block: one very long line
            carry += chunk
            continue
        first = chunk.find(b"\n") + 1 if carry else 0
        parts = []
        if carry:
            joined = carry + chunk[:first]
            heads = _heads(joined, 0, len(joined), fingerprints, extra)
            parts.append(_lines_at(joined, heads, len(joined), base))
        heads = _heads(chunk, first, last, fingerprints, extra)
        parts.append(_lines_at(chunk, heads, last, position - len(chunk)))
        for part in parts:
            for line, after in part:
                yield line
                handed += 1
                if handed % Budget.EVERY == 0 and after < end and budget.spent():
                    budget.stopped_at = after
                    return
        carry = chunk[last:]
    if carry:
        yield from _lines(carry, _heads(carry, 0, len(carry), fingerprints, extra), len(carry))


def file_lines(
    path: str,
    start: int,
    end: int,
    fingerprints: Sequence[bytes],
    extra: re.Pattern[bytes] | None = None,
    block: int = BLOCK,
    budget: Budget | None = None,
) -> Iterator[bytes]:
    """The lines of path's [start, end) holding a fingerprint (anchors picked from a sample)."""
    with open(path, "rb", buffering=0) as handle:
        handle.seek(start)
        found = needles(fingerprints, handle.read(min(SAMPLE, max(0, end - start))))
        yield from matching_lines(handle, start, end, found, extra, block, budget)
