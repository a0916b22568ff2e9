"""Asking a running fail2ban for its jails, through its socket; knows nothing of Nagios.

fail2ban's client protocol (fail2ban/client/csocket.py, server/asyncserver.py, 0.9 to
1.x): on the server's Unix socket, the client writes a pickled list of strings (the
command, e.g. ``["status", "sshd"]``) followed by ``<F2B_END_COMMAND>``; the server
answers a pickled ``(code, result)`` followed by the same marker. Code 0 is success; 1
carries the exception the command raised (``UnknownJailException('x')`` for a jail that
does not exist).

The reply is unpickled in three steps, so that a hostile socket can give us wrong numbers,
never run code nor make us work or print without bound (see :func:`safe_loads`):

1. its opcodes are read first (pickletools): dicts and sets are refused before anything is
   built (hashing a crafted key can take forever; fail2ban's answers hold none);
2. the unpickler builds no object of any class: ``builtins.str`` (how fail2ban pickles its
   ``IPAddr``) only of a string; any other class (fail2ban's exceptions) becomes an inert
   :class:`Foreign` record of its name and arguments;
3. what was built is measured as the tree anything walking it sees, shared references
   counted each time (a few hundred bytes of memo references can stand for 10**8
   strings): objects, depth, each string and all characters are capped (LIMITS).

Then each answer must have the shape of fail2ban's (``parse_jail_list``,
``parse_jail_status``). Anything else is :class:`NotFail2ban`: "not fail2ban's answer".
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import reprlib
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

END = b"<F2B_END_COMMAND>"
DEFAULT_SOCKET = "/var/run/fail2ban/fail2ban.sock"


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


class NotFail2ban(Fail2banError):
    """The reply is not an answer fail2ban gives: ``reason`` says why (UNKNOWN)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.where = ""

    def at(self, path: str, command: Sequence[str]) -> NotFail2ban:
        """Name the socket and the question in the message."""
        self.where = f" from {path} to '{' '.join(command)}'"
        return self

    def __str__(self) -> str:
        return f"not fail2ban's answer{self.where}: {self.reason}"


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
            return self.args[0][:TEXT_SHOWN]
        return f"{type(self).__name__}{_BRIEF.repr(self.args)}"


#: The most of a reply we take: a status with 100,000 banned addresses is ~2 MB.
MAX_REPLY = 64 << 20
#: The caps on what a reply unpickles to, counted as a walk of it sees it (see the module
#: doc): more than this is not fail2ban's. An honest reply holds each object once, so it
#: meets the object and character caps when it meets MAX_REPLY; its depth is 7.
MAX_OBJECTS = 4_000_000
MAX_DEPTH = 16
MAX_STRING = 65536
MAX_CHARS = 64 << 20
#: Classes a reply may name (exceptions): each is a new type object here.
MAX_CLASSES = 100
#: Characters of a foreign object's text (an exception's message) we show.
TEXT_SHOWN = 300
_BRIEF = reprlib.Repr()
_BRIEF.maxstring = TEXT_SHOWN // 3
_BRIEF.maxother = TEXT_SHOWN // 3
#: Opcodes that build a dict or a set (their keys are hashed while unpickling).
_HASHING = frozenset(
    {"EMPTY_DICT", "DICT", "SETITEM", "SETITEMS", "EMPTY_SET", "ADDITEMS", "FROZENSET"}
)


