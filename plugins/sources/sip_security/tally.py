"""Counting failed SIP authentications per source and account, since the last run.

The window of a run, for the rate: from the log time where the previous run stopped (the
stamp of the last complete line it read, kept in the state) to the stamp of the last
complete line read now. On a first run, or when the previous stamp is unknown or later,
it starts at the first event read. A window shorter than a minute counts as a minute.

One failure can be logged twice: as chan_sip's or PJSIP's NOTICE line and as a
res_security_log event, when logger.conf sends both levels to the same file. Each failure
counts once: a NOTICE line and a security event with the same source address and account,
logged within PAIR_SECONDS of each other (in either order), are one failure; every line or
event left unmatched is a failure of its own. Several of the same source and account within
the window pair one to one (the pairs are the smaller side), so a log where only some
failures have both forms (res_security_log loaded partway; chan_sip 1.8, which sends no
security events, beside PJSIP) counts them all. Lines without a time we read pair with the
oldest waiting line of the other form of the same source and account, whatever its time.

Each run counts what it read: a failure whose two lines fall on either side of the position
a run saved (the check ran between the two writes, a few microseconds apart) counts once in
each run. Keeping the unmatched lines of a run's last seconds for the next would fix that
rare case at the price of more state; it is not done.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Union

from isp_plugins.sources import logtail
from isp_plugins.sources.logtail import search
from isp_plugins.sources.logtail.stamps import line_stamp
from isp_plugins.sources.sip_security.lines import FINGERPRINTS, AuthEvent, parse_line

STATE_PREFIX = "check_asterisk_sipauth"
#: Failed sources remembered between runs (for the compromise check): how many, how long.
MEMORY_SOURCES = 5000
MEMORY_SECONDS = 86400.0
MINUTE = 60.0
#: Compromises remembered between runs, at most.
MEMORY_COMPROMISES = 100
#: A NOTICE line and a security event this close in time (same source and account) are the
#: same failure: both are written when it happens, stamped to the second at worst.
PAIR_SECONDS = 2.0
#: Failures between two sweeps of the lines waiting for their other form.
SWEEP_EVENTS = 1 << 16

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


@dataclass
class Counts:
    """Failures of one form (security events, or NOTICE lines)."""

    attempts: int = 0
    per_source: Counter[str] = field(default_factory=Counter)
    accounts_of: dict[str, set[str]] = field(default_factory=dict)
    accounts: set[str] = field(default_factory=set)

    def add(self, event: AuthEvent) -> None:
        self.attempts += 1
        self.per_source[event.source] += 1
        self.accounts_of.setdefault(event.source, set()).add(event.account)
        self.accounts.add(event.account)


#: Per (source, account): the times of its security events and of its NOTICE lines waiting
#: for their other form, and how many of each had no time.
_SECURITY_TIMES, _SECURITY_UNTIMED, _NOTICE_TIMES, _NOTICE_UNTIMED = range(4)


@dataclass
class Pairing:
    """Which failures were logged in both forms (see the module doc).

    Lines wait in the order read, which is the order of their times give or take a line:
    one older than PAIR_SECONDS before a line of the other form can pair with nothing that
    comes later, and is dropped.
    """

    waiting: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    pairs: int = 0
    seen: int = 0

    def same_failure(self, event: AuthEvent) -> bool:
        """True when ``event`` is the other form of a failure already counted."""
        key = (event.source, event.account)
        when = event.when
        mine, other = (
            (_SECURITY_TIMES, _NOTICE_TIMES)
            if event.form == "security"
            else (_NOTICE_TIMES, _SECURITY_TIMES)
        )
        entry = self.waiting.get(key)
        if entry is None:
            entry = self.waiting[key] = [deque(), 0, deque(), 0]
        else:
            times: deque[float] = entry[other]
            if when is not None:
                while times and times[0] < when - PAIR_SECONDS:
                    times.popleft()
                if times and times[0] <= when + PAIR_SECONDS:
                    times.popleft()
                    return self._paired()
            elif times:
                times.popleft()
                return self._paired()
            if entry[other + 1]:
                entry[other + 1] -= 1
                return self._paired()
        if when is None:
            entry[mine + 1] += 1
        else:
            entry[mine].append(when)
        self.seen += 1
        if when is not None and self.seen % SWEEP_EVENTS == 0:
            self.sweep(when)
        return False

    def _paired(self) -> bool:
        self.pairs += 1
        return True

    def sweep(self, now: float) -> None:
        """Drop the lines too old to pair any more: memory stays bounded by the window."""
        for key, entry in list(self.waiting.items()):
            for side in (_SECURITY_TIMES, _NOTICE_TIMES):
                times = entry[side]
                while times and times[0] < now - 2 * PAIR_SECONDS:
                    times.popleft()
            if not (entry[0] or entry[1] or entry[2] or entry[3]):
                del self.waiting[key]


@dataclass(frozen=True)
class Compromise:
    """An account that authenticated from an address that had failed before."""

    account: str
    source: str
    failures: int
    when: float | None
    #: When a run found it (wall clock): a compromise stays reported for the hold time.
    found: float = 0.0


@dataclass
class Tally:
    """What one run found: ``counts``, every failure once (see the module doc)."""

    counts: Counts = field(default_factory=Counts)
    #: Failures read in each form: NOTICE lines, security events.
    notice_lines: int = 0
    security_events: int = 0
    pairing: Pairing = field(default_factory=Pairing)
    successes: int = 0
    compromises: list[Compromise] = field(default_factory=list)
    #: Compromises found by earlier runs, still within the hold time.
    held: list[Compromise] = field(default_factory=list)
    ignored: int = 0
    first_time: float | None = None
    last_time: float | None = None
    #: Failures per source remembered from earlier runs: {ip: [count, last seen]}.
    memory: dict[str, list[float]] = field(default_factory=dict)
    min_failures: int = 1
    ignore: tuple[Network, ...] = ()

    @property
    def pairs(self) -> int:
        """Failures logged in both forms (counted once)."""
        return self.pairing.pairs

    def ignored_source(self, source: str) -> bool:
        if not self.ignore:
            return False
        try:
            address = ipaddress.ip_address(source)
        except ValueError:
            return False
        return any(address in network for network in self.ignore)

    def failures_of(self, source: str) -> int:
        earlier = self.memory.get(source, [0, 0])[0]
        return int(earlier) + self.counts.per_source[source]

    def add(self, event: AuthEvent) -> None:
        if self.ignored_source(event.source):
            self.ignored += 1
            return
        if event.when is not None:
            if self.first_time is None or event.when < self.first_time:
                self.first_time = event.when
            if self.last_time is None or event.when > self.last_time:
                self.last_time = event.when
        if event.ok:
            self.successes += 1
            failures = self.failures_of(event.source)
            if failures >= self.min_failures and not any(
                c.account == event.account and c.source == event.source for c in self.compromises
            ):
                self.compromises.append(
                    Compromise(event.account, event.source, failures, event.when)
                )
            return
        if event.form == "security":
            self.security_events += 1
        else:
            self.notice_lines += 1
        if not self.pairing.same_failure(event):
            self.counts.add(event)

    def remembered(self, now: float) -> dict[str, list[float]]:
        """The memory for the next run: this run's failed sources added, old ones dropped."""
        memory = {
            ip: [count, seen]
            for ip, (count, seen) in self.memory.items()
            if now - seen <= MEMORY_SECONDS
        }
        for ip, count in self.counts.per_source.items():
            earlier = memory.get(ip, [0, 0])[0]
            memory[ip] = [earlier + count, now]
        if len(memory) > MEMORY_SOURCES:
            keep = sorted(memory.items(), key=lambda item: (item[1][1], item[1][0]))
            memory = dict(keep[-MEMORY_SOURCES:])
        return memory


