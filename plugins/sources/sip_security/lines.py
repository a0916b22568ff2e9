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

Line prefixes (the logger's ``[Mar  1 10:00:00]``, ``[2024-05-01 10:15:30.123]``, syslog
stamps) and EventTV are read by :mod:`logtail.stamps`.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass

from isp_plugins.sources.logtail.stamps import line_stamp, stamp_seconds

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
