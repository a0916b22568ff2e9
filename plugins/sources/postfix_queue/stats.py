"""Adding messages up: counts per queue, bytes, oldest arrival, senders and recipient domains.

Memory is O(number of queues + distinct senders + distinct recipient domains), never
O(messages): a 100,000-message queue from one spam run has one or a few senders.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from isp_plugins.sources.postfix_queue import QUEUES
from isp_plugins.sources.postfix_queue.model import QueuedMessage


def recipient_domain(address: str) -> str:
    """The domain of an address, lower case; a local address (no @) counts as itself."""
    at = address.rfind("@")
    return address[at + 1 :].lower() if at >= 0 else address.lower()


@dataclass
class QueueStats:
    """Running totals over one instance's queue."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(QUEUES, 0))
    bytes: int = 0
    oldest_arrival: int | None = None
    oldest_queue: str = ""
    forced_expire: int = 0
    senders: dict[str, int] = field(default_factory=dict)
    domains: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Messages in the five queues postqueue lists (corrupt files are not messages)."""
        return sum(n for queue, n in self.counts.items() if queue != "corrupt")

    def add(self, message: QueuedMessage) -> None:
        counts = self.counts
        counts[message.queue] = counts.get(message.queue, 0) + 1
        if message.queue == "corrupt":  # unreadable by definition: counted, nothing more
            return
        self.bytes += message.size
        if self.oldest_arrival is None or message.arrival_time < self.oldest_arrival:
            self.oldest_arrival, self.oldest_queue = message.arrival_time, message.queue
        if message.forced_expire:
            self.forced_expire += 1
        senders = self.senders
        senders[message.sender] = senders.get(message.sender, 0) + 1
        # A message counts once per domain it still has recipients in.
        domains = self.domains
        if len(message.recipients) == 1:
            domain = recipient_domain(message.recipients[0])
            domains[domain] = domains.get(domain, 0) + 1
        else:
            for domain in {recipient_domain(r) for r in message.recipients}:
                domains[domain] = domains.get(domain, 0) + 1

    def oldest_age(self, now: float) -> int:
        """Seconds since the oldest arrival, 0 for an empty queue or a clock behind Postfix's."""
        if self.oldest_arrival is None:
            return 0
        return max(0, int(now) - self.oldest_arrival)

    def merge(self, other: QueueStats) -> None:
        """Add another instance's totals (for the perfdata over several instances)."""
        for queue, n in other.counts.items():
            self.counts[queue] = self.counts.get(queue, 0) + n
        self.bytes += other.bytes
        if other.oldest_arrival is not None and (
            self.oldest_arrival is None or other.oldest_arrival < self.oldest_arrival
        ):
            self.oldest_arrival, self.oldest_queue = other.oldest_arrival, other.oldest_queue
        self.forced_expire += other.forced_expire
        for name, n in other.senders.items():
            self.senders[name] = self.senders.get(name, 0) + n
        for name, n in other.domains.items():
            self.domains[name] = self.domains.get(name, 0) + n


def top(counter: dict[str, int], n: int) -> list[tuple[str, int]]:
    """The n largest counts, ties by name, without sorting the whole counter."""
    if n <= 0:
        return []
    best = heapq.nsmallest(n, counter.items(), key=lambda item: (-item[1], item[0]))
    return [(name, count) for name, count in best]
