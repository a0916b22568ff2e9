"""Counting deliveries, refusals by provider and cause, rejects and amavis verdicts since the
last run, reading the mail log incrementally.

The position is :mod:`logtail`'s (state per log file, rotation, truncation, a half-written
last line). The log is read in big blocks: ``status=sent`` lines and CLEAN outbound verdicts
are only counted (no line is cut out), the rare lines (deferred, bounced, expired, rejects,
the other amavis verdicts) are found and parsed one by one. A block is searched in one pass
by :class:`automaton.AutomatonCounter` where ahocorasick_rs is installed, else by
:class:`BlockCounter`'s ``bytes.count``/``find`` passes (same counts, 2 to 3 times slower). A
read that runs out of time stops between two blocks and saves that position: the next run
goes on.

The window of a run, for the rates: from the log time where the previous run stopped (the
stamp of the last line it read, kept in the state) to the stamp of the last line read now;
on a first run, from the first line read. A window shorter than a minute counts as a minute.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from isp_plugins.sources import logtail
from isp_plugins.sources.logtail import search
from isp_plugins.sources.logtail.blocks import Budget, blocks
from isp_plugins.sources.logtail.stamps import line_stamp
from isp_plugins.sources.postfix_log import automaton
from isp_plugins.sources.postfix_log import lines as parse
from isp_plugins.sources.postfix_log.automaton import AutomatonCounter
from isp_plugins.sources.postfix_log.providers import REJECT_KINDS

STATE_PREFIX = "check_postfix_deliveries"
#: Bytes read at a time.
BLOCK = search.BLOCK
MINUTE = 60.0


@dataclass
class Refusal:
    """Deliveries one provider refused for one cause: counts by status, one sample reply."""

    deferred: int = 0
    bounced: int = 0
    sample: str = ""
    dsn: str = ""
    rule: str = ""

    @property
    def total(self) -> int:
        return self.deferred + self.bounced


@dataclass
class Tally:
    """What one run counted."""

    sent: int = 0
    deferred: int = 0
    bounced: int = 0
    expired: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    #: (provider key, cause) -> the refusals.
    refusals: dict[tuple[str, str], Refusal] = field(default_factory=dict)
    #: Deferrals per provider key.
    deferred_by_provider: Counter[str] = field(default_factory=Counter)
    #: Deferral reasons (masked reply) -> count, and a sample reply of each.
    reasons: Counter[str] = field(default_factory=Counter)
    reason_samples: dict[str, str] = field(default_factory=dict)
    #: amavisd-new verdicts on originating mail, by category; spam per client address.
    outbound: Counter[str] = field(default_factory=Counter)
    spam_clients: Counter[str] = field(default_factory=Counter)
    inbound: int = 0

    @property
    def attempts(self) -> int:
        return self.sent + self.deferred + self.bounced

    @property
    def spam(self) -> int:
        return sum(self.outbound[category] for category in parse.SPAM_CATEGORIES)

    def add_delivery(self, delivery: parse.Delivery) -> None:
        if delivery.status == "expired":
            self.expired += 1
            return
        if delivery.status == "deferred":
            self.deferred += 1
            self.deferred_by_provider[delivery.provider] += 1
            self.reasons[delivery.reason] += 1
            self.reason_samples.setdefault(delivery.reason, delivery.reply)
        else:
            self.bounced += 1
        key = (delivery.provider, delivery.rule.cause)
        refusal = self.refusals.get(key)
        if refusal is None:
            refusal = self.refusals[key] = Refusal(
                sample=delivery.reply, dsn=delivery.dsn, rule=delivery.rule.name
            )
        if delivery.status == "deferred":
            refusal.deferred += 1
        else:
            refusal.bounced += 1

    def add_line(self, line: bytes, postfix: bool, amavis: bool) -> None:
        text = line.decode("utf-8", "replace")
        if postfix and " status=" in text:
            delivery = parse.parse_delivery(text)
            if delivery is not None:
                self.add_delivery(delivery)
            return
        if postfix and ": reject: " in text:
            reject = parse.parse_reject(text)
            if reject is not None:
                self.rejected[reject.kind] += 1
            return
        if amavis:
            verdict = parse.parse_verdict(text)
            if verdict is None:
                return
            if not verdict.originating:
                self.inbound += 1
                return
            self.outbound[verdict.category] += 1
            if verdict.spam:
                self.spam_clients[verdict.client or "unknown"] += 1

    def add_lines(
        self, data: bytes, heads: set[int], end: int, postfix: bool, amavis: bool
    ) -> None:
        """Parse the lines of ``data`` that start at ``heads`` (and end by ``end``), in order."""
        for head in sorted(heads):
            tail = data.find(b"\n", head, end)
            self.add_line(data[head : tail if tail >= 0 else end], postfix, amavis)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected[kind] for kind in REJECT_KINDS)


@dataclass
class Scan:
    """A run over the log (and amavis's log): the tally, the window, what logtail noted."""

    tally: Tally
    window: float = 0.0
    bytes_read: int = 0
    notes: list[str] = field(default_factory=list)
    first_run: bool = False
    #: A read that ran out of time: the rest is read by the next runs.
    partial: bool = False

    def rate(self, count: int) -> float:
        """``count`` per minute over the window (a minute at least)."""
        return count * MINUTE / max(self.window, MINUTE)


def _heads(data: bytes, start: int, end: int, hits: Iterable[int], found: set[int]) -> None:
    """Adds the starts of the lines that hold the offsets ``hits``."""
    for hit in hits:
        found.add(data.rfind(b"\n", start, hit) + 1 or start)


class BlockCounter:
    """Counts the complete lines of one region after another, searching each block in place
    (where :mod:`automaton` cannot be used: no ahocorasick_rs wheel for the machine).

    Most lines of a mail log count for nothing; the few kinds that do are found without
    cutting lines out: ``status=sent`` lines and amavis's CLEAN outbound verdicts are only
    counted (``bytes.count``), and only the other lines (failed deliveries, rejects, the other
    verdicts) are cut out, decoded and parsed. Where failed deliveries are common (the
    previous block had some), the deliveries are walked one by one instead, which finds the
    failed ones and counts the sent ones in one pass.
    """

    def __init__(self, tally: Tally, sample: bytes, postfix: bool, amavis: bool) -> None:
        self.tally, self.postfix, self.amavis = tally, postfix, amavis
        self.reject = search.Needle.pick(parse.REJECT, sample)
        self.blocked = search.Needle.pick(parse.BLOCKED, sample)
        #: Whether the previous block held a delivery that was not sent.
        self.failing = False

    def _deliveries(self, data: bytes, start: int, end: int, found: set[int]) -> None:
        """Count the sent deliveries of data[start:end], add the heads of the other ones."""
        counted = not self.failing  # the sent ones are counted here, with two bytes.count
        if counted:
            sent = data.count(parse.SENT, start, end)
            self.tally.sent += sent
            if data.count(parse.STATUS, start, end) == sent:  # all sent: nothing to parse
                self.failing = False
                return
        before, size, sent_word = len(found), len(parse.STATUS), parse.SENT[len(parse.STATUS) :]
        walked = 0
        at = data.find(parse.STATUS, start, end)
        while at >= 0:
            if data.startswith(sent_word, at + size, end):
                walked += 1
            else:
                found.add(data.rfind(b"\n", start, at) + 1 or start)
            at = data.find(parse.STATUS, at + size, end)
        if not counted:
            self.tally.sent += walked
        self.failing = len(found) > before

    def count(self, data: bytes, start: int, end: int) -> None:
        """Count the complete lines of data[start:end]."""
        found: set[int] = set()
        tally = self.tally
        if self.postfix:
            self._deliveries(data, start, end, found)
            self.reject.lines(data, start, end, found)
        if self.amavis:
            self.blocked.lines(data, start, end, found)
            clean = data.count(parse.OUTBOUND_CLEAN, start, end)
            tally.outbound["CLEAN"] += clean
            if data.count(parse.PASSED, start, end) > clean:  # other verdicts: one by one
                hits = (match.start() for match in parse.OTHER_PASSED.finditer(data, start, end))
                _heads(data, start, end, hits, found)
        tally.add_lines(data, found, end, self.postfix, self.amavis)


def block_counter(
    tally: Tally, sample: bytes, postfix: bool, amavis: bool
) -> BlockCounter | AutomatonCounter:
    """The one-pass :class:`AutomatonCounter` where ahocorasick_rs is installed, else the
    :class:`BlockCounter` (``sample``: the start of the log, to pick its needles)."""
    if automaton.available():
        return AutomatonCounter(tally, postfix, amavis)
    return BlockCounter(tally, sample, postfix, amavis)


def read_range(
    handle: BinaryIO,
    start: int,
    end: int,
    tally: Tally,
    postfix: bool,
    amavis: bool,
    deadline: float | None = None,
    block: int = BLOCK,
) -> int | None:
    """Count bytes [start, end) of an open log, block by block (:func:`logtail.blocks.blocks`).

    Returns None when all was read, else the offset (after a complete line) where the time
    ran out: at least one block is read whatever the deadline, so every run progresses.
    """
    handle.seek(start)
    sample = handle.read(min(search.SAMPLE, max(0, end - start)))
    counter = block_counter(tally, sample, postfix, amavis)
    budget = Budget(deadline)
    for region in blocks(handle, start, end, block, budget):
        counter.count(region.data, region.first, region.last)
    return budget.stopped_at


def line_at(path: str, offset: int, backwards: bool) -> str:
    """The complete line that ends just before ``offset`` (backwards) or starts at it."""
    with open(path, "rb") as handle:
        if backwards:
            back = min(offset, 4096)
            handle.seek(offset - back)
            chunk = handle.read(back).rstrip(b"\r\n")
            line = chunk[chunk.rfind(b"\n") + 1 :]
        else:
            handle.seek(offset)
            line = handle.read(4096).split(b"\n", 1)[0]
    return line.decode("utf-8", "replace")


def _read_log(
    log: str,
    state_dir: str,
    tally: Tally,
    postfix: bool,
    amavis: bool,
    scan: Scan,
    now: float,
    deadline: float | None,
    block: int,
    update: bool,
    named: bool = False,
) -> tuple[float | None, float | None]:
    """One log's new lines into tally; its (start, end) log times for the window.
    ``named``: the notes name the log (two logs are read)."""
    todo = logtail.plan(log, state_dir, STATE_PREFIX)
    scan.notes.extend(f"{log}: {note}" if named else note for note in todo.notes)
    scan.first_run = scan.first_run or todo.first_run
    stopped: tuple[str, int] | None = None
    first_time: float | None = None
    end_time: float | None = None
    try:
        for segment in todo.segments:
            if segment.size and first_time is None:
                first_time = line_stamp(line_at(segment.path, segment.start, False), now)
            with open(segment.path, "rb", buffering=0) as handle:
                at = read_range(
                    handle, segment.start, segment.end, tally, postfix, amavis, deadline, block
                )
            if at is not None:
                stopped = segment.path, at
                scan.bytes_read += at - segment.start
                scan.partial = True
                scan.notes.append(
                    f"time limit: {segment.path} read up to byte {at} of {segment.end}, "
                    "the rest next run"
                )
                end_time = line_stamp(line_at(segment.path, at, True), now)
                break
            scan.bytes_read += segment.size
            if segment.size:
                end_time = line_stamp(line_at(segment.path, segment.end, True), now)
    except OSError as exc:
        raise logtail.StateError(f"cannot read {log}: {exc.strerror}") from None
    previous = todo.extra.get("log_time")
    start_time = first_time
    if isinstance(previous, (int, float)) and (start_time is None or previous <= start_time):
        start_time = float(previous)
    if update:
        log_time = end_time if end_time is not None else previous
        saved = {"log_time": log_time} if isinstance(log_time, (int, float)) else {}
        logtail.commit(todo, saved, stopped)
    return start_time, end_time


def scan_log(
    log: str,
    state_dir: str,
    amavis_log: str | None = None,
    update: bool = True,
    now: float | None = None,
    deadline: float | None = None,
    block: int = BLOCK,
) -> Scan:
    """Count what the mail log (and amavis's log, when it is another file) got since the
    previous run (see the module doc). ``deadline`` is a time.monotonic() instant."""
    current = time.time() if now is None else now
    tally = Tally()
    scan = Scan(tally=tally)
    same = amavis_log is None or os.path.abspath(amavis_log) == os.path.abspath(log)
    start, end = _read_log(
        log, state_dir, tally, True, same, scan, current, deadline, block, update, not same
    )
    if amavis_log is not None and not same:
        _read_log(
            amavis_log, state_dir, tally, False, True, scan, current, deadline, block, update, True
        )
    if start is not None and end is not None:
        scan.window = max(0.0, end - start)
    return scan
