"""One-shot AMI session on panoramisk: connect, log in, run commands, log off, one deadline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Awaitable, Mapping
from typing import Any, Callable, NamedTuple, TypeVar

from asterisk_ami.errors import (
    AmiError,
    AmiTimeout,
    AuthenticationFailed,
    ConnectionFailed,
    ConnectionLost,
    ProtocolError,
    SendFailed,
    TlsError,
)
from asterisk_ami.protocol import WIRE_ENCODING, OneShotManager, OneShotProtocol
from asterisk_ami.replies import CommandOutput, command_output, raise_for_action_error

log = logging.getLogger("asterisk_ami.session")

T = TypeVar("T")

#: How long a finished session waits for the server's Goodbye before closing anyway.
LOGOFF_GRACE = 0.5
#: How long a plain connection waits for the greeting before it probes for a TLS port (at most
#: a quarter of the deadline). Asterisk greets as it accepts: a second of silence is not AMI.
PROBE_AFTER = 1.0
_HIDDEN = ("secret", "key")
_NO_EVENT = ("Event", "")


class Target(NamedTuple):
    """Where and as whom to log in. The secret is kept out of ``repr``."""

    host: str
    port: int = 5038
    username: str = ""
    secret: str = ""
    auth: str = "plain"  # or "md5": Challenge/Login with the MD5 of challenge + secret
    tls: ssl.SSLContext | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __repr__(self) -> str:
        tls = ", tls" if self.tls else ""
        return f"Target({self.address}, user {self.username!r}, {self.auth}{tls})"


def _redacted(action: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{k}: {'(hidden)' if k.lower() in _HIDDEN else v}"
        for k, v in action.items()
        if k.lower() != "commandid"
    )


async def _resolve(host: str, port: int) -> list[tuple[Any, ...]]:
    """getaddrinfo in a daemon thread: a hung resolver cannot outlive or block the deadline."""
    for family in (socket.AF_INET, socket.AF_INET6):  # an address needs no resolver thread
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        sockaddr = (host, port) if family == socket.AF_INET else (host, port, 0, 0)
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[Any] = loop.create_future()

    def deliver(result: Any) -> None:
        if not answer.done():
            answer.set_result(result)

    def worker() -> None:
        # An ASCII name goes as bytes: a str would load the IDNA codec on every run.
        name: str | bytes = host.encode("ascii") if host.isascii() else host
        try:
            result: Any = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            result = exc
        with contextlib.suppress(RuntimeError):  # the session ended and its loop is closed
            loop.call_soon_threadsafe(deliver, result)

    threading.Thread(target=worker, name="ami-resolve", daemon=True).start()
    result = await answer
    if isinstance(result, Exception):
        reason = getattr(result, "strerror", None) or str(result)
        raise ConnectionFailed(f"cannot resolve '{host}': {reason}")
    return list(result)


def _reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def _tls_failure(exc: ssl.SSLError, address: str) -> TlsError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        return TlsError(f"TLS certificate of {address} rejected: {reason.rstrip('.')}")
    reason = (exc.reason or str(exc)).replace("_", " ").lower()
    return TlsError(f"TLS handshake with {address} failed: {reason} (is TLS enabled on this port?)")


class Session:
    """An AMI session used once. Drive it with :func:`run`; it never reconnects or retries.

    A long-lived user (asterisk-watch) logs in with ``events`` such as ``"system"`` and gets
    each unsolicited event through ``on_event``; :meth:`wait_lost` tells it when the session
    ended. Reconnecting is the caller's business.
    """

    def __init__(
        self,
        target: Target,
        events: str = "off",
        on_event: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> None:
        self.target = target
        self.events = events
        self.on_event = on_event
        self.phase = "starting"
        self.greeting = ""
        self.logged_in = False
        self._protocol: OneShotProtocol | None = None
        self._failure: asyncio.Future[AmiError] | None = None
        self._logoff_sent = False
        #: Loop time after which nothing more is read (set by :func:`run`: its deadline).
        self.read_until: float | None = None
        #: Seconds of silence after which a plain connection probes for a TLS port; None: never.
        self.probe_after: float | None = PROBE_AFTER

    # -- connection ---------------------------------------------------------------------
    def _on_failure(self, error: AmiError) -> None:
        if self._failure is not None and not self._failure.done():
            self._failure.set_result(error)

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        self._failure = loop.create_future()
        target = self.target
        self.phase = f"resolving {target.host}"
        addresses = await _resolve(target.host, target.port)
        errors: list[str] = []
        for family, _, proto, _, sockaddr in addresses:
            self.phase = f"connecting to {target.address}"
            manager = OneShotManager(self._on_failure, host=sockaddr[0], port=sockaddr[1])
            if self.on_event is not None:
                deliver = self.on_event
                manager.register_event("*", lambda _manager, event, d=deliver: d(event))
            try:
                _, protocol = await loop.create_connection(
                    lambda m=manager: OneShotProtocol(  # type: ignore[misc]
                        m,
                        self._on_failure,
                        plain=target.tls is None,
                        subscribed=self.on_event is not None,
                        read_until=self.read_until,
                    ),
                    host=sockaddr[0],
                    port=sockaddr[1],
                    family=family,
                    proto=proto,
                    ssl=target.tls,
                    server_hostname=target.host if target.tls else None,
                )
            except ssl.SSLError as exc:
                raise _tls_failure(exc, target.address) from None
            except OSError as exc:
                errors.append(_reason(exc))
                continue
            self._protocol = protocol
            break
        else:
            reason = ", ".join(dict.fromkeys(errors)) or "no address"
            raise ConnectionFailed(f"cannot connect to AMI at {target.address}: {reason}")
        log.info("connected to %s", target.address)
        self.phase = "waiting for the AMI greeting"
        protocol = self._protocol
        if protocol.plain and self.probe_after is not None:
            await asyncio.wait({protocol.greeting}, timeout=self.probe_after)
            if not protocol.greeting.done() and not protocol.heard:
                log.info("no greeting after %gs: probing for a TLS port", self.probe_after)
                protocol.probe_for_tls()
        self.greeting = await protocol.greeting
        log.info("greeting: %s", self.greeting)

    async def _request(self, action: dict[str, Any], phase: str, as_list: bool = False) -> Any:
        """Send one action and wait for its reply.

        With ``as_list`` a reply that announces a list ("... will follow", ``EventList: start``)
        is collected up to its ``...Complete`` event; an error reply still ends it at once.
        """
        assert self._protocol is not None and self._failure is not None
        self.phase = phase
        if log.isEnabledFor(logging.DEBUG):
            log.debug("sending %s", _redacted(action))
        # panoramisk: False means a single reply, None means "a list if the reply says so".
        reply = self._protocol.send(action, as_list=None if as_list else False)
        await asyncio.wait({reply, self._failure}, return_when=asyncio.FIRST_COMPLETED)
        if reply.done():
            return reply.result()
        failure = self._failure.result()
        if isinstance(failure, ConnectionLost):
            raise ConnectionLost(f"{failure} ({phase})")
        raise failure

    # -- login --------------------------------------------------------------------------
    async def login(self) -> None:
        target = self.target
        action: dict[str, Any] = {"Action": "Login", "Username": target.username}
        if target.auth == "md5":
            reply = await self._request(
                {"Action": "Challenge", "AuthType": "MD5"}, "waiting for the MD5 challenge"
            )
            challenge = reply.get("Challenge", "")
            if reply.response != "Success" or not isinstance(challenge, str) or not challenge:
                raise ProtocolError(
                    f"AMI refused the MD5 challenge: {reply.message or 'no reason'}"
                )
            import hashlib  # noqa: PLC0415 (only MD5 logins pay for it)

            try:
                keyed = (challenge + target.secret).encode(WIRE_ENCODING)
            except UnicodeError:
                raise SendFailed("cannot send Login: the secret is not valid UTF-8 text") from None
            key = hashlib.md5(keyed).hexdigest()
            action.update({"AuthType": "MD5", "Key": key})
        else:
            action["Secret"] = target.secret
        action["Events"] = self.events
        reply = await self._request(action, "waiting for the login reply")
        if reply.response != "Success":
            raise AuthenticationFailed(
                f"AMI login as '{target.username}' failed: {reply.message or reply.response}"
            )
        self.logged_in = True
        log.info("logged in as '%s'", target.username)

    # -- actions ------------------------------------------------------------------------
    async def command(self, command: str) -> CommandOutput:
        """Run one CLI command through ``Action: Command`` and return its lines."""
        reply = await self._request(
            {"Action": "Command", "Command": command}, f"waiting for the reply to '{command}'"
        )
        output = command_output(command, reply, reply.content)
        log.info(
            "'%s': %d lines (%s reply format)", command, len(output.lines), output.reply_format
        )
        return output

    async def action_list(self, action: dict[str, str]) -> list[Any]:
        """Run a list action (ack, events, ``...Complete`` event); return the events between.

        An unknown action raises CommandNotFound, a refused one PermissionDenied.
        """
        name = action["Action"]
        reply = await self._request(dict(action), f"waiting for the {name} list", as_list=True)
        messages = reply if isinstance(reply, list) else [reply]
        raise_for_action_error(name, messages[0])
        # m.get("Event", ""), read straight from panoramisk's store ({lower: (name, value)}):
        # the Mapping method costs a microsecond per event of a list of thousands.
        events = [
            m
            for m in messages[1:]
            if not str(m._store.get("event", _NO_EVENT)[1]).endswith("Complete")
        ]
        log.info("%s: %d events", name, len(events))
        return events

    async def wait_lost(self) -> AmiError:
        """Wait until the session ends (closed, reset, Shutdown, unreadable); return why."""
        assert self._failure is not None, "connect() first"
        return await asyncio.shield(self._failure)

    @property
    def ami_version(self) -> tuple[int, ...]:
        """The AMI version in the greeting: (1, 0) for Asterisk 1.4, (11, 0, 0) for 22; () if
        the greeting carries none we can read. It names the generation, not the Command reply
        format (13 and 14 overlap)."""
        text = self.greeting.rpartition("/")[2].strip()
        parts = text.split(".")
        return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else ()

    @property
    def lost(self) -> bool:
        return self._failure is not None and self._failure.done()

    # -- logoff -------------------------------------------------------------------------
    async def logoff(self, grace: float) -> None:
        """Send Logoff once if logged in and the socket is open; wait up to ``grace`` for Goodbye.

        After a garbled reply the Logoff still goes out; only the grace is spent waiting.
        """
        protocol, failure = self._protocol, self._failure
        if not self.logged_in or self._logoff_sent or protocol is None or failure is None:
            return
        if protocol.closed or protocol.transport.is_closing():
            return
        self._logoff_sent = True
        self.phase = "logging off"
        log.debug("sending Action: Logoff")
        reply = protocol.send({"Action": "Logoff"})
        if grace > 0:
            # After a garbled reply nothing more is read, so no Goodbye can match: linger for
            # the grace anyway, so the server reads our Logoff before our close resets it.
            await asyncio.wait({reply} if failure.done() else {reply, failure}, timeout=grace)
        log.info("logged off")

    def close(self) -> None:
        if self._protocol is not None and not self._protocol.closed:
            self._protocol.close()


async def _bounded(target: Target, deadline: float, work: Callable[[Session], Awaitable[T]]) -> T:
    loop = asyncio.get_running_loop()
    started = loop.time()
    session = Session(target)
    session.read_until = started + deadline
    session.probe_after = min(PROBE_AFTER, deadline / 4)

    async def exchange() -> T:
        await session.connect()
        await session.login()
        return await work(session)

    try:
        try:
            result = await asyncio.wait_for(exchange(), deadline)
        except asyncio.TimeoutError:
            raise AmiTimeout(deadline, session.phase) from None
        except AmiError:
            await session.logoff(grace=min(LOGOFF_GRACE, deadline - (loop.time() - started)))
            raise
        await session.logoff(grace=min(LOGOFF_GRACE, deadline - (loop.time() - started)))
        return result
    finally:
        await session.logoff(grace=0)  # after a timeout: the Logoff goes out, nothing is awaited
        session.close()


def run(target: Target, deadline: float, work: Callable[[Session], Awaitable[T]]) -> T:
    """Connect, log in, ``await work(session)``, log off; all of it within ``deadline`` seconds.

    Raises an :class:`~asterisk_ami.errors.AmiError` subclass on every failure. The event loop
    is private to the call, and nothing outlives it: no reconnect, no retry, no thread to join.
    """
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_bounded(target, deadline, work))
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(asyncio.sleep(0))  # let transports finish closing
        loop.close()
