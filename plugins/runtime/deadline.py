"""The one rule for a check's own deadline: its I/O must give up a little before -t, so the
check can still print an UNKNOWN status line of its own before the backstop timer fires."""

from __future__ import annotations

import time


def session_deadline(timeout: float) -> float:
    """Seconds the check's I/O may take under ``-t timeout``: a little under it."""
    return timeout - min(1.0, timeout * 0.1)


def deadline_instant(timeout: float, started: float | None = None) -> float:
    """The same deadline as a ``time.monotonic()`` value, counted from ``started`` (now)."""
    return (time.monotonic() if started is None else started) + session_deadline(timeout)
