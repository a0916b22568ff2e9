"""Asking a running fail2ban for its jails, through its socket; knows nothing of Nagios.

fail2ban's client protocol (fail2ban/client/csocket.py, server/asyncserver.py, 0.9 to
1.x): on the server's Unix socket, the client writes a pickled list of strings (the
command, e.g. ``["status", "sshd"]``) followed by ``<F2B_END_COMMAND>``; the server
answers a pickled ``(code, result)`` followed by the same marker. Code 0 is success; 1
carries the exception the command raised (``UnknownJailException('x')`` for a jail that
does not exist).

The reply is unpickled with an unpickler that builds no object of any class: builtins
containers and scalars only, anything else (fail2ban's exceptions, its ``IPAddr``) becomes
an inert :class:`Foreign` record of its class name and arguments. A hostile socket can
therefore give us wrong numbers, never run code.
"""

from __future__ import annotations

import io
import os
import pickle
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

END = b"<F2B_END_COMMAND>"
DEFAULT_SOCKET = "/var/run/fail2ban/fail2ban.sock"
#: A reply larger than this is not fail2ban's (a status with 100,000 banned IPs is ~2 MB).
MAX_REPLY = 64 << 20


class Fail2banError(Exception):
    """Talking to fail2ban failed; ``kind`` says how."""

    #: down: no server (CRITICAL); denied: our permissions (UNKNOWN); timeout; protocol:
    #: an unreadable reply (UNKNOWN); failed: the command raised (UNKNOWN)
    kind = "protocol"


class NotRunning(Fail2banError):
    kind = "down"


class AccessDenied(Fail2banError):
    kind = "denied"


class NoAnswer(Fail2banError):
    kind = "timeout"


class CommandFailed(Fail2banError):
    kind = "failed"

    def __init__(self, message: str, error: Foreign | None = None) -> None:
        super().__init__(message)
        self.error = error


class NoSuchJail(CommandFailed):
    kind = "no_jail"


class Foreign:
    """An object of a class we do not load: its class's name, arguments and state."""

    module = "?"
    args: tuple[Any, ...]
    state: Any

    def __new__(cls, *args: Any, **kwargs: Any) -> Foreign:
        self = super().__new__(cls)
        self.args = args
        self.state = None
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __str__(self) -> str:
        if len(self.args) == 1 and isinstance(self.args[0], str):
            return self.args[0]
        return f"{type(self).__name__}{self.args!r}"


_SAFE_BUILTINS = {"str", "int", "float", "bool", "list", "tuple", "dict", "set", "frozenset"}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module in ("builtins", "__builtin__") and name in _SAFE_BUILTINS:
            import builtins  # noqa: PLC0415

            return getattr(builtins, name)
        return type(str(name)[:100], (Foreign,), {"module": str(module)[:100]})


def safe_loads(data: bytes) -> Any:
    """Unpickle fail2ban's reply without importing or running anything (see module doc)."""
    try:
        return _SafeUnpickler(io.BytesIO(data)).load()
    except Exception as exc:  # any malformed pickle: our own error, nothing else
        raise Fail2banError(f"unreadable reply from fail2ban ({type(exc).__name__})") from None


