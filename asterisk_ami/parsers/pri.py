"""Parse ``pri show spans`` (Asterisk 1.4 to 22) into spans and their D-channels."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from asterisk_ami.errors import ParseError, excerpt

# 1.4/1.6 print "Provisioned, " first; 1.8+ dropped it (sig_pri). One line per D-channel:
# index 0 is the primary, 1-3 the NFAS backups. "In Alarm" is the DAHDI span alarm seen on
# the D-channel, "Up"/"Down" is Q.921 layer 2, "Active"/"Standby" says which D-channel is in use.
_LINE = re.compile(
    r"PRI span (?P<span>\d+)/(?P<dchan>\d+): "
    r"(?P<status>(?P<prov>Provisioned, )?(?P<alarm>In Alarm, )?(?P<l2>Up|Down), "
    r"(?P<role>Active|Standby))"
)


class DChannel(NamedTuple):
    """One line of ``pri show spans``: the state of one D-channel of a span."""

    span: int
    dchan: int  # 0 is the primary; 1-3 the NFAS backups
    status: str
    in_alarm: bool
    up: bool
    active: bool

    @property
    def usable(self) -> bool:
        """Layer 2 up and no span alarm: this D-channel can carry signalling."""
        return self.up and not self.in_alarm


class PriSpan(NamedTuple):
    """A PRI (or libpri BRI) span with the D-channels listed for it."""

    number: int
    dchannels: tuple[DChannel, ...]

    @property
    def up(self) -> bool:
        """A span is up when one of its D-channels is Up without In Alarm."""
        return any(d.usable for d in self.dchannels)

    @property
    def in_alarm(self) -> bool:
        return any(d.in_alarm for d in self.dchannels)

    @property
    def state(self) -> str:
        """``up``, ``alarm`` (not up, a D-channel in alarm) or ``down``."""
        if self.up:
            return "up"
        return "alarm" if self.in_alarm else "down"

    @property
    def degraded(self) -> tuple[DChannel, ...]:
        """D-channels of an up span that are not usable: NFAS redundancy lost."""
        return tuple(d for d in self.dchannels if not d.usable) if self.up else ()


def parse_pri_show_spans(lines: Iterable[str]) -> list[PriSpan]:
    """Spans in ascending order from the lines of ``pri show spans``; no output means no spans.

    Raises :class:`ParseError` on any line that is not a span line (usage text, garbage).
    """
    found: dict[int, dict[int, DChannel]] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise ParseError(f"unexpected line {number} in 'pri show spans': {excerpt(line)}")
        span, index = int(match["span"]), int(match["dchan"])
        channels = found.setdefault(span, {})
        if index in channels:
            raise ParseError(f"D-channel {span}/{index} listed twice in 'pri show spans'")
        channels[index] = DChannel(
            span=span,
            dchan=index,
            status=match["status"],
            in_alarm=bool(match["alarm"]),
            up=match["l2"] == "Up",
            active=match["role"] == "Active",
        )
    return [
        PriSpan(span, tuple(channels[i] for i in sorted(channels)))
        for span, channels in sorted(found.items())
    ]
