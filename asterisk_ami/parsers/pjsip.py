"""PJSIP endpoints, their contacts and outbound registrations: AMI events and the CLI (12-22).

The outbound registration and endpoint actions also send ``AuthDetail`` events that carry
the plain-text password: nothing here keeps any field of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from asterisk_ami.errors import ParseError, excerpt
from asterisk_ami.parsers.peers import (
    OK,
    UNKNOWN,
    UNMONITORED,
    UNREACHABLE,
    Peer,
    Registration,
    plain,
)

#: Contact states: AMI's long words and the CLI's short ones, as our peer states.
_CONTACT_STATES = {
    "Reachable": OK,
    "Avail": OK,
    "Unreachable": UNREACHABLE,
    "Unavail": UNREACHABLE,
    "NonQualified": UNMONITORED,
    "NonQual": UNMONITORED,
    "Created": UNMONITORED,  # 13 said Created where 14+ say NonQualified/NonQual
    "Unknown": UNKNOWN,
    "Removed": UNKNOWN,
}


class Contact(NamedTuple):
    """One contact of an endpoint's AOR: its state (our words) and RTT."""

    uri: str
    state: str
    rtt_ms: float | None


class Endpoint(NamedTuple):
    """What the endpoint list says of one endpoint."""

    name: str
    device_state: str
    outbound_auth: bool
    #: Its AORs' contacts as ``aor/uri`` (static and registered alike).
    contact_ids: tuple[str, ...] = ()

    @property
    def has_contacts(self) -> bool:
        return bool(self.contact_ids)


def _field(event: Mapping[str, Any], name: str) -> str:
    """One header of an event (a plain dict: see peers.plain), stripped; repeated is an error."""
    value = event.get(name, "")
    if isinstance(value, list):
        raise ParseError(f"{event.get('Event', 'AMI')} event repeats {name}")
    return str(value).strip()


def parse_endpoint_list(events: Iterable[Mapping[str, Any]]) -> list[Endpoint]:
    """Endpoints from ``PJSIPShowEndpoints`` (``EndpointList`` events)."""
    found = []
    for event in map(plain, events):
        if _field(event, "Event") != "EndpointList":
            raise ParseError(f"unexpected event {excerpt(_field(event, 'Event'))} in endpoints")
        name = _field(event, "ObjectName")
        if not name:
            raise ParseError("EndpointList event without ObjectName")
        contacts = tuple(c for c in _field(event, "Contacts").split(",") if c.strip())
        found.append(
            Endpoint(
                name,
                _field(event, "DeviceState"),
                bool(_field(event, "OutboundAuths")),
                tuple(c.strip() for c in contacts),
            )
        )
    return found


def parse_contact_list(events: Iterable[Mapping[str, Any]]) -> dict[str, Contact]:
    """Registered contacts from ``PJSIPShowContacts`` (16+), by ``aor/uri`` as the endpoint
    list names them. Static contacts are never listed there."""
    found = {}
    for event in map(plain, events):
        if _field(event, "Event") != "ContactList":
            raise ParseError(f"unexpected event {excerpt(_field(event, 'Event'))} in contacts")
        aor = _field(event, "ObjectName").split(";@", 1)[0]
        uri = _field(event, "Uri")
        usec = _field(event, "RoundtripUsec")
        rtt = int(usec) / 1000 if usec.isdigit() else None
        found[f"{aor}/{uri}"] = contact(uri, _field(event, "Status"), rtt)
    return found


def contact(uri: str, status: str, rtt_ms: float | None) -> Contact:
    """A contact from Asterisk's status word (``Reachable``, ``Avail``, ...)."""
    state = _CONTACT_STATES.get(status)
    if state is None:
        raise ParseError(f"unknown PJSIP contact status {excerpt(status)}")
    return Contact(uri, state, rtt_ms if state == OK else None)


def parse_endpoint_detail(events: Iterable[Mapping[str, Any]]) -> list[Contact]:
    """The contacts of one endpoint from ``PJSIPShowEndpoint`` (``ContactStatusDetail``)."""
    found = []
    for event in map(plain, events):
        if _field(event, "Event") != "ContactStatusDetail":
            continue  # EndpointDetail, AorDetail, AuthDetail (never read), TransportDetail...
        usec = _field(event, "RoundtripUsec")
        rtt = int(usec) / 1000 if usec.isdigit() else None
        found.append(contact(_field(event, "URI"), _field(event, "Status"), rtt))
    return found


