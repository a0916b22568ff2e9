"""check_asterisk_peers: parsers on every generation's fixtures, the state rules, and the plugin
against the simulator (exact status lines and exit codes)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asterisk_ami.errors import ParseError
from asterisk_ami.parsers import peers as sip
from asterisk_ami.parsers import pjsip
from asterisk_ami.simulator import Simulator
from isp_plugins.checks.asterisk_peers import evaluate
from tests.conftest import FIXTURES, SECRET, VERSIONS, PluginRun, run_script

Start = Callable[..., Simulator]
#: The passwords in the PJSIP fixtures' AuthDetail events (the lab's, replaced on capture).
FIXTURE_PASSWORDS = ("fixture-Trunk-pw-5521", "fixture-Wrong-pw-6632")
WITH_SIP = [v for v in VERSIONS if v != "22"]  # chan_sip was removed in 21
WITH_PJSIP = [v for v in VERSIONS if v in ("13", "14", "16", "18", "20", "22")]


def wire_events(path: Path) -> list[dict[str, str]]:
    """The events of a recorded list action's reply (the ack and Complete event left out)."""
    events = []
    for frame in path.read_text().split("\n\n"):
        headers = dict(
            line.split(": ", 1) if ": " in line else (line.rstrip(":"), "")
            for line in frame.splitlines()
            if line
        )
        if "Event" in headers and not headers["Event"].endswith("Complete"):
            events.append(headers)
    return events


def lines(version: str, scenario: str, name: str) -> list[str]:
    return (FIXTURES / version / scenario / name).read_text().splitlines()


def plugin(sim: Simulator, *args: str) -> PluginRun:
    return run_script(
        "check_asterisk_peers", "-H", "127.0.0.1", "-p", str(sim.port), "-U", "monitor",
        "-P", SECRET, *args,
    )  # fmt: skip


def first(run: PluginRun) -> str:
    return run.stdout.split("\n")[0].split(" | ")[0]


# -- parsers, every generation's framing ---------------------------------------------------
LAB_SIP = [
    ("dead-sip", "UNREACHABLE", None, "127.0.0.1:5099", True),
    ("phone-sip", "UNKNOWN", None, "", False),
    ("provider-sip", "OK", 1.0, "127.0.0.1:5060", True),
    ("quiet-sip", "Unmonitored", None, "127.0.0.1:5060", True),
    ("slow-sip", "LAGGED", 751.0, "127.0.0.1:5098", True),  # the lab's late OPTIONS responder
]
LAB_IAX = [
    ("dead-iax", "UNREACHABLE", None, "127.0.0.1:5099", True),
    ("slow-iax", "LAGGED", 751.0, "127.0.0.1:5098", True),  # its POKE answered late
    ("phone-iax", "UNKNOWN", None, "", False),
    ("provider-iax", "OK", 3.0, "127.0.0.1:4569", True),
]
#: 'iax2 show peers' was captured a moment after IAXpeerlist (1.4's is rendered from it).
LAB_IAX_CLI = [LAB_IAX[0], ("slow-iax", "LAGGED", 753.0, "127.0.0.1:5098", True), *LAB_IAX[2:]]


def _rows(peers: list[sip.Peer]) -> list[tuple[object, ...]]:
    return [(p.name, p.state, p.rtt_ms, p.address, p.static) for p in peers]


@pytest.mark.parametrize("version", WITH_SIP)
def test_sippeers_events_of_every_generation(version: str) -> None:
    peers = sip.parse_peer_events(
        wire_events(FIXTURES / version / "peers_lab" / "action_SIPpeers.txt")
    )
    assert _rows(peers) == LAB_SIP
    assert {p.tech for p in peers} == {"SIP"}


@pytest.mark.parametrize("version", WITH_SIP)
def test_sip_show_peers_of_every_generation(version: str) -> None:
    peers = sip.parse_show_peers("SIP", lines(version, "peers_lab", "sip_show_peers.txt"))
    assert _rows(peers) == LAB_SIP


@pytest.mark.parametrize("version", VERSIONS)
def test_iax2_peers_of_every_generation(version: str) -> None:
    """1.4 has no IAXpeerlist: its CLI (names cut to 15 characters) is the source."""
    action = FIXTURES / version / "peers_lab" / "action_IAXpeerlist.txt"
    if version == "1.4":
        assert not action.exists()
    else:
        assert _rows(sip.parse_peer_events(wire_events(action))) == LAB_IAX
    cli = sip.parse_show_peers("IAX2", lines(version, "peers_lab", "iax2_show_peers.txt"))
    assert _rows(cli) == (LAB_IAX if version == "1.4" else LAB_IAX_CLI)


