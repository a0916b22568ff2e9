"""Parse ``pri show channels`` (Asterisk 1.8.6 and later): B-channels and the calls on them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from asterisk_ami.errors import ParseError, excerpt

# SIG_PRI_SC_LINE "%4d %4d %-4s %-4s %-10s %-4s %s": span, DAHDI channel, B channel?, idle?,
# call level, call?, channel name (empty when idle; the line then ends in spaces).
_ROW = re.compile(
    r"(?P<span>\d+)\s+(?P<chan>\d+)\s+(?P<b>Yes|No)\s+(?P<idle>Yes|No)\s+(?P<level>\S+)"
    r"\s+(?P<call>Yes|No)(?:\s+(?P<name>\S+))?"
)
_HEADERS = (("PRI", "B", "Chan", "Call", "PRI", "Channel"), ("Span", "Chan", "Chan", "Idle"))


class PriChannel(NamedTuple):
    """One row: a B-channel (or a held call without one) of a PRI span."""

    span: int
    channel: int
    has_b_channel: bool
    idle: bool
    level: str
    name: str

    @property
    def in_call(self) -> bool:
        """A call occupies this B-channel (held calls without a B-channel are not counted)."""
        return self.has_b_channel and (not self.idle or bool(self.name))


def parse_pri_show_channels(lines: Iterable[str]) -> list[PriChannel]:
    """Rows of ``pri show channels`` in order; the two header lines are checked and skipped."""
    rows = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        words = tuple(line.split())
        if words[:6] == _HEADERS[0] or words[:4] == _HEADERS[1]:
            continue
        match = _ROW.fullmatch(line)
        if match is None:
            raise ParseError(f"unexpected line {number} in 'pri show channels': {excerpt(line)}")
        rows.append(
            PriChannel(
                int(match["span"]),
                int(match["chan"]),
                match["b"] == "Yes",
                match["idle"] == "Yes",
                match["level"],
                match["name"] or "",
            )
        )
    return rows
