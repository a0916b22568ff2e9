"""What one queued message is, whichever way it was read."""

from __future__ import annotations

from typing import NamedTuple


class QueuedMessage(NamedTuple):
    """One queue file: ``postqueue -j`` object or spool record group (a NamedTuple: cheap).

    ``arrival_time`` is UNIX seconds from the queue file's arrival record (not its mtime,
    which for a deferred message is its next retry). ``recipients`` are the addresses still
    to deliver; ``forced_expire`` is None where the source does not say (Postfix < 3.5).
    """

    queue: str
    queue_id: str
    arrival_time: int
    size: int
    sender: str
    recipients: tuple[str, ...]
    forced_expire: bool | None = None
