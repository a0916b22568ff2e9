"""Parse ``pri show span N`` (Asterisk 1.4 to 22, libpri 1.4 to 1.6): what each D-channel is.

``pri show spans`` prints BRI spans with PRI wording; only this command tells them apart, by
libpri's ``Type:`` line (``BRI CPE PTMP``, ``BRI Network``...; libpri 1.4.12 and later).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from asterisk_ami.errors import ParseError, excerpt

_ORDER = re.compile(
    r"(?P<order>Primary|Secondary|Tertiary|Quaternary|<Unknown>) D-channel: (?P<channel>\d+)"
)
_STATUS = re.compile(
    r"Status: (?P<status>(?:Provisioned, )?(?P<alarm>In Alarm, )?(?P<l2>Up|Down), "
    r"(?P<role>Active|Standby))"
)
_TYPE = re.compile(r"Type: (?P<bri>BRI )?(?P<node>Network|CPE)(?P<ptmp> PTMP)?")
_SWITCH = re.compile(r"Switchtype: (?P<switch>.+)")
# Every other line libpri and chan_dahdi print is "Name: value" (timers indented), a bare
# "Name:" heading ("Timer and counter settings:", "CC records:") or "Total active-calls:0 ...".
_FIELD = re.compile(r"[^\s:][^:]*:(?:\s.*|\S.*)?")


class DChannelInfo(NamedTuple):
    """One D-channel block of ``pri show span N``."""

    order: str
    channel: int
    status: str
    in_alarm: bool
    up: bool
    active: bool
    node: str  # "CPE" (TE side) or "Network" (NT side)
    bri: bool
    ptmp: bool
    switchtype: str = ""

    @property
    def usable(self) -> bool:
        return self.up and not self.in_alarm

    @property
    def kind(self) -> str:
        """``TE PMP``, ``NT PTP``... as chan_misdn writes it; PRI spans are ``TE``/``NT``."""
        side = "NT" if self.node == "Network" else "TE"
        if not self.bri:
            return side
        return f"{side} {'PMP' if self.ptmp else 'PTP'}"


@dataclass
class _Block:
    order: str
    channel: int
    status: re.Match[str] | None = None
    type: re.Match[str] | None = None
    switchtype: str = ""


def parse_pri_show_span(lines: Iterable[str], span: int) -> list[DChannelInfo]:
    """The D-channel blocks of ``pri show span <span>`` in the order printed.

    Raises :class:`ParseError` on an error text ("No PRI running on span 3", "Invalid span"),
    usage text, a block without its ``Status:`` or ``Type:`` line, or a line of another shape.
    """
    command = f"'pri show span {span}'"
    blocks: list[_Block] = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        order = _ORDER.fullmatch(line)
        if order is not None:
            blocks.append(_Block(order["order"], int(order["channel"])))
            continue
        if not blocks or not _FIELD.fullmatch(line):
            raise ParseError(f"unexpected line {number} in {command}: {excerpt(line)}")
        block = blocks[-1]
        for name, pattern in (("status", _STATUS), ("type", _TYPE)):
            match = pattern.fullmatch(line)
            if match is not None:
                if getattr(block, name) is not None:
                    raise ParseError(f"two {name.title()} lines for one D-channel in {command}")
                setattr(block, name, match)
        switch = _SWITCH.fullmatch(line)
        if switch is not None:
            block.switchtype = switch["switch"]
    if not blocks:
        raise ParseError(f"{command} printed no D-channel")
    result = []
    for block in blocks:
        status, kind = block.status, block.type
        if status is None or kind is None:
            missing = "Status" if status is None else "Type"
            raise ParseError(f"D-channel {block.channel} in {command} has no {missing} line")
        result.append(
            DChannelInfo(
                order=block.order,
                channel=block.channel,
                status=status["status"],
                in_alarm=bool(status["alarm"]),
                up=status["l2"] == "Up",
                active=status["role"] == "Active",
                node=kind["node"],
                bri=bool(kind["bri"]),
                ptmp=bool(kind["ptmp"]),
                switchtype=block.switchtype,
            )
        )
    return result
