"""Evaluating a service on the event loop itself, without a worker thread.

A plugin's Resource asks for its AMI data synchronously (``acquire(work, deadline)``), so the
watcher ran every evaluation in a worker thread that handed the AMI work back to the loop and
waited: four thread hand-offs per service, half the CPU of a round at 10,000 PBXs. Here the
evaluation runs on the loop over a view of the round's replies instead: ``work`` is driven
to its end at once when every reply it asks for is there; when one is missing, the
evaluation stops (:class:`Missing`, through the plugin's own code), the watcher fetches that
reply over the session and evaluates again. A PRI service so costs two cheap passes and no
thread. A ``work`` that waits on anything else (a sleep, a gather) cannot be driven so: it is
left (:class:`Foreign`) and the watcher evaluates that service in a worker thread as before.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Callable, TypeVar

from isp_plugins.watch.rounds import RoundSession

T = TypeVar("T")


class Missing(BaseException):
    """A reply the round has not fetched yet. A BaseException: no ``except Exception`` of a
    plugin or of nagiosplugin turns it into a result."""

    def __init__(self, key: tuple[str, ...], ask: Callable[[], Awaitable[Any]]) -> None:
        super().__init__(key)
        self.key = key
        self.ask = ask
        self.deadline = 0.0  # set by the acquirer: the plugin's deadline for its acquisition


class Foreign(BaseException):
    """The acquisition waited on something other than the round's replies."""


class CachedSession(RoundSession):
    """The round's replies and nothing more: a reply not fetched yet raises :class:`Missing`.
    A fetched failure the plugin must see (not a lost session) is kept as a reply too."""

    async def _once(self, key: tuple[str, ...], ask: Callable[[], Awaitable[Any]]) -> Any:
        if key not in self._replies:
            raise Missing(key, ask)
        reply = self._replies[key]
        if isinstance(reply, BaseException):
            raise reply
        return reply


def drive(work: Callable[[Any], Awaitable[T]], view: CachedSession, deadline: float) -> T:
    """Run ``work(view)`` to its end without an event loop: it never suspends while every
    reply it asks for is cached. Raises :class:`Missing` or :class:`Foreign` otherwise."""
    coroutine = work(view)
    try:
        waited = coroutine.send(None)  # type: ignore[attr-defined]
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    except Missing as missing:
        missing.deadline = deadline
        raise
    # It waits on a future of its own: cancel that (a gather cancels its children), and go.
    cancel = getattr(waited, "cancel", None)
    if cancel is not None:
        cancel()
    coroutine.close()  # type: ignore[attr-defined]
    raise Foreign
