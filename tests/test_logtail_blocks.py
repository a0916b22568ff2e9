"""logtail.blocks: the one read loop (regions of whole lines, the carried line, the budget),
and logtail.stamps as the Postfix and SIP readers both use it."""

from __future__ import annotations

import io
import time

import pytest

from isp_plugins.sources.logtail import stamps
from isp_plugins.sources.logtail.blocks import Budget, blocks

TEXT = b"one\ntwo two\n" + b"x" * 40 + b"\nthree\nfour"


def lines_of(text: bytes, start: int, end: int, size: int) -> list[tuple[bytes, int]]:
    """Every line the regions hold, with its file offset."""
    found = []
    for region in blocks(io.BytesIO(text), start, end, size):
        part = region.data[region.first : region.last]
        at = region.first
        for line in part.split(b"\n"):
            if line or at < region.last:
                found.append((line, region.offset(at)))
            at += len(line) + 1
    return [(line, offset) for line, offset in found if line]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 16, 1 << 20])
def test_any_block_size_gives_each_line_once_whole_at_its_offset(size: int) -> None:
    want = [(b"one", 0), (b"two two", 4), (b"x" * 40, 12), (b"three", 53), (b"four", 59)]
    assert lines_of(TEXT, 0, len(TEXT), size) == want
    # a range that starts at a line: the offsets stay the file's
    assert lines_of(TEXT, 4, 59, size) == want[1:4]


def test_the_regions_hold_whole_lines_only() -> None:
    for region in blocks(io.BytesIO(TEXT), 0, 59, 5):
        assert region.data[region.last - 1 : region.last] == b"\n"
        assert region.first == 0 or region.data[region.first - 1 : region.first] == b"\n"


def test_a_spent_budget_stops_after_the_first_block_at_a_line_end() -> None:
    budget = Budget(deadline=0.0)  # spent already
    regions = list(blocks(io.BytesIO(TEXT), 0, len(TEXT), 8, budget))
    assert len(regions) == 1
    assert budget.stopped_at == 4  # after "one\n", the only whole line of the first block
    roomy = Budget(deadline=time.monotonic() + 3600)
    assert len(list(blocks(io.BytesIO(TEXT), 0, len(TEXT), 8, roomy))) > 1
    assert roomy.stopped_at is None


def test_mail_log_stamps_syslog_and_iso() -> None:
    now = time.mktime((2024, 12, 24, 0, 0, 0, 0, 0, -1))
    syslog = "Dec  3 06:00:00 relay1 postfix/smtp[1]: 4Xyz: to=<a@b>, status=sent (250 ok)"
    assert stamps.line_stamp(syslog, now) == time.mktime((2024, 12, 3, 6, 0, 0, 0, 0, -1))
    iso = "2024-12-03T06:00:00.250000+01:00 relay1 postfix/qmgr[2]: 4Xyz: removed"
    assert stamps.line_stamp(iso, now) == 1733202000.25
    assert stamps.line_stamp("postfix/smtp[1]: no stamp", now) is None
