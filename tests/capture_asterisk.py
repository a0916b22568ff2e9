"""Capture what a real Asterisk answers on the AMI, for fixtures/asterisk/captured/.

    python -m tests.capture_asterisk [13 20 22]

starts a private instance of each built version (tests/asterisk_real.py), sends the requests
of :data:`EXCHANGES` and writes each raw reply, byte for byte, to
``fixtures/asterisk/captured/<release>/<name>.txt``; then it writes the simulator's
``no_hardware`` scenario of that generation from the captured CLI text (the scenario holds
CLI text; the framing is the simulator's, and tests/test_captured.py holds both to the
captures). tests/test_real_asterisk.py captures again and compares, so the files stay true.
"""

from __future__ import annotations

import re
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from asterisk_ami.simulator import SCENARIOS
from tests.asterisk_real import (
    BUILDS,
    MONITOR,
    NO_COMMAND,
    SECRET,
    VERSIONS,
    RealAsterisk,
    ami_request,
    require_build,
    running_asterisk,
)

CAPTURED = Path(__file__).resolve().parent.parent / "fixtures" / "asterisk" / "captured"
SCENARIO = "no_hardware"
ACTION_ID = "42"  # the simulator's scenarios write the ActionID so


class Exchange(NamedTuple):
    """One request and the name its reply is stored under."""

    name: str
    action: str
    headers: tuple[tuple[str, str], ...] = ()
    user: str = MONITOR
    #: After chan_dahdi is unloaded (the captures run in order; these come last).
    unloaded: bool = False

    def request(self) -> bytes:
        return ami_request(self.action, ActionID=ACTION_ID, **dict(self.headers))


def command(words: str, **extra: object) -> Exchange:
    prefix = "unloaded-" if extra.get("unloaded") else ""
    user = str(extra.get("user", MONITOR))
    if user != MONITOR:
        prefix += f"{user}-"
    name = f"{prefix}command-{words.replace(' ', '_')}"
    return Exchange(name, "Command", (("Command", words),), user, bool(extra.get("unloaded")))


def action(name: str, *, unloaded: bool = False) -> Exchange:
    return Exchange(f"{'unloaded-' if unloaded else ''}action-{name}", name, (), MONITOR, unloaded)


#: The CLI commands and actions the AMI checks send, and what a session around them sees.
EXCHANGES: tuple[Exchange, ...] = (
    Exchange("ping", "Ping"),
    command("core show version"),
    command("pri show spans"),
    command("pri show span 1"),
    command("dahdi show status"),
    command("dahdi show channels"),
    command("misdn show stacks"),
    action("PRIShowSpans"),
    action("DAHDIShowChannels"),
    action("ZapShowChannels"),
    command("pri show spans", user=NO_COMMAND),
    command("pri show spans", unloaded=True),
    command("dahdi show status", unloaded=True),
    command("dahdi show channels", unloaded=True),
    action("PRIShowSpans", unloaded=True),
    action("DAHDIShowChannels", unloaded=True),
)
#: The commands whose CLI text makes the simulator's no_hardware scenario.
SCENARIO_COMMANDS = (
    "core show version",
    "pri show spans",
    "pri show span 1",
    "dahdi show status",
    "dahdi show channels",
)
SCENARIO_ACTIONS = ("PRIShowSpans", "DAHDIShowChannels")


# -- reading raw replies ---------------------------------------------------------------------
def read_reply(stream: BinaryIO) -> bytes:
    """One whole reply, raw: a message up to its blank line, a 1.4-13 Command reply up to
    its end marker, or an event list up to its Complete event."""
    first = read_message(stream)
    if first.startswith(b"Response: Follows"):
        return first
    data = first
    if re.search(rb"^EventList: start\r$", first, re.M):
        while not re.search(rb"^EventList: Complete\r$", data.rsplit(b"\r\n\r\n", 2)[-2], re.M):
            data += read_message(stream)
    return data


def read_message(stream: BinaryIO) -> bytes:
    """Up to the blank line (or, for Response: Follows, up to --END COMMAND-- and its blank)."""
    data = b""
    while True:
        line = stream.readline()
        if not line:
            raise ConnectionError(f"closed after {data!r}")
        data += line
        if data.startswith(b"Response: Follows"):
            if line.endswith(b"--END COMMAND--\r\n"):
                return data + stream.readline()
        elif line == b"\r\n" and data != line:
            return data


def read_until_event(stream: BinaryIO, event: bytes) -> bytes:
    while True:
        message = read_message(stream)
        if message.startswith(b"Event: " + event + b"\r\n"):
            return message


class Session:
    """A raw AMI connection, logged in."""

    def __init__(self, port: int, user: str, events: str = "off") -> None:
        self.conn = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.stream: BinaryIO = self.conn.makefile("rwb")  # type: ignore[assignment]
        self.greeting = self.stream.readline()
        self.login = self.send(
            ami_request("Login", ActionID=ACTION_ID, Username=user, Secret=SECRET, Events=events)
        )

    def send(self, request: bytes) -> bytes:
        self.stream.write(request)
        self.stream.flush()
        return read_reply(self.stream)

    def close(self) -> bytes:
        goodbye = self.send(ami_request("Logoff", ActionID=ACTION_ID))
        self.conn.close()
        return goodbye


