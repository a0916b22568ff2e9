"""Reading a growing log incrementally: what is new since the last run, across rotation.

Knows nothing of what the lines mean nor of Nagios. A reader calls :func:`plan` to learn
which byte ranges of which files are new (the rest of a rotated file, then the live one),
reads them through :mod:`logtail.blocks` (the one read loop; :mod:`logtail.search` finds the
lines holding fixed texts in its blocks), then :func:`commit` to save the position, with any
small JSON-able memory of its own (``extra``). :mod:`logtail.stamps` reads a line's time.

- first run (no state): the whole file;
- rotated (another inode at the path): the rest of the old file when it is found as FILE.1,
  FILE.0 or FILE-SUFFIX (uncompressed), then the new file from its start;
- truncated (smaller than the saved offset, or its first bytes changed): from the start;
- a last line still being written (no newline yet) waits for the next run.

The state file is keyed by the log's absolute path, lives in a directory private to the
user by default, and a state file owned by another user (or a symlink) is refused. So is a
state directory (:func:`check_state_dir`) that is a symlink, that anyone may write without
the sticky bit, or that belongs to neither the user nor root: another user could plant or
replace state there and make us skip what we should see.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from typing import Any

#: Bytes of the log's start kept in the state: a new file that got the old inode back
#: is told apart by them.
HEAD = 64


class StateError(Exception):
    """The log, the state directory or the state file cannot be used (UNKNOWN)."""


@dataclass(frozen=True)
class Segment:
    """Bytes [start, end) of path are new since the last run."""

    path: str
    start: int
    end: int

    @property
    def size(self) -> int:
        return max(0, self.end - self.start)


@dataclass
class Plan:
    """What to read this run, and what :func:`commit` saves afterwards."""

    log: str
    state_file: str
    segments: list[Segment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    first_run: bool = False
    #: What the previous run saved besides the position ({} on a first run).
    extra: dict[str, Any] = field(default_factory=dict)
    info: os.stat_result | None = None
    end: int = 0


def complete_end(path: str, size: int) -> int:
    """The offset just after the last newline: a line still being written waits for next run."""
    if size == 0:
        return 0
    with open(path, "rb") as handle:
        back = min(size, 1 << 16)
        while True:
            handle.seek(size - back)
            chunk = handle.read(back)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                return size - back + cut + 1
            if back == size:
                return 0
            back = min(size, back * 4)


def state_path(state_dir: str, log: str, prefix: str) -> str:
    """``DIR/PREFIX.<the log's absolute path, flattened>.json``."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.abspath(log).strip("/"))
    return os.path.join(state_dir, f"{prefix}.{name}.json")


def head_of(path: str, size: int) -> str:
    """The file's first bytes: a new file that got the old inode number is told apart."""
    with open(path, "rb") as handle:
        return handle.read(min(HEAD, size)).hex()