def _str_of(value: Any) -> str:
    """``builtins.str`` as a reply may call it: on a string only (fail2ban's IPAddr)."""
    if not isinstance(value, str):
        raise NotFail2ban("str() of something that is not a string")
    return value


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.classes: dict[tuple[str, str], type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module in ("builtins", "__builtin__") and name == "str":
            return _str_of
        key = (str(module)[:100], str(name)[:100])
        if key not in self.classes:
            if len(self.classes) >= MAX_CLASSES:
                raise NotFail2ban(f"more than {MAX_CLASSES} classes")
            self.classes[key] = type(key[1], (Foreign,), {"module": key[0]})
        return self.classes[key]


def _children(value: Any) -> tuple[Any, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(value)
    if isinstance(value, Foreign):
        return (value.args, value.state)
    return ()


def measure(value: Any) -> None:
    """NotFail2ban when ``value``, walked as a tree (a shared object once per reference),
    exceeds a cap of LIMITS; the work is one visit per object, whatever the sharing."""
    # ids are stable: ``value`` keeps every object alive
    done: dict[int, tuple[int, int, int]] = {}  # id -> objects, characters, depth
    open_: set[int] = set()  # being measured: met again below itself, it holds itself
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, children_done = stack.pop()
        key = id(item)
        if children_done:
            open_.discard(key)
            objects, chars, depth = 1, 0, 0
            for child in _children(item):
                o, c, d = done[id(child)]
                objects, chars, depth = objects + o, chars + c, max(depth, d)
            depth += 1
            if objects > MAX_OBJECTS:
                raise NotFail2ban(f"more than {MAX_OBJECTS} objects")
            if chars > MAX_CHARS:
                raise NotFail2ban(f"more than {MAX_CHARS} characters in all")
            done[key] = (objects, chars, depth)
            continue
        if key in done:
            continue
        if key in open_:
            raise NotFail2ban("an object that holds itself")
        if isinstance(item, (str, bytes, bytearray)):
            if len(item) > MAX_STRING:
                raise NotFail2ban(f"a string of more than {MAX_STRING} characters")
            done[key] = (1, len(item), 1)
            continue
        if isinstance(item, int) and not -(2**63) <= item < 2**63:
            raise NotFail2ban("a number of more than 63 bits")
        children = _children(item)
        if len(open_) >= MAX_DEPTH:
            raise NotFail2ban(f"nested more than {MAX_DEPTH} deep")
        open_.add(key)
        stack.append((item, True))
        stack.extend((child, False) for child in children if id(child) not in done)


def safe_loads(data: bytes) -> Any:
    """Unpickle fail2ban's reply without importing or running anything, within LIMITS (see
    the module doc)."""
    if len(data) > MAX_REPLY:
        raise NotFail2ban(f"larger than {MAX_REPLY} bytes")
    try:
        for opcode, _, _ in pickletools.genops(data):
            if opcode.name in _HASHING:
                raise NotFail2ban("a dict or a set")
        value = _SafeUnpickler(data).load()
    except NotFail2ban:
        raise
    except Exception:  # any malformed pickle: our own error, nothing else
        raise NotFail2ban("unreadable pickle") from None
    measure(value)
    return value


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
    try:
        return _result(reply, command)
    except NotFail2ban as exc:
        raise exc.at(path, command) from None


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
            if len(data) > MAX_REPLY + len(END):
                raise NotFail2ban(f"larger than {MAX_REPLY} bytes").at(path, command)
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
        raise CommandFailed(f"fail2ban refused '{' '.join(command)}': {answer[:TEXT_SHOWN]}")
    if not (
        isinstance(answer, tuple)
        and len(answer) == 2
        and type(answer[0]) is int
        and answer[0] in (0, 1)
    ):
        raise NotFail2ban("not a (code, result) pair")
    code, result = answer
    if code == 0:
        return result
    name = type(result).__name__
    if name == "UnknownJailException" or (name == "KeyError" and len(command) == 2):
        raise NoSuchJail(f"jail '{command[-1]}' does not exist", result)
    text = str(result) if isinstance(result, Foreign) else _BRIEF.repr(result)
    raise CommandFailed(f"'{' '.join(command)}' failed in fail2ban: {text}", result)


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


#: Jails a server may list: more is not fail2ban's answer (each costs a question).
MAX_JAILS = 1000


def _pairs(value: Any, what: str) -> dict[str, Any]:
    """``[(key, value), ...]`` as a dict; anything else is not fail2ban's answer."""
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)
        for item in value
    ):
        raise NotFail2ban(f"{what} is not a list of pairs")
    return dict(value)


def _number(section: dict[str, Any], key: str) -> int:
    value = section.get(key)
    if type(value) is not int or value < 0:
        raise NotFail2ban(f"'{key}' is not a count")
    return value


def _strings(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def parse_jail_list(result: Any) -> list[str]:
    """The jails of ``status``: [('Number of jail', N), ('Jail list', 'a, b')]."""
    top = _pairs(result, "the server status")
    listed = top.get("Jail list")
    if listed is None:
        raise NotFail2ban("no 'Jail list'")
    if not isinstance(listed, str):
        raise NotFail2ban("'Jail list' is not a string")
    jails = [name.strip() for name in listed.split(",") if name.strip()]
    if _number(top, "Number of jail") != len(jails):
        raise NotFail2ban("'Number of jail' is not the number of jails listed")
    if len(jails) > MAX_JAILS:
        raise NotFail2ban(f"more than {MAX_JAILS} jails")
    return jails


def parse_jail_status(name: str, result: Any) -> JailStatus:
    """``status JAIL``: [('Filter', [...]), ('Actions', [...])]."""
    top = _pairs(result, f"the status of jail '{name}'")
    filt, actions = _pairs(top.get("Filter"), "'Filter'"), _pairs(top.get("Actions"), "'Actions'")
    files = filt.get("File list")
    paths: tuple[str, ...] | None
    if files is None:  # a journal (systemd) backend: 'Journal matches' instead
        paths = None
    elif isinstance(files, str):  # older releases sent one string
        paths = tuple(f for f in files.split() if f)
    elif _strings(files):
        paths = tuple(files)
    else:
        raise NotFail2ban("'File list' is not a list of paths")
    banned = actions.get("Banned IP list", ())
    if not _strings(banned):
        raise NotFail2ban("'Banned IP list' is not a list of addresses")
    return JailStatus(
        name=name,
        currently_failed=_number(filt, "Currently failed"),
        total_failed=_number(filt, "Total failed"),
        currently_banned=_number(actions, "Currently banned"),
        total_banned=_number(actions, "Total banned"),
        files=paths,
        banned=tuple(banned),
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
    try:
        status = Status(all_jails=parse_jail_list(ask(path, ["status"], deadline)))
    except NotFail2ban as exc:
        raise exc.at(path, ["status"]) from None
    for name in jails or status.all_jails:
        if name not in status.all_jails:
            status.missing.append(name)
            continue
        try:
            result = ask(path, ["status", name], deadline)
        except NoSuchJail:  # removed between the two questions
            status.missing.append(name)
            continue
        try:
            status.jails.append(parse_jail_status(name, result))
        except NotFail2ban as exc:
            raise exc.at(path, ["status", name]) from None
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
