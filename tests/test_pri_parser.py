"""pri show spans parser: every fixture of every version, each wording, and what it rejects."""

from __future__ import annotations

import pytest

from asterisk_ami.errors import ParseError
from asterisk_ami.parsers.pri import parse_pri_show_spans
from tests.conftest import FIXTURES, VERSIONS

# scenario -> [(span, state, degraded)] expected in every Asterisk version
EXPECTED = {
    "pri_all_up": [(1, "up", False), (2, "up", False), (3, "up", False), (4, "up", False)],
    "pri_span3_alarm": [(1, "up", False), (2, "up", False), (3, "alarm", False), (4, "up", False)],
    "pri_layer2_down": [(1, "up", False), (2, "down", False), (3, "up", False), (4, "up", False)],
    "pri_in_alarm_up": [(1, "up", False), (2, "alarm", False)],
    "pri_nfas": [(1, "up", False), (3, "up", True)],
    "pri_all_alarm": [(n, "alarm", False) for n in (1, 2, 3, 4)],
    "pri_none": [],
    "no_hardware": [],  # captured from real 13, 20 and 22 only
    # BRI spans of chan_dahdi + libpri (check_asterisk_bri); 1.4 has no BRI, so no file there
    "bri_dahdi_all_up": [(1, "up", False), (2, "up", False), (3, "up", False), (4, "up", False)],
    "bri_dahdi_te_idle": [(n, s, False) for n, s in enumerate(["up", "alarm", "up", "down"], 1)],
    "bri_dahdi_mixed_pri": [(n, s, False) for n, s in enumerate(["up", "up", "up", "alarm"], 1)],
    "bri_misdn_and_pri": [(1, "up", False)],
}


def fixture_files() -> list[tuple[str, str]]:
    found = sorted(
        (path.parent.parent.name, path.parent.name)
        for path in FIXTURES.glob("*/*/pri_show_spans.txt")
    )
    assert found, "no pri_show_spans fixtures"
    return found


def test_every_version_has_every_scenario() -> None:
    with_spans = {path.parent.name for path in FIXTURES.glob("*/*/pri_show_spans.txt")}
    assert with_spans == set(EXPECTED), "every pri_show_spans fixture needs an expectation"
    for version in VERSIONS:
        scenarios = {p.name for p in (FIXTURES / version).iterdir()}
        assert set(EXPECTED) - {"no_hardware"} | {"no_libpri"} <= scenarios, version
        assert not (FIXTURES / version / "no_libpri" / "pri_show_spans.txt").exists()


@pytest.mark.parametrize(("version", "scenario"), fixture_files())
def test_fixture(version: str, scenario: str) -> None:
    text = (FIXTURES / version / scenario / "pri_show_spans.txt").read_text()
    spans = parse_pri_show_spans(text.splitlines())
    assert [(s.number, s.state, bool(s.degraded)) for s in spans] == EXPECTED[scenario]
    provisioned = version in ("1.4", "1.6")
    for span in spans:
        for channel in span.dchannels:
            assert channel.status.startswith("Provisioned, ") == provisioned


@pytest.mark.parametrize(
    ("line", "up", "in_alarm", "l2_up", "active"),
    [
        ("PRI span 1/0: Provisioned, Up, Active", True, False, True, True),
        ("PRI span 1/0: Provisioned, In Alarm, Down, Active", False, True, False, True),
        ("PRI span 1/0: Provisioned, Down, Standby", False, False, False, False),
        ("PRI span 1/0: Up, Active", True, False, True, True),
        ("PRI span 1/0: Up, Standby", True, False, True, False),  # a backup D-channel carries too
        ("PRI span 1/0: In Alarm, Up, Active", False, True, True, True),  # alarm wins over L2
        ("PRI span 1/0: Down, Active", False, False, False, True),
        ("  PRI span 1/0: Up, Active  \r", True, False, True, True),
    ],
)
def test_wordings(line: str, up: bool, in_alarm: bool, l2_up: bool, active: bool) -> None:
    (span,) = parse_pri_show_spans([line])
    (channel,) = span.dchannels
    assert (span.up, span.in_alarm, channel.up, channel.active) == (up, in_alarm, l2_up, active)


def test_nfas_lines_group_under_their_span() -> None:
    lines = [
        "PRI span 2/2: Down, Standby",
        "PRI span 2/0: In Alarm, Down, Active",
        "PRI span 2/1: Up, Standby",
        "PRI span 2/3: Up, Standby",
        "PRI span 1/0: Up, Active",
    ]
    spans = parse_pri_show_spans(lines)
    assert [s.number for s in spans] == [1, 2]
    assert [d.dchan for d in spans[1].dchannels] == [0, 1, 2, 3]
    assert spans[1].up and spans[1].in_alarm
    assert [d.dchan for d in spans[1].degraded] == [0, 2]


def test_empty_output_means_no_spans() -> None:
    assert parse_pri_show_spans([]) == []
    assert parse_pri_show_spans(["", "  "]) == []


@pytest.mark.parametrize(
    "line",
    [
        "Usage: pri show spans",
        "PRI span 1/0: Up",  # truncated
        "PRI span 1/0: Provisioned, Up, Active, Standard",  # GSM-style extra token
        "PRI span one/0: Up, Active",
        "GSM span 2: Power on, Provisioned, Up, Active,Standard",
        "PRI span 1/0: up, active",
        "PRI span 1/0: Unprovisioned, Up, Active",
    ],
)
def test_rejects_what_it_does_not_know(line: str) -> None:
    with pytest.raises(ParseError, match="unexpected line 2"):
        parse_pri_show_spans(["PRI span 9/0: Up, Active", line])


def test_rejects_a_d_channel_listed_twice() -> None:
    with pytest.raises(ParseError, match="1/0 listed twice"):
        parse_pri_show_spans(["PRI span 1/0: Up, Active", "PRI span 1/0: Down, Active"])


def test_error_quotes_untrusted_text_safely() -> None:
    with pytest.raises(ParseError) as caught:
        parse_pri_show_spans(["\x00\x1b[31mPRI | span\ufffd"])
    message = str(caught.value)
    assert "|" not in message and "\x00" not in message and "\x1b" not in message
    assert message.isprintable()