def default_state_dir() -> str:
    """A directory only this user can write: $XDG_STATE_HOME or ~/.local/state, then ours."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(base, "isp-plugins")


def check_state_dir(directory: str) -> None:
    """StateError naming ``directory`` and why it is refused (see the module doc); one that
    does not exist yet is fine: :func:`write_json` creates it private to the user.

    A symlink is refused, not followed and checked: what it points to can change between
    the check and the use, and the owner of the link need not be the owner of its target.
    """
    try:
        info = os.lstat(directory or ".")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StateError(f"state directory {directory}: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise StateError(f"state directory {directory} is a symlink: refused")
    if not stat.S_ISDIR(info.st_mode):
        raise StateError(f"state directory {directory} is not a directory")
    uid = os.geteuid()
    if info.st_uid not in (uid, 0):
        raise StateError(
            f"state directory {directory} belongs to uid {info.st_uid}, neither to us "
            f"(uid {uid}) nor to root: refused"
        )
    if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
        raise StateError(
            f"state directory {directory} is writable by everyone without the sticky bit: refused"
        )


def read_json(path: str) -> Any:
    """A state file's JSON, None when it does not exist or is not JSON.

    A state file that another user owns, or a symlink, is refused (StateError): in a shared
    directory it could make us skip what we should see.
    """
    check_state_dir(os.path.dirname(path))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(path):  # O_NOFOLLOW's ELOOP
            raise StateError(f"state {path} is a symlink: refused") from None
        raise StateError(f"cannot read state {path}: {exc.strerror}") from None
    with os.fdopen(fd, encoding="utf-8") as handle:
        owner = os.fstat(handle.fileno()).st_uid
        if owner != os.geteuid():
            raise StateError(f"state {path} belongs to uid {owner}, not to us: refused")
        try:
            return json.load(handle)
        except ValueError:
            return None


def write_json(path: str, data: Any) -> None:
    """Replace the state file at path atomically (the directory made private if new)."""
    directory = os.path.dirname(path)
    prefix = "." + os.path.basename(path).split(".", 1)[0] + "."
    check_state_dir(directory)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise StateError(f"cannot write state {path}: {exc.strerror}") from None
    check_state_dir(directory)  # as created, or as someone else made it meanwhile
    try:
        # An unpredictable name, created exclusively: safe in a shared directory too; the
        # rename replaces a symlink at ``path`` itself, never what it points to.
        fd, temp = tempfile.mkstemp(prefix=prefix, dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(temp, path)
    except OSError as exc:
        raise StateError(f"cannot write state {path}: {exc.strerror}") from None


def load_state(path: str) -> dict[str, Any] | None:
    """The saved position (inode, device, offset, head, extra), or None on a first run.

    A state file that another user owns, or a symlink, is refused: in a shared directory it
    could hide lines from us.
    """
    data = read_json(path)
    if not isinstance(data, dict):
        return None  # none, or unreadable: start again from the beginning
    try:
        state: dict[str, Any] = {k: int(data[k]) for k in ("inode", "device", "offset")}
    except (ValueError, KeyError, TypeError):
        return None
    state["head"] = str(data.get("head", ""))
    extra = data.get("extra")
    state["extra"] = extra if isinstance(extra, dict) else {}
    return state


def save_state(
    path: str, info: os.stat_result, offset: int, head: str, extra: dict[str, Any] | None = None
) -> None:
    state: dict[str, Any] = {
        "inode": info.st_ino,
        "device": info.st_dev,
        "offset": offset,
        "head": head,
    }
    if extra:
        state["extra"] = extra
    write_json(path, state)


def rotated_candidates(log: str) -> list[str]:
    """Where logrotate or newsyslog puts the previous file (uncompressed ones only)."""
    directory, base = os.path.dirname(log) or ".", os.path.basename(log)
    try:
        dated = [n for n in os.listdir(directory) if n.startswith(base + "-")]
    except OSError:
        dated = []
    packed = (".gz", ".xz", ".bz2", ".zst")
    dated = sorted((n for n in dated if not n.endswith(packed)), reverse=True)
    return [f"{log}.1", f"{log}.0", *(os.path.join(directory, n) for n in dated)]


def plan(log: str, state_dir: str, prefix: str) -> Plan:
    """The byte ranges new since the position the previous run saved (see the module doc)."""
    try:
        info = os.stat(log)
        if not os.path.isfile(log):
            raise StateError(f"{log} is not a regular file")
        end = complete_end(log, info.st_size)
    except OSError as exc:
        raise StateError(f"cannot read {log}: {exc.strerror}") from None
    result = Plan(log=log, state_file=state_path(state_dir, log, prefix), info=info, end=end)
    state = load_state(result.state_file)
    start = 0
    if state is None:
        result.first_run = True
        result.notes.append("first run: whole log read, position saved")
    elif (state["inode"], state["device"]) == (info.st_ino, info.st_dev):
        result.extra = state["extra"]
        head = str(state["head"])
        try:
            same_head = head_of(log, len(head) // 2) == head
        except OSError as exc:
            raise StateError(f"cannot read {log}: {exc.strerror}") from None
        if info.st_size < state["offset"] or not same_head:
            result.notes.append("log truncated since the last run: read from its start")
        else:
            start = state["offset"]
    else:
        result.extra = state["extra"]
        old = None
        for candidate in rotated_candidates(log):
            try:
                cinfo = os.stat(candidate)
            except OSError:
                continue
            if (cinfo.st_ino, cinfo.st_dev) == (state["inode"], state["device"]):
                old = candidate, cinfo
                break
        if old is not None and old[1].st_size >= state["offset"]:
            result.segments.append(Segment(old[0], state["offset"], old[1].st_size))
            result.notes.append(f"log rotated: rest of {old[0]} read, then the new log")
        else:
            result.notes.append(
                "log rotated: the old file was not found, new log read from its start"
            )
    result.segments.append(Segment(log, start, end))
    return result


def commit(
    done: Plan, extra: dict[str, Any] | None = None, stopped: tuple[str, int] | None = None
) -> None:
    """Save the position reached and ``extra``: the end of the live log's complete lines, or
    ``stopped`` (path, offset) when the read ran out of time there.

    Stopped in a rotated file, the state names that file's inode: the next run finds it
    among the rotated candidates, reads its rest, then the live log from its start.
    """
    assert done.info is not None
    path, offset, info = done.log, done.end, done.info
    try:
        if stopped is not None:
            path, offset = stopped
            info = done.info if path == done.log else os.stat(path)
        head = head_of(path, min(offset, HEAD))
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror}") from None
    save_state(done.state_file, info, offset, head, extra)