def endpoint_peer(endpoint: Endpoint, contacts: Sequence[Contact]) -> Peer:
    """An endpoint as a peer: reachable when one of its contacts is (the fastest one's RTT)."""
    states = {c.state for c in contacts}
    rtts = [c.rtt_ms for c in contacts if c.state == OK and c.rtt_ms is not None]
    if OK in states:
        state = OK
    elif UNREACHABLE in states:
        state = UNREACHABLE
    elif UNKNOWN in states or not contacts:
        state = UNKNOWN
    else:
        state = UNMONITORED
    words = ", ".join(f"{c.uri} {c.state}" for c in contacts) or "no contact"
    return Peer(
        "PJSIP",
        endpoint.name,
        state,
        min(rtts) if rtts else None,
        contacts[0].uri if len(contacts) == 1 else "",
        endpoint.outbound_auth,
        f"{endpoint.device_state}: {words}",
    )


def parse_registration_events(events: Iterable[Mapping[str, Any]]) -> list[Registration]:
    """Outbound registrations from ``PJSIPShowRegistrationsOutbound``.

    Only ``OutboundRegistrationDetail`` events are read; ``AuthDetail`` (the password) is
    skipped without looking at it.
    """
    found = []
    for event in map(plain, events):
        if _field(event, "Event") != "OutboundRegistrationDetail":
            continue
        name, status = _field(event, "ObjectName"), _field(event, "Status")
        if not name or not status:
            raise ParseError("OutboundRegistrationDetail without ObjectName or Status")
        next_reg = _field(event, "NextReg")
        found.append(
            Registration(
                "PJSIP", name, status, next_retry=int(next_reg) if next_reg.isdigit() else None
            )
        )
    return found


# -- CLI ----------------------------------------------------------------------------------
# Compiled on first use (re.match's cache): only the CLI fallback reads these (see peers.py).
_ENDPOINT = r"Endpoint:\s+(\S+)\s+(.+?)\s+\d+ of (?:\d+|inf)"
_CONTACT = r"Contact:\s+(\S+)\s+\S+\s+(\S+)\s+(\S+)"
_LEGEND = "<"


def parse_show_endpoints(lines: Sequence[str]) -> list[Peer]:
    """``pjsip show endpoints``: each endpoint with its contacts' states and RTTs."""
    peers = []
    current: Endpoint | None = None
    contacts: list[Contact] = []
    seen_rule = False
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line.startswith("====="):
            seen_rule = True
            continue
        if not seen_rule or _LEGEND in line.split(":", 1)[-1][:4]:
            continue  # the legend block
        if line.startswith("Objects found:"):
            break
        if line.startswith("Endpoint:"):
            if current is not None:
                peers.append(endpoint_peer(current, contacts))
            match = re.match(_ENDPOINT, line)
            if match is None:
                raise ParseError(f"unreadable endpoint line {excerpt(line)}")
            current, contacts = Endpoint(match.group(1), match.group(2), False), []
        elif current is not None and line.startswith(("OutAuth:", "I/OAuth:")):
            current = current._replace(outbound_auth=True)
        elif current is not None and line.startswith("Contact:"):
            match = re.match(_CONTACT, line)
            if match is None:
                raise ParseError(f"unreadable contact line {excerpt(line)}")
            aor_uri, status, rtt_text = match.groups()
            try:
                rtt: float | None = float(rtt_text)
            except ValueError:
                rtt = None
            if rtt is not None and math.isnan(rtt):
                rtt = None
            uri = aor_uri.split("/", 1)[-1]
            contacts.append(contact(uri, status, rtt))
    if current is not None:
        peers.append(endpoint_peer(current, contacts))
    if not seen_rule and not peers:
        text = next((x.strip() for x in lines if x.strip()), "")
        if text.startswith("No objects found"):
            return []
        raise ParseError(f"'pjsip show endpoints' unreadable: {excerpt(text)}")
    return peers


#: ``name/server_uri  auth  Status  (exp. 41s)``: res_pjsip_outbound_registration's
#: cli_print_body; the ``(exp. Ns)`` / ``(exp. Ns ago)`` suffix came with 16.27, 18.13, 19.5
#: and 20.0 (before: the status word only). The status words are Registered, Unregistered
#: (also stopping/stopped) and Rejected (temporary or permanent), in every version.
_REGISTRATION = (
    r"([^/\s]+)/\S+\s+(?:\S+\s+)?(Registered|Unregistered|Rejected)\b"
    r"(?:\s+\(exp\. (\d+)s( ago)?\))?"
)


def parse_show_registrations(lines: Sequence[str]) -> list[Registration]:
    """``pjsip show registrations`` (the auth column is the auth's name, not its password).

    ``(exp. Ns ago)``: the time Asterisk scheduled the refresh for is N seconds past and no
    answer has come (the registration stays Registered until the refresh times out)."""
    found = []
    for raw in lines:
        match = re.match(_REGISTRATION, raw.strip())
        if match:
            name, state, seconds, ago = match.groups()
            # Rejected's "(exp. Ns ago)" is its retry's time: only a Registered one is late.
            late = seconds is not None and ago and state == "Registered"
            overdue = int(seconds) if late else None
            found.append(Registration("PJSIP", name, state, overdue=overdue))
    return found
