"""Postfix reject lines caused by the policy service, since the last run, across rotation.

Speed: the file is read in big blocks, searched in place like grep does: for each
fingerprint, ``bytes.find`` of its single rarest byte (memchr, several GB/s), then the
whole fingerprint is compared only where that byte is. The rarest byte is taken from a
sample of the log itself (see :class:`Needle`). A line is decoded and parsed only when it
matched. Memory stays flat: one block at a time, plus one counter per offending sender.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

#: Reject texts of the three daemons, as they appear in Postfix's reject lines (or in
#: cbpolicyd's own log line for cluebringer).
FINGERPRINTS: tuple[bytes, ...] = (
    b"Policy Rejection- Quota Exceeded",  # policyd v1 (QUOTA_EXCEEDED_TEMP_REJECT either way)
    b"reason=quota_match",  # cluebringer module=Quotas
    b"Rate limit reach",  # policyd-rate-limit fail_action
)
BLOCK = 4 << 20
HEAD = 64
_SASL = re.compile(rb"sasl_username=<?([^\s,;>]+)")
_TRACK = re.compile(rb"\btrack=([^\s,;]+)")
_FROM = re.compile(rb"\bfrom=<([^>\s]*)>|\bfrom=([^\s,;<>]+)")
_CLIENT = re.compile(rb" from [^\s\[]*\[([0-9A-Fa-f.:]+)\]")


class StateError(Exception):
    """The state directory or file cannot be used (UNKNOWN)."""


@dataclass
class Scan:
    """Reject lines per sender since the last run."""

    rejects: Counter[str] = field(default_factory=Counter)
    bytes_read: int = 0
    notes: list[str] = field(default_factory=list)
    first_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.rejects.values())


def identity(line: bytes) -> str:
    """The SASL user, else cluebringer's track key, else the envelope sender, else the IP."""
    for pattern in (_SASL, _TRACK, _FROM):
        match = pattern.search(line)
        if match:
            value = next(g for g in match.groups() if g is not None)
            if value:
                return value.decode("utf-8", "replace")
    match = _CLIENT.search(line)
    return match.group(1).decode() if match else "<>"


#: Bytes of the log sampled to pick each fingerprint's anchor byte.
SAMPLE = 1 << 18


@dataclass(frozen=True)
class Needle:
    """A fingerprint and the offset of its anchor: the byte that is rarest in the log.

    ``bytes.find`` of a long needle runs at 1 to 4 GB/s (CPython's Horspool loop steps
    one byte at a time whenever the next byte is one of the needle's). ``bytes.find`` of
    one byte is memchr, like grep's inner loop, so each fingerprint costs one memchr pass
    plus a comparison wherever its rarest byte occurs.
    """

    text: bytes
    at: int

    @classmethod
    def pick(cls, text: bytes, sample: bytes) -> Needle:
        """The fingerprint's byte least frequent in ``sample`` (the first on a tie)."""
        counts = {byte: sample.count(byte) for byte in sorted(set(text))}
        rarest = min(range(len(text)), key=lambda i: (counts[text[i]], i))
        return cls(text, rarest)

    def lines(self, data: bytes, start: int, end: int, found: set[int]) -> None:
        """Adds the offsets of the lines of data[start:end] holding the fingerprint."""
        anchor, text, at = self.text[self.at : self.at + 1], self.text, self.at
        size = len(text)
        hit = data.find(anchor, start + at, end)
        while hit >= 0:
            first = hit - at
            if data.startswith(text, first, first + size) and first + size <= end:
                found.add(data.rfind(b"\n", start, first) + 1 or start)
                tail = data.find(b"\n", first + size, end)
                if tail < 0:
                    break
                hit = data.find(anchor, tail + at, end)
            else:
                hit = data.find(anchor, hit + 1, end)


def needles(fingerprints: Sequence[bytes], sample: bytes) -> tuple[Needle, ...]:
    return tuple(Needle.pick(text, sample) for text in fingerprints)


def _heads(
    data: bytes,
    start: int,
    end: int,
    fingerprints: Sequence[Needle],
    extra: re.Pattern[bytes] | None,
) -> set[int]:
    """Offsets of the lines of data[start:end] that hold a fingerprint or match ``extra``."""
    found: set[int] = set()
    for needle in fingerprints:
        needle.lines(data, start, end, found)
    if extra is not None:
        for match in extra.finditer(data, start, end):
            found.add(data.rfind(b"\n", start, match.start()) + 1 or start)
    return found


def _lines(data: bytes, heads: set[int], end: int) -> Iterator[bytes]:
    for head in sorted(heads):
        tail = data.find(b"\n", head, end)
        yield data[head : tail if tail >= 0 else end]


