"""Postfix reject lines caused by the policy service, since the last run, across rotation.

The incremental reading (state file, rotation, truncation, a half-written last line) is
:mod:`logtail`'s; the fast search for the reject texts is :mod:`logtail.search`'s (each
fingerprint found through its rarest byte, like grep). A line is decoded and parsed only
when it matched. Memory stays flat: one block at a time, plus one counter per offending
sender.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from isp_plugins.sources import logtail
from isp_plugins.sources.logtail import search as _search
from isp_plugins.sources.logtail.search import SAMPLE, Needle, needles

#: Reject texts of the three daemons, as they appear in Postfix's reject lines (or in
#: cbpolicyd's own log line for cluebringer).
FINGERPRINTS: tuple[bytes, ...] = (
    b"Policy Rejection- Quota Exceeded",  # policyd v1 (QUOTA_EXCEEDED_TEMP_REJECT either way)
    b"reason=quota_match",  # cluebringer module=Quotas
    b"Rate limit reach",  # policyd-rate-limit fail_action
)
BLOCK = _search.BLOCK
STATE_PREFIX = "check_ratelimit_offenders"
_SASL = re.compile(rb"sasl_username=<?([^\s,;>]+)")
_TRACK = re.compile(rb"\btrack=([^\s,;]+)")
_FROM = re.compile(rb"\bfrom=<([^>\s]*)>|\bfrom=([^\s,;<>]+)")
_CLIENT = re.compile(rb" from [^\s\[]*\[([0-9A-Fa-f.:]+)\]")


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


def matching_lines(
    handle: BinaryIO,
    start: int,
    end: int,
    fingerprints: Sequence[Needle],
    extra: re.Pattern[bytes] | None,
) -> Iterator[bytes]:
    """Whole lines of [start, end) holding a fingerprint or matching ``extra`` (in BLOCKs)."""
    return _search.matching_lines(handle, start, end, fingerprints, extra, BLOCK)


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


def state_path(state_dir: str, log: str) -> str:
    return logtail.state_path(state_dir, log, STATE_PREFIX)


def scan_log(log: str, state_dir: str, patterns: Sequence[str] = (), update: bool = True) -> Scan:
    """Count reject lines per sender since the position saved by the previous run.

    - first run (no state): the whole file;
    - rotated (another inode at the path): the rest of the old file when it is found as
      FILE.1 (or FILE-YYYYMMDD, uncompressed), then the new file from its start;
    - truncated (smaller than the saved offset): from the start.
    """
    extra = re.compile("|".join(f"(?:{p})" for p in patterns).encode()) if patterns else None
    todo = logtail.plan(log, state_dir, STATE_PREFIX)
    scan = Scan(notes=list(todo.notes), first_run=todo.first_run)
    for segment in todo.segments:
        _count(segment.path, segment.start, segment.end, scan, FINGERPRINTS, extra)
    if update:
        logtail.commit(todo)
    return scan
