"""Parse chan_misdn's ``misdn show stacks`` (Asterisk 1.4 to 18) into BRI ports."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from asterisk_ami.errors import ParseError, excerpt

HEADER = "BEGIN STACK_LIST:"
# 1.4/1.6 print "Port %d" and bare UP/DOWN; 1.8+ "Port %2d" and the link states padded to
# four ("UP  "); 1.8.19+/11.1+ print L2Link UNKN on NT point-to-multipoint ports.
_PORT = re.compile(
    r"\* Port +(?P<port>\d+) Type (?P<type>NT|TE) Prot\. (?P<prot>PTP|PMP) "
    r"L2Link (?P<l2>UP|DOWN|UNKN) +L1Link:(?P<l1>UP|DOWN) +Blocked:(?P<blocked>\d+) +"
    r"Debug:\d+(?:\(only\))?"
)
# A configured port whose mISDN stack did not come up prints only its debug level.
_NO_STACK = re.compile(r"Debug:\d+(?:\(only\))?")


class MisdnPort(NamedTuple):
    """One line of ``misdn show stacks``; ``number`` is None for a port without a stack."""

    number: int | None
    nt: bool = False
    ptp: bool = False
    l1: str = ""
    l2: str = ""
    blocked: bool = False

    @property
    def kind(self) -> str:
        """``TE PMP``, ``NT PTP``...: which side of the line, point-to-point or multipoint."""
        if self.number is None:
            return "no stack"
        return f"{'NT' if self.nt else 'TE'} {'PTP' if self.ptp else 'PMP'}"

    @property
    def judges_l2(self) -> bool:
        """chan_misdn cannot know layer 2 on an NT point-to-multipoint port (1.8.19+ says UNKN)."""
        return not (self.nt and not self.ptp) and self.l2 != "UNKN"

    @property
    def up(self) -> bool:
        """Layer 1 up, layer 2 up where it can be known, and not blocked."""
        if self.number is None or self.blocked or self.l1 != "UP":
            return False
        return self.l2 == "UP" or not self.judges_l2

    @property
    def links(self) -> str:
        return f"L1 {self.l1}, L2 {self.l2}" if self.number is not None else ""


def parse_misdn_show_stacks(lines: Iterable[str]) -> list[MisdnPort]:
    """The ports listed by ``misdn show stacks``, in the order printed.

    Raises :class:`ParseError` when the ``BEGIN STACK_LIST:`` header is missing, on any line
    it does not know, and on a port listed twice.
    """
    ports: list[MisdnPort] = []
    seen: set[int] = set()
    header = False
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if not header:
            if line != HEADER:
                raise ParseError(
                    f"'misdn show stacks' does not start with {HEADER}: {excerpt(line)}"
                )
            header = True
            continue
        match = _PORT.fullmatch(line)
        if match is not None:
            port = int(match["port"])
            if port in seen:
                raise ParseError(f"port {port} listed twice in 'misdn show stacks'")
            seen.add(port)
            ports.append(
                MisdnPort(
                    number=port,
                    nt=match["type"] == "NT",
                    ptp=match["prot"] == "PTP",
                    l1=match["l1"],
                    l2=match["l2"],
                    blocked=match["blocked"] != "0",
                )
            )
        elif _NO_STACK.fullmatch(line):
            ports.append(MisdnPort(number=None))
        else:
            raise ParseError(f"unexpected line {number} in 'misdn show stacks': {excerpt(line)}")
    if not header:
        raise ParseError(f"'misdn show stacks' printed nothing, not even {HEADER}")
    return ports
