"""panoramisk's AMI protocol and manager, narrowed to one session: no reconnect, strict framing."""

from __future__ import annotations

import asyncio
import codecs
import logging
import re
from typing import Any, Callable
from urllib.parse import unquote

from panoramisk import actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager
from panoramisk.message import Message
from panoramisk.utils import EOL

from asterisk_ami.errors import (
    AmiError,
    ConnectionLost,
    EventFlood,
    NotAmiServer,
    ProtocolError,
    SendFailed,
    TlsPort,
    excerpt,
)

log = logging.getLogger("asterisk_ami.protocol")

GREETING_PREFIX = "Asterisk Call Manager/"
#: Longest greeting line we wait for before deciding the peer is not an AMI server.
MAX_GREETING = 256
#: A reply larger than this (a hostile or broken server) ends the session.
MAX_BUFFER = 8 * 1024 * 1024
#: What goes on the wire: Asterisk compares the bytes of manager.conf; we send UTF-8.
WIRE_ENCODING = "utf-8"
#: Unsolicited data a session without an event subscriber accepts: messages that answer no
#: request of ours (events, although the login said ``Events: off``). A healthy Asterisk sends
#: none, or one FullyBooted (1.4 with sendfullybooted); past these a PBX in an event storm (or a
#: hostile one) would keep the check parsing until its deadline, so the session ends at once.
MAX_UNSOLICITED_BYTES = 1024 * 1024
MAX_UNSOLICITED_MESSAGES = 10000
#: Frames parsed between two looks at the clock, so a flood cannot hold one callback past
#: the session's deadline for long.
CLOCK_EVERY = 256
#: The first bytes of a TLS record (handshake or alert), as a plain client decodes them.
_TLS_RECORDS = ("\x15\x03", "\x16\x03")

_HAS_BODY = ("Response: Follows", "Response: Fail")
#: Header lines already read, parsed: {line: (lower-case name, (name, value))}, emptied when
#: it holds MAX_LINES. The events of a list repeat most of their lines (ActionID, Event,
#: Channeltype, Status...): a line met again costs one lookup and its pair is shared, where
#: each message built its own (a 2,000-peer list took 6 MiB, a page fault per new page).
#: Only lines of up to MAX_LINE characters are kept: the cache lives as long as asterisk-watch,
#: and a server's long lines (up to the reply limit) must not pile up in it.
_LINES: dict[str, tuple[str, tuple[str, str]]] = {}
MAX_LINES = 4096
MAX_LINE = 160
_ABSENT = object()
_NONE = ("", "")
_END_OF_FOLLOWS = re.compile(r"--END COMMAND--\r?\n\r?\n")
_FOLLOWS_HEADER = re.compile(r"(Response|Privilege|ActionID|CommandID): ([^\r\n]*)\r?\n", re.I)


def _message(headers: dict[str, Any], content: str = "") -> Message:
    """``Message(headers, content=content)`` without its generic per-key update.

    A 2,000-peer list is 2,000 events: panoramisk's constructor goes through
    ``MutableMapping.update`` and a method call per header, a third of the cost of reading the
    list. This fills the same store ({lower-case name: (name, value)}, then the content) in one
    go; tests/test_fuzz.py holds it equal to panoramisk's for any headers.
    """
    message: Message = Message.__new__(Message)
    store = {key.lower(): (key, value) for key, value in headers.items()}
    store["content"] = ("content", content)
    message._store = store
    message.manager = None
    return message


def _from_line(text: str) -> Message | None:
    """``Message.from_line(text)`` (``text`` stripped), faster for the usual message: each
    header goes straight into the store. A reply with a body (``Response: Follows``/``Fail``)
    goes through panoramisk's own; one with a repeated or quoted header through _headers."""
    if text.startswith(_HAS_BODY):
        return Message.from_line(text)  # type: ignore[no-any-return]
    store: dict[str, tuple[str, Any]] = {}
    count = 0
    known_lines = _LINES
    for line in text.split(EOL):
        known = known_lines.get(line)
        if known is None:
            key, sep, value = line.partition(": ")
            if not sep:
                continue
            known = (key.lower(), (key, value))
            if len(line) <= MAX_LINE:
                if len(known_lines) >= MAX_LINES:
                    known_lines.clear()
                known_lines[line] = known
        store[known[0]] = known[1]
        count += 1
    if len(store) != count or "result" in store:  # a header repeated, or a Result
        return _headers(text)
    # panoramisk keeps a message with an Event or a Response header, names as written.
    if store.get("event", _NONE)[0] != "Event" and store.get("response", _NONE)[0] != "Response":
        return None
    store["content"] = ("content", "")
    message: Message = Message.__new__(Message)
    message._store = store
    message.manager = None
    return message


