"""The queue directories read directly: needs root or Postfix's mail_owner, no running Postfix.

A queue file is a sequence of records: one type byte, the data length as 7-bit groups (low
group first, high bit set on every byte but the last), then the data (record(3) in Postfix's
global library). cleanup(8) writes the size record ``C`` first and the arrival-time record
``T`` ("seconds microseconds") second; postdrop(1) writes ``T`` first into maildrop files. The
sender ``S`` and the recipients ``R`` follow in the envelope, before the content starts at
``M``. Only the first ``HEAD_BYTES`` of each file are read: the arrival time never comes from
the file's modification time, which for a deferred message is its next retry.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from isp_plugins.sources.postfix_queue import EMPTY_SENDER, QUEUES
from isp_plugins.sources.postfix_queue.model import QueuedMessage

HEAD_BYTES = 4096
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
# Record types (Postfix src/global/rec_type.h).
_SIZE, _TIME, _FROM, _RCPT, _ORCP, _ATTR, _MESG, _END, _PTR = b"CTSROAMEp"


class SpoolError(Exception):
    """The spool cannot be read (permissions, a missing queue directory)."""


class SpoolTimeout(SpoolError):
    """The walk did not finish before the deadline."""


@dataclass
class Envelope:
    """What the first bytes of a queue file tell."""

    arrival: int | None = None
    size: int | None = None
    sender: str | None = None
    recipients: list[str] = field(default_factory=list)
    complete: bool = False  # the envelope ended (M or E record) inside the bytes read


def _number(data: bytes) -> int | None:
    head = data.lstrip().split(b" ", 1)[0]
    return int(head) if head.isdigit() else None


def _long_length(data: bytes, pos: int) -> tuple[int, int]:
    """(start, end) of a record whose length takes several bytes at ``pos``; (-1, -1) if bad."""
    length, shift = 0, 0
    while pos < len(data) and shift <= 28:
        byte = data[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            return pos, pos + length
        shift += 7
    return -1, -1


def parse_envelope(data: bytes, maildrop: bool = False, envelope: bool = True) -> Envelope:
    """The arrival time, content size, sender and recipients among the records in ``data``.

    Stops at the content (``M``), at the end record, at a malformed or truncated record, or at
    a pointer record leading outside ``data``; with ``envelope`` false, as soon as the arrival
    time and size are known. Like showq, the first ``T`` and the first ``C`` win, and a
    maildrop file's ``C`` (the client's estimate) is ignored. This loop runs once per record
    of every queue file: keep it flat.
    """
    arrival: int | None = None
    size: int | None = None
    sender: str | None = None
    recipients: list[str] = []
    complete = False
    pos, end_of_data = 0, len(data)
    while pos + 1 < end_of_data:
        rtype = data[pos]
        byte = data[pos + 1]
        if byte < 0x80:  # the usual one-byte length
            pos += 2
            end = pos + byte
        else:
            pos, end = _long_length(data, pos + 1)
            if pos < 0:
                break
        if end > end_of_data:
            break
        if rtype in (_ATTR, _ORCP):  # most envelope records: skip them first
            pass
        elif rtype == _RCPT:
            recipients.append(data[pos:end].decode("utf-8", "replace"))
        elif rtype == _TIME:
            if arrival is None:
                arrival = _number(data[pos:end])
                if not envelope and (size is not None or maildrop):
                    break
        elif rtype == _SIZE:
            if size is None and not maildrop:
                size = _number(data[pos:end])
                if not envelope and arrival is not None:
                    break
        elif rtype == _FROM:
            if sender is None:
                sender = data[pos:end].decode("utf-8", "replace") or EMPTY_SENDER
        elif rtype in (_MESG, _END):
            complete = True
            break
        elif rtype == _PTR:
            target = _number(data[pos:end])
            if target:  # a null pointer is a placeholder: read on
                if target >= end_of_data:
                    break
                end = target
        pos = end
    return Envelope(arrival, size, sender, recipients, complete)


def _message(path: str, queue: str, queue_id: str, envelope: bool) -> QueuedMessage | None:
    """One queue file as a message; None when it vanished (delivered or moved meanwhile)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        return None
    try:
        data = os.read(fd, HEAD_BYTES)
        env = parse_envelope(data, queue == "maildrop", envelope)
        if env.arrival is None or env.size is None:
            info = os.fstat(fd)  # the rare file without records yet: showq's fallbacks
            if env.arrival is None:
                env.arrival = int(info.st_mtime)
            if env.size is None:
                env.size = info.st_size
    finally:
        os.close(fd)
    return QueuedMessage(
        queue,
        queue_id,
        env.arrival,
        env.size,
        (env.sender or "") if envelope else "",
        tuple(env.recipients) if envelope else (),
    )


def _walk(top: str) -> Iterator[tuple[str, str]]:
    """(path, name) of every regular file under ``top`` (hashed queues nest one or more levels)."""
    stack = [top]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    yield entry.path, entry.name


def read_spool(
    queue_dir: str | Path, deadline: float | None = None, envelope: bool = True
) -> Iterator[QueuedMessage]:
    """Every message in the five queues, then one entry per file in ``corrupt``.

    ``deadline`` is a time.monotonic() value; past it SpoolTimeout is raised. With
    ``envelope`` false the sender and recipients are not decoded (counts, bytes and age only).
    """
    base = os.fspath(queue_dir)
    checked = 0
    for queue in (*QUEUES, "corrupt"):
        top = os.path.join(base, queue)
        try:
            for path, name in _walk(top):
                checked += 1
                if deadline is not None and not checked % 256 and time.monotonic() > deadline:
                    raise SpoolTimeout(f"{checked} queue files read, {queue} not finished")
                if queue == "corrupt":
                    yield QueuedMessage(queue, name, 0, 0, "", ())
                    continue
                try:
                    message = _message(path, queue, name, envelope)
                except PermissionError as exc:
                    raise SpoolError(f"cannot read {path}: {exc.strerror}") from None
                if message is not None:
                    yield message
        except FileNotFoundError:
            if queue == "corrupt":  # created on demand by some versions
                continue
            raise SpoolError(f"no queue directory {top}") from None
        except PermissionError as exc:
            raise SpoolError(f"cannot read {top}: {exc.strerror}") from None


def master_running(queue_dir: str | Path) -> bool | None:
    """Whether the master process of ``pid/master.pid`` lives; None when that cannot be told.

    The pid file is root's (mode 0600): unreadable for mail_owner, so None there.
    """
    pid_file = Path(queue_dir) / "pid" / "master.pid"
    try:
        pid = int(pid_file.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, not ours
    try:  # a zombie (no init to reap it, as in containers), or a stale pid reused
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat_line = handle.read()
    except OSError:
        return True
    name, _, rest = stat_line.partition("(")[2].rpartition(")")
    state = rest.split()[0] if rest.split() else "?"
    return name == "master" and state not in ("Z", "X")
