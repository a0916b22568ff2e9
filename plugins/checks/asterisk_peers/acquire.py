"""Reading the peers and registrations of each technology over one AMI session.

The native actions first; the CLI where an action is missing (old versions) or refused (a
user with ``write = command`` but not ``system``). An action that answers "unknown" means
the technology's module is not loaded.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, NamedTuple

from asterisk_ami.errors import PermissionDenied

if TYPE_CHECKING:
    from asterisk_ami.parsers.peers import Peer, Registration
    from asterisk_ami.session import Session

#: Our technology names (--tech), Asterisk's, and the module each needs.
TECH_NAMES = {"sip": "SIP", "pjsip": "PJSIP", "iax2": "IAX2"}
MODULES = {"SIP": "chan_sip", "PJSIP": "res_pjsip", "IAX2": "chan_iax2"}
#: What the actions of each technology need in manager.conf (the CLI needs write = command).
PERMISSIONS = {"SIP": "system or reporting", "PJSIP": "system", "IAX2": "system or reporting"}
#: Errors the PJSIP actions answer when they have nothing to list.
_EMPTY = ("no endpoints found", "no registrations found", "no contacts found")


class TechData(NamedTuple):
    """One technology's peers and registrations, and where they came from."""

    tech: str
    peers: list[Peer]
    registrations: list[Registration]
    sources: tuple[str, ...]


class PeersPermission(PermissionDenied):
    """Neither the action nor the CLI may be used by this AMI user."""

    def __init__(self, tech: str) -> None:
        super().__init__(f"{tech}: Permission denied")
        self.tech = tech


async def _list(session: Session, action: str) -> list[Any] | None:
    """The events of a list action; None when it answered "nothing found"."""
    from asterisk_ami.errors import ProtocolError  # noqa: PLC0415

    try:
        return await session.action_list({"Action": action})
    except ProtocolError as error:
        if any(text in str(error).lower() for text in _EMPTY):
            return None
        raise


async def _cli(session: Session, tech: str, command: str) -> tuple[str, ...] | None:
    """The lines of a CLI command; None when it is not registered."""
    from asterisk_ami.errors import CommandNotFound  # noqa: PLC0415

    try:
        return (await session.command(command)).lines
    except CommandNotFound:
        return None
    except PermissionDenied:
        raise PeersPermission(tech) from None


def _ami_1_0(session: Session) -> bool:
    """Asterisk 1.4 greets with ``Asterisk Call Manager/1.0``."""
    return session.greeting.rstrip().endswith("/1.0")


async def read_sip_like(session: Session, tech: str) -> TechData | None:
    """chan_sip or IAX2: peers and registrations; None when the module is not loaded."""
    from asterisk_ami.errors import CommandNotFound  # noqa: PLC0415
    from asterisk_ami.parsers import peers as parse  # noqa: PLC0415

    peer_action, reg_action = (
        ("SIPpeers", "SIPshowregistry") if tech == "SIP" else ("IAXpeerlist", "IAXregistry")
    )
    cli = tech.lower()
    sources = []
    try:
        peers = parse.parse_peer_events(await session.action_list({"Action": peer_action}))
        sources.append(peer_action)
    except (CommandNotFound, PermissionDenied) as error:
        # An unknown action means the module is absent, except IAXpeerlist on 1.4 (AMI 1.0),
        # which had none: there the CLI tells.
        if isinstance(error, CommandNotFound) and (tech == "SIP" or not _ami_1_0(session)):
            return None
        lines = await _cli(session, tech, f"{cli} show peers")
        if lines is None:
            return None
        peers = parse.parse_show_peers(tech, lines)
        sources.append(f"'{cli} show peers'")
    try:
        events = await session.action_list({"Action": reg_action})
        registrations = parse.parse_registry_events(tech, events)
        sources.append(reg_action)
    except (CommandNotFound, PermissionDenied):  # 1.4 has neither registry action
        lines = await _cli(session, tech, f"{cli} show registry")
        registrations = parse.parse_show_registry(tech, lines or ())
        sources.append(f"'{cli} show registry'")
    return TechData(tech, peers, registrations, tuple(sources))