def _headers(text: str) -> Message | None:
    """_from_line for a message with repeated headers (a list of values) or a Result."""
    headers: dict[str, Any] = {}
    for line in text.split(EOL):
        key, sep, value = line.partition(": ")
        if not sep:
            continue
        if key.lower() == "result":  # panoramisk's one quoted header
            value = unquote(value).strip()
        old = headers.get(key, _ABSENT)
        if old is _ABSENT:
            headers[key] = value
        elif isinstance(old, list):
            old.append(value)
        else:
            headers[key] = [old, value]
    if "Event" in headers or "Response" in headers:
        return _message(headers)
    return None


def _ids(message: Message) -> tuple[Any, Any]:
    """panoramisk's ``(message.id, message.action_id)``: CommandID or ActionID, and ActionID."""
    store = message._store
    action = store.get("actionid")
    action_id = None if action is None else action[1]
    command = store.get("commandid")
    return (action_id if command is None else command[1]), action_id


class _Collecting:
    """panoramisk's Action reply collection, with ``multi`` worked out once per action (it
    depends only on the first reply) and ``completed`` read straight from the store: per event
    of a long list, panoramisk recomputed both through a dozen method calls."""

    responses: list[Message]
    #: ``multi`` once known (a class default: the Action's ``__getattr__`` answers "" for any
    #: attribute it lacks).
    _multi: bool | None = None

    @property
    def multi(self) -> bool:
        known = self._multi
        if known is None:
            known = self._multi = bool(super().multi)  # type: ignore[misc]
        return known

    @property
    def completed(self) -> bool:
        return _completes(self.responses[-1]._store, self.multi)

    def add_message(self, message: Message) -> bool | None:
        """Collect one reply; True once the reply is complete and handed over (panoramisk's
        rule: a list needs more than its first message, a single reply is that message)."""
        responses = self.responses
        responses.append(message)
        multi = self._multi
        if multi is None:
            multi = self.multi
        future: asyncio.Future[Any] = self.future  # type: ignore[attr-defined]
        if not _completes(message._store, multi) or future.done():
            return None
        if multi and len(responses) > 1:
            future.set_result(responses)
        elif not multi:
            future.set_result(responses[0])
        else:
            return False
        return True


def _completes(store: dict[str, tuple[str, Any]], multi: bool) -> bool:
    """panoramisk's ``Action.completed`` for a reply's store: a list's last event, a final
    response, or any reply to a single request. One lookup per header, no method calls: it runs
    for each event of a list."""
    event = store.get("event")
    if event is not None:
        if isinstance(event[1], list):
            # A repeated Event: panoramisk's property raises AttributeError, which its
            # __getattr__ turns into "": not complete, whatever the other headers say.
            return False
        if event[1].endswith("Complete"):
            return True
    sub = store.get("subevent")
    if sub is not None and sub[1] in ("End", "Exec"):
        return True
    response = store.get("response")
    return (response is not None and response[1] in _FINAL) or not multi


#: Responses that end a reply, list or not (panoramisk's ``Action.completed``).
_FINAL = ("Success", "Error", "Fail", "Failure")


class _Action(_Collecting, actions.Action):  # type: ignore[misc]
    pass


