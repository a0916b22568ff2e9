"""DAHDI channels from the ``DAHDIShowChannels`` action and ``dahdi show channel(s)`` (1.4-22)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from asterisk_ami.errors import ParseError, excerpt

NO_ALARM = "No Alarm"
#: What the CLI fallback reports for ``InAlarm: 1``: the CLI does not say which alarm.
ALARM_OF_UNKNOWN_KIND = "In Alarm"


class DahdiChannel(NamedTuple):
    """One chan_dahdi channel: its signalling, alarm and description."""

    number: int
    signalling: str
    alarm: str
    description: str = ""
    in_call: bool = False

    @property
    def port(self) -> str:
        """The hardware port: ``FXO`` (a telco line, FXS signalling), ``FXS`` (a phone), or ``""``.

        chan_dahdi names the signalling after the far end, so the two are inverted.
        """
        if self.signalling.startswith("FXS "):
            return "FXO"
        if self.signalling.startswith("FXO "):
            return "FXS"
        return ""

    @property
    def in_alarm(self) -> bool:
        return self.alarm != NO_ALARM


def _field(event: Mapping[str, Any], name: str) -> str:
    value = event.get(name, "")
    if isinstance(value, list):
        raise ParseError(f"DAHDIShowChannels event repeats {name}")
    return str(value).strip()


def parse_channel_events(events: Iterable[Mapping[str, Any]]) -> list[DahdiChannel]:
    """Channels from ``DAHDIShowChannels``/``ZapShowChannels`` events, in every field form.

    1.4 numbers the channel in ``Channel:``; 1.6+ in ``DAHDIChannel:``, where ``Channel:`` is
    the name of the call on it. The ack and the Complete event are not passed in.
    """
    channels = []
    for event in events:
        name = _field(event, "Event")
        if not name.endswith("ShowChannels"):
            raise ParseError(f"unexpected event {excerpt(name)} in the DAHDI channel list")
        number_text = _field(event, "DAHDIChannel") or _field(event, "Channel")
        if not (number_text.isascii() and number_text.isdigit()):
            raise ParseError(
                f"DAHDI channel event without a channel number: {excerpt(number_text)}"
            )
        signalling, alarm = _field(event, "Signalling"), _field(event, "Alarm")
        if not signalling or not alarm:
            raise ParseError(f"DAHDI channel {number_text} event lacks Signalling or Alarm")
        in_call = "DAHDIChannel" in event and bool(_field(event, "Channel"))
        channels.append(
            DahdiChannel(int(number_text), signalling, alarm, _field(event, "Description"), in_call)
        )
    return sorted(channels, key=lambda c: c.number)


# -- CLI ----------------------------------------------------------------------------------
#: The 18.23+/20.8+/21.3+/22 layout: %7s %4d %-20.20s %-10.10s %-15.15s %-8.8s %-20.20s
#: %-10.10s %-10.10s %-12.12s %-32.32s, one space between columns.
_WIDE_WIDTHS = (7, 4, 20, 10, 15, 8, 20, 10, 10, 12, 32)
_WIDE = {"signalling": 2, "alarm": 9, "description": 10}


class ChannelRow(NamedTuple):
    """A row of ``dahdi show channels``; signalling and alarm only in the 18.23+ layout."""

    number: int
    signalling: str | None = None
    alarm: str | None = None
    description: str = ""


def _columns(line: str) -> list[str]:
    cells, start = [], 0
    for width in _WIDE_WIDTHS:
        cells.append(line[start : start + width].strip())
        start += width + 1
    return cells


def parse_show_channels(lines: Iterable[str]) -> list[ChannelRow]:
    """Rows of ``dahdi show channels`` (any layout), without the pseudo channel."""
    rows: list[ChannelRow] = []
    wide = None
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if wide is None:
            words = line.split()
            if not words or words[0] != "Chan":
                raise ParseError(f"'dahdi show channels' header expected, got {excerpt(line)}")
            wide = "Signalling" in words and "Alarms" in words
            continue
        first = line.split()[0]
        if first == "pseudo":
            continue
        if not (first.isascii() and first.isdigit()):
            raise ParseError(f"unexpected line {number} in 'dahdi show channels': {excerpt(line)}")
        if wide:
            cells = _columns(line)
            rows.append(
                ChannelRow(
                    int(first),
                    cells[_WIDE["signalling"]],
                    cells[_WIDE["alarm"]] or None,
                    cells[_WIDE["description"]],
                )
            )
        else:
            rows.append(ChannelRow(int(first)))
    if wide is None:
        raise ParseError("'dahdi show channels' printed nothing")
    return rows


_DETAIL = re.compile(r"(Channel|Description|InAlarm|Signalling Type|Owner): ?(.*)")


def parse_show_channel(lines: Sequence[str]) -> DahdiChannel:
    """One channel from ``dahdi show channel N`` (``InAlarm`` says alarm or not, not which)."""
    fields: dict[str, str] = {}
    for raw in lines:
        match = _DETAIL.fullmatch(raw.strip())
        if match and match.group(1) not in fields:
            fields[match.group(1)] = match.group(2).strip()
    number, in_alarm = fields.get("Channel", ""), fields.get("InAlarm", "")
    if (
        not (number.isascii() and number.isdigit())
        or in_alarm not in ("0", "1")
        or "Signalling Type" not in fields
    ):
        raise ParseError(f"not a 'dahdi show channel' block: {excerpt(lines[0] if lines else '')}")
    owner = fields.get("Owner", "<None>")
    return DahdiChannel(
        int(number),
        fields["Signalling Type"],
        ALARM_OF_UNKNOWN_KIND if in_alarm == "1" else NO_ALARM,
        fields.get("Description", ""),
        in_call=owner not in ("", "<None>"),
    )
