"""Parse ``dahdi show status`` (1.4: also ``zap show status``) in its four layouts.

* ``1.4``: 1.4.x, ``Description Alarms IRQ bpviol CRC4``, Alarms 10 wide;
* ``1.6``: 1.6.0 to 1.8.6, adds ``Fra Codi Options LBO``, Alarms 7 wide;
* ``1.8``: 1.8.7 to 18.22/20.7/21.2, header ``CRC`` instead of ``CRC4``;
* ``span``: 18.23+, 20.8+, 21.3+, 22: a leading ``Span`` column.

Description is the first 40 characters of a row (after the span number); the counters are
``%-6d``, so a large one pushes later columns right: the rest is read token by token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from asterisk_ami.errors import ParseError, excerpt

_LAYOUTS = {
    ("Description", "Alarms", "IRQ", "bpviol", "CRC4"): "1.4",
    ("Description", "Alarms", "IRQ", "bpviol", "CRC4", "Fra", "Codi", "Options", "LBO"): "1.6",
    ("Description", "Alarms", "IRQ", "bpviol", "CRC", "Fra", "Codi", "Options", "LBO"): "1.8",
    ("Span", "Description", "Alarms", "IRQ", "bpviol", "CRC", "Fra", "Codi", "Options", "LBO"): (
        "span"
    ),
}
#: How wide the Alarms column is: longer alarm lists are cut to it.
ALARM_WIDTH = {"1.4": 10, "1.6": 7, "1.8": 7, "span": 7}
DESCRIPTION_WIDTH = 40

#: Alarm tokens in the order chan_dahdi joins them, and the state each one means.
CRITICAL, WARNING = "critical", "warning"
ALARMS = {
    "BLU": CRITICAL,
    "YEL": WARNING,
    "RED": CRITICAL,
    "LB": CRITICAL,
    "REC": WARNING,
    "NOP": CRITICAL,
    "UUU": CRITICAL,
}
UNCONFIGURED = "UNCONFIGURED"

_COUNTERS = r"(?P<alarms>\S+) +(?P<irq>\d+) +(?P<bpv>\d+) +(?P<crc>\d+)"
_REST_14 = re.compile(_COUNTERS)
_REST_16 = re.compile(
    _COUNTERS + r" +(?P<framing>D4|ESF|CCS|CAS) +(?P<coding>B8ZS|HDB3|AMI|Unkn|Unk)"
    r"(?: +(?P<options>CRC4/YEL|CRC4|YEL)(?= |$))?(?: +(?P<lbo>\S.*))?"
)
_SPAN = re.compile(r"(?P<span>\d+) (?P<row>.*)")
# No DAHDI: 1.4.0-1.4.21 "No Zaptel interface found.", 1.4.22-1.4.44 "No DAHDI interface
# found.", 1.6+ "No DAHDI found. Unable to open /dev/dahdi/ctl: <reason>" and then the CLI
# core's "Command 'dahdi show status' failed." line.
_MISSING = re.compile(r"No (?:DAHDI|Zaptel) (?:interface )?found\..*")
_FAILED = re.compile(r"Command '[^']*' failed\.")


class DahdiSpan(NamedTuple):
    """One row of ``dahdi show status``."""

    number: int  # the Span column, or the row's position where there is none
    description: str
    alarms: str  # as printed, possibly cut to the column width ("UNCONFI", "BLU/YEL")
    irq_misses: int
    bpv: int
    crc: int
    framing: str = ""
    coding: str = ""
    options: str = ""
    lbo: str = ""
    #: the alarm text fills its column: more tokens may have been cut off
    cut: bool = False

    @property
    def unconfigured(self) -> bool:
        return len(self.alarms) >= 4 and UNCONFIGURED.startswith(self.alarms)

    @property
    def ok(self) -> bool:
        return self.alarms == "OK"

    @property
    def tokens(self) -> tuple[str, ...]:
        """The alarm tokens shown; a token cut short (1.4: ``RE``) is kept as printed."""
        if self.ok or self.unconfigured:
            return ()
        return tuple(t for t in self.alarms.split("/") if t)

    @property
    def severity(self) -> str:
        """``ok``, ``unconfigured``, ``warning`` or ``critical``; a cut token counts as the
        worst alarm it can be the start of (``RE`` is RED or REC: critical)."""
        if self.ok:
            return "ok"
        if self.unconfigured:
            return "unconfigured"
        states = set()
        for token in self.tokens:
            states |= {state for name, state in ALARMS.items() if name.startswith(token)}
        return CRITICAL if CRITICAL in states else WARNING


class DahdiStatus(NamedTuple):
    """What ``dahdi show status`` said: its layout and spans, or why there is no DAHDI."""

    layout: str
    spans: tuple[DahdiSpan, ...]
    #: chan_dahdi's own text when it found no DAHDI device (kernel modules not loaded)
    missing: tuple[str, ...] = ()


def _alarms(text: str, width: int, where: str) -> tuple[str, bool]:
    """Check the Alarms column against chan_dahdi's vocabulary; return it and whether cut."""
    cut = len(text) >= width
    if text == "OK" or (len(text) >= 4 and UNCONFIGURED.startswith(text)):
        return text, False
    tokens = text.rstrip("/").split("/")
    for index, token in enumerate(tokens):
        last = index == len(tokens) - 1
        known = token in ALARMS or (last and cut and any(a.startswith(token) for a in ALARMS))
        if not token or not known or (token == "UUU" and len(tokens) > 1):
            raise ParseError(f"unknown alarm {excerpt(text)} {where}")
    return text, cut


