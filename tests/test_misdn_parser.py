"""misdn show stacks parser: every fixture, both paddings, UNKN on NT multipoint ports, and
what it rejects."""

from __future__ import annotations

import pytest

from asterisk_ami.errors import ParseError
from asterisk_ami.parsers.misdn import parse_misdn_show_stacks
from tests.conftest import FIXTURES, VERSIONS

#: chan_misdn is in Asterisk 1.4 to 18 (removed in 19)
MISDN_VERSIONS = [v for v in VERSIONS if v not in ("20", "22")]
# scenario -> [(port, kind, up)] in every version that has chan_misdn
EXPECTED = {
    "bri_misdn_all_up": [
        (1, "TE PMP", True),
        (2, "TE PTP", True),
        (3, "NT PMP", True),
        (4, "NT PMP", True),
    ],
    "bri_misdn_mixed": [
        (1, "TE PMP", True),
        (2, "TE PMP", False),
        (3, "NT PMP", True),
        (4, "NT PTP", False),
    ],
    "bri_misdn_te_idle": [(1, "TE PMP", False), (2, "TE PMP", False)],
    "bri_misdn_and_pri": [(1, "TE PTP", True), (2, "TE PTP", True)],
}
OLD = "  * Port 1 Type TE Prot. PMP L2Link UP L1Link:UP Blocked:0  Debug:0"
NEW = "  * Port  1 Type TE Prot. PMP L2Link UP   L1Link:UP   Blocked:0  Debug:0"


def test_every_version_with_chan_misdn_has_every_scenario() -> None:
    for version in VERSIONS:
        for scenario in EXPECTED:
            exists = (FIXTURES / version / scenario / "misdn_show_stacks.txt").exists()
            assert exists == (version in MISDN_VERSIONS), (version, scenario)


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
@pytest.mark.parametrize("version", MISDN_VERSIONS)
def test_fixture(version: str, scenario: str) -> None:
    text = (FIXTURES / version / scenario / "misdn_show_stacks.txt").read_text()
    ports = parse_misdn_show_stacks(text.splitlines())
    assert [(p.number, p.kind, p.up) for p in ports] == EXPECTED[scenario]
    nt_pmp_l2 = {p.l2 for p in ports if p.kind == "NT PMP"}
    assert nt_pmp_l2 <= ({"UP"} if version in ("1.4", "1.6") else {"UNKN"})


@pytest.mark.parametrize(
    ("line", "up", "kind", "l1", "l2"),
    [
        (OLD, True, "TE PMP", "UP", "UP"),
        (NEW, True, "TE PMP", "UP", "UP"),
        (
            "  * Port 12 Type NT Prot. PTP L2Link DOWN L1Link:UP   Blocked:0  Debug:0",
            False,
            "NT PTP",
            "UP",
            "DOWN",
        ),
        (
            "  * Port  3 Type NT Prot. PMP L2Link UNKN L1Link:UP   Blocked:0  Debug:2(only)",
            True,
            "NT PMP",
            "UP",
            "UNKN",
        ),
        (
            "  * Port  3 Type NT Prot. PMP L2Link UNKN L1Link:DOWN Blocked:0  Debug:0",
            False,
            "NT PMP",
            "DOWN",
            "UNKN",
        ),
        # an NT multipoint port's layer 2 is not judged, also where 1.4-1.8.18 print DOWN
        (
            "  * Port 3 Type NT Prot. PMP L2Link DOWN L1Link:UP Blocked:0  Debug:0",
            True,
            "NT PMP",
            "UP",
            "DOWN",
        ),
        (
            "  * Port 2 Type TE Prot. PMP L2Link DOWN L1Link:UP Blocked:0  Debug:0",
            False,
            "TE PMP",
            "UP",
            "DOWN",
        ),
        (
            "  * Port 2 Type TE Prot. PTP L2Link UP L1Link:UP Blocked:1  Debug:0",
            False,
            "TE PTP",
            "UP",
            "UP",
        ),
        (
            "  * Port 1 Type TE Prot. PMP L2Link UP L1Link:UP Blocked:0  Debug:0\r",
            True,
            "TE PMP",
            "UP",
            "UP",
        ),
    ],
)
def test_port_lines(line: str, up: bool, kind: str, l1: str, l2: str) -> None:
    (port,) = parse_misdn_show_stacks(["BEGIN STACK_LIST:", line])
    assert (port.up, port.kind, port.l1, port.l2) == (up, kind, l1, l2)


def test_blocked_port_is_down() -> None:
    (port,) = parse_misdn_show_stacks(["BEGIN STACK_LIST:", OLD.replace("Blocked:0", "Blocked:1")])
    assert port.blocked and not port.up


def test_port_without_stack() -> None:
    ports = parse_misdn_show_stacks(["BEGIN STACK_LIST:", OLD, "    Debug:0"])
    assert [(p.number, p.up, p.kind) for p in ports] == [
        (1, True, "TE PMP"),
        (None, False, "no stack"),
    ]


def test_no_ports_configured() -> None:
    assert parse_misdn_show_stacks(["BEGIN STACK_LIST:"]) == []


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [""],
        [OLD],  # no header
        ["Usage: misdn show stacks"],
        ["BEGIN STACK_LIST:", OLD, OLD],  # port listed twice
        ["BEGIN STACK_LIST:", OLD.replace("TE", "XX")],
        ["BEGIN STACK_LIST:", OLD.replace("L2Link UP", "L2Link MAYBE")],
        ["BEGIN STACK_LIST:", OLD.replace("Port 1", "Port one")],
        ["BEGIN STACK_LIST:", OLD[:40]],
        ["BEGIN STACK_LIST:", "PRI span 1/0: Up, Active"],
        ["BEGIN STACK_LIST:", "BEGIN STACK_LIST:"],
    ],
)
def test_rejects_what_it_does_not_know(lines: list[str]) -> None:
    with pytest.raises(ParseError):
        parse_misdn_show_stacks(lines)


def test_error_quotes_untrusted_text_safely() -> None:
    with pytest.raises(ParseError) as caught:
        parse_misdn_show_stacks(["BEGIN STACK_LIST:", "\x00\x1b[31m* Port | 1\ufffd"])
    message = str(caught.value)
    assert "|" not in message and "\x00" not in message and "\x1b" not in message
    assert message.isprintable()
