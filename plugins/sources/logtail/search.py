"""Finding the lines that hold one of a few fixed texts in a big log, at grep's speed.

The file is read in big blocks (:mod:`logtail.blocks`), searched in place like grep does: for
each fingerprint, ``bytes.find`` of its single rarest byte (memchr, several GB/s), then the
whole fingerprint is compared only where that byte is. The rarest byte is taken from a sample
of the log itself (see :class:`Needle`). A line is handed over only when it matched. Memory
stays flat: one block at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from isp_plugins.sources.logtail.blocks import BLOCK, Budget, blocks

__all__ = ["BLOCK", "SAMPLE", "Budget", "Needle", "file_lines", "matching_lines", "needles"]
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

    The blocks are :func:`logtail.blocks.blocks`'s. With a ``budget``, the read stops once it
    is spent: between two blocks, or after a line handed over (the time the caller spends on
    the lines counts), looking at the clock every ``Budget.EVERY`` lines.
    """
    timed = budget if budget is not None and budget.deadline is not None else None
    handed = 0
    for region in blocks(handle, start, end, block, timed):
        data, last = region.data, region.last
        for head in sorted(_heads(data, region.first, last, fingerprints, extra)):
            tail = data.find(b"\n", head, last)
            stop = tail if tail >= 0 else last
            yield data[head:stop]
            if timed is None:
                continue
            handed += 1
            after = region.offset(min(stop + 1, last))
            if handed % Budget.EVERY == 0 and after < end and timed.spent():
                timed.stopped_at = after
                return


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