@dataclass
class Scan:
    """A run over the log: the tally, the window and what logtail noted."""

    tally: Tally
    window: float = 0.0
    bytes_read: int = 0
    notes: list[str] = field(default_factory=list)
    first_run: bool = False

    @property
    def rate(self) -> float:
        """Failed attempts per minute over the window (a minute at least)."""
        return self.tally.counts.attempts * MINUTE / max(self.window, MINUTE)


def count_events(events: Iterable[AuthEvent], tally: Tally) -> Tally:
    for event in events:
        tally.add(event)
    return tally


def events_in(
    path: str,
    start: int,
    end: int,
    now: float | None = None,
    budget: search.Budget | None = None,
) -> Iterable[AuthEvent]:
    """The authentication events in bytes [start, end) of path, in order."""
    for raw in search.file_lines(path, start, end, FINGERPRINTS, budget=budget):
        event = parse_line(raw.decode("utf-8", "replace"), now)
        if event is not None:
            yield event


def last_line_stamp(path: str, end: int, now: float | None = None) -> float | None:
    """The stamp of the last complete line before ``end``."""
    if end <= 0:
        return None
    with open(path, "rb") as handle:
        back = min(end, 4096)
        handle.seek(end - back)
        chunk = handle.read(back).rstrip(b"\r\n")
    line = chunk[chunk.rfind(b"\n") + 1 :]
    return line_stamp(line.decode("utf-8", "replace"), now)


