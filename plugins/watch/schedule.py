"""When each PBX is evaluated and logged in to: interval evaluations spread over the interval
by a stable per-PBX offset, and logins ramped at a bounded rate.

With 10,000 PBXs, evaluating every PBX at the same instant every interval would ask the CPU
for 30,000 evaluations at once and leave it idle the rest of the time; logging in to all of
them at start-up (or after a network cut) at once is a login storm. Both are pure here; the
supervisor sleeps.
"""

from __future__ import annotations

import asyncio
import math
import zlib

#: Logins started per second, over all PBXs: 10,000 PBXs are logged in to within 40 s, and
#: each PBX sees one login, as ever. Refused connections (a dead PBX retried every second)
#: pass the gate too, so many dead PBXs slow the others' reconnections to this rate.
LOGIN_RATE = 250.0
#: PBXs logging in at once, a PBX holding its place until its first evaluation is done
#: (connect + login are bounded by the login timeout, the evaluation by the plugins'): PBXs
#: that hang hold a place each, the others go on through the rest. When the CPU cannot keep
#: up with the rate, this is what slows the logins down, instead of piling up sessions whose
#: login replies wait behind the others' evaluations until they time out. 64 left the CPU
#: idle a fifth of the time at 10,000 PBXs (start-up 131 s); with 256 it is the CPU (102 s).
LOGIN_CONCURRENCY = 256


def offset(name: str, interval: float) -> float:
    """The PBX's place in the interval, in [0, interval): stable across restarts and reloads
    (a CRC of its name), and spread evenly over many PBXs."""
    return zlib.crc32(name.encode("utf-8")) / 2**32 * interval


def next_slot(now: float, place: float, interval: float) -> float:
    """The first time after ``now`` (strictly) that is ``place`` plus a whole number of
    intervals: when the PBX's next interval evaluation is due."""
    slot = place + math.floor((now - place) / interval) * interval
    while slot <= now:
        slot += interval
    return slot


def login_slot(now: float, previous: float, rate: float) -> float:
    """When the next login may start: ``1/rate`` after the previous one, and not before now."""
    return max(now, previous + 1.0 / rate)


class LoginGate:
    """Every login (and reconnection) passes here: at most ``rate`` start per second, at most
    ``concurrency`` under way at once. :meth:`enter` before connecting, :meth:`leave` once
    the first evaluation is done or the login failed (or ``async with gate:``)."""

    def __init__(self, rate: float = LOGIN_RATE, concurrency: int = LOGIN_CONCURRENCY) -> None:
        self.rate = rate
        self.places = asyncio.Semaphore(concurrency)
        self.last = -math.inf

    async def __aenter__(self) -> None:
        await self.enter()

    async def __aexit__(self, *exc: object) -> None:
        self.leave()

    def leave(self) -> None:
        self.places.release()

    async def enter(self) -> None:
        await self.places.acquire()
        loop = asyncio.get_running_loop()
        now = loop.time()
        at = login_slot(now, self.last, self.rate)
        self.last = at
        if at > now:
            try:
                await asyncio.sleep(at - now)
            except BaseException:
                self.places.release()
                raise
