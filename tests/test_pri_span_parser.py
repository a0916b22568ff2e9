"""pri show span N parser: every fixture, BRI and PRI types, old and new libpri bodies, and
what it rejects."""

from __future__ import annotations

import pytest

from asterisk_ami.errors import ParseError
from asterisk_ami.parsers.pri_span import parse_pri_show_span
from tests.conftest import FIXTURES

# scenario -> {span: (kind, bri, usable)}, the same in every version that has the files
EXPECTED = {
    "bri_dahdi_all_up": {1: ("TE PMP", True, True), 2: ("TE PMP", True, True)}
    | {3: ("NT PMP", True, True), 4: ("NT PMP", True, True)},
    "bri_dahdi_te_idle": {1: ("TE PMP", True, True), 2: ("TE PMP", True, False)}
    | {3: ("NT PMP", True, True), 4: ("NT PMP", True, False)},
    "bri_dahdi_mixed_pri": {1: ("TE", False, True), 2: ("TE", False, True)}
    | {3: ("TE PTP", True, True), 4: ("TE PTP", True, False)},
    "bri_misdn_and_pri": {1: ("TE", False, True)},
}
BLOCK = [
    "Primary D-channel: 3",
    "Status: Up, Active",
    "Switchtype: EuroISDN",
    "Type: BRI CPE PTMP",
    "Remote type: Network",
    "Overlap Dial: 0",
    "Timer and counter settings:",
    "  T200: 1000",
    "Q921 Outstanding: 0 (TEI=64)",
    "Total active-calls:0 global:0",
    "CC records:",
    "  17 A:2 B:3 state:idle",
    "Overlap Recv: No",
    "",
    "",
]


def fixture_files() -> list[tuple[str, str, int]]:
    found = sorted(
        (path.parent.parent.name, path.parent.name, int(path.stem.rsplit("_", 1)[1]))
        for path in FIXTURES.glob("*/*/pri_show_span_*.txt")
        if path.parent.name != "no_hardware"  # what real Asterisk says of a span it lacks
    )
    assert found, "no pri_show_span_N fixtures"
    return found


@pytest.mark.parametrize(("version", "scenario", "span"), fixture_files())
def test_fixture(version: str, scenario: str, span: int) -> None:
    text = (FIXTURES / version / scenario / f"pri_show_span_{span}.txt").read_text()
    (dchannel,) = parse_pri_show_span(text.splitlines(), span)
    assert (dchannel.kind, dchannel.bri, dchannel.usable) == EXPECTED[scenario][span]
    assert dchannel.order == "Primary" and dchannel.switchtype == "EuroISDN"
    assert dchannel.status.startswith("Provisioned, ") == (version in ("1.4", "1.6"))


@pytest.mark.parametrize("version", ["13", "20", "22"])
def test_a_span_without_pri_is_not_a_span_block(version: str) -> None:
    """Real Asterisk (captured) answers `pri show span 1` with one line when there is no such
    span; the bri check only asks for listed spans, so this is a reply it cannot read."""
    text = (FIXTURES / version / "no_hardware" / "pri_show_span_1.txt").read_text()
    assert text == "No PRI running on span 1\n"
    with pytest.raises(ParseError, match="No PRI running on span 1"):
        parse_pri_show_span(text.splitlines(), 1)


def test_every_span_listed_has_its_detail() -> None:
    for spans in FIXTURES.glob("*/*/pri_show_spans.txt"):
        if spans.parent.name.startswith("bri_"):
            numbers = {
                int(line.split()[2].split("/")[0]) for line in spans.read_text().splitlines()
            }
            files = {
                int(p.stem.rsplit("_", 1)[1]) for p in spans.parent.glob("pri_show_span_*.txt")
            }
            assert numbers == files, spans.parent


@pytest.mark.parametrize(
    ("kind", "bri", "ptmp", "node", "short"),
    [
        ("BRI CPE PTMP", True, True, "CPE", "TE PMP"),
        ("BRI Network PTMP", True, True, "Network", "NT PMP"),
        ("BRI CPE", True, False, "CPE", "TE PTP"),
        ("BRI Network", True, False, "Network", "NT PTP"),
        ("CPE", False, False, "CPE", "TE"),
        ("Network", False, False, "Network", "NT"),
    ],
)
def test_types(kind: str, bri: bool, ptmp: bool, node: str, short: str) -> None:
    lines = [line.replace("BRI CPE PTMP", kind) for line in BLOCK]
    (dchannel,) = parse_pri_show_span(lines, 1)
    assert (dchannel.bri, dchannel.ptmp, dchannel.node, dchannel.kind) == (bri, ptmp, node, short)


def test_nfas_blocks() -> None:
    second = [line.replace("Primary D-channel: 3", "Secondary D-channel: 48") for line in BLOCK]
    second = [line.replace("Up, Active", "In Alarm, Down, Standby") for line in second]
    first, backup = parse_pri_show_span(BLOCK + second, 1)
    assert (first.order, first.channel, first.usable) == ("Primary", 3, True)
    assert (backup.order, backup.channel, backup.in_alarm, backup.active) == (
        "Secondary",
        48,
        True,
        False,
    )


@pytest.mark.parametrize(
    "lines",
    [
        [],
        ["No PRI running on span 3"],
        ["Invalid span '99'.  Should be a number from 1 to 128"],
        ["Usage: pri show span <span>", "       Displays PRI Information on a given PRI span"],
        BLOCK[2:],  # no D-channel heading
        [line for line in BLOCK if not line.startswith("Status")],
        [line for line in BLOCK if not line.startswith("Type")],
        [*BLOCK[:2], "Status: Up, Active", *BLOCK[2:]],  # two Status lines
        [line.replace("Up, Active", "Up") for line in BLOCK],
        [line.replace("BRI CPE PTMP", "BRI TE PTMP") for line in BLOCK],
        [*BLOCK, "garbage without a colon"],
    ],
)
def test_rejects_what_it_does_not_know(lines: list[str]) -> None:
    with pytest.raises(ParseError):
        parse_pri_show_span(lines, 3)


def test_error_quotes_untrusted_text_safely() -> None:
    with pytest.raises(ParseError) as caught:
        parse_pri_show_span([*BLOCK[:2], "\x00\x1b[31mPRI | span\ufffd"], 1)
    message = str(caught.value)
    assert "|" not in message and "\x00" not in message and "\x1b" not in message
    assert message.isprintable()