@pytest.mark.parametrize("version", WITH_SIP)
def test_sip_registry_of_every_generation(version: str) -> None:
    expected = [
        ("pbxsip@127.0.0.1:5060", "Registered"),
        ("pbxsip2@127.0.0.1:5060", "No Authentication"),
    ]
    cli = sip.parse_show_registry("SIP", lines(version, "peers_lab", "sip_show_registry.txt"))
    assert [(r.name, r.state) for r in cli] == expected
    action = FIXTURES / version / "peers_lab" / "action_SIPshowregistry.txt"
    if version != "1.4":  # SIPshowregistry came with 1.6
        events = sip.parse_registry_events("SIP", wire_events(action))
        assert [(r.name, r.state) for r in events] == expected
        assert events[1].since == 0 and events[0].since and events[0].since > 1_700_000_000


@pytest.mark.parametrize("version", VERSIONS)
def test_iax2_registry_of_every_generation(version: str) -> None:
    cli = sip.parse_show_registry(
        "IAX2", lines(version, "peers_carrier_down", "iax2_show_registry.txt")
    )
    assert [(r.name, r.state) for r in cli] == [("pbxiax@127.0.0.1:4569", "Request Sent")]


@pytest.mark.parametrize("version", WITH_PJSIP)
def test_pjsip_endpoints_of_every_generation(version: str) -> None:
    base = FIXTURES / version / "peers_lab"
    endpoints = pjsip.parse_endpoint_list(wire_events(base / "action_PJSIPShowEndpoints.txt"))
    assert [(e.name, e.device_state, e.outbound_auth, e.has_contacts) for e in endpoints] == [
        ("dead-pj", "Unavailable", False, True),
        ("phone-pj", "Unavailable", False, False),
        ("provider-pj", "Not in use", True, True),
        ("slow-pj", "Not in use", False, True),
    ]
    detail = pjsip.parse_endpoint_detail(
        wire_events(base / "action_PJSIPShowEndpoint_provider-pj.txt")
    )
    assert detail == [pjsip.Contact("sip:127.0.0.1:5062", "OK", 1.446)]
    cli = pjsip.parse_show_endpoints(lines(version, "peers_lab", "pjsip_show_endpoints.txt"))
    assert [(p.name, p.state, p.rtt_ms, p.static) for p in cli] == [
        ("dead-pj", "UNREACHABLE", None, False),
        ("phone-pj", "UNKNOWN", None, False),
        ("provider-pj", "OK", 1.509, True),
        ("slow-pj", "OK", 754.775, False),
    ]


@pytest.mark.parametrize("version", WITH_PJSIP)
def test_pjsip_registrations_never_keep_the_password(version: str) -> None:
    path = FIXTURES / version / "peers_lab" / "action_PJSIPShowRegistrationsOutbound.txt"
    assert FIXTURE_PASSWORDS[0] in path.read_text()  # the fixture is the real thing
    registrations = pjsip.parse_registration_events(wire_events(path))
    assert [(r.name, r.state) for r in registrations] == [
        ("provider-reg", "Registered"),
        ("wrong-reg", "Rejected"),
    ]
    assert not any(pw in repr(registrations) for pw in FIXTURE_PASSWORDS)
    cli = pjsip.parse_show_registrations(
        lines(version, "peers_lab", "pjsip_show_registrations.txt")
    )
    assert [(r.name, r.state) for r in cli] == [
        ("provider-reg", "Registered"),
        ("wrong-reg", "Rejected"),
    ]


def test_status_words_of_chan_sip_and_iax2() -> None:
    assert sip.peer_state("OK (1 ms)") == ("OK", 1.0)
    assert sip.peer_state("LAGGED (450 ms)") == ("LAGGED", 450.0)
    assert sip.peer_state("UNREACHABLE") == ("UNREACHABLE", None)
    assert sip.peer_state("Unmonitored") == ("Unmonitored", None)
    with pytest.raises(ParseError, match="unknown peer status 'GREAT'"):
        sip.peer_state("GREAT")


def test_a_lagged_peer_overflowing_its_column() -> None:
    text = [
        "Name/username             Host                                    Dyn Forcerport "
        "Comedia    ACL Port     Status      Description",
        "slow-sip                  192.0.2.7                                   Auto (No)  No"
        "             5060     LAGGED (2450 ms) Far away",
        "1 sip peers [Monitored: 1 online, 0 offline Unmonitored: 0 online, 0 offline]",
    ]
    [peer] = sip.parse_show_peers("SIP", text)
    assert (peer.name, peer.state, peer.rtt_ms, peer.address) == (
        "slow-sip", "LAGGED", 2450.0, "192.0.2.7:5060",
    )  # fmt: skip


