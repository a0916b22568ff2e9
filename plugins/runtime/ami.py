"""The Resource glue of the AMI checks: acquisition over one session (the check's own, or
asterisk-watch's), counts against -n, and long-output notes on how the session was made."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import nagiosplugin

from isp_plugins.runtime.deadline import session_deadline

if TYPE_CHECKING:
    from asterisk_ami.session import Session, Target
    from isp_plugins.runtime.failures import Failure

T = TypeVar("T")
#: Runs an acquisition coroutine over an AMI session within a deadline (seconds).
Acquire = Callable[[Callable[["Session"], Awaitable[Any]], float], Any]


class AmiResource(nagiosplugin.Resource):
    """A Resource whose probe acquires its data over one AMI session.

    By default the probe opens a session of its own (:func:`asterisk_ami.session.run`);
    asterisk-watch sets ``acquire`` to run the same acquisition over its long-lived session,
    so the evaluation and the output stay those of the plugin.
    """

    target: Target
    timeout: float  # -t: the session gets session_deadline(timeout)
    acquire: Acquire | None = None
    greeting: str = ""  # the server's greeting, once a session is logged in

    def run_session(self, work: Callable[[Session], Awaitable[T]]) -> T:
        """``work`` over one AMI session, within the check's deadline (derived from -t)."""
        deadline = session_deadline(self.timeout)

        async def logged_in(session: Session) -> T:
            self.greeting = session.greeting  # kept whatever ends the session afterwards
            return await work(session)

        if self.acquire is not None:
            return self.acquire(logged_in, deadline)  # type: ignore[no-any-return]
        from asterisk_ami import session  # noqa: PLC0415 (keeps asyncio out of --help)

        return session.run(self.target, deadline, logged_in)

    def greeting_line(self) -> str:
        """The -v line on the session: the greeting, and what a check adds (reply format...)."""
        return f"AMI greeting: {self.greeting}"

    def framed(self, lines: Iterable[str], verbose: int) -> list[str]:
        """The long output of every path once logged in, the verdict's or a failure's: the
        connection warnings first, then ``lines``, then at -v the greeting line."""
        if not self.greeting:  # no session was made: nothing to say about it
            return list(lines)
        framed = connection_notes(self.target) + list(lines)
        if verbose >= 1:
            framed.append(self.greeting_line())
        return framed

    def failure_output(self, failure: Failure, verbose: int) -> list[str]:
        """The long output of a failure (ReportSummary asks for it)."""
        return self.framed(failure.detail, verbose)


class CountResource(AmiResource):
    """A Resource that counts things up against an expected number (-n), as UpCount and
    ListedCount read it: set ``expected_option`` (-n or None) and, once probed, ``report``
    (anything with an ``expected`` attribute)."""

    expected_option: int | None = None
    report: Any = None

    @property
    def expected(self) -> int | None:
        """Things expected: -n, or the number listed; None before probing."""
        return self.report.expected if self.report is not None else None

    @property
    def expected_given(self) -> bool:
        return self.expected_option is not None


def connection_notes(target: Target) -> list[str]:
    """Long-output warnings about how the session was made."""
    from asterisk_ami.tls import verified  # noqa: PLC0415

    if target.tls is not None and not verified(target.tls):
        return ["warning: the AMI TLS certificate was not verified (--insecure)"]
    return []