class _Command(_Collecting, actions.Command):  # type: ignore[misc]
    pass


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

    def __init__(
        self,
        manager: OneShotManager,
        on_failure: Callable[[AmiError], None],
        *,
        plain: bool = True,
        subscribed: bool = False,
        read_until: float | None = None,
    ) -> None:
        """``plain``: no TLS (a TLS answer is then told apart); ``subscribed``: someone takes
        the events (no limit on them); ``read_until``: the loop time after which nothing more
        is read (the session's deadline: a flood must not keep the loop from its timers)."""
        super().__init__()
        self._manager = manager
        self._on_failure = on_failure
        self._decoder = codecs.getincrementaldecoder(WIRE_ENCODING)("replace")
        self._buffer = ""
        self._broken = False
        self.plain = plain
        self.subscribed = subscribed
        self.read_until = read_until
        self.unsolicited_bytes = 0
        self.unsolicited_messages = 0
        self.heard = False  # any byte from the server yet
        self.probed = False  # plain text sent before any greeting (see probe_for_tls)
        self.greeting: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.factory = self._manager
        self.log = log
        self.encoding = WIRE_ENCODING
        self._manager.protocol = self
        self._manager.responses = self.responses

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.greeting.done():
            reason = f" ({exc})" if exc else ""
            if self.probed:  # a TLS listener closes on plain text (OpenSSL sends no alert)
                self.greeting.set_exception(
                    TlsPort(f"it closed the connection when sent plain text{reason}")
                )
            else:
                self.greeting.set_exception(
                    ConnectionLost(f"the server closed the connection before its greeting{reason}")
                )
        super().connection_lost(exc)

    def probe_for_tls(self) -> None:
        """Send plain text to a server that has said nothing: an AMI server answers it after its
        greeting, a TLS listener fails its handshake and closes (or sends a TLS alert).

        The text is a Challenge: the one request Asterisk 1.4 to 22 accepts before login with no
        security event (an empty line would be a RequestBadFormat, fail2ban's food).
        """
        self.probed = True
        self.send({"Action": "Challenge", "AuthType": "MD5"})

    def _fail(self, error: AmiError) -> None:
        """Stop reading: the session ends with ``error`` (it may still send its Logoff)."""
        self._broken = True
        self._buffer = ""
        if not self.greeting.done():
            self.greeting.set_exception(error)
            self.transport.abort()  # not logged in: nothing to say before closing
        self._on_failure(error)

    def send(self, data: Any, as_list: bool | None = False) -> asyncio.Future[Any]:
        """panoramisk's send, except that a request that cannot be written ends the session.

        panoramisk logs a failed write with the whole action in clear (the secret too) and
        leaves its reply pending for ever; here nothing is logged and the session fails.
        """
        if isinstance(data, actions.Action):
            action = data
        else:
            kind = _Command if "Command" in data else _Action
            action = kind(data, as_list=as_list)
        action.as_list = as_list
        name = str(action.get("Action", "a request"))
        try:
            self.transport.write(str(action).encode(WIRE_ENCODING))
        except UnicodeError:
            self._fail(SendFailed(f"cannot send {name}: a value is not valid UTF-8 text"))
        except Exception as exc:  # whatever the transport raises ends the session
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            self._fail(SendFailed(f"cannot send {name}: {reason}"))
        else:
            self.responses[action.id] = action
            if action.action_id:
                self.responses[action.action_id] = action
        return action.future  # type: ignore[no-any-return]

    def data_received(self, data: bytes) -> None:
        if self._broken:
            return
        self.heard = True
        self._buffer += self._decoder.decode(data)
        if len(self._buffer) > MAX_BUFFER:
            self._fail(ProtocolError(f"AMI reply exceeds {MAX_BUFFER // 1048576} MiB"))
            return
        if not self.greeting.done() and not self._read_greeting():
            return
        self._read_messages()

    def _expired(self) -> bool:
        """Past the session's deadline: stop reading, so the loop runs the deadline's timer."""
        if self.read_until is None or self._loop_time() < self.read_until:
            return False
        self.transport.pause_reading()
        return True

    @staticmethod
    def _loop_time() -> float:
        return asyncio.get_running_loop().time()

    def _read_messages(self) -> None:
        """Parse and hand on every complete message in the buffer (cut once, at the end).

        _next_frame, _ids and whether a message answers a request are written out here: the
        loop runs for each of the thousands of events of a long list."""
        buffer, pos, parsed = self._buffer, 0, 0
        debug = log.isEnabledFor(logging.DEBUG)  # a description per message only when shown
        responses = self.responses
        size = len(buffer)
        try:
            while not self._broken:
                if parsed % CLOCK_EVERY == 0 and self._expired():
                    return
                while pos < size and buffer[pos] in "\r\n":
                    pos += 1
                if buffer.startswith("Response: Follows", pos):
                    frame, end = _next_frame(buffer, pos)
                    if frame is None:
                        return
                    message = self._parse(frame)
                else:
                    end = buffer.find("\r\n\r\n", pos)
                    if end < 0:
                        return
                    end += 4
                    frame = buffer[pos:end]
                    message = _from_line(frame.strip())
                pos = end
                parsed += 1
                if message is None:
                    self._fail(ProtocolError(f"not an AMI message: {excerpt(frame)}"))
                    return
                if debug:
                    log.debug("received %s", _describe(message))
                store = message._store
                item = store.get("actionid")
                action_id = None if item is None else item[1]
                item = store.get("commandid")
                message_id = action_id if item is None else item[1]
                if not self.subscribed and not (
                    (message_id is not None and message_id in responses)
                    or (action_id is not None and action_id in responses)
                ):
                    self._count_unsolicited(len(frame))
                    if self._broken:
                        return
                self._handle(message, message_id, action_id)
        finally:
            if not self._broken:
                self._buffer = buffer[pos:]

    def handle_message(self, message: Message) -> None:
        self._handle(message, *_ids(message))

    def _handle(self, message: Message, message_id: Any, action_id: Any) -> None:
        """panoramisk's handle_message, with the message's ids read once: a reply goes to the
        action that asked for it, any other event to the manager's subscribers."""
        responses = self.responses
        action = responses.get(message_id)
        if action is None and action_id:
            action = responses.get(action_id)
        if action is not None:
            if action.add_message(message):  # complete: forget the action
                responses.pop(action.id)
                if action.action_id:
                    responses.pop(action.action_id, None)
        elif "event" in message._store:
            if message["event"].lower() == "shutdown":
                self.connection_lost(message)
            self.factory.dispatch(message)

    def _count_unsolicited(self, size: int) -> None:
        self.unsolicited_bytes += size
        self.unsolicited_messages += 1
        if self.unsolicited_messages > MAX_UNSOLICITED_MESSAGES:
            what = f"{MAX_UNSOLICITED_MESSAGES} events"
        elif self.unsolicited_bytes > MAX_UNSOLICITED_BYTES:
            what = f"{MAX_UNSOLICITED_BYTES // 1048576} MiB of events"
        else:
            return
        self._fail(EventFlood(f"sent more than {what} not asked for (the login said Events: off)"))

    def _read_greeting(self) -> bool:
        if self.plain and self._buffer.startswith(_TLS_RECORDS):
            self._fail(TlsPort("it answers in TLS"))
            return False
        if self.plain and not _text(self._buffer[:MAX_GREETING]):
            self._fail(TlsPort(f"it greets with {excerpt(self._buffer)}, not text"))
            return False
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

    @staticmethod
    def _parse(frame: str) -> Message | None:
        if not frame.startswith("Response: Follows"):
            return _from_line(frame.strip())
        headers: dict[str, str] = {}
        pos = 0
        while match := _FOLLOWS_HEADER.match(frame, pos):
            headers[match.group(1)] = match.group(2)
            pos = match.end()
        body = _END_OF_FOLLOWS.sub("--END COMMAND--\n", frame[pos:])
        return _message(headers, body)


