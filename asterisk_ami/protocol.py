"""panoramisk's AMI protocol and manager, narrowed to one session: no reconnect, strict framing."""

from __future__ import annotations

import asyncio
import codecs
import logging
import re
from typing import Any, Callable

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager
from panoramisk.message import Message

from asterisk_ami.errors import AmiError, ConnectionLost, NotAmiServer, ProtocolError, excerpt

log = logging.getLogger("asterisk_ami.protocol")

GREETING_PREFIX = "Asterisk Call Manager/"
#: Longest greeting line we wait for before deciding the peer is not an AMI server.
MAX_GREETING = 256
#: A reply larger than this (a hostile or broken server) ends the session.
MAX_BUFFER = 8 * 1024 * 1024

_END_OF_FOLLOWS = re.compile(r"--END COMMAND--\r?\n\r?\n")
_FOLLOWS_HEADER = re.compile(r"(Response|Privilege|ActionID|CommandID): ([^\r\n]*)\r?\n", re.I)


class OneShotManager(Manager):
    """A panoramisk Manager that never reconnects, pings or replays; loss ends the session."""

    def __init__(self, on_failure: Callable[[AmiError], None], **config: Any) -> None:
        super().__init__(events="off", **config)
        # The stock Manager replays parked actions on FullyBooted; a one-shot session has none.
        self.callbacks.clear()
        self.patterns.clear()
        self._on_failure = on_failure

    def connection_lost(self, exc: Any) -> None:
        if isinstance(exc, Message):  # panoramisk passes the Shutdown event itself
            self._on_failure(ConnectionLost("Asterisk is shutting down"))
        elif isinstance(exc, Exception) and str(exc):
            self._on_failure(ConnectionLost(f"connection lost: {exc}"))
        else:
            self._on_failure(ConnectionLost("the server closed the connection"))


class OneShotProtocol(AMIProtocol):
    """AMIProtocol with a checked greeting, Follows-aware framing and a bounded buffer.

    panoramisk splits messages on blank lines only and keeps just the last CRLF chunk of a
    ``Response: Follows`` body; here an old-format reply is framed up to ``--END COMMAND--``
    so no CLI line is lost, and UTF-8 split across TCP reads is decoded correctly.
    """

    def __init__(self, manager: OneShotManager, on_failure: Callable[[AmiError], None]) -> None:
        super().__init__()
        self._manager = manager
        self._on_failure = on_failure
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._buffer = ""
        self._broken = False
        self.greeting: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.factory = self._manager
        self.log = log
        self.encoding = "utf-8"
        self._manager.protocol = self
        self._manager.responses = self.responses

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.greeting.done():
            reason = f" ({exc})" if exc else ""
            self.greeting.set_exception(
                ConnectionLost(f"the server closed the connection before its greeting{reason}")
            )
        super().connection_lost(exc)

    def _fail(self, error: AmiError) -> None:
        """Stop reading: the session ends with ``error`` (it may still send its Logoff)."""
        self._broken = True
        self._buffer = ""
        if not self.greeting.done():
            self.greeting.set_exception(error)
            self.transport.abort()  # not logged in: nothing to say before closing
        self._on_failure(error)

    def data_received(self, data: bytes) -> None:
        if self._broken:
            return
        self._buffer += self._decoder.decode(data)
        if len(self._buffer) > MAX_BUFFER:
            self._fail(ProtocolError(f"AMI reply exceeds {MAX_BUFFER // 1048576} MiB"))
            return
        if not self.greeting.done() and not self._read_greeting():
            return
        while not self._broken:
            frame = self._next_frame()
            if frame is None:
                return
            message = self._parse(frame)
            if message is None:
                self._fail(ProtocolError(f"not an AMI message: {excerpt(frame)}"))
                return
            if log.isEnabledFor(logging.DEBUG):  # describing 2,000 events costs 0.1 s
                log.debug("received %s", _describe(message))
            self.handle_message(message)

    def _read_greeting(self) -> bool:
        newline = self._buffer.find("\n")
        if newline < 0:
            if len(self._buffer) > MAX_GREETING:
                self._fail(NotAmiServer(f"it greets with {excerpt(self._buffer)}"))
            return False
        line, self._buffer = self._buffer[:newline].rstrip("\r"), self._buffer[newline + 1 :]
        if not line.startswith(GREETING_PREFIX):
            self._fail(NotAmiServer(f"it greets with {excerpt(line)}"))
            return False
        self.version = line[len(GREETING_PREFIX) :].strip()
        self.greeting.set_result(line)
        return True

    def _next_frame(self) -> str | None:
        """Cut the next complete message off the buffer, or return None to wait for more."""
        self._buffer = self._buffer.lstrip("\r\n")
        if self._buffer.startswith("Response: Follows"):
            match = _END_OF_FOLLOWS.search(self._buffer)
            if match is None:
                return None
            end = match.end()
        else:
            blank = self._buffer.find("\r\n\r\n")
            if blank < 0:
                return None
            end = blank + 4
        frame, self._buffer = self._buffer[:end], self._buffer[end:]
        return frame

    @staticmethod
    def _parse(frame: str) -> Message | None:
        if not frame.startswith("Response: Follows"):
            return Message.from_line(frame.strip())
        headers: dict[str, str] = {}
        pos = 0
        while match := _FOLLOWS_HEADER.match(frame, pos):
            headers[match.group(1)] = match.group(2)
            pos = match.end()
        body = _END_OF_FOLLOWS.sub("--END COMMAND--\n", frame[pos:])
        return Message(headers, content=body)


#: Headers whose values never reach a log: PJSIP's AuthDetail events (sent by
#: PJSIPShowRegistrationsOutbound and PJSIPShowEndpoint) carry the plain-text password.
_SECRET_HEADERS = frozenset(
    {"password", "md5cred", "passworddigest", "oauthsecret", "refreshtoken", "secret", "key"}
)


def _describe(message: Message) -> str:
    """A one-line account of a message for debug logs (headers only, bodies summarised)."""
    parts = []
    for key, value in message.items():
        if key == "content":
            continue
        if key.lower() in _SECRET_HEADERS:
            parts.append(f"{key}: (hidden)")
        elif isinstance(value, list):
            parts.append(f"{key}: [{len(value)} values]")
        else:
            parts.append(f"{key}: {value}")
    if message.content:
        parts.append(f"body: {message.content.count(chr(10))} lines")
    return ", ".join(parts)