def ask(path: str, command: Sequence[str], deadline: float) -> Any:
    """Send one command on the socket at ``path``; the result, or a Fail2banError.

    ``deadline`` is a time.monotonic() value for the whole exchange.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            sock.connect(path)
        except FileNotFoundError:
            raise NotRunning(f"fail2ban is not running: no socket {path}") from None
        except ConnectionRefusedError:
            raise NotRunning(f"fail2ban is not running: {path} refuses connections") from None
        except PermissionError:
            raise AccessDenied(
                f"no permission to use {path} (run as root or through sudo)"
            ) from None
        except socket.timeout:
            raise NoAnswer(f"no answer from fail2ban at {path}") from None
        except OSError as exc:
            raise NotRunning(f"cannot connect to fail2ban at {path}: {exc.strerror}") from None
        reply = _exchange(sock, path, list(command), deadline)
    finally:
        sock.close()
    return _result(reply, command)


def _exchange(sock: socket.socket, path: str, command: list[str], deadline: float) -> bytes:
    data = b""
    try:
        sock.sendall(pickle.dumps(command, 2) + END)
        while not data.endswith(END):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                raise NotRunning(f"fail2ban at {path} closed the connection without an answer")
            data += chunk
            if len(data) > MAX_REPLY:
                raise Fail2banError(f"the reply from {path} is too large: not fail2ban")
    except socket.timeout:
        raise NoAnswer(f"no answer from fail2ban at {path}") from None
    except (BrokenPipeError, ConnectionResetError):
        raise NotRunning(f"fail2ban at {path} closed the connection without an answer") from None
    except OSError as exc:
        if isinstance(exc, Fail2banError):
            raise
        raise Fail2banError(f"reading from {path}: {exc.strerror or exc}") from None
    return data[: -len(END)]


def _result(reply: bytes, command: Sequence[str]) -> Any:
    answer = safe_loads(reply)
    if isinstance(answer, str) and answer.startswith("ERROR"):
        raise CommandFailed(f"fail2ban refused '{' '.join(command)}': {answer}")
    if not (isinstance(answer, tuple) and len(answer) == 2 and answer[0] in (0, 1)):
        raise Fail2banError(f"unexpected reply to '{' '.join(command)}': not fail2ban's")
    code, result = answer
    if code == 0:
        return result
    name = type(result).__name__
    if name == "UnknownJailException" or (name == "KeyError" and len(command) == 2):
        raise NoSuchJail(f"jail '{command[-1]}' does not exist", result)
    raise CommandFailed(f"'{' '.join(command)}' failed in fail2ban: {result}", result)


# -- replies as records -------------------------------------------------------------------
@dataclass(frozen=True)
class JailStatus:
    name: str
    currently_failed: int
    total_failed: int
    currently_banned: int
    total_banned: int
    #: The files the jail reads; None for a journal (systemd) backend.
    files: tuple[str, ...] | None
    banned: tuple[str, ...] = ()


def _pairs(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, (list, tuple)):
        raise Fail2banError(f"unexpected {what} from fail2ban")
    pairs = {}
    for item in value:
        if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
            pairs[item[0]] = item[1]
    return pairs


def _number(section: dict[str, Any], key: str, what: str) -> int:
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Fail2banError(f"unexpected {what} from fail2ban: no '{key}'")
    return value


def parse_jail_list(result: Any) -> list[str]:
    """The jails of ``status``: [('Number of jail', N), ('Jail list', 'a, b')]."""
    listed = _pairs(result, "server status").get("Jail list")
    if not isinstance(listed, str):
        raise Fail2banError("unexpected server status from fail2ban: no 'Jail list'")
    return [name.strip() for name in listed.split(",") if name.strip()]


def parse_jail_status(name: str, result: Any) -> JailStatus:
    """``status JAIL``: [('Filter', [...]), ('Actions', [...])]."""
    what = f"status of jail '{name}'"
    top = _pairs(result, what)
    filt, actions = _pairs(top.get("Filter"), what), _pairs(top.get("Actions"), what)
    files = filt.get("File list")
    if isinstance(files, (list, tuple)):
        paths: tuple[str, ...] | None = tuple(str(f) for f in files)
    elif isinstance(files, str):  # older releases sent one string
        paths = tuple(f for f in files.split() if f)
    else:
        paths = None
    banned = actions.get("Banned IP list", ())
    return JailStatus(
        name=name,
        currently_failed=_number(filt, "Currently failed", what),
        total_failed=_number(filt, "Total failed", what),
        currently_banned=_number(actions, "Currently banned", what),
        total_banned=_number(actions, "Total banned", what),
        files=paths,
        banned=tuple(str(ip) for ip in banned) if isinstance(banned, (list, tuple)) else (),
    )


@dataclass
class Status:
    """What fail2ban said: the server's jails and the status of those asked for."""

    all_jails: list[str] = field(default_factory=list)
    jails: list[JailStatus] = field(default_factory=list)
    #: Jails asked for that the server does not have.
    missing: list[str] = field(default_factory=list)


def read_status(path: str, jails: Sequence[str], timeout: float) -> Status:
    """The status of ``jails`` (all the server's when empty), within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    status = Status(all_jails=parse_jail_list(ask(path, ["status"], deadline)))
    for name in jails or status.all_jails:
        if name not in status.all_jails:
            status.missing.append(name)
            continue
        try:
            result = ask(path, ["status", name], deadline)
        except NoSuchJail:  # removed between the two questions
            status.missing.append(name)
            continue
        status.jails.append(parse_jail_status(name, result))
    return status


# -- the files a jail reads ---------------------------------------------------------------
@dataclass(frozen=True)
class LogFile:
    path: str
    exists: bool
    #: Seconds since it was last written (None when it does not exist).
    age: float | None


def log_files(paths: Sequence[str], now: float | None = None) -> list[LogFile]:
    current = time.time() if now is None else now
    found = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            found.append(LogFile(path, False, None))
            continue
        found.append(LogFile(path, True, max(0.0, current - info.st_mtime)))
    return found
