"""chan_sip and IAX2 peers and registrations: PeerEntry/RegistryEntry events and CLI (1.4-22)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from asterisk_ami.errors import ParseError, excerpt

# Peer states, one word each whatever the technology (PJSIP's are mapped to them in pjsip.py).
OK = "OK"
LAGGED = "LAGGED"
UNREACHABLE = "UNREACHABLE"
UNKNOWN = "UNKNOWN"  # monitored, but no qualify answered yet (or no address to ask)
UNMONITORED = "Unmonitored"

#: chan_sip's and chan_iax2's peer_status() words (identical from 1.4 to 22).
_STATUS = re.compile(r"(OK|LAGGED) \((\d+) ms\)|(UNREACHABLE|UNKNOWN|Unmonitored)")


class Peer(NamedTuple):
    """One peer (chan_sip, IAX2) or endpoint (PJSIP) and how its qualify last went."""

    tech: str  # SIP, IAX2 or PJSIP
    name: str
    state: str  # OK, LAGGED, UNREACHABLE, UNKNOWN or Unmonitored
    rtt_ms: float | None = None
    address: str = ""
    #: A static host (chan_sip/IAX2) or an outbound auth (PJSIP): the PBX calls out to it.
    static: bool = False
    #: What Asterisk said, verbatim (PJSIP: the device state and the contacts' states).
    detail: str = ""
    #: The name may be cut: ``iax2 show peers`` prints at most NAME_WIDTH characters of
    #: name/username, so a name that fills them (no "/" left) may be longer.
    cut: bool = False

    @property
    def monitored(self) -> bool:
        return self.state != UNMONITORED

    @property
    def reachable(self) -> bool:
        return self.state in (OK, LAGGED)


class Registration(NamedTuple):
    """One outbound registration of the PBX to a server and its state, in Asterisk's words."""

    tech: str
    name: str
    state: str
    #: chan_sip: when it last registered (Unix time, 0 if never); PJSIP: seconds to the next try.
    since: int | None = None
    next_retry: int | None = None
    #: PJSIP (``pjsip show registrations`` of 16.27, 18.13, 19.5, 20+): a Registered one's
    #: seconds since its refresh was due (``(exp. 13s ago)``); None if not overdue or not said.
    overdue: int | None = None


def peer_state(status: str) -> tuple[str, float | None]:
    """``OK (3 ms)`` -> (OK, 3.0): a status of chan_sip or chan_iax2 as state and RTT."""
    match = _STATUS.fullmatch(status.strip())
    if match is None:
        raise ParseError(f"unknown peer status {excerpt(status)}")
    if match.group(1):
        return match.group(1), float(match.group(2))
    return match.group(3), None