def test_pjsip_contact_words_of_13_and_later() -> None:
    assert pjsip.contact("u", "Created", None).state == "Unmonitored"  # 13
    assert pjsip.contact("u", "NonQualified", None).state == "Unmonitored"  # 14+
    assert pjsip.contact("u", "Avail", 2.5) == pjsip.Contact("u", "OK", 2.5)
    assert pjsip.contact("u", "Unavail", 2.5) == pjsip.Contact("u", "UNREACHABLE", None)
    with pytest.raises(ParseError):
        pjsip.contact("u", "Sleeping", None)


def test_garbage_is_a_parse_error_not_a_crash() -> None:
    with pytest.raises(ParseError, match="peer list header expected"):
        sip.parse_show_peers("SIP", ["hello"])
    with pytest.raises(ParseError, match="unreadable peer line"):
        sip.parse_show_peers("SIP", ["Name/username  Host", "x"])
    with pytest.raises(ParseError, match="unexpected event"):
        sip.parse_peer_events([{"Event": "Shutdown"}])
    with pytest.raises(ParseError, match="repeats Status"):
        sip.parse_peer_events(
            [{"Event": "PeerEntry", "Channeltype": "SIP", "ObjectName": "a", "Status": ["a", "b"]}]
        )


# -- the rules, pure -----------------------------------------------------------------------
def peer(name: str, state: str, rtt: float | None = None, static: bool = False) -> sip.Peer:
    return sip.Peer("SIP", name, state, rtt, "", static)


def test_a_trunk_down_is_critical_a_phone_down_a_warning() -> None:
    peers = [peer("carrier", "UNREACHABLE", static=True), peer("phone", "UNREACHABLE")]
    rep = evaluate.report(peers, [], evaluate.Rules())
    assert rep.state == evaluate.CRITICAL
    assert evaluate.summarize(rep) == (
        "trunk SIP/carrier UNREACHABLE, peer SIP/phone UNREACHABLE - 0 of 2 peers reachable"
    )
    phone_only = evaluate.report(peers[1:], [], evaluate.Rules())
    assert phone_only.state == evaluate.WARNING


def test_thresholds_replace_the_default_rules() -> None:
    peers = [peer("carrier", "UNREACHABLE", static=True), peer("phone", "UNREACHABLE")]
    rules = evaluate.Rules(count_warning=True, count_critical=True)
    assert evaluate.report(peers, [], rules).state == evaluate.OK  # left to -w/-c


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("Registered", evaluate.OK),
        ("Request Sent", evaluate.WARNING),
        ("Auth. Sent", evaluate.WARNING),
        ("Unregistering", evaluate.WARNING),
        ("Rejected", evaluate.CRITICAL),
        ("Failed", evaluate.CRITICAL),
        ("No Authentication", evaluate.CRITICAL),
        ("Unregistered", evaluate.CRITICAL),
        ("Timeout", evaluate.CRITICAL),
    ],
)
def test_registration_states(state: str, expected: int) -> None:
    registration = sip.Registration("SIP", "u@h:5060", state)
    assert evaluate.registration_verdict(registration).state == expected


def test_unknown_and_unmonitored_never_alarm() -> None:
    peers = [peer("phone", "UNKNOWN"), peer("fax", "Unmonitored", static=True)]
    rep = evaluate.report(peers, [], evaluate.Rules())
    assert rep.state == evaluate.OK
    assert (len(rep.watched), len(rep.unmonitored), rep.reachable) == (1, 1, 0)


STATES = st.sampled_from(["OK", "LAGGED", "UNREACHABLE", "UNKNOWN", "Unmonitored"])


@given(
    st.lists(
        st.tuples(st.text("abc-", min_size=1, max_size=4), STATES, st.booleans()),
        max_size=30,
        unique_by=lambda t: t[0],
    )
)
def test_each_peer_is_counted_once_and_the_state_follows_the_counts(
    spec: list[tuple[str, str, bool]],
) -> None:
    peers = [peer(n, s, 5.0 if s in ("OK", "LAGGED") else None, static) for n, s, static in spec]
    rep = evaluate.report(peers, [], evaluate.Rules())
    counts = {s: sum(1 for _, x, _ in spec if x == s) for s in ("OK", "LAGGED", "UNREACHABLE")}
    assert len(rep.watched) + len(rep.unmonitored) == len(spec)
    assert rep.reachable == counts["OK"] + counts["LAGGED"]
    assert rep.unreachable == counts["UNREACHABLE"]
    trunk_down = any(s == "UNREACHABLE" and static for _, s, static in spec)
    other_bad = any(s == "LAGGED" or (s == "UNREACHABLE" and not t) for _, s, t in spec)
    expected = evaluate.CRITICAL if trunk_down else evaluate.WARNING if other_bad else evaluate.OK
    assert rep.state == expected


