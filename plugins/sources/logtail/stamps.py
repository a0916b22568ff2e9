"""The time at the start of a log line: syslog, rsyslog's ISO 8601, Asterisk's logger.

One parser for every reader of a log (the SIP security log, the Postfix mail log):

- ``Mar  1 10:00:00`` (syslog and Asterisk's default ``dateformat``, no year: the year of
  ``now``, or the one before when that would put the stamp more than a day ahead);
- ``2024-05-01 10:15:30``, ``2024-05-01T10:15:30.123456+02:00`` (rsyslog's
  ``RSYSLOG_FileFormat``, Postfix's ``maillog_file`` with ISO stamps, ``dateformat=%F %T``),
  local time unless a zone is given;
- the same bracketed (``[Mar  1 10:00:00]``: Asterisk's logger);
- Asterisk's EventTV ``seconds-microseconds`` (res_security_log, 1.8 to 11).
"""

from __future__ import annotations

import datetime
import functools
import re
import time

_BRACKETED = re.compile(r"^\[([^\]]{8,40})\]")
_SYSLOG = re.compile(
    r"^([A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d"
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)\s"
)
_CLASSIC = re.compile(r"([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?$")
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$")
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
#: A year-less stamp more than this far in the future belongs to last year.
_FUTURE_SLACK = 86400.0


def stamp_seconds(text: str, now: float | None = None) -> float | None:
    """Seconds since the epoch of a logger or EventTV stamp, or None (see :func:`_stamp`)."""
    if now is None:
        return _stamp(text, None)
    # A log repeats its stamps (many lines a second under attack): read each once per run.
    return _cached_stamp(text, now)


@functools.lru_cache(maxsize=4096)
def _cached_stamp(text: str, now: float) -> float | None:
    return _stamp(text, now)


def _stamp(text: str, now: float | None = None) -> float | None:
    """Seconds since the epoch of a logger or EventTV stamp, or None.

    Year-less stamps (``Mar  1 10:00:00``) take the year of ``now`` (or the one before when
    that would put them more than a day ahead); stamps without a zone are local time.
    """
    text = text.strip()
    try:
        match = _CLASSIC.match(text)
        if match:
            month = _MONTHS.get(match.group(1))
            if month is None:
                return None
            current = time.time() if now is None else now
            year = time.localtime(current).tm_year
            fields = [int(match.group(i)) for i in (2, 3, 4, 5)]
            seconds = _local(year, month, *fields)
            if seconds > current + _FUTURE_SLACK:
                seconds = _local(year - 1, month, *fields)
            return seconds + _fraction(match.group(6))
        match = _ISO.match(text)
        if match:
            parts = [int(match.group(i)) for i in range(1, 7)]
            zone = match.group(8)
            if zone is None:
                return _local(*parts) + _fraction(match.group(7))
            offset = (
                0
                if zone == "Z"
                else int(zone[0] + "1") * (int(zone[1:3]) * 3600 + int(zone[-2:]) * 60)
            )
            year, month, day, hour, minute, second = parts
            moment = datetime.datetime(
                year, month, day, hour, minute, second, tzinfo=datetime.timezone.utc
            )
            return moment.timestamp() - offset + _fraction(match.group(7))
        match = re.fullmatch(r"(\d{1,12})-(\d{1,6})", text)  # EventTV "%u-%u" (1.8 to 11)
        if match:
            return int(match.group(1)) + int(match.group(2)) / 1e6
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _local(year: int, month: int, day: int, hour: int, minute: int, second: int) -> float:
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 62):
        raise ValueError("not a date")
    return time.mktime((year, month, day, hour, minute, second, 0, 0, -1))


def _fraction(digits: str | None) -> float:
    return float("0." + digits) if digits else 0.0


def line_stamp(line: str, now: float | None = None) -> float | None:
    """The time at the start of a log line, bracketed (Asterisk's logger) or not (syslog)."""
    match = _BRACKETED.match(line) or _SYSLOG.match(line)
    return stamp_seconds(match.group(1), now) if match else None