def plain(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as a plain dict: the client's case-insensitive maps cost ten times more per
    lookup, which shows on a PBX with thousands of peers."""
    store = getattr(event, "_store", None)  # panoramisk's map: {lower: (name, value)}
    if isinstance(store, dict):
        return dict(store.values())
    return dict(event.items())


def _field(event: Mapping[str, Any], name: str) -> str:
    """One header of an event (a plain dict: see plain), stripped; repeated is an error."""
    value = event.get(name, "")
    if isinstance(value, list):
        raise ParseError(f"{event.get('Event', 'AMI')} event repeats {name}")
    return str(value).strip()


def _address(host: str, port: str) -> str:
    if host in ("", "-none-", "(null)", "(Unspecified)") or port in ("", "0", "(null)"):
        return ""
    return f"{host}:{port}"


#: The PeerEntry fields read, in the order a repeated one is reported.
_PEER_FIELDS = ("Event", "Channeltype", "ObjectName", "Status", "IPport", "Port", "IPaddress")
_CHANNEL_TYPES = {"SIP": "SIP", "IAX": "IAX2", "IAX2": "IAX2"}


def parse_peer_events(events: Iterable[Mapping[str, Any]]) -> list[Peer]:
    """Peers from ``SIPpeers``, ``IAXpeerlist`` or ``IAXpeers`` (``PeerEntry`` events)."""
    peers: list[Peer] = []
    append = peers.append
    # Peer._make: without Peer's Python-level __new__ (one per peer), its length checked
    make = Peer._make
    statuses: dict[str, tuple[str, float | None]] = {}  # a PBX's peers share a few statuses
    for raw in events:
        store = getattr(raw, "_store", None)  # plain(raw), written out
        event = dict(store.values()) if isinstance(store, dict) else dict(raw.items())
        get = event.get
        if list in map(type, event.values()):  # a repeated header: is it one we read?
            for name in _PEER_FIELDS:
                _field(event, name)  # raises for the first repeated one
        kind = str(get("Event", "")).strip()
        if kind != "PeerEntry":
            raise ParseError(f"unexpected event {excerpt(kind)} in a peer list")
        channel = str(get("Channeltype", "")).strip()
        tech = _CHANNEL_TYPES.get(channel)
        name = str(get("ObjectName", "")).strip()
        if tech is None or not name:
            raise ParseError(
                f"PeerEntry without a known Channeltype and ObjectName: {channel!r:.40}"
            )
        if tech == "IAX2" and "ObjectUsername" not in event:
            name = name.split("/", 1)[0]  # IAXpeers and IAXpeerlist write name/username
        status = str(get("Status", "")).strip()
        known = statuses.get(status)
        if known is None:
            known = statuses[status] = peer_state(status)
        port = str(get("IPport", "")).strip() or str(get("Port", "")).strip()
        append(
            make(
                (
                    tech,
                    name,
                    known[0],
                    known[1],
                    _address(str(get("IPaddress", "")).strip(), port),
                    str(get("Dynamic", "")).strip() == "no",
                    status,
                    False,
                ),
            )
        )
    return peers


def parse_registry_events(tech: str, events: Iterable[Mapping[str, Any]]) -> list[Registration]:
    """Registrations from ``SIPshowregistry`` or ``IAXregistry`` (``RegistryEntry`` events)."""
    found = []
    for event in map(plain, events):
        if _field(event, "Event") != "RegistryEntry":
            raise ParseError(f"unexpected event {excerpt(_field(event, 'Event'))} in a registry")
        host, port, user = _field(event, "Host"), _field(event, "Port"), _field(event, "Username")
        state = _field(event, "State")
        if not host or not state:
            raise ParseError("RegistryEntry without Host or State")
        server = f"{host}:{port}" if port and ":" not in host else host
        since = _field(event, "RegistrationTime")
        found.append(
            Registration(tech, f"{user}@{server}", state, int(since) if since.isdigit() else None)
        )
    return found


# -- CLI ----------------------------------------------------------------------------------
# The CLI's patterns are compiled on first use (re.match's cache), not on import: only the
# fallback reads them, and compiling them cost an AMI check a millisecond.
#: ``sip show peers``/``iax2 show peers`` rows: the name, the host, then the status words
#: anywhere further on (LAGGED overflows its column, and the columns moved between versions).
_ROW = r"(\S+)\s+(\S+)(.*?)\s((?:OK|LAGGED) \(\d+ ms\)|UNREACHABLE|UNKNOWN|Unmonitored)"
_TRAILER = r"\d+ (?:sip|iax2) peers\b"
_REGISTRY_TRAILER = r"\d+ (?:SIP|IAX2) registrations"


def _table_rows(
    lines: Sequence[str], header: str, what: str, command: str, trailer: str
) -> Iterator[str]:
    """The rows of a CLI table (right-stripped), blank lines skipped: its first line must
    start with ``header``, and the rows end at a ``trailer`` line or with the output.
    Raises ParseError on another first line, or when ``command`` printed nothing."""
    header_seen = False
    for raw in lines:
        line = raw.rstrip()
        if not line.strip():
            continue
        if not header_seen:
            if not line.startswith(header):
                raise ParseError(f"{what} header expected, got {excerpt(line)}")
            header_seen = True
            continue
        if re.match(trailer, line):
            return
        yield line
    if not header_seen:
        raise ParseError(f"'{command}' printed nothing")


#: ``iax2 show peers`` writes name/username with ``%-15.15s`` (every version, 1.4 to 22).
NAME_WIDTH = 15


def parse_show_peers(tech: str, lines: Sequence[str]) -> list[Peer]:
    """``sip show peers`` or ``iax2 show peers``. IAX2 cuts name/username to 15 characters:
    the name is whole when a "/" is left, and may be cut when it fills the 15 (Peer.cut)."""
    peers = []
    command = f"{tech.lower()} show peers"
    for line in _table_rows(lines, "Name/", "peer list", command, _TRAILER):
        match = re.match(_ROW, line)
        if match is None:
            raise ParseError(f"unreadable peer line {excerpt(line)}")
        name, host, middle, status = match.groups()
        state, rtt = peer_state(status)
        words = middle.split()
        dynamic = "D" in words or "(D)" in words
        port = next((w for w in reversed(words) if w.isdigit()), "")
        cut = tech == "IAX2" and len(name) >= NAME_WIDTH and "/" not in name
        peers.append(
            Peer(
                tech,
                name.split("/", 1)[0],
                state,
                rtt,
                _address(host, port),
                not dynamic,
                status,
                cut,
            )
        )
    return peers


_SIP_STATES = (
    "No Authentication|Request Sent|Auth\\. Sent|Registered|Unregistered|Rejected|Failed|"
    "Timeout|Unknown"
)
#: 1.4: host, username, refresh, state; 1.6+: host, dnsmgr, username, refresh, state.
_SIP_REG = rf"(\S+)\s+(?:[NY]\s+)?(\S+)\s+\d+\s+({_SIP_STATES})\b"
#: Every version: host, dnsmgr, username, perceived, refresh, state.
_IAX_REG = rf"(\S+)\s+[NY]\s+(\S+)\s+\S+\s+\d+\s+({_SIP_STATES})\s*$"


def parse_show_registry(tech: str, lines: Sequence[str]) -> list[Registration]:
    """``sip show registry`` or ``iax2 show registry``."""
    pattern = _SIP_REG if tech == "SIP" else _IAX_REG
    found = []
    command = f"{tech.lower()} show registry"
    for line in _table_rows(lines, "Host", "registry", command, _REGISTRY_TRAILER):
        match = re.match(pattern, line)
        if match is None:
            raise ParseError(f"unreadable registration line {excerpt(line)}")
        host, user, state = match.groups()
        found.append(Registration(tech, f"{user}@{host}", state))
    return found