class Server(NamedTuple):
    """Where to capture from, and how to make the PBX change under the capture."""

    ports: dict[str, int]  # by user: the simulator plays one user per instance
    unload_chan_dahdi: Callable[[], object]
    reload: Callable[[], object]


def real_server(asterisk: RealAsterisk) -> Server:
    return Server(
        {MONITOR: asterisk.port, NO_COMMAND: asterisk.port},
        lambda: asterisk.unload("chan_dahdi.so"),
        lambda: asterisk.action("Reload"),
    )


def capture(server: Server) -> dict[str, bytes]:
    """Every exchange of :data:`EXCHANGES`, and the session around them, raw."""
    found: dict[str, bytes] = {}
    # A wrong secret: Asterisk waits about a second, answers and closes.
    with socket.create_connection(("127.0.0.1", server.ports[MONITOR]), timeout=10) as conn:
        stream: BinaryIO = conn.makefile("rwb")  # type: ignore[assignment]
        found["greeting"] = stream.readline()
        stream.write(ami_request("Login", ActionID=ACTION_ID, Username=MONITOR, Secret="wrong"))
        stream.flush()
        found["login-failed"] = read_message(stream)
        found["login-failed-then"] = stream.read()  # b"": the server closed
    session = Session(server.ports[MONITOR], MONITOR)
    found["login"] = session.login
    found["challenge"] = session.send(ami_request("Challenge", ActionID=ACTION_ID, AuthType="MD5"))
    sessions = {MONITOR: session}
    unloaded = False
    for exchange in EXCHANGES:
        if exchange.unloaded and not unloaded:
            server.unload_chan_dahdi()
            unloaded = True
        if exchange.user not in sessions:
            sessions[exchange.user] = Session(server.ports[exchange.user], exchange.user)
        found[exchange.name] = sessions[exchange.user].send(exchange.request())
    for user, open_session in sessions.items():
        goodbye = open_session.close()
        if user == MONITOR:
            found["logoff"] = goodbye
    # Events: FullyBooted after a login with events on; Reload when the PBX reloads.
    listener = Session(server.ports[MONITOR], MONITOR, events="system")
    found["login-events"] = listener.login
    found["event-FullyBooted"] = read_until_event(listener.stream, b"FullyBooted")
    server.reload()
    found["event-Reload"] = read_until_event(listener.stream, b"Reload")
    listener.close()
    return found


# -- what may differ between two captures ---------------------------------------------------
VOLATILE_HEADERS = ("Challenge", "Uptime", "LastReload", "Timestamp", "SystemName")


def stable(raw: bytes) -> bytes:
    """A capture with what changes from run to run masked: a challenge, uptimes, the build
    line of `core show version`."""
    text = raw
    for header in VOLATILE_HEADERS:
        text = re.sub(rb"^(" + header.encode() + rb": ).*?\r$", rb"\1*\r", text, flags=re.M)
    return re.sub(rb"(Asterisk [0-9.]+) built by .*? on .*?(\r?\n)", rb"\1 built by *\2", text)


# -- the files -------------------------------------------------------------------------------
def cli_text(raw: bytes) -> str:
    """The CLI text of a captured Command reply, in either framing, LF line ends."""
    text = raw.decode("utf-8")
    if text.startswith("Response: Follows"):
        body = text.split("\r\n", 3)[3]  # after Response, Privilege, ActionID
        return body[: body.rindex("--END COMMAND--")]
    lines = [line[len("Output: ") :] for line in text.split("\r\n") if line.startswith("Output: ")]
    return "".join(f"{line}\n" for line in lines)


def scenario_files(found: dict[str, bytes]) -> Iterator[tuple[str, str]]:
    """The no_hardware scenario: (file name, text) of each captured command and action."""
    for words in SCENARIO_COMMANDS:
        raw = found[f"command-{words.replace(' ', '_')}"]
        if b"No such command" not in raw:
            yield f"{words.replace(' ', '_')}.txt", cli_text(raw)
    for name in SCENARIO_ACTIONS:
        raw = found[f"action-{name}"]
        if raw.startswith(b"Response: Success"):
            yield f"action_{name}.txt", raw.decode("utf-8").replace("\r\n", "\n")


def write(version: str, found: dict[str, bytes]) -> Path:
    build = BUILDS[version]
    directory = CAPTURED / build.release
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.txt"):
        old.unlink()
    for name, raw in found.items():
        (directory / f"{name}.txt").write_bytes(raw)
    scenario = SCENARIOS / build.profile / SCENARIO
    scenario.mkdir(parents=True, exist_ok=True)
    for old in scenario.glob("*.txt"):
        old.unlink()
    for name, text in scenario_files(found):
        (scenario / name).write_text(text, encoding="utf-8")
    return directory


def capture_version(version: str, directory: Path) -> dict[str, bytes]:
    with running_asterisk(version, directory) as asterisk:
        return capture(real_server(asterisk))


def main(versions: list[str]) -> None:
    for version in versions or VERSIONS:
        require_build(version)
        with tempfile.TemporaryDirectory() as directory:
            found = capture_version(version, Path(directory))
        print(f"{version}: {len(found)} replies in {write(version, found)}")


if __name__ == "__main__":
    main(sys.argv[1:])