# -- the plugin against the simulator ------------------------------------------------------
LAB_LINE = (
    "ASTERISK_PEERS CRITICAL - trunk SIP/dead-sip UNREACHABLE, trunk IAX2/dead-iax UNREACHABLE, "
    "registration SIP/pbxsip2@127.0.0.1:5060 No Authentication, registration PJSIP/wrong-reg "
    "Rejected, trunk SIP/slow-sip LAGGED (751 ms) and 2 more - 6 of 12 peers reachable - "
    "3 of 5 registrations up"
)
OK_LINES = {
    "with_pjsip": "ASTERISK_PEERS OK - 3 of 6 peers reachable - 3 of 3 registrations up",
    "no_pjsip": "ASTERISK_PEERS OK - 2 of 4 peers reachable - 2 of 2 registrations up",
}


@pytest.mark.parametrize("version", VERSIONS)
def test_healthy_pbx_of_every_version(simulator: Start, version: str) -> None:
    run = plugin(simulator(version, "peers_ok"))
    key = "with_pjsip" if version in WITH_PJSIP and version != "22" else "no_pjsip"
    assert (run.code, first(run)) == (0, OK_LINES[key])


def test_the_lab_as_captured(simulator: Start) -> None:
    run = plugin(simulator("20", "peers_lab"))
    assert (run.code, first(run)) == (2, LAB_LINE)
    assert "peers_reachable=6;;;0;12 " in run.stdout
    assert "rtt_sip_provider_sip=1.0ms;;;0" in run.stdout  # a trunk's RTT perfdata
    assert "rtt_sip_phone" not in run.stdout


def test_carrier_down_names_the_trunks_and_the_registrations(simulator: Start) -> None:
    run = plugin(simulator("20", "peers_carrier_down"), "--peer", "provider-*")
    assert (run.code, first(run)) == (
        2,
        "ASTERISK_PEERS CRITICAL - trunk SIP/provider-sip UNREACHABLE, trunk PJSIP/provider-pj "
        "UNREACHABLE, trunk IAX2/provider-iax UNREACHABLE, registration "
        "SIP/pbxsip2@127.0.0.1:5060 No Authentication, registration PJSIP/provider-reg Rejected "
        "and 3 more - 0 of 3 peers reachable - 0 of 5 registrations up",
    )


def test_registration_filter_and_request_sent_is_a_warning(simulator: Start) -> None:
    sim = simulator("20", "peers_carrier_down")
    run = plugin(sim, "--tech", "sip", "--peer", "nothing", "--registration", "pbxsip@*")
    assert (run.code, first(run)) == (
        1,
        "ASTERISK_PEERS WARNING - registration SIP/pbxsip@127.0.0.1:5060 Request Sent - "
        "0 of 0 peers reachable - 0 of 1 registration up",
    )


def test_tech_not_loaded_is_critical(simulator: Start) -> None:
    run = plugin(simulator("22", "peers_ok"), "--tech", "sip")
    assert (run.code, first(run)) == (
        2,
        "ASTERISK_PEERS CRITICAL - chan_sip is not loaded (--tech)",
    )
    run = plugin(simulator("11", "peers_ok"), "--tech", "pjsip", "--tech", "iax2")
    assert (run.code, first(run)) == (
        2, "ASTERISK_PEERS CRITICAL - res_pjsip is not loaded (--tech)",
    )  # fmt: skip


def test_no_voip_driver_at_all(simulator: Start) -> None:
    run = plugin(simulator("20", "pri_all_up"))
    assert (run.code, first(run)) == (
        2,
        "ASTERISK_PEERS CRITICAL - no SIP, PJSIP or IAX2 channel driver is loaded "
        "(chan_sip, res_pjsip and chan_iax2 all missing)",
    )


@pytest.fixture
def lagged(tmp_path: Path) -> Path:
    """peers_ok of 20 with the SIP trunk LAGGED (450 ms) and the IAX2 trunk at 180 ms."""
    root = tmp_path / "fixtures"
    target = root / "20" / "peers_lagged"
    shutil.copytree(FIXTURES / "20" / "peers_ok", target)
    for name in ("action_SIPpeers.txt", "sip_show_peers.txt"):
        path = target / name
        path.write_text(path.read_text().replace("OK (1 ms)", "LAGGED (450 ms)"))
    path = target / "action_IAXpeerlist.txt"
    path.write_text(path.read_text().replace("OK (3 ms)", "OK (180 ms)"))
    return root


