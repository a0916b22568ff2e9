"""The peers parsers and scenarios against the raw replies of the real Asterisk 20 trunk lab.

fixtures/asterisk/captured/20.20.1/peers/<state>/ holds every peers action and CLI reply of
tests/sip_lab.py's pbx as Asterisk wrote them (tests/capture_peers.py: the lab's ports and
passwords replaced, nothing else). Here the bytes go through the suite's own AMI framing and
the parsers; the simulator's peers_* scenarios of 20 must be exactly what the capture script
makes of them, so no scenario says what the real server did not.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from asterisk_ami.parsers import peers as sip
from asterisk_ami.parsers import pjsip
from asterisk_ami.protocol import OneShotManager, OneShotProtocol
from asterisk_ami.replies import command_output, raise_for_action_error
from tests.capture_peers import (
    FIXTURE_PASSWORDS,
    PEERS_CAPTURED,
    SCENARIOS,
    SCRUBBED,
    SECRET_HEADERS,
    STATES,
    file_names,
    healthy,
    read_captures,
    scenario_files,
)
from tests.sip_lab import BAD_PASSWORD, PASSWORD


class _Transport:
    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False


def reply(raw: bytes, action: str, **headers: str) -> Any:
    """What the suite's protocol makes of a captured reply: one message, or a list's."""

    async def frame() -> Any:
        failures: list[Any] = []
        protocol = OneShotProtocol(OneShotManager(failures.append), failures.append)
        protocol.connection_made(_Transport())
        request = {"Action": action, "ActionID": "42", **headers}
        answer = protocol.send(request, as_list=None if action != "Command" else False)
        protocol.data_received(b"Asterisk Call Manager/9.0.0\r\n" + raw)
        assert not failures and answer.done(), failures
        return answer.result()

    return asyncio.run(frame())


def events(state: str, name: str) -> list[Any]:
    """A captured list action's events, as Session.action_list hands them to the check."""
    messages = reply(read_captures(state)[f"action-{name}"], name)
    messages = messages if isinstance(messages, list) else [messages]
    raise_for_action_error(name, messages[0])
    return [m for m in messages[1:] if not str(m.get("Event", "")).endswith("Complete")]


def cli(state: str, command: str) -> tuple[str, ...]:
    raw = read_captures(state)[f"command-{command.replace(' ', '_')}"]
    message = reply(raw, "Command", Command=command)
    return command_output(command, message, message.content).lines


def rows(peers: list[sip.Peer]) -> list[tuple[object, ...]]:
    """What the action and the CLI must agree on: each exchange was a moment apart, and the
    peers are qualified every 2 s, so a round trip time may differ, but not whether there is
    one."""
    return [(p.name, p.state, p.rtt_ms is None, p.address, p.static) for p in peers]


def test_every_state_is_captured_whole() -> None:
    assert sorted(p.name for p in PEERS_CAPTURED.iterdir()) == sorted(STATES)
    for state in STATES:
        assert sorted(read_captures(state)) == sorted(name for name, _, _ in file_names())


@pytest.mark.parametrize("state", STATES)
def test_the_scenario_is_the_capture(state: str) -> None:
    scenario = SCENARIOS / f"peers_{state}"
    files = {
        p.name: p.read_text(encoding="utf-8")
        for p in scenario.glob("*.txt")
        if p.name != "core_show_version.txt"
    }
    assert files == scenario_files(read_captures(state))


def test_the_healthy_scenario_is_the_lab_without_its_broken_peers() -> None:
    files = {
        p.name: p.read_text(encoding="utf-8")
        for p in (SCENARIOS / "peers_ok").glob("*.txt")
        if p.name != "core_show_version.txt"
    }
    assert files == healthy(scenario_files(read_captures("lab")))


@pytest.mark.parametrize("state", STATES)
def test_no_secret_of_the_lab_was_captured(state: str) -> None:
    allowed = {"", SCRUBBED, *FIXTURE_PASSWORDS.values()}
    for name, raw in read_captures(state).items():
        text = raw.decode("utf-8")
        assert PASSWORD not in text and BAD_PASSWORD not in text, name
        for header in SECRET_HEADERS:
            values = re.findall(rf"^{header}: ([^\r\n]*)", text, flags=re.M)
            assert set(values) <= allowed, (name, header)
    registrations = read_captures(state)["action-PJSIPShowRegistrationsOutbound"]
    assert b"Event: AuthDetail" in registrations  # Asterisk does send them


def test_the_pjsip_error_replies_keep_their_stray_line_end() -> None:
    """Real 20 ends "No Contacts found" with a bare LF, then CRLF CRLF: kept byte for byte,
    and the suite's framing reads it as one error reply."""
    raw = read_captures("lab")["action-PJSIPShowContacts"]
    assert raw.endswith(b"Message: No Contacts found\n\r\n\r\n")
    message = reply(raw, "PJSIPShowContacts")
    assert message["Response"] == "Error"


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize(
    ("tech", "peers_action", "registry_action"),
    [("SIP", "SIPpeers", "SIPshowregistry"), ("IAX2", "IAXpeerlist", "IAXregistry")],
)
def test_chan_sip_and_iax2_actions_and_cli_agree(
    state: str, tech: str, peers_action: str, registry_action: str
) -> None:
    cli_name = tech.lower()
    action = sip.parse_peer_events(events(state, peers_action))
    assert rows(action) == rows(sip.parse_show_peers(tech, cli(state, f"{cli_name} show peers")))
    registry = sip.parse_registry_events(tech, events(state, registry_action))
    from_cli = sip.parse_show_registry(tech, cli(state, f"{cli_name} show registry"))
    assert [(r.name, r.state) for r in registry] == [(r.name, r.state) for r in from_cli]


@pytest.mark.parametrize("state", STATES)
def test_pjsip_actions_and_cli_agree(state: str) -> None:
    endpoints = pjsip.parse_endpoint_list(events(state, "PJSIPShowEndpoints"))
    detail = {
        e.name: pjsip.parse_endpoint_detail(
            events(state, f"PJSIPShowEndpoint-{e.name}")
            if f"action-PJSIPShowEndpoint-{e.name}" in read_captures(state)
            else []
        )
        for e in endpoints
    }
    action = [pjsip.endpoint_peer(e, detail[e.name]) for e in endpoints]
    from_cli = pjsip.parse_show_endpoints(cli(state, "pjsip show endpoints"))
    assert [(p.name, p.state, p.rtt_ms is None) for p in action] == [
        (p.name, p.state, p.rtt_ms is None) for p in from_cli
    ]
    registrations = pjsip.parse_registration_events(events(state, "PJSIPShowRegistrationsOutbound"))
    shown = pjsip.parse_show_registrations(cli(state, "pjsip show registrations"))
    assert [(r.name, r.state) for r in registrations] == [(r.name, r.state) for r in shown]
    assert not any(pw in repr(registrations) for pw in FIXTURE_PASSWORDS.values())
