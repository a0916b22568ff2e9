"""Scripted SMTP receivers on loopback ports that answer like Gmail, Yahoo or Microsoft do.

Each receiver is a few lines of asyncio: a script says what it answers at MAIL FROM, at each
RCPT TO (by the recipient's local part) and at the end of DATA. Multi-line replies are sent as
the providers send them (``421-4.7.28 ...`` continuation lines), so the Postfix that talks to
them writes the log lines the plugin reads, joined its own way.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

#: A reply: one line per element; continuation dashes are added when sent.
Reply = tuple[str, ...]
OK_250: Reply = ("250 2.0.0 OK",)


@dataclass
class Script:
    """What a receiver answers. ``rcpt`` maps a recipient's local part (prefix) to a reply."""

    name: str
    mail: Reply = ("250 2.1.0 OK",)
    rcpt: dict[str, Reply] = field(default_factory=dict)
    #: The reply at the end of DATA, by the first recipient's local part (prefix).
    data: dict[str, Reply] = field(default_factory=dict)


def wire(reply: Reply) -> bytes:
    """``421-4.7.28 a`` / ``421 4.7.28 b``: SMTP's multi-line form."""
    lines = []
    for index, line in enumerate(reply):
        code, rest = line[:3], line[4:]
        sep = " " if index == len(reply) - 1 else "-"
        lines.append(f"{code}{sep}{rest}\r\n")
    return "".join(lines).encode()


def pick(table: dict[str, Reply], local: str, default: Reply) -> Reply:
    for prefix, reply in table.items():
        if local.startswith(prefix):
            return reply
    return default


class Receiver:
    """One scripted SMTP server on 127.0.0.1, on a port the system chose."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.port = 0
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self.session, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        script, recipients = self.script, []
        send: Callable[[Reply], None] = lambda reply: writer.write(wire(reply))  # noqa: E731
        try:
            send((f"220 {script.name}.receiver.test ESMTP ready",))
            while True:
                line = (await reader.readline()).decode(errors="replace").strip()
                if not line:
                    break
                verb = line.split(" ", 1)[0].split(":", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    send((f"250 {script.name}.receiver.test", "250 8BITMIME"))
                elif verb == "MAIL":
                    recipients = []
                    send(script.mail)
                    if script.mail[-1].startswith("421"):
                        break
                elif verb == "RCPT":
                    address = line.partition("<")[2].partition(">")[0]
                    local = address.partition("@")[0]
                    reply = pick(script.rcpt, local, ("250 2.1.5 OK",))
                    if reply[-1].startswith("2"):
                        recipients.append(local)
                    send(reply)
                elif verb == "DATA":
                    send(("354 Go ahead",))
                    await writer.drain()
                    while (await reader.readline()).rstrip(b"\r\n") != b".":
                        pass
                    first = recipients[0] if recipients else ""
                    send(pick(script.data, first, OK_250))
                elif verb == "QUIT":
                    send(("221 2.0.0 closing connection",))
                    break
                else:  # RSET, NOOP
                    send(("250 2.0.0 OK",))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


class Receivers:
    """Several receivers served by one event loop in a thread."""

    def __init__(self, *scripts: Script) -> None:
        self.loop = asyncio.new_event_loop()
        self.receivers = {script.name: Receiver(script) for script in scripts}
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Receivers:
        self.thread.start()
        for receiver in self.receivers.values():
            asyncio.run_coroutine_threadsafe(receiver.start(), self.loop).result(10)
        return self

    def port(self, name: str) -> int:
        return self.receivers[name].port

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            for receiver in self.receivers.values():
                if receiver.server is not None:
                    receiver.server.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