def test_lagged_and_rtt_thresholds(simulator: Start, lagged: Path) -> None:
    sim = simulator("20", "peers_lagged", fixtures=lagged)
    run = plugin(sim)
    assert (run.code, first(run)) == (
        1,
        "ASTERISK_PEERS WARNING - trunk SIP/provider-sip LAGGED (450 ms) - 3 of 6 peers "
        "reachable - 3 of 3 registrations up",
    )
    run = plugin(sim, "--rtt-warning", "100", "--rtt-critical", "400")
    assert (run.code, first(run)) == (
        2,
        "ASTERISK_PEERS CRITICAL - trunk SIP/provider-sip qualify 450 ms > 400 ms, trunk "
        "IAX2/provider-iax qualify 180 ms > 100 ms - 3 of 6 peers reachable - 3 of 3 "
        "registrations up",
    )
    assert "rtt_max=450.0ms;100;400;0" in run.stdout


def test_expected_count_and_count_thresholds(simulator: Start) -> None:
    sim = simulator("20", "peers_ok")
    run = plugin(sim, "-n", "4")
    assert (run.code, first(run)) == (
        1, "ASTERISK_PEERS WARNING - 3 of 6 peers reachable (4 expected) - 3 of 3 registrations up",
    )  # fmt: skip
    run = plugin(sim, "-w", "3", "-c", "1")
    assert (run.code, first(run)) == (
        1, "ASTERISK_PEERS WARNING - 3 of 6 peers reachable - 3 of 3 registrations up",
    )  # fmt: skip
    assert "peers_reachable=3;4:;2:;0;6" in run.stdout
    sim_lab = simulator("20", "peers_lab")
    run = plugin(sim_lab, "--tech", "sip", "--tech", "iax2", "-c", "0", "-w", "1")
    assert (run.code, first(run)) == (
        2,
        "ASTERISK_PEERS CRITICAL - registration SIP/pbxsip2@127.0.0.1:5060 No Authentication, "
        "trunk SIP/slow-sip LAGGED (751 ms), trunk IAX2/slow-iax LAGGED (751 ms) - 4 of 8 peers "
        "reachable - 2 of 3 registrations up",
    )


def test_trunk_and_exclude_patterns(simulator: Start) -> None:
    sim = simulator("20", "peers_lab")
    run = plugin(sim, "--tech", "pjsip", "--trunk", "dead-*", "--registration", "provider*")
    assert (run.code, first(run)) == (
        2,
        "ASTERISK_PEERS CRITICAL - trunk PJSIP/dead-pj UNREACHABLE - 2 of 4 peers reachable - "
        "1 of 1 registration up",
    )
    run = plugin(sim, "--tech", "pjsip", "--exclude", "dead-*", "--registration", "provider*")
    assert (run.code, first(run)) == (
        0, "ASTERISK_PEERS OK - 2 of 3 peers reachable - 1 of 1 registration up",
    )  # fmt: skip


def test_rtt_perfdata_for_every_peer(simulator: Start) -> None:
    run = plugin(simulator("20", "peers_ok"), "--rtt-perfdata", "--tech", "sip")
    assert "rtt_sip_provider_sip=1.0ms;;;0" in run.stdout


@pytest.mark.parametrize("version", ["1.4", "13", "20"])
def test_no_password_at_any_verbosity(simulator: Start, version: str) -> None:
    run = plugin(simulator(version, "peers_lab"), "-vvv")
    assert run.code == 2
    assert "PJSIPShowRegistrationsOutbound" in run.stdout + run.stderr or version == "1.4"
    for password in FIXTURE_PASSWORDS:
        assert password not in run.stdout + run.stderr
    assert SECRET not in run.stdout + run.stderr


def test_user_without_system_falls_back_to_the_cli(simulator: Start, tmp_path: Path) -> None:
    """PJSIPShowEndpoints refused: 'pjsip show endpoints' serves (write = command)."""

    class NoSystem(Simulator):
        def action_reply(self, action: str, action_id: str, subject: str = "") -> str | None:
            if action.startswith("PJSIP"):
                return self.response(action_id, "Error", Message="Permission denied")
            return super().action_reply(action, action_id, subject)

    sim = NoSystem(asterisk="20", scenario="peers_lab", secret=SECRET, auth_delay=0.05)
    sim.start_in_thread()
    try:
        run = plugin(sim, "-v")
    finally:
        sim.stop()
    assert (run.code, first(run)) == (2, LAB_LINE)
    assert "PJSIP: 'pjsip show endpoints', 'pjsip show registrations'" in run.stdout