#: Headers whose values never reach a log: PJSIP's AuthDetail events (sent by
#: PJSIPShowRegistrationsOutbound and PJSIPShowEndpoint) carry the plain-text password.
_SECRET_HEADERS = frozenset(
    {"password", "md5cred", "passworddigest", "oauthsecret", "refreshtoken", "secret", "key"}
)


def _next_frame(buffer: str, pos: int) -> tuple[str | None, int]:
    """The next complete message from ``pos`` and where the one after starts; (None, pos)
    to wait for more. Positions, not slices: a buffer of many small events is copied once."""
    while pos < len(buffer) and buffer[pos] in "\r\n":
        pos += 1
    if buffer.startswith("Response: Follows", pos):
        match = _END_OF_FOLLOWS.search(buffer, pos)
        if match is None:
            return None, pos
        end = match.end()
    else:
        blank = buffer.find("\r\n\r\n", pos)
        if blank < 0:
            return None, pos
        end = blank + 4
    return buffer[pos:end], end


def _text(text: str) -> bool:
    """Whether the start of a greeting is text (TLS records and other binary are not)."""
    return all(c.isprintable() or c in "\r\n\t" for c in text) and "\ufffd" not in text


def wire_encodable(text: str) -> bool:
    """Whether ``text`` can go on the wire (a str from argv or the environment may carry
    undecodable bytes as surrogates)."""
    try:
        text.encode(WIRE_ENCODING)
    except UnicodeError:
        return False
    return True


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
