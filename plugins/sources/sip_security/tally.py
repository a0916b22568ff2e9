"""Counting failed SIP authentications per source and account, since the last run.

The window of a run, for the rate: from the log time where the previous run stopped (the
stamp of the last complete line it read, kept in the state) to the stamp of the last
complete line read now. On a first run, or when the previous stamp is unknown or later,
it starts at the first event read. A window shorter than a minute counts as a minute.

One failure can be logged twice: as chan_sip's or PJSIP's NOTICE line and as a
res_security_log event, when logger.conf sends both levels to the same file. The two are
counted apart; when the read holds security failures, they are the count (they name the
account exactly), else the NOTICE lines are.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Union

from isp_plugins.sources import logtail
from isp_plugins.sources.logtail import search
from isp_plugins.sources.sip_security.lines import FINGERPRINTS, AuthEvent, line_stamp, parse_line

STATE_PREFIX = "check_asterisk_sipauth"
#: Failed sources remembered between runs (for the compromise check): how many, how long.
MEMORY_SOURCES = 5000
MEMORY_SECONDS = 86400.0
MINUTE = 60.0
#: Compromises remembered between runs, at most.
MEMORY_COMPROMISES = 100

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
    """What one run found; ``counts`` is the form chosen (see the module doc)."""

    security: Counts = field(default_factory=Counts)
    notice: Counts = field(default_factory=Counts)
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
    def counts(self) -> Counts:
        return self.security if self.security.attempts else self.notice

    @property
    def form(self) -> str:
        return "security events" if self.security.attempts else "NOTICE lines"

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
        now = max(self.security.per_source[source], self.notice.per_source[source])
        return int(earlier) + now

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
        (self.security if event.form == "security" else self.notice).add(event)

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