# -- asterisk-watch ------------------------------------------------------------------------
CARRIER_DOWN = (
    "ASTERISK_PEERS CRITICAL - trunk SIP/provider-sip UNREACHABLE - 0 of 1 peer reachable"
)


@pytest.mark.parametrize(
    ("event", "headers", "evaluated"),
    [
        # as the real 20 lab sends them when the carrier stops (tests/test_real_peers.py)
        ("PeerStatus", {"ChannelType": "SIP", "Peer": "SIP/provider-sip",
                        "PeerStatus": "Unreachable", "Time": "-1"}, True),
        ("ContactStatus", {"URI": "sip:127.0.0.1:5062", "ContactStatus": "Unreachable",
                           "AOR": "provider-pj", "EndpointName": "provider-pj"}, True),
        ("Registry", {"ChannelType": "SIP", "Username": "pbxsip", "Domain": "127.0.0.1",
                      "Status": "Request Sent"}, True),
        ("Newchannel", {"Channel": "SIP/provider-sip-00000001"}, False),
    ],
)  # fmt: skip
def test_the_watcher_re_evaluates_on_peer_events(
    tmp_path: Path, simulator: Start, event: str, headers: dict[str, str], evaluated: bool
) -> None:
    from tests.watch_helpers import Daemon, Results, watch_config

    sim = simulator("20", "peers_ok")
    command = "check_asterisk_peers --tech sip --peer provider-sip --registration none"
    config = watch_config(tmp_path, sim.port, {"peers": command}, SECRET, {"interval": "600"})
    results = Results(tmp_path / "results.cmd")
    with Daemon(config) as daemon:
        assert results.wait_for("peers", lambda c, t: c == 0)
        sim.set_scenario("peers_carrier_down", {"Event": event, **headers})
        # Within seconds, not the 600 s interval.
        got = results.wait_for("peers", lambda c, t: c == 2, seconds=5 if evaluated else 1.5)
        log = daemon.log
    if evaluated:
        assert got is not None and (got[0], got[1].split(" | ")[0]) == (2, CARRIER_DOWN), log
        assert f"pbx1: event {event} (" in log
    else:
        assert got is not None and got[0] == 0, log


@pytest.fixture
def phone_registered(tmp_path: Path) -> Path:
    """peers_lab of 20 with phone-pj registered: its contact in PJSIPShowContacts only."""
    root = tmp_path / "fixtures"
    target = root / "20" / "peers_phone"
    shutil.copytree(FIXTURES / "20" / "peers_lab", target)
    endpoints = target / "action_PJSIPShowEndpoints.txt"
    uri = "sip:phone-pj@192.0.2.50:5060"
    endpoints.write_text(
        endpoints.read_text().replace(
            "Aor: phone-pj\nAuths: phone-pj-auth\nOutboundAuths: \nContacts: \n",
            f"Aor: phone-pj\nAuths: phone-pj-auth\nOutboundAuths: \nContacts: phone-pj/{uri},\n",
        )
    )
    (target / "action_PJSIPShowContacts.txt").write_text(
        "Response: Success\nActionID: 42\nEventList: start\n"
        "Message: A listing of Contacts follows, presented as ContactList events\n\n"
        "Event: ContactList\nActionID: 42\nObjectType: contact\n"
        f"ObjectName: phone-pj;@5d6d1d0f1c8c4b8e\nUri: {uri}\nEndpoint: phone-pj\n"
        "Status: Reachable\nRoundtripUsec: 2500\n\n"
        "Event: ContactListComplete\nActionID: 42\nEventList: Complete\nListItems: 1\n\n"
    )
    return root


def test_registered_contacts_come_from_one_list(simulator: Start, phone_registered: Path) -> None:
    sim = simulator("20", "peers_phone", fixtures=phone_registered)
    run = plugin(sim, "--tech", "pjsip", "--peer", "phone-pj", "--registration", "none", "-v")
    assert (run.code, first(run)) == (0, "ASTERISK_PEERS OK - 1 of 1 peer reachable")
    assert "PJSIP/phone-pj (peer) at sip:phone-pj@192.0.2.50:5060: OK (2.5 ms)" in run.stdout
    # the static contacts are asked endpoint by endpoint, the registered one never
    asked = {a.get("endpoint") for a in sim.actions("PJSIPShowEndpoint")}
    assert asked == {"provider-pj", "dead-pj", "slow-pj"}


