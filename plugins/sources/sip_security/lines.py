"""One Asterisk log line -> one authentication event, or None.

Forms read (facts: asterisk-formats.md §7):

chan_sip (1.4 to 20), ``handle_request_register``::

    Registration from '<sip:1001@192.0.2.10>' failed for '203.0.113.5' - Wrong password
    Registration from '<sip:1001@192.0.2.10>' failed for '203.0.113.5:5060' - Wrong password

  the address is the IP alone on 1.4/1.6, IP:port from 1.8 (IPv6 as ``[addr]:port``).

PJSIP (12 to 22), three forms::

    Request from '<from>' failed for '203.0.113.5:5060' (callid: X) - No matching endpoint found
    Request 'REGISTER' from '<from>' failed for '203.0.113.5:5060' (callid: X) - <reason>
    Request 'REGISTER' from '<from>' failed for '[2001:db8::5]:5060' (callid: X) - <reason>

  where <reason> may end with ``after N tries in X ms``.

res_security_log (1.8+; chan_sip from 10, PJSIP from 12)::

    SecurityEvent="InvalidPassword",EventTV="1331372400-123456",...,AccountID="1001",...,
        RemoteAddress="IPV4/UDP/203.0.113.5/5060"
    SecurityEvent="ChallengeResponseFailed",EventTV="2024-05-01T10:15:30.123+0200",...

  ``InvalidAccountID``, ``ChallengeResponseFailed`` and ``InvalidPassword`` are failures,
  ``SuccessfulAuth`` a success; services other than SIP and PJSIP (AMI logins) are left out.

Line prefixes: the logger's ``[Mar  1 10:00:00]`` (default ``dateformat``, no year),
``[2024-05-01 10:15:30]`` or ``[2024-05-01 10:15:30.123]`` (``dateformat=%F %T`` and
``%F %T.%3q``), and the same stamps without brackets at the start of a syslog line.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import re
import time
from dataclasses import dataclass

#: Fixed texts every line we read holds: the log is searched for these first (logtail.search).
FINGERPRINTS: tuple[bytes, ...] = (
    b"' failed for '",  # chan_sip Registration ... and PJSIP Request ... lines
    b'SecurityEvent="InvalidPassword"',
    b'SecurityEvent="ChallengeResponseFailed"',
    b'SecurityEvent="InvalidAccountID"',
    b'SecurityEvent="SuccessfulAuth"',
)

#: chan_sip reasons that are an authentication failure (the ones fail2ban's stock filter
#: bans for); "RTP initialization failed" or a wrong transport are not an attack.
SIP_REASONS = frozenset(
    {
        "Wrong password",
        "No matching peer found",
        "Username/auth name mismatch",
        "Not a local domain",
        "Device does not match ACL",
        "Peer is not supposed to register",
        "ACL error (permit/deny)",
    }
)
PJSIP_REASONS = frozenset(
    {
        "No matching endpoint found",
        "Not match Endpoint ACL",
        "Not match Endpoint Contact ACL",
        "Failed to authenticate",
    }
)
FAILURE_EVENTS = frozenset({"InvalidAccountID", "ChallengeResponseFailed", "InvalidPassword"})
SUCCESS_EVENT = "SuccessfulAuth"
SERVICES = frozenset({"SIP", "PJSIP"})

_CHAN_SIP = re.compile(
    r"Registration from '(?P<who>.*)' failed for '(?P<addr>[^']*)' - (?P<reason>.*?)\s*$"
)
_PJSIP = re.compile(
    r"Request (?:'(?P<method>[^']*)' )?from '(?P<who>.*)' failed for '(?P<addr>[^']*)' "
    r"\(callid: (?P<callid>.*?)\) - (?P<reason>.*?)(?: after \d+ tries in [\d.]+ ms)?\s*$"
)
_EVENT = re.compile(r'SecurityEvent="(?P<name>\w+)"(?P<rest>.*)$')
_FIELD = re.compile(r',(\w+)="(.*?)"(?=,\w+="|\s*$)')
_URI_USER = re.compile(r"sips?:([^@;>\s]+)@", re.IGNORECASE)
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


@dataclass(frozen=True)
class AuthEvent:
    """One authentication attempt seen in the log."""

    ok: bool
    #: The remote IP address (normalised when it parses, else as logged).
    source: str
    #: The account tried: the peer/endpoint/AccountID, or the user part of the SIP URI.
    account: str
    #: The reason or event name, as logged.
    reason: str
    #: ``chan_sip``, ``pjsip`` (NOTICE lines) or ``security`` (res_security_log).
    form: str
    #: Seconds since the epoch, when the line carries a stamp we read.
    when: float | None = None


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


@functools.lru_cache(maxsize=4096)
def normal_address(text: str, with_port: bool) -> str:
    """The IP of ``1.2.3.4``, ``1.2.3.4:5060``, ``[2001:db8::1]:5060``, ``2001:db8::1:5060``.

    ``with_port``: an unbracketed address with several colons ends with a port (PJSIP's
    ``'%s:%d'``); otherwise it is a bare IPv6 address.
    """
    text = text.strip()
    if text.startswith("["):
        host = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1 or (with_port and text.count(":") > 1):
        host = text.rsplit(":", 1)[0]
    else:
        host = text
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return host


def uri_user(text: str) -> str:
    """The user part of the SIP URI in a To/From header, else the header text itself."""
    match = _URI_USER.search(text)
    return match.group(1) if match else text.strip().strip("<>\"'")


def security_fields(rest: str) -> dict[str, str]:
    return {key: value for key, value in _FIELD.findall(rest)}


def parse_line(line: str, now: float | None = None) -> AuthEvent | None:
    """The authentication event in one log line, or None when the line holds none."""
    if "SecurityEvent=" in line:
        return _security(line, now)
    if "' failed for '" not in line:
        return None
    match = _CHAN_SIP.search(line)
    if match:
        if match.group("reason") not in SIP_REASONS:
            return None
        return AuthEvent(
            ok=False,
            source=normal_address(match.group("addr"), with_port=False),
            account=uri_user(match.group("who")),
            reason=match.group("reason"),
            form="chan_sip",
            when=line_stamp(line, now),
        )
    match = _PJSIP.search(line)
    if match and match.group("reason") in PJSIP_REASONS:
        return AuthEvent(
            ok=False,
            source=normal_address(match.group("addr"), with_port=True),
            account=uri_user(match.group("who")),
            reason=match.group("reason"),
            form="pjsip",
            when=line_stamp(line, now),
        )
    return None


def _security(line: str, now: float | None) -> AuthEvent | None:
    match = _EVENT.search(line)
    if not match:
        return None
    name = match.group("name")
    if name not in FAILURE_EVENTS and name != SUCCESS_EVENT:
        return None
    fields = security_fields(match.group("rest"))
    if fields.get("Service") not in SERVICES:
        return None
    remote = fields.get("RemoteAddress", "")
    parts = remote.split("/")
    source = normal_address(parts[2], with_port=False) if len(parts) >= 3 else remote
    if not source:
        return None
    when = line_stamp(line, now)
    if when is None and "EventTV" in fields:
        when = stamp_seconds(fields["EventTV"], now)
    return AuthEvent(
        ok=name == SUCCESS_EVENT,
        source=source,
        account=fields.get("AccountID", ""),
        reason=name,
        form="security",
        when=when,
    )
