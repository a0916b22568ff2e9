"""Evaluating a service on the event loop itself, without a worker thread.

A plugin's Resource asks for its AMI data synchronously (``acquire(work, deadline)``), so the
watcher ran every evaluation in a worker thread that handed the AMI work back to the loop and
waited: four thread hand-offs per service, half the CPU of a round at 10,000 PBXs. Here the
evaluation runs on the loop over a view of the round's replies instead: ``work`` is driven
to its end at once when every reply it asks for is there; when one is missing, the
evaluation stops (:class:`Missing`, through the plugin's own code), the watcher fetches that
reply over the session and evaluates again. A PRI service so costs two cheap passes and no
thread. The replies a service asked for are fetched at the start of its next round, all at
once: then one pass does, and none when every reply is the same as last time (:func:`same`).
A ``work`` that waits on anything else (a sleep, a gather) cannot be driven so: it is left
(:class:`Foreign`) and the watcher evaluates that service in a worker thread as before.
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
    A fetched failure the plugin must see (not a lost session) is kept as a reply too.
    ``asked`` keeps what was asked for, with the plugin's deadline: the next round's fetch."""

    def __init__(self, session: Any, replies: dict[tuple[str, ...], Any]) -> None:
        super().__init__(session, replies)
        self.asked: dict[tuple[str, ...], float] = {}
        self.deadline = 0.0  # the acquisition's, set by drive()

    async def _once(self, key: tuple[str, ...], ask: Callable[[], Awaitable[Any]]) -> Any:
        self.asked[key] = self.deadline
        if key not in self._replies:
            raise Missing(key, ask)
        reply = self._replies[key]
        if isinstance(reply, BaseException):
            raise reply
        return reply


def drive(work: Callable[[Any], Awaitable[T]], view: CachedSession, deadline: float) -> T:
    """Run ``work(view)`` to its end without an event loop: it never suspends while every
    reply it asks for is cached. Raises :class:`Missing` or :class:`Foreign` otherwise."""
    view.deadline = deadline
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


def ask_for(session: Any, key: tuple[str, ...]) -> Awaitable[Any]:
    """Ask ``session`` what a round's reply ``key`` holds (the keys of
    :class:`~isp_plugins.watch.rounds.RoundSession`): a CLI command, or a list action."""
    if key[0] == "Command":
        return session.command(key[1])  # type: ignore[no-any-return]
    action = dict(pair.split(": ", 1) for pair in key[1:])
    return session.action_list(action)  # type: ignore[no-any-return]


def comparable(reply: Any) -> Any:
    """A reply as :func:`same` compares it: a list action's events without their ActionID
    (a new one each time); a CLI reply as it is (a NamedTuple of its lines)."""
    if isinstance(reply, list):
        return [tuple((k, v) for k, v in m.items() if k.lower() != "actionid") for m in reply]
    return reply


def same(previous: dict[tuple[str, ...], Any], replies: dict[tuple[str, ...], Any]) -> bool:
    """Whether this round's ``replies`` hold, for every reply ``previous`` kept (as
    :func:`comparable` made it), an equal one. A refusal (an exception) is never the same."""
    for key, kept in previous.items():
        if key not in replies or isinstance(kept, BaseException):
            return False
        if comparable(replies[key]) != kept:
            return False
    return True