# -- a PJSIP registration whose refresh went unanswered ------------------------------------
REGISTRATIONS_20 = [
    "",
    " <Registration/ServerURI..............................>  <Auth....................>"
    "  <Status.......>",
    "=" * 90,
    "",
    " provider-reg/sip:127.0.0.1:5062                        provider-pj-auth            "
    "Registered        (exp. 13s ago)",
    " fresh-reg/sip:127.0.0.1:5062                           provider-pj-auth            "
    "Registered        (exp. 41s)",
    " wrong-reg/sip:127.0.0.1:5062                           provider-pj2-auth           "
    "Rejected          (exp. 944s ago)",
    "",
    "Objects found: 3",
]


def test_pjsip_show_registrations_says_how_long_ago_the_refresh_was_due() -> None:
    found = pjsip.parse_show_registrations(REGISTRATIONS_20)
    assert [(r.name, r.state, r.overdue) for r in found] == [
        ("provider-reg", "Registered", 13),
        ("fresh-reg", "Registered", None),
        ("wrong-reg", "Rejected", None),  # its "exp." is when it retries
    ]
    # Before 16.27/18.13/19.5 the line ends at the status word.
    old = " provider-reg/sip:127.0.0.1:5062                        provider-pj-auth  Registered"
    assert [(r.state, r.overdue) for r in pjsip.parse_show_registrations([old])] == [
        ("Registered", None)
    ]


@pytest.mark.parametrize(
    ("overdue", "expected"),
    [
        (None, (evaluate.OK, "")),
        (evaluate.OVERDUE_GRACE - 1, (evaluate.OK, "")),  # a refresh may be on its way
        (
            evaluate.OVERDUE_GRACE,
            (evaluate.WARNING, "registration PJSIP/provider-reg Registered (exp. 10s ago)"),
        ),
    ],
)
def test_an_overdue_registration_is_a_warning(overdue: int | None, expected: object) -> None:
    registration = sip.Registration("PJSIP", "provider-reg", "Registered", overdue=overdue)
    assert tuple(evaluate.registration_verdict(registration)) == expected
    rep = evaluate.report([], [registration], evaluate.Rules())
    assert rep.registrations_ok == (expected == (evaluate.OK, ""))


def test_the_real_stale_registration(simulator: Start) -> None:
    """Captured 20 s after the refresh fell due with the carrier stopped: the action still
    says Registered, the CLI says how late."""
    sim = simulator("20", "peers_carrier_stale")
    run = plugin(sim, "--tech", "pjsip", "--peer", "none", "--registration", "provider-reg")
    assert (run.code, first(run)) == (
        1,
        "ASTERISK_PEERS WARNING - registration PJSIP/provider-reg Registered (exp. 20s ago) - "
        "0 of 0 peers reachable - 0 of 1 registration up",
    )
    assert "registrations_failed=1;;;0 registrations_ok=0;;;0\n" in run.stdout


def registrations_cli(target: Path, text: str) -> None:
    (target / "pjsip_show_registrations.txt").write_text(text)


def test_the_plugin_flags_a_registration_refresh_overdue(simulator: Start, tmp_path: Path) -> None:
    """The action says Registered; the CLI says the refresh is 13 s overdue: WARNING."""
    target = tmp_path / "20" / "peers_stale"
    shutil.copytree(FIXTURES / "20" / "peers_ok", target)
    text = (target / "pjsip_show_registrations.txt").read_text()
    registrations_cli(target, re.sub(r"\(exp\. \d+s\)", "(exp. 13s ago)", text))
    sim = simulator("20", "peers_stale", fixtures=tmp_path)
    run = plugin(sim, "--tech", "pjsip")
    assert (run.code, first(run)) == (
        1,
        "ASTERISK_PEERS WARNING - registration PJSIP/provider-reg Registered (exp. 13s ago) - "
        "1 of 2 peers reachable - 0 of 1 registration up",
    )
    assert "registration PJSIP/provider-reg: Registered, refresh due 13s ago and not answered" in (
        run.stdout
    )
    # The same PBX with the refresh still ahead: OK.
    registrations_cli(target, text)
    run = plugin(sim, "--tech", "pjsip")
    assert run.code == 0, run.stdout


# -- iax2 show peers cuts names to 15 characters -------------------------------------------
IAX_CUT = [
    "Name/Username    Host                 Mask             Port          Status",
    "carrier-east-1/  192.0.2.1       (S)  255.255.255.255  4569          OK (3 ms)",
    "carrier-trunk-e  192.0.2.2       (S)  255.255.255.255  4569          UNREACHABLE",
    "carrier-trunk-w  192.0.2.3       (S)  255.255.255.255  4569          OK (5 ms)",
    "phone-iax        (null)          (D)  (null)           (null)        UNKNOWN",
    "4 iax2 peers [2 online, 2 offline, 0 unmonitored]",
]


CUT = ["carrier-trunk-e", "carrier-trunk-w"]


