"""The one rule for a check's own deadline: its I/O must give up a little before -t, so the
check can still print an UNKNOWN status line of its own before the backstop timer fires."""

from __future__ import annotations

import time

#: When -t started counting in this process (run_check sets it as it arms the backstop
#: timer); None where no backstop runs (asterisk-watch).
_armed_at: float | None = None


def arm() -> None:
    """-t counts from now: later deadlines are what is left of it, less the margin."""
    global _armed_at  # noqa: PLW0603 (one process, one -t)
    _armed_at = time.monotonic()


def session_deadline(timeout: float) -> float:
    """Seconds the check's I/O may still take under ``-t timeout``: a little under what is
    left of it. Counted from the backstop's start, so the time spent importing and parsing
    before the I/O cannot let the backstop fire first on a loaded machine."""
    budget = timeout - min(1.0, timeout * 0.1)
    if _armed_at is None:
        return budget
    return max(0.0, _armed_at + budget - time.monotonic())


def deadline_instant(timeout: float, started: float | None = None) -> float:
    """The same deadline as a ``time.monotonic()`` value, counted from ``started`` (now)."""
    return (time.monotonic() if started is None else started) + session_deadline(timeout)