def matching_lines(
    handle: BinaryIO,
    start: int,
    end: int,
    fingerprints: Sequence[Needle],
    extra: re.Pattern[bytes] | None,
) -> Iterator[bytes]:
    """Whole lines of [start, end) holding a fingerprint or matching ``extra``.

    Blocks are searched in place (no copy); only the line that straddles two blocks is
    joined.
    """
    handle.seek(start)
    position, carry = start, b""
    while position < end:
        block = handle.read(min(BLOCK, end - position))
        if not block:
            break
        position += len(block)
        last = len(block) if position >= end else block.rfind(b"\n") + 1
        if last == 0:  # no newline in a whole block: one very long line
            carry += block
            continue
        first = block.find(b"\n") + 1 if carry else 0
        if carry:
            joined = carry + block[:first]
            yield from _lines(
                joined, _heads(joined, 0, len(joined), fingerprints, extra), len(joined)
            )
        yield from _lines(block, _heads(block, first, last, fingerprints, extra), last)
        carry = block[last:]
    if carry:
        yield from _lines(carry, _heads(carry, 0, len(carry), fingerprints, extra), len(carry))


def _count(
    path: str,
    start: int,
    end: int,
    scan: Scan,
    fingerprints: Sequence[bytes],
    extra: re.Pattern[bytes] | None,
) -> None:
    with open(path, "rb", buffering=0) as handle:
        handle.seek(start)
        found = needles(fingerprints, handle.read(min(SAMPLE, max(0, end - start))))
        for line in matching_lines(handle, start, end, found, extra):
            if b"reject:" in line or b"reason=quota_match" in line or extra is not None:
                scan.rejects[identity(line)] += 1
    scan.bytes_read += max(0, end - start)


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


def state_path(state_dir: str, log: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.abspath(log).strip("/"))
    return os.path.join(state_dir, f"check_ratelimit_offenders.{name}.json")


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


def load_state(path: str) -> dict[str, int] | None:
    """The saved position, or None on a first run. A state file that another user owns, or
    a symlink, is refused: in a shared directory it could hide rejects from us."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read state {path}: {exc.strerror}") from None
    with os.fdopen(fd, encoding="utf-8") as handle:
        owner = os.fstat(handle.fileno()).st_uid
        if owner != os.geteuid():
            raise StateError(f"state {path} belongs to uid {owner}, not to us: refused")
        try:
            data = json.load(handle)
        except ValueError:
            return None  # unreadable state: start again from the beginning
    try:
        state = {k: int(data[k]) for k in ("inode", "device", "offset")}
        state["head"] = str(data.get("head", ""))  # type: ignore[assignment]
        return state
    except (ValueError, KeyError, TypeError):
        return None


def save_state(path: str, info: os.stat_result, offset: int, head: str) -> None:
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        # An unpredictable name, created exclusively: safe in a shared directory too.
        fd, temp = tempfile.mkstemp(prefix=".check_ratelimit_offenders.", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            state = {"inode": info.st_ino, "device": info.st_dev, "offset": offset, "head": head}
            json.dump(state, handle)
        os.replace(temp, path)
    except OSError as exc:
        raise StateError(f"cannot write state {path}: {exc.strerror}") from None


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


def scan_log(log: str, state_dir: str, patterns: Sequence[str] = (), update: bool = True) -> Scan:
    """Count reject lines per sender since the position saved by the previous run.

    - first run (no state): the whole file;
    - rotated (another inode at the path): the rest of the old file when it is found as
      FILE.1 (or FILE-YYYYMMDD, uncompressed), then the new file from its start;
    - truncated (smaller than the saved offset): from the start.
    """
    extra = re.compile("|".join(f"(?:{p})" for p in patterns).encode()) if patterns else None
    try:
        info = os.stat(log)
        if not os.path.isfile(log):
            raise StateError(f"{log} is not a regular file")
        end = complete_end(log, info.st_size)
    except OSError as exc:
        raise StateError(f"cannot read {log}: {exc.strerror}") from None
    spath = state_path(state_dir, log)
    state = load_state(spath)
    scan = Scan()
    start = 0
    if state is None:
        scan.first_run = True
        scan.notes.append("first run: whole log read, position saved")
    elif (state["inode"], state["device"]) == (info.st_ino, info.st_dev):
        head = str(state["head"])
        if info.st_size < state["offset"] or head_of(log, len(head) // 2) != head:
            scan.notes.append("log truncated since the last run: read from its start")
        else:
            start = state["offset"]
    else:
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
            _count(old[0], state["offset"], old[1].st_size, scan, FINGERPRINTS, extra)
            scan.notes.append(f"log rotated: rest of {old[0]} read, then the new log")
        else:
            scan.notes.append(
                "log rotated: the old file was not found, new log read from its start"
            )
    _count(log, start, end, scan, FINGERPRINTS, extra)
    if update:
        save_state(spath, info, end, head_of(log, min(end, HEAD)))
    return scan
