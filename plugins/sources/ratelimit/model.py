"""What a backend measures: one :class:`Usage` per sender and limit, then one per sender."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


def percent(used: float, limit: float) -> float:
    """Usage in percent of a limit; a limit of 0 is full as soon as anything is used."""
    if limit > 0:
        return used * 100.0 / limit
    return 100.0 if used > 0 else 0.0


@dataclass(frozen=True)
class Usage:
    """One sender against one limit in its current window.

    ``offender`` is the daemon's own reject rule (it refuses this sender's next message);
    ``percent`` is what --near compares with.
    """

    identity: str
    used: float
    limit: float
    unit: str  # "messages", "recipients", "bytes"
    window: str  # "1h", "1d decaying"
    offender: bool
    note: str = ""  # "abuse flag set", "12 hits (86400s)"

    @property
    def percent(self) -> float:
        return percent(self.used, self.limit)


@dataclass(frozen=True)
class Sender:
    """A sender's worst limit (an offender limit first, then the highest percentage)."""

    identity: str
    worst: Usage
    limits: tuple[Usage, ...]

    @property
    def offender(self) -> bool:
        return self.worst.offender

    @property
    def percent(self) -> float:
        return self.worst.percent


def rank(usage: Usage) -> tuple[bool, float]:
    return (usage.offender, usage.percent)


def by_sender(usages: Iterable[Usage]) -> list[Sender]:
    """Group usages per identity; senders sorted worst first (offenders, then by percent)."""
    groups: dict[str, list[Usage]] = {}
    for usage in usages:
        groups.setdefault(usage.identity, []).append(usage)
    senders = [
        Sender(identity, max(items, key=rank), tuple(sorted(items, key=rank, reverse=True)))
        for identity, items in groups.items()
    ]
    senders.sort(key=lambda s: (not s.offender, -s.percent, s.identity))
    return senders


@dataclass
class Report:
    """A backend's findings: senders at or above --near, the highest usage of all senders.

    With a ``top`` limit, ``senders`` holds only the worst ones (offenders first) and
    ``totals`` the number of offenders and of near-limit senders in the whole table.
    """

    senders: list[Sender] = field(default_factory=list)
    max_usage: float = 0.0
    notes: list[str] = field(default_factory=list)
    totals: tuple[int, int] | None = None

    @property
    def offenders(self) -> list[Sender]:
        return [s for s in self.senders if s.offender]

    @property
    def near(self) -> list[Sender]:
        """Near the limit but not offenders (the two sets are disjoint)."""
        return [s for s in self.senders if not s.offender]

    @property
    def offender_count(self) -> int:
        return len(self.offenders) if self.totals is None else self.totals[0]

    @property
    def near_count(self) -> int:
        return len(self.near) if self.totals is None else self.totals[1]

    def keep(self, top: int | None) -> Report:
        """Only the ``top`` worst senders stay listed; the totals keep counting them all."""
        if top is not None and self.totals is None:
            self.totals = (len(self.offenders), len(self.near))
            del self.senders[top:]
        return self


def human_seconds(seconds: float) -> str:
    """60 -> 1m, 86400 -> 1d, 5400 -> 90m, 61 -> 61s: the largest unit that divides exactly."""
    secs = int(seconds)
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size and secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"