def scan_log(
    log: str,
    state_dir: str,
    ignore: Sequence[Network] = (),
    min_failures: int = 1,
    update: bool = True,
    now: float | None = None,
    deadline: float | None = None,
    hold: float = 0.0,
) -> Scan:
    """Count the authentication events written since the previous run (see the module doc).

    With a ``deadline`` (time.monotonic()), a log too big to read in time is read in part:
    the position saved is where the read stopped, and the next run goes on from there.

    A compromise found by an earlier run is reported again (``tally.held``) for ``hold``
    seconds after it was found: a single run's CRITICAL would stay a soft state in Nagios.
    """
    current = time.time() if now is None else now
    todo = logtail.plan(log, state_dir, STATE_PREFIX)
    extra: dict[str, Any] = todo.extra
    memory = extra.get("failed") if isinstance(extra.get("failed"), dict) else {}
    tally = Tally(memory=_clean_memory(memory), min_failures=min_failures, ignore=tuple(ignore))
    scan = Scan(tally=tally, notes=list(todo.notes), first_run=todo.first_run)
    budget = search.Budget(deadline)
    stopped: tuple[str, int] | None = None
    try:
        for segment in todo.segments:
            events = events_in(segment.path, segment.start, segment.end, current, budget)
            count_events(events, tally)
            if budget.stopped_at is not None:
                stopped = segment.path, budget.stopped_at
                scan.bytes_read += budget.stopped_at - segment.start
                scan.notes.append(
                    f"time limit: {segment.path} read up to byte {budget.stopped_at} of "
                    f"{segment.end}, the rest next run"
                )
                break
            scan.bytes_read += segment.size
        end_time = None if stopped else last_line_stamp(log, todo.end, current)
    except OSError as exc:
        raise logtail.StateError(f"cannot read {log}: {exc.strerror}") from None
    if end_time is None:
        end_time = tally.last_time
    previous = extra.get("log_time")
    start_time = tally.first_time
    if isinstance(previous, (int, float)) and (start_time is None or previous <= start_time):
        start_time = float(previous)
    if start_time is not None and end_time is not None:
        scan.window = max(0.0, end_time - start_time)
    tally.compromises = [replace(c, found=current) for c in tally.compromises]
    found = {(c.account, c.source) for c in tally.compromises}
    tally.held = [
        c
        for c in _load_compromises(extra.get("compromises"))
        if 0 <= current - c.found <= hold and (c.account, c.source) not in found
    ]
    if update:
        saved: dict[str, Any] = {"failed": tally.remembered(current)}
        kept = (tally.compromises + tally.held)[:MEMORY_COMPROMISES]
        if kept:
            saved["compromises"] = [
                [c.account, c.source, c.failures, c.when, c.found] for c in kept
            ]
        log_time = end_time if end_time is not None else previous
        if isinstance(log_time, (int, float)):
            saved["log_time"] = log_time
        logtail.commit(todo, saved, stopped)
    return scan


def _load_compromises(saved: Any) -> list[Compromise]:
    """The compromises an earlier run saved, whatever the state file held."""
    found = []
    for item in saved if isinstance(saved, list) else []:
        if not (isinstance(item, list) and len(item) == 5):
            continue
        account, source, failures, when, at = item
        if (
            isinstance(account, str)
            and isinstance(source, str)
            and isinstance(failures, int)
            and isinstance(when, (int, float, type(None)))
            and isinstance(at, (int, float))
        ):
            found.append(Compromise(account, source, failures, when, float(at)))
    return found


def _clean_memory(memory: Any) -> dict[str, list[float]]:
    """The remembered sources, whatever the state file held."""
    clean: dict[str, list[float]] = {}
    if not isinstance(memory, dict):
        return clean
    for ip, value in memory.items():
        if (
            isinstance(ip, str)
            and isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, (int, float)) for v in value)
        ):
            clean[ip] = [float(value[0]), float(value[1])]
    return clean