async def read_pjsip(session: Session) -> TechData | None:
    """PJSIP endpoints with their contacts, and outbound registrations; None without res_pjsip."""
    from asterisk_ami.errors import CommandNotFound  # noqa: PLC0415
    from asterisk_ami.parsers import pjsip as parse  # noqa: PLC0415

    sources = []
    try:
        listed = await _list(session, "PJSIPShowEndpoints")
    except CommandNotFound:
        return None
    except PermissionDenied:
        lines = await _cli(session, "PJSIP", "pjsip show endpoints")
        if lines is None:
            return None
        peers = parse.parse_show_endpoints(lines)
        sources.append("'pjsip show endpoints'")
    else:
        endpoints = parse.parse_endpoint_list(listed or [])
        # Registered contacts come in one list (16+); an endpoint with a static contact (a
        # trunk, usually) is asked on its own, as are all of them before 16.
        try:
            registered = parse.parse_contact_list(await _list(session, "PJSIPShowContacts") or [])
            sources.append("PJSIPShowEndpoints, PJSIPShowContacts")
        except CommandNotFound:
            registered = {}
            sources.append("PJSIPShowEndpoints")

        async def detail(endpoint: parse.Endpoint) -> list[parse.Contact]:
            events = await session.action_list(
                {"Action": "PJSIPShowEndpoint", "Endpoint": endpoint.name}
            )
            return parse.parse_endpoint_detail(events)

        static = [
            i for i, e in enumerate(endpoints) if not all(c in registered for c in e.contact_ids)
        ]
        # All at once: one round trip for the lot, not one per endpoint (and no task for an
        # endpoint whose contacts are all registered: 190 of the 200 on the bench's PBX).
        asked = dict(zip(static, await asyncio.gather(*(detail(endpoints[i]) for i in static))))
        peers = [
            parse.endpoint_peer(
                e, asked[i] if i in asked else [registered[c] for c in e.contact_ids]
            )
            for i, e in enumerate(endpoints)
        ]
        if static:
            sources.append("PJSIPShowEndpoint")
    try:
        events = await _list(session, "PJSIPShowRegistrationsOutbound")
        registrations = parse.parse_registration_events(events or [])
        sources.append("PJSIPShowRegistrationsOutbound")
        if any(r.state == "Registered" for r in registrations):
            registrations = await _overdue(session, registrations, sources)
    except CommandNotFound:  # res_pjsip_outbound_registration not loaded
        registrations = []
    except PermissionDenied:
        lines = await _cli(session, "PJSIP", "pjsip show registrations")
        registrations = parse.parse_show_registrations(lines or ())
        sources.append("'pjsip show registrations'")
    return TechData("PJSIP", peers, registrations, tuple(sources))


async def _overdue(
    session: Session, registrations: list[Registration], sources: list[str]
) -> list[Registration]:
    """The action does not say when a refresh is due; the CLI does (16.27/18.13/19.5/20+:
    ``Registered (exp. 13s ago)``). Asked only when a registration says Registered, and only
    where the user may run it (no CLI, no such check)."""
    from asterisk_ami.errors import CommandNotFound  # noqa: PLC0415
    from asterisk_ami.parsers import pjsip as parse  # noqa: PLC0415

    try:
        lines = (await session.command("pjsip show registrations")).lines
    except (CommandNotFound, PermissionDenied):
        return registrations
    late = {r.name: r.overdue for r in parse.parse_show_registrations(lines)}
    sources.append("'pjsip show registrations'")
    return [r._replace(overdue=late.get(r.name)) for r in registrations]


async def read_all(session: Session, techs: tuple[str, ...]) -> dict[str, TechData | None]:
    """Each technology asked for (Asterisk's names), None for those not loaded."""
    found: dict[str, TechData | None] = {}
    for tech in techs:
        found[tech] = await (
            read_pjsip(session) if tech == "PJSIP" else read_sip_like(session, tech)
        )
    return found
