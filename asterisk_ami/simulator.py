"""An AMI server on loopback that behaves as a chosen Asterisk version, for tests and the demo.

It serves CLI output from fixture files (``<fixtures>/<version>/<scenario>/<words_joined>.txt``,
and replies to other actions from ``action_<Name>.txt``;
a missing file is a command that is not registered) and can misbehave on purpose.

Sessions that logged in with events on receive the events a test makes happen
(:meth:`Simulator.emit`, :meth:`Simulator.set_scenario`, :meth:`Simulator.restart`), filtered
by the classes of their ``Events:`` header as Asterisk does. Out of process, ``--control
PATH`` takes the same orders, one line each, on a Unix socket (see :meth:`Simulator.control`).

A scenario may join directories with ``+`` (``pri_all_up+fxo_ok+dahdi_all_ok``): each file is
looked up in them in that order, so one PBX can serve every check.

:class:`Farm` plays many PBXs from one process (``--pbxs N``), each on its own port with its
own state and events, and can flip a share of them in and out of a span alarm at random
moments, for the scale benchmark.

    python -m asterisk_ami.simulator --asterisk 18 --scenario pri_all_up --port 5038
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import socket
import ssl
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

CRLF = "\r\n"
#: What the "garbage" failure answers: binary noise in an AMI-sized frame (fixed, so tests
#: can assert the exact status line).
GARBAGE = b"\x00\xff\xfe\x13garbage\x80\x81 line noise\x07\r\n\xde\xad\xbe\xef\r\n\r\n"


@dataclass(frozen=True)
class Profile:
    """What differs between Asterisk versions on the AMI wire (reference: asterisk-formats §6)."""

    release: str
    ami_version: str
    #: Asterisk 14+ answers Command with Output: headers; 1.4-13 with Response: Follows.
    output_headers: bool
    help_hint: str  # how "No such command" points to help
    unknown_action: str
    before_auth: str
    #: 1.4.42+ with sendfullybooted=yes sends FullyBooted even with Events: off.
    fullybooted_always: bool = False
    #: 1.4's get_input() accepts only CRLF line ends from clients.
    crlf_only: bool = False

    @property
    def ping_lines(self) -> tuple[str, ...]:
        """The reply to Ping after its ActionID, ``{now}`` for the time (asterisk-formats
        §6.2; 1.8+ captured from 13, 20 and 22). 1.4 answers ``Response: Pong``."""
        if self.release.startswith("1.6."):
            return ("Ping: Pong",)
        return ("Ping: Pong", "Timestamp: {now:.6f}")

    @property
    def boot_times(self) -> bool:
        """14+ put Uptime and LastReload in FullyBooted (captured from 20 and 22)."""
        return self.output_headers


_UNKNOWN = "Invalid/unknown command: {action}. Use Action: ListCommands to show available commands."
PROFILES: dict[str, Profile] = {
    "1.4": Profile(
        "1.4.44",
        "1.0",
        False,
        "help",
        "Invalid/unknown command",
        "Authentication Required",
        fullybooted_always=True,
        crlf_only=True,
    ),
    "1.6": Profile("1.6.2.24", "1.1", False, "core show help", _UNKNOWN, "Permission denied"),
    "1.8": Profile("1.8.32.3", "1.1", False, "core show help", _UNKNOWN, "Permission denied"),
    "11": Profile("11.25.3", "1.3", False, "core show help", _UNKNOWN, "Permission denied"),
    "13": Profile("13.38.3", "2.10.6", False, "core show help", _UNKNOWN, "Permission denied"),
    # 14.0.0 announced 2.8.0, lower than late 13.x: the banner cannot tell the reply format.
    "14": Profile("14.7.8", "2.8.0", True, "core show help", _UNKNOWN, "Permission denied"),
    "16": Profile("16.30.1", "5.0.5", True, "core show help", _UNKNOWN, "Permission denied"),
    "18": Profile("18.26.4", "7.0.3", True, "core show help", _UNKNOWN, "Permission denied"),
    "20": Profile("20.15.2", "9.0.0", True, "core show help", _UNKNOWN, "Permission denied"),
    "22": Profile("22.5.2", "11.0.0", True, "core show help", _UNKNOWN, "Permission denied"),
}

#: Ways to misbehave. Each names what a broken or hostile server really does.
FAILURES = {
    "none": "behave like Asterisk",
    "no-permission": "log in, but answer Command with 'Permission denied' (no write = command)",
    "silent": "accept TCP and never send a byte",
    "not-ami": "greet like an SSH server",
    "close-on-connect": "accept TCP and close at once (manager.conf deny, connection limit)",
    "stall-login": "greet, then never answer the login",
    "stall": "log in, then never answer a request",
    "stall-mid-reply": "log in, send half of each reply, then nothing",
    "close-mid-reply": "log in, send half of the first reply, then close",
    "garbage": "log in, then answer requests with bytes that are not AMI",
    "no-goodbye": "answer everything, but ignore Logoff",
    "http": "be a web server: wait for a request, answer 400 Bad Request, close",
    "huge-reply": "log in, then answer requests with 10 MB of output",
    "drip": "send everything one byte every 100 ms",
    "tls-alert": "be a TLS stack that answers the first plain bytes with a TLS alert, and closes",
    "flood": "log in, then send small events without end (Events: off ignored), answer nothing",
}
HUGE_REPLY_BYTES = 10 * 1024 * 1024
#: What the "tls-alert" failure answers: a fatal protocol_version alert record (TLS 1.0 header).
TLS_ALERT = b"\x15\x03\x01\x00\x02\x02\x46"
#: One event of the "flood" failure: small, as a PBX in an event storm sends them (VarSet).
FLOOD_EVENT = (
    "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: DAHDI/1-1\r\n"
    "Variable: LOOP\r\nValue: 1\r\nUniqueid: 1700000000.1\r\n\r\n"
)


#: The scenarios shipped with the package (package data: a plain pip install has them).
SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def default_fixtures() -> Path:
    """The scenarios shipped with the package, or $ISP_PLUGINS_FIXTURES when set."""
    env = os.environ.get("ISP_PLUGINS_FIXTURES")
    return Path(env) if env else SCENARIOS


@dataclass
class Simulator:
    """The server's configuration, and a record of every action it received."""

    asterisk: str = "18"
    scenario: str = "pri_all_up"
    fixtures: Path = field(default_factory=default_fixtures)
    username: str = "monitor"
    secret: str = "s3cret"
    failure: str = "none"
    auth_delay: float = 1.0  # Asterisk sleeps 1 s before answering a failed login
    trickle: bool = False  # deliver every reply 3 bytes at a time
    tls: ssl.SSLContext | None = None  # serve AMI over TLS with this server context
    received: list[dict[str, str]] = field(default_factory=list)
    #: When each of ``received`` arrived (time.monotonic(): the same clock in every process).
    received_at: list[float] = field(default_factory=list)
    connections: int = 0
    #: What each test-made change did and when (time.time()), for the latency benchmark.
    changes: list[tuple[float, str]] = field(default_factory=list)
    #: Keep every received action in ``received`` (False: only the logins, for a farm of
    #: thousands of PBXs answering for hours).
    record: bool = True
    #: Read each fixture file once (a farm); by default every request reads it again.
    cache_files: bool = False

    def __post_init__(self) -> None:
        if self.asterisk not in PROFILES:
            raise ValueError(f"unknown Asterisk version {self.asterisk!r}; know {sorted(PROFILES)}")
        if self.failure not in FAILURES:
            raise ValueError(f"unknown failure {self.failure!r}; know {sorted(FAILURES)}")
        self.profile = PROFILES[self.asterisk]
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._background: set[asyncio.Future[None]] = set()
        #: Connected clients; after login, the event classes they asked for.
        self._clients: dict[asyncio.StreamWriter, frozenset[str]] = {}
        self._host = "127.0.0.1"
        self.port = 0
        self._born = time.monotonic()
        self._files: dict[Path, str | None] = {}

    # -- fixtures -----------------------------------------------------------------------
    def scenario_dirs(self, scenario: str | None = None) -> list[Path]:
        """The directories of a scenario: one, or several joined with ``+``, in lookup order."""
        names = (scenario or self.scenario).split("+")
        return [self.fixtures / self.asterisk / name for name in names]

    def _fixture(self, name: str) -> str | None:
        """The text of fixture file ``name`` in the first scenario directory that has it."""
        for directory in self.scenario_dirs():
            path = directory / name
            if self.cache_files:
                if path not in self._files:
                    self._files[path] = path.read_text(encoding="utf-8") if path.is_file() else None
                text = self._files[path]
            else:
                text = path.read_text(encoding="utf-8") if path.is_file() else None
            if text is not None:
                return text
        return None

    def cli_output(self, command: str) -> str | None:
        """The fixture text for a CLI command, or None when no such command is registered."""
        words = command.split()
        if not words or any(not w.replace("-", "").replace(".", "").isalnum() for w in words):
            return None
        return self._fixture("_".join(words) + ".txt")

    def action_reply(self, action: str, action_id: str, subject: str = "") -> str | None:
        """The recorded reply to a non-Command action, or None when it is not registered.

        ``action_<Name>.txt`` holds the reply as Asterisk writes it, with LF line ends and
        ``ActionID: 42`` where the request's ActionID goes (dropped when the request had none).
        An action about one object (``Endpoint: NAME``) is answered from
        ``action_<Name>_<NAME>.txt`` when that file exists.
        """
        if not action.isalnum():
            return None
        name = f"action_{action}.txt"
        if subject and subject.replace("-", "").replace("_", "").isalnum():
            name = f"action_{action}_{subject}.txt"
        text = self._fixture(name)
        if text is None:
            return None
        text = text.replace("ActionID: 42\n", f"ActionID: {action_id}\n" if action_id else "")
        return text.replace("\n", CRLF)

    def no_such_command(self, command: str) -> str:
        best = " ".join(command.split()[:-1]) or command
        hint = self.profile.help_hint
        return f"No such command '{command}' (type '{hint} {best}' for other possible commands)\n"

    # -- wire formats -------------------------------------------------------------------
    def command_reply(self, action_id: str, command: str) -> str:
        text = self.cli_output(command)
        if text is None:
            return self.command_reply_text(action_id, self.no_such_command(command), False)
        # A handler that returned CLI_FAILURE ends its text so (1.6+); 14+ then says Error.
        failed = text.rstrip("\n").endswith(f"Command '{command}' failed.")
        return self.command_reply_text(action_id, text, not failed)

    def command_reply_text(self, action_id: str, text: str, ok: bool) -> str:
        """The reply to Command carrying ``text``, in this version's format."""
        aid = f"ActionID: {action_id}{CRLF}" if action_id else ""
        if not self.profile.output_headers:
            head = f"Response: Follows{CRLF}Privilege: Command{CRLF}{aid}"
            return f"{head}{text}--END COMMAND--{CRLF}{CRLF}"
        body = text[:-1] if text.endswith("\n") else text
        lines = "".join(f"Output: {line}{CRLF}" for line in body.split("\n"))
        head = "Success" if ok else "Error"
        return f"Response: {head}{CRLF}{aid}Message: Command output follows{CRLF}{lines}{CRLF}"

    def fully_booted(self) -> str:
        lines = ["Event: FullyBooted", "Privilege: system,all"]
        if self.profile.boot_times:
            uptime = int(time.monotonic() - self._born)
            lines += [f"Uptime: {uptime}", f"LastReload: {uptime}"]
        return CRLF.join([*lines, "Status: Fully Booted"]) + CRLF + CRLF

    def ping(self, action_id: str) -> str:
        if self.profile.release.startswith("1.4."):
            return self.response(action_id, "Pong")
        lines = [line.format(now=time.time()) for line in self.profile.ping_lines]
        return self.response(action_id, "Success", **dict(line.split(": ", 1) for line in lines))

    @staticmethod
    def response(action_id: str, status: str, **headers: str) -> str:
        aid = f"ActionID: {action_id}{CRLF}" if action_id else ""
        extra = "".join(f"{k}: {v}{CRLF}" for k, v in headers.items())
        return f"Response: {status}{CRLF}{aid}{extra}{CRLF}"

    async def _send(self, writer: asyncio.StreamWriter, data: str | bytes) -> None:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        if self.failure == "drip":
            for index in range(len(raw)):
                writer.write(raw[index : index + 1])
                await writer.drain()
                await asyncio.sleep(0.1)
            return
        if not self.trickle:
            writer.write(raw)
            return
        for start in range(0, len(raw), 3):  # 3-byte reads split CRLFs and UTF-8 sequences
            writer.write(raw[start : start + 3])
            await writer.drain()
            await asyncio.sleep(0)

    # -- one client ---------------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._clients[writer] = frozenset()
        try:
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._clients.pop(writer, None)
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        fail = self.failure
        if fail == "close-on-connect":
            return
        if fail == "silent":
            await reader.read()  # until the client gives up
            return
        if fail == "http":
            await reader.readline()
            await self._send(writer, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        if fail == "tls-alert":
            await reader.read(1)  # a TLS server waits for the client's first record
            await self._send(writer, TLS_ALERT)
            await writer.drain()
            return
        if fail == "not-ami":
            await self._send(writer, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
            await reader.read()
            return
        await self._send(writer, f"Asterisk Call Manager/{self.profile.ami_version}{CRLF}")
        authenticated = False
        challenge = ""
        while True:
            action = await self._read_action(reader)
            if action is None:
                return
            name = action.get("action", "").lower()
            if self.record or name == "login":
                self.received.append(action)
                self.received_at.append(time.monotonic())
            aid = action.get("actionid", "")
            if name == "login":
                if fail == "stall-login":
                    continue
                if action.get("authtype", "").lower() == "md5":
                    expected = hashlib.md5((challenge + self.secret).encode()).hexdigest()
                    good = bool(challenge) and action.get("key", "").lower() == expected
                else:
                    good = action.get("secret") == self.secret
                if not (good and action.get("username") == self.username):
                    await asyncio.sleep(self.auth_delay)
                    await self._send(
                        writer, self.response(aid, "Error", Message="Authentication failed")
                    )
                    await writer.drain()
                    return
                authenticated = True
                await self._send(
                    writer, self.response(aid, "Success", Message="Authentication accepted")
                )
                mask = event_mask(action.get("events", "on"))
                self._clients[writer] = mask
                if fail == "flood":
                    self._in_background(self._flood(writer))
                if mask & {"all", "system"} or self.profile.fullybooted_always:
                    await self._send(writer, self.fully_booted())
            elif name == "challenge":
                if action.get("authtype", "").lower() != "md5":
                    await self._send(
                        writer, self.response(aid, "Error", Message="Must specify AuthType")
                    )
                else:
                    challenge = str(random.randint(10**8, 10**9))
                    await self._send(writer, self.response(aid, "Success", Challenge=challenge))
            elif name == "logoff":
                if fail == "no-goodbye":
                    continue
                await self._send(
                    writer, self.response(aid, "Goodbye", Message="Thanks for all the fish.")
                )
                await writer.drain()
                return
            elif name == "ping":
                await self._send(writer, self.ping(aid))
            elif not authenticated:
                await self._send(
                    writer, self.response(aid, "Error", Message=self.profile.before_auth)
                )
            elif name == "command":
                if not await self._answer_command(writer, aid, action.get("command", "")):
                    return
            elif (
                reply := self.action_reply(
                    action.get("action", ""), aid, action.get("endpoint", "")
                )
            ) is not None:
                if not await self._answer(writer, aid, reply):
                    return
            else:
                message = self.profile.unknown_action.format(action=action.get("action", ""))
                await self._send(writer, self.response(aid, "Error", Message=message))
            if fail != "flood":  # the flood fills the buffer: waiting here would stop reading
                await writer.drain()

    async def _answer_command(self, writer: asyncio.StreamWriter, aid: str, command: str) -> bool:
        """Answer one Command; False when the connection must end."""
        if self.failure == "no-permission":  # Command needs write = command; most actions don't
            await self._send(writer, self.response(aid, "Error", Message="Permission denied"))
            return True
        return await self._answer(writer, aid, self.command_reply(aid, command))

    async def _answer(self, writer: asyncio.StreamWriter, aid: str, reply: str) -> bool:
        """Send the reply to a request after login, misbehaving as configured.

        False when the connection must end.
        """
        fail = self.failure
        if fail in ("stall", "flood"):
            return True
        if fail == "garbage":
            await self._send(writer, GARBAGE)
            return True
        if fail == "huge-reply":  # written in the background: keep reading (a Logoff) meanwhile
            line = "PRI span 1/0: Up, Active\n"
            reply = self.command_reply_text(aid, line * (HUGE_REPLY_BYTES // len(line)), True)
            self._in_background(self._send(writer, reply))
            return True
        if fail in ("stall-mid-reply", "close-mid-reply"):
            await self._send(writer, reply[: len(reply) // 2])
            await writer.drain()
            return fail == "stall-mid-reply"
        await self._send(writer, reply)
        return True

    def _in_background(self, coro: Any) -> None:
        """Run ``coro`` beside the conversation (keep reading requests, a Logoff, meanwhile)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _flood(self, writer: asyncio.StreamWriter) -> None:
        """Events as fast as the client reads them, until it goes."""
        block = (FLOOD_EVENT * (65536 // len(FLOOD_EVENT))).encode()
        with contextlib.suppress(ConnectionError):
            while not writer.is_closing():
                writer.write(block)
                await writer.drain()
                # drain() does not yield while the buffer is below its limit: without this,
                # the flood starves the conversation, which must still read a Logoff.
                await asyncio.sleep(0)

    async def _read_action(self, reader: asyncio.StreamReader) -> dict[str, str] | None:
        """Read one action; header names lower-cased. None at end of stream."""
        lines: list[str] = []
        while True:
            raw = await reader.readline()
            if not raw:
                return None
            if self.profile.crlf_only and not raw.endswith(b"\r\n"):
                continue  # 1.4 would keep waiting for a CRLF; a bare LF line is lost
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line:
                lines.append(line)
            elif lines:
                break
        action: dict[str, str] = {}
        for line in lines:
            key, _, value = line.partition(":")
            action[key.strip().lower()] = value.strip()
        return action

    # -- events and changes made by a test ------------------------------------------------
    async def _emit(self, event: str, privilege: str, headers: dict[str, str]) -> int:
        classes = {c.strip().lower() for c in privilege.split(",")} - {"all"}
        lines = [f"Event: {event}", f"Privilege: {privilege}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        text = CRLF.join(lines) + CRLF + CRLF
        sent = 0
        for writer, mask in list(self._clients.items()):
            if "all" in mask or classes & mask:
                await self._send(writer, text)
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
                sent += 1
        return sent

    async def _restart(self, down: float) -> None:
        """Shutdown event, every connection closed, no listener for ``down`` s, then back."""
        await self._emit("Shutdown", "system,all", {"Shutdown": "Cleanly", "Restart": "True"})
        if self._server is not None:
            self._server.close()
        for writer in list(self._clients):
            writer.close()
        await asyncio.sleep(down)
        self._server = await asyncio.start_server(
            self.handle, self._host, self.port, ssl=self.tls, reuse_address=True
        )
        self.changes.append((time.time(), "restarted"))

    def _call(self, coro: Any) -> Any:
        """Run a coroutine on the server's loop, from its thread or from any other."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the simulator is not running")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return asyncio.ensure_future(coro)
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

    def emit(self, event: str, privilege: str = "system,all", **headers: str) -> Any:
        """Send an event to every session whose Events classes cover ``privilege``."""
        self.changes.append((time.time(), f"event {event}"))
        return self._call(self._emit(event, privilege, dict(headers)))

    def set_scenario(self, scenario: str, *events: dict[str, str]) -> None:
        """Serve another fixture directory from now on (a span fails, a line comes back),
        then send ``events`` (each a dict with ``Event`` and its headers), as Asterisk would."""
        for directory in self.scenario_dirs(scenario):
            if not directory.is_dir():
                raise ValueError(f"no fixtures at {directory}")
        self.scenario = scenario
        self.changes.append((time.time(), f"scenario {scenario}"))
        for event in events:
            headers = dict(event)
            name = headers.pop("Event")
            privilege = headers.pop("Privilege", "system,all")
            self._call(self._emit(name, privilege, headers))

    def restart(self, down: float = 0.5) -> Any:
        """Behave as an Asterisk restart: Shutdown event, connections closed, back after
        ``down`` seconds on the same port."""
        return self._call(self._restart(down))

    def control(self, line: str) -> str:
        """One order from the control socket: ``scenario NAME [EVENT [KEY=VALUE...]]``,
        ``emit EVENT [KEY=VALUE...]``, ``restart [SECONDS]``, ``logins``. Returns the answer."""
        words = line.split()
        if not words:
            return "error: empty order"
        order, args = words[0].lower(), words[1:]
        try:
            if order == "scenario" and args:
                events = []
                if len(args) > 1:
                    headers = dict(a.split("=", 1) for a in args[2:] if "=" in a)
                    events.append({"Event": args[1], **headers})
                self.set_scenario(args[0], *events)
            elif order == "emit" and args:
                headers = dict(a.split("=", 1) for a in args[1:] if "=" in a)
                self.emit(args[0], **headers)
            elif order == "restart":
                self.restart(float(args[0]) if args else 0.5)
            elif order == "logins":
                return f"ok {len(self.actions('Login'))}"
            else:
                return f"error: unknown order {line.strip()!r}"
        except (ValueError, RuntimeError) as exc:
            return f"error: {exc}"
        return "ok"

    async def serve_control(self, path: str) -> asyncio.AbstractServer:
        """Take :meth:`control` orders on a Unix socket at ``path``."""

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while line := await reader.readline():
                    answer = await self._control_async(line.decode("utf-8", "replace"))
                    writer.write((answer + "\n").encode())
                    await writer.drain()
            finally:
                writer.close()

        return await asyncio.start_unix_server(client, path)

    async def _control_async(self, line: str) -> str:
        answer = self.control(line)
        await asyncio.sleep(0)  # let the events scheduled by the order go out
        return answer

    # -- running ------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._loop = asyncio.get_running_loop()
        self._host = host
        self._server = await asyncio.start_server(self.handle, host, port, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve from a background thread with its own event loop; return the port."""
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            loop.run_until_complete(self.start(host, port))
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name="ami-simulator", daemon=True)
        self._thread.start()
        ready.wait(5)
        return self.port

    def stop(self) -> None:
        if self._loop is None or self._server is None:
            return
        _shut_down(self._loop, [self], self._thread, 5)

    def actions(self, name: str) -> list[dict[str, str]]:
        """The received actions called ``name`` (case-insensitive)."""
        return [a for a in self.received if a.get("action", "").lower() == name.lower()]


def event_mask(value: str) -> frozenset[str]:
    """The event classes an ``Events:`` login header asks for (``all`` for on or a number)."""
    text = value.strip().lower()
    if text in ("off", "no", "false", "0", ""):
        return frozenset()
    if text in ("on", "yes", "true") or text.isdigit():
        return frozenset({"all"})
    return frozenset(c.strip() for c in text.split(",") if c.strip())


#: A farm PBX's span alarm (span 3, as ``pri_span3_alarm`` shows it) and its end: the events
#: Asterisk 12+ sends.
ALARM_EVENT = {"Event": "SpanAlarm", "Span": "3", "Alarm": "Red Alarm"}
CLEAR_EVENT = {"Event": "SpanAlarmClear", "Span": "3"}
#: The farm's PBXs serve every check's commands: PRI spans, FXO lines and DAHDI spans.
FARM_SCENARIO = "pri_all_up+fxo_ok+dahdi_all_ok"
FARM_ALARM_SCENARIO = "pri_span3_alarm+fxo_ok+dahdi_all_ok"
#: The failure of a farm PBX whose port nothing listens on (a dead PBX: connection refused).
REFUSED = "refused"


def _shut_down(
    loop: asyncio.AbstractEventLoop,
    sims: list[Simulator],
    thread: threading.Thread | None,
    join: float,
) -> None:
    """Stop a loop running in ``thread``: close the simulators' listeners, cancel every task
    on it, stop it, and wait up to ``join`` seconds for the thread."""

    async def shutdown() -> None:
        for sim in sims:
            if sim._server is not None:
                sim._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        loop.stop()

    asyncio.run_coroutine_threadsafe(shutdown(), loop)
    if thread is not None:
        thread.join(join)


class Farm:
    """Many PBXs from one process and one event loop, each a :class:`Simulator` on its own
    port: a PBX that misbehaves before the login (silent, refusing, not AMI) does so alone,
    as a real one at its own address would, and the watcher's configuration is the real one.

    Names are ``PREFIX00001``... (from ``first``: several farms make one set of names);
    ``failures`` makes some of them misbehave (any of
    :data:`FAILURES`, or :data:`REFUSED`). :meth:`flip` moves a PBX in or out of its span
    alarm; :meth:`flap` does it at random moments for a share of the PBXs. Each flip is
    recorded in ``changes`` as (time.time(), name, "alarm" or "clear", "event" or "silent"),
    and written to ``changes_file`` when set, for the benchmark's latencies.
    """

    def __init__(
        self,
        count: int,
        asterisk: str = "18",
        scenario: str = FARM_SCENARIO,
        alarm_scenario: str = FARM_ALARM_SCENARIO,
        fixtures: Path | None = None,
        secret: str = "s3cret",
        auth_delay: float = 1.0,
        failures: dict[str, str] | None = None,
        prefix: str = "pbx",
        first: int = 1,
    ) -> None:
        self.scenario = scenario
        self.alarm_scenario = alarm_scenario
        self.failures = dict(failures or {})
        width = max(5, len(str(first + count - 1)))
        self.names = [f"{prefix}{index:0{width}d}" for index in range(first, first + count)]
        unknown = set(self.failures) - set(self.names)
        if unknown:
            raise ValueError(f"no such PBX: {sorted(unknown)[0]}")
        self.pbxs: dict[str, Simulator] = {}
        for name in self.names:
            failure = self.failures.get(name, "none")
            self.pbxs[name] = Simulator(
                asterisk=asterisk,
                scenario=scenario,
                fixtures=fixtures or default_fixtures(),
                secret=secret,
                failure="none" if failure == REFUSED else failure,
                auth_delay=auth_delay,
                record=False,
                cache_files=True,
            )
        for directory in self.pbxs[self.names[0]].scenario_dirs(alarm_scenario):
            if not directory.is_dir():
                raise ValueError(f"no fixtures at {directory}")
        self.ports: dict[str, int] = {}
        self.alarmed: set[str] = set()
        self.changes: list[tuple[float, str, str, str]] = []
        self.changes_file: TextIO | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._flapping: asyncio.Future[None] | None = None

    # -- running ------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1") -> dict[str, int]:
        """Listen for every PBX (a refusing one gets a port nobody listens on); their ports."""
        self._loop = asyncio.get_running_loop()
        for name, sim in self.pbxs.items():
            if self.failures.get(name) == REFUSED:
                self.ports[name] = _unused_port(host)
            else:
                self.ports[name] = await sim.start(host, 0)
        return dict(self.ports)

    def start_in_thread(self, host: str = "127.0.0.1") -> dict[str, int]:
        """Serve from a background thread with its own event loop; return the ports."""
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            loop.run_until_complete(self.start(host))
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name="ami-farm", daemon=True)
        self._thread.start()
        ready.wait(60)
        return dict(self.ports)

    def stop(self) -> None:
        if self._loop is None:
            return
        _shut_down(self._loop, list(self.pbxs.values()), self._thread, 10)

    def logins(self) -> int:
        """Logins received, over every PBX."""
        return sum(len(sim.actions("Login")) for sim in self.pbxs.values())

    # -- alarms -------------------------------------------------------------------------
    def flip(self, name: str, event: bool = True) -> str:
        """Move ``name`` in or out of its span alarm, with the event Asterisk sends (or, with
        ``event`` False, none: a layer-2 drop only the interval sees). Call it on the farm's
        loop (or through :meth:`control`). Returns the new state, "alarm" or "clear"."""
        sim = self.pbxs[name]
        state = "clear" if name in self.alarmed else "alarm"
        if state == "alarm":
            self.alarmed.add(name)
        else:
            self.alarmed.discard(name)
        sim.scenario = self.alarm_scenario if state == "alarm" else self.scenario
        change = (time.time(), name, state, "event" if event else "silent")
        self.changes.append(change)
        if self.changes_file is not None:
            when, name, state, how = change
            self.changes_file.write(f"{when:.6f} {name} {state} {how}\n")
            self.changes_file.flush()
        if event:
            headers = dict(ALARM_EVENT if state == "alarm" else CLEAR_EVENT)
            kind = headers.pop("Event")
            sim._in_background(sim._emit(kind, "system,all", headers))
        return state

    def flappers(self, share: float, seed: int = 0) -> list[str]:
        """The PBXs that flap at ``share`` (at least one), the same ones for the same seed;
        PBXs with a failure never flap."""
        healthy = [n for n in self.names if n not in self.failures]
        count = min(len(healthy), max(1, round(len(self.names) * share)))
        return sorted(random.Random(seed).sample(healthy, count))

    def flap(self, share: float, gap: float, event_share: float = 0.5, seed: int = 0) -> list[str]:
        """From now on, flip each of :meth:`flappers` after a random pause of 0.5 to 1.5 x
        ``gap`` seconds, again and again; a flip comes with its event with the probability
        ``event_share``. Call it on the farm's loop; returns the flapping PBXs."""
        names = self.flappers(share, seed)
        rng = random.Random(seed + 1)

        async def one(name: str) -> None:
            while True:
                await asyncio.sleep(rng.uniform(0.5 * gap, 1.5 * gap))
                self.flip(name, event=rng.random() < event_share)

        async def every() -> None:
            await asyncio.gather(*(one(name) for name in names))

        self.stop_flapping()
        self._flapping = asyncio.ensure_future(every())
        return names

    def stop_flapping(self) -> None:
        if self._flapping is not None:
            self._flapping.cancel()
            self._flapping = None

    # -- orders -------------------------------------------------------------------------
    def control(self, line: str) -> str:
        """One order: ``flap SHARE GAP [EVENT_SHARE [SEED]]``, ``calm`` (flapping ends),
        ``flip NAME [silent]``, ``logins``. Call it on the farm's loop."""
        words = line.split()
        order, args = (words[0].lower(), words[1:]) if words else ("", [])
        try:
            if order == "flap" and 2 <= len(args) <= 4:
                names = self.flap(
                    float(args[0]),
                    float(args[1]),
                    float(args[2]) if len(args) > 2 else 0.5,
                    int(args[3]) if len(args) > 3 else 0,
                )
                return f"ok {len(names)}"
            if order == "calm" and not args:
                self.stop_flapping()
                return "ok"
            if order == "flip" and args and args[0] in self.pbxs:
                return "ok " + self.flip(args[0], event=args[1:] != ["silent"])
            if order == "logins" and not args:
                return f"ok {self.logins()}"
        except ValueError as exc:
            return f"error: {exc}"
        return f"error: unknown order {line.strip()!r}"

    async def serve_control(self, path: str) -> asyncio.AbstractServer:
        """Take :meth:`control` orders on a Unix socket at ``path``."""

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while line := await reader.readline():
                    writer.write((self.control(line.decode("utf-8", "replace")) + "\n").encode())
                    await writer.drain()
            finally:
                writer.close()

        return await asyncio.start_unix_server(client, path)


def _unused_port(host: str) -> int:
    """A port nothing listens on: bound, then closed (for a PBX that refuses connections)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


def raise_open_files(wanted: int) -> int:
    """Raise this process's open-files limit to ``wanted`` if it can (the hard limit too,
    as root); returns the soft limit now in force."""
    import resource  # noqa: PLC0415 (POSIX only, and only a farm needs it)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(hard, wanted)))
        return wanted
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m asterisk_ami.simulator",
        description="AMI server that behaves as a chosen Asterisk version (tests and demo).",
        epilog="failures: " + "; ".join(f"{k}: {v}" for k, v in FAILURES.items()),
    )
    parser.add_argument("--asterisk", default="18", choices=sorted(PROFILES, key=_version_key))
    parser.add_argument(
        "--scenario",
        help="fixture directory to serve, or several joined with + (default pri_all_up; "
        f"with --pbxs {FARM_SCENARIO})",
    )
    parser.add_argument("--fixtures", type=Path, default=default_fixtures())
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5038, help="0 picks a free port")
    parser.add_argument("--username", default="monitor")
    parser.add_argument("--secret", default="s3cret")
    parser.add_argument("--fail", default="none", choices=sorted(FAILURES))
    parser.add_argument("--auth-delay", type=float, default=1.0)
    parser.add_argument("--tls-cert", type=Path, help="serve TLS with this PEM certificate chain")
    parser.add_argument("--tls-key", type=Path, help="private key of --tls-cert")
    parser.add_argument(
        "--control",
        metavar="PATH",
        help="take orders on this Unix socket (scenario NAME [EVENT [K=V...]], emit EVENT "
        "[K=V...], restart [SECONDS], logins), one line each, answered ok or error",
    )
    farm = parser.add_argument_group(
        "many PBXs from one process (each on its own port; --port, --fail and TLS do not apply)"
    )
    farm.add_argument("--pbxs", type=int, metavar="N", help="play N PBXs")
    farm.add_argument(
        "--first",
        type=int,
        default=1,
        metavar="I",
        help="number the PBXs from I (pbx00001 by default): two farms, one set of names",
    )
    farm.add_argument(
        "--alarm-scenario",
        default=FARM_ALARM_SCENARIO,
        help="what a PBX serves while its span alarm is on (default %(default)s)",
    )
    farm.add_argument("--ports-file", type=Path, help="write {name: port} here as JSON, then serve")
    farm.add_argument(
        "--changes-file",
        type=Path,
        help="append one line per flip: TIME NAME alarm|clear event|silent",
    )
    args = parser.parse_args(argv)
    if args.pbxs is not None:
        return _serve_farm(parser, args)
    args.scenario = args.scenario or "pri_all_up"
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    if not (args.fixtures / args.asterisk / args.scenario).is_dir():
        parser.error(f"no fixtures at {args.fixtures / args.asterisk / args.scenario}")
    sim = Simulator(
        args.asterisk,
        args.scenario,
        args.fixtures,
        args.username,
        args.secret,
        args.fail,
        args.auth_delay,
        tls=context,
    )

    async def serve() -> None:
        port = await sim.start(args.host, args.port)
        await _serve_control(sim, args.control)
        print(
            f"AMI simulator: Asterisk {sim.profile.release} ({args.scenario}, fail={args.fail})"
            f" listening on {args.host}:{port}",
            flush=True,
        )

    return _run_until_interrupted(serve)


def _serve_farm(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """--pbxs N: the farm, its control orders (see :meth:`Farm.control`) on --control."""
    if args.pbxs < 1:
        parser.error("--pbxs must be at least 1")
    try:
        farm = Farm(
            args.pbxs,
            args.asterisk,
            args.scenario or FARM_SCENARIO,
            args.alarm_scenario,
            args.fixtures,
            args.secret,
            args.auth_delay,
            first=args.first,
        )
    except ValueError as exc:
        parser.error(str(exc))
    # Every PBX: its listening socket and one session; and room besides.
    limit = raise_open_files(2 * args.pbxs + 64)
    if limit < 2 * args.pbxs + 64:
        parser.error(
            f"{args.pbxs} PBXs need {2 * args.pbxs + 64} open files, the limit is {limit}: "
            "split them over several farms (--first)"
        )

    async def serve() -> None:
        ports = await farm.start(args.host)
        if args.changes_file:
            farm.changes_file = open(args.changes_file, "a", encoding="utf-8")  # noqa: SIM115
        await _serve_control(farm, args.control)
        if args.ports_file:
            partial = args.ports_file.with_name(args.ports_file.name + ".part")
            partial.write_text(json.dumps(ports), encoding="utf-8")
            partial.replace(args.ports_file)  # whole or absent: the reader may poll for it
        print(
            f"AMI simulator: {args.pbxs} PBXs as Asterisk {PROFILES[args.asterisk].release}"
            f" on {args.host}, ports {min(ports.values())}..{max(ports.values())}",
            flush=True,
        )

    return _run_until_interrupted(serve)


async def _serve_control(server: Simulator | Farm, path: str | None) -> None:
    """Listen for control orders on the Unix socket ``path`` (a stale one is replaced)."""
    if path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        await server.serve_control(path)


def _run_until_interrupted(start: Callable[[], Awaitable[None]]) -> int:
    """Run ``start`` on a new event loop, then serve until ^C."""

    async def serve() -> None:
        await start()
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


if __name__ == "__main__":
    sys.exit(main())
