"""One evaluation round's view of a PBX's session: each CLI command and list action is sent
once per round, and every service evaluated in the round that asks for it gets that reply.

A PRI and a BRI service on the same PBX both read ``pri show spans``: without this, each
round asked Asterisk twice for the same text. The next round asks again: nothing is kept
longer than one round, so no service ever sees an older state than it did before.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Callable

from asterisk_ami.errors import CommandNotFound, PermissionDenied

if TYPE_CHECKING:
    from asterisk_ami.replies import CommandOutput
    from asterisk_ami.session import Session

#: Replies of one round, by what was asked: ("Command", "pri show spans"), or ("List", the
#: action's headers). A refusal (not loaded, not permitted) is an answer too, kept as such.
Replies = dict[tuple[str, ...], Any]
#: What a refusal is: the same for every service that asks, unlike a lost session or a
#: timeout, which end the round anyway.
ANSWERS = (CommandNotFound, PermissionDenied)


class RoundSession:
    """The session as the plugins' acquisitions use it, with the round's replies shared.

    Only the event loop touches it (the services of a round are evaluated one after the
    other), so the shared dictionary needs no lock.
    """

    def __init__(self, session: Session, replies: Replies) -> None:
        self._session = session
        self._replies = replies

    def __getattr__(self, name: str) -> Any:  # greeting, phase...: the session's own
        return getattr(self._session, name)

    async def command(self, command: str) -> CommandOutput:
        reply: CommandOutput = await self._once(
            ("Command", command), lambda: self._session.command(command)
        )
        return reply

    async def action_list(self, action: dict[str, str]) -> list[Any]:
        key = ("List", *(f"{k}: {v}" for k, v in sorted(action.items())))
        events: list[Any] = await self._once(key, lambda: self._session.action_list(action))
        return list(events)  # the caller's list: a parser may consume it

    async def _once(self, key: tuple[str, ...], ask: Callable[[], Awaitable[Any]]) -> Any:
        if key not in self._replies:
            try:
                self._replies[key] = await ask()
            except ANSWERS as refused:
                self._replies[key] = refused
        reply = self._replies[key]
        if isinstance(reply, ANSWERS):
            raise reply
        return reply