def test_iax2_cli_marks_the_names_it_may_have_cut() -> None:
    found = sip.parse_show_peers("IAX2", IAX_CUT)
    assert [(p.name, p.cut) for p in found] == [
        ("carrier-east-1", False),  # a "/" is left: the name is whole
        ("carrier-trunk-e", True),
        ("carrier-trunk-w", True),
        ("phone-iax", False),
    ]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        ({"peer": ("carrier-trunk-east",)}, ["carrier-trunk-e"]),  # not missed
        ({"peer": ("carrier-trunk-west-2",)}, ["carrier-trunk-w"]),
        ({"peer": ("carrier-trunk",)}, []),  # a cut name is longer than 15: never this one
        ({"peer": ("carrier-east-1x",)}, []),  # whole names match exactly
        # Either cut name may end in "-east": both are watched rather than one missed.
        ({"peer": ("*-east",)}, ["carrier-trunk-e", "carrier-trunk-w"]),
        ({"peer": ("c?rrier-trunk-[e]ast",)}, ["carrier-trunk-e"]),
        ({"peer": ("carrier-trunk-[!e]*",)}, ["carrier-trunk-w"]),
        # Left out only when every name they may stand for is excluded.
        ({"exclude": ("carrier-trunk-w*",)}, ["carrier-east-1", "carrier-trunk-e", "phone-iax"]),
        ({"exclude": ("carrier-trunk-west",)}, ["carrier-east-1", *CUT, "phone-iax"]),
        ({"exclude": ("*-west*",)}, ["carrier-east-1", *CUT, "phone-iax"]),
        ({"exclude": ("carrier*",)}, ["phone-iax"]),
    ],
)
def test_cut_names_are_selected_by_what_they_could_be(
    args: dict[str, tuple[str, ...]], names: list[str]
) -> None:
    peers = sip.parse_show_peers("IAX2", IAX_CUT)
    rep = evaluate.report(peers, [], evaluate.Rules(**args))  # type: ignore[arg-type]
    assert [p.name for p in rep.watched] == names


def test_cut_names_are_each_counted_and_said_cut() -> None:
    """Two peers cut to the same 15 characters stay two peers, with one perfdata label each."""
    rows = [*IAX_CUT[:3], IAX_CUT[2].replace("192.0.2.2", "192.0.2.9"), IAX_CUT[-1]]
    peers = sip.parse_show_peers("IAX2", rows)
    rep = evaluate.report(peers, [], evaluate.Rules())
    assert (len(rep.watched), rep.unreachable) == (3, 2)
    line = evaluate.describe_peer(peers[1], True)
    assert line == (
        "IAX2/carrier-trunk-e (trunk) at 192.0.2.2:4569: UNREACHABLE "
        "(name cut to 15 characters by 'iax2 show peers')"
    )


def test_the_plugin_on_cut_iax2_names(simulator: Start, tmp_path: Path) -> None:
    """1.4 has no IAXpeerlist: the CLI's cut names are watched by what they may stand for,
    and two trunks cut alike keep one perfdata label each."""
    target = tmp_path / "1.4" / "peers_cut"
    shutil.copytree(FIXTURES / "1.4" / "peers_ok", target)
    (target / "iax2_show_peers.txt").write_text(
        "Name/Username    Host                 Mask             Port          Status    \n"
        "carrier-trunk-e  192.0.2.1       (S)  255.255.255.255  4569          OK (3 ms) \n"
        "carrier-trunk-e  192.0.2.2       (S)  255.255.255.255  4569          OK (7 ms) \n"
        "carrier-trunk-w  192.0.2.3       (S)  255.255.255.255  4569          UNREACHABLE \n"
        "3 iax2 peers [2 online, 1 offline, 0 unmonitored]\n"
    )
    sim = simulator("1.4", "peers_cut", fixtures=tmp_path)
    run = plugin(sim, "--tech", "iax2", "--peer", "carrier-trunk-east*", "-v")
    assert (run.code, first(run)) == (
        0,
        "ASTERISK_PEERS OK - 2 of 2 peers reachable - 1 of 1 registration up",
    )
    assert "rtt_iax2_carrier_trunk_e=3.0ms;;;0 rtt_iax2_carrier_trunk_e_2=7.0ms;;;0" in run.stdout
    assert "(name cut to 15 characters by 'iax2 show peers')" in run.stdout
    run = plugin(sim, "--tech", "iax2", "--exclude", "carrier-trunk-west")
    assert (run.code, first(run)) == (
        2,
        "ASTERISK_PEERS CRITICAL - trunk IAX2/carrier-trunk-w UNREACHABLE - 2 of 3 peers "
        "reachable - 1 of 1 registration up",
    )