def _row(line: str, layout: str, position: int, where: str) -> DahdiSpan:
    number = position
    row = line
    if layout == "span":
        match = _SPAN.fullmatch(line.lstrip())
        if match is None:
            raise ParseError(f"no span number {where}: {excerpt(line)}")
        number, row = int(match["span"]), match["row"]
    description, rest = row[:DESCRIPTION_WIDTH].rstrip(), row[DESCRIPTION_WIDTH:]
    pattern = _REST_14 if layout == "1.4" else _REST_16
    fields = pattern.fullmatch(rest.strip()) if rest.startswith(" ") else None
    if fields is None or not description:
        raise ParseError(f"unexpected row {where}: {excerpt(line)}")
    alarms, cut = _alarms(fields["alarms"], ALARM_WIDTH[layout], where)
    extra = fields.groupdict() if layout != "1.4" else {}
    return DahdiSpan(
        number=number,
        description=description,
        alarms=alarms,
        irq_misses=int(fields["irq"]),
        bpv=int(fields["bpv"]),
        crc=int(fields["crc"]),
        framing=extra.get("framing") or "",
        coding=extra.get("coding") or "",
        options=extra.get("options") or "",
        lbo=extra.get("lbo") or "",
        cut=cut,
    )


def parse_dahdi_show_status(lines: Iterable[str]) -> DahdiStatus:
    """The spans of ``dahdi show status`` in the order printed, or DAHDI's "not found" text.

    Raises :class:`ParseError` on an unknown header, a row that does not fit its layout, an
    alarm word chan_dahdi does not print, or a span number listed twice.
    """
    text = [line.strip("\r").rstrip() for line in lines]  # a stray CR is a line-end artefact
    content = [line for line in text if line.strip()]
    if content and _MISSING.fullmatch(content[0].strip()):
        if len(content) > 2 or (len(content) == 2 and not _FAILED.fullmatch(content[1].strip())):
            raise ParseError(f"unexpected text after {excerpt(content[0])}")
        return DahdiStatus("none", (), tuple(line.strip() for line in content))
    if not content:
        raise ParseError("'dahdi show status' printed nothing, not even its header")
    layout = _LAYOUTS.get(tuple(content[0].split()))
    if layout is None:
        raise ParseError(f"unknown 'dahdi show status' header: {excerpt(content[0])}")
    header = next(index for index, line in enumerate(text) if line.strip())
    spans: list[DahdiSpan] = []
    seen: set[int] = set()
    position = 0
    for number, line in enumerate(text[header + 1 :], header + 2):
        if not line.strip():
            continue
        position += 1
        span = _row(line, layout, position, f"on line {number} of 'dahdi show status'")
        if span.number in seen:
            raise ParseError(f"span {span.number} listed twice in 'dahdi show status'")
        seen.add(span.number)
        spans.append(span)
    return DahdiStatus(layout, tuple(spans))
