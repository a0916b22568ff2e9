"""check_asterisk_pri --calls: calls per span from 'pri show channels' (Asterisk 1.8.6+)."""

from __future__ import annotations

from typing import Callable

import pytest

from asterisk_ami.errors import ParseError
from asterisk_ami.parsers.pri_channels import parse_pri_show_channels
from asterisk_ami.simulator import Simulator
from tests.conftest import FIXTURES, SECRET, VERSIONS, PluginRun, run_script

Start = Callable[..., Simulator]
WITH_CALLS = [v for v in VERSIONS if v not in ("1.4", "1.6")]  # the command came in 1.8.6
CALLS = {"pri_all_up": {1: 12, 2: 5, 3: 0, 4: 20}, "pri_span3_alarm": {1: 9, 2: 4, 3: 0, 4: 11}}


@pytest.mark.parametrize("scenario", sorted(CALLS))
@pytest.mark.parametrize("version", WITH_CALLS)
def test_parser_on_fixtures(version: str, scenario: str) -> None:
    text = (FIXTURES / version / scenario / "pri_show_channels.txt").read_text()
    rows = parse_pri_show_channels(text.splitlines())
    assert len([r for r in rows if r.has_b_channel]) == 120  # 4 E1 spans of 30 B-channels
    per_span = {n: sum(1 for r in rows if r.span == n and r.in_call) for n in (1, 2, 3, 4)}
    assert per_span == CALLS[scenario]


def test_parser_rows() -> None:
    rows = parse_pri_show_channels(
        [
            "PRI       B    Chan Call       PRI  Channel",
            "Span Chan Chan Idle Level      Call Name",
            "   1    1 Yes  No   Connect    Yes  DAHDI/i1/0612345678-1a",
            "   1    3 Yes  Yes  Idle       No   ",
            "   1    0 No   No   Connect    Yes  DAHDI/i1/0612340000-99",
            "   2   32 Yes  No   DeferDial  No   ",  # busy but no call object yet: in use
        ]
    )
    assert [(r.span, r.channel, r.in_call) for r in rows] == [
        (1, 1, True),
        (1, 3, False),
        (1, 0, False),
        (2, 32, True),
    ]
    assert rows[0].name == "DAHDI/i1/0612345678-1a" and rows[0].level == "Connect"


@pytest.mark.parametrize(
    "line",
    ["   1    1 Maybe No Connect Yes", "PRI span 1/0: Up, Active", "   1 Yes No Connect Yes x"],
)
def test_parser_rejects(line: str) -> None:
    with pytest.raises(ParseError, match="unexpected line 1 in 'pri show channels'"):
        parse_pri_show_channels([line])


def plugin(sim: Simulator, *args: str) -> PluginRun:
    run = run_script(
        "check_asterisk_pri",
        "-H",
        "127.0.0.1",
        "-p",
        str(sim.port),
        "-U",
        "monitor",
        "-P",
        SECRET,
        *args,
    )
    assert run.stderr == ""
    return run


SPANS_PERF = "spans_alarm=0;;;0;4 spans_down=0;;;0;4 spans_up=4;4:;1:;0;4"


@pytest.mark.parametrize("version", WITH_CALLS)
def test_calls_in_every_version(simulator: Start, version: str) -> None:
    run = plugin(simulator(version, "pri_all_up"), "--calls")
    assert (run.code, run.status) == (
        0,
        "ASTERISK_PRI OK - 4 of 4 spans up - 37 calls | calls=37;;;0;120 "
        "calls_span1=12;;;0;30 calls_span2=5;;;0;30 calls_span3=0;;;0;30 "
        f"calls_span4=20;;;0;30 {SPANS_PERF}",
    )
    assert run.lines[1] == "span 1: up (D-channel 0: Up, Active) - 12 of 30 channels in calls"


@pytest.mark.parametrize("version", ["1.4", "1.6"])
def test_older_asterisk_keeps_the_span_result(simulator: Start, version: str) -> None:
    run = plugin(simulator(version, "pri_all_up"), "--calls")
    assert (run.code, run.status) == (0, f"ASTERISK_PRI OK - 4 of 4 spans up | {SPANS_PERF}")
    assert run.lines[-1] == "calls: this Asterisk has no 'pri show channels' (it came in 1.8.6)"


@pytest.mark.parametrize(
    ("args", "code", "state", "perf"),
    [
        (("--calls-warning", "30", "--calls-critical", "40"), 1, "WARNING", "calls=37;30;40;0;120"),
        (("--calls-critical", "36"), 2, "CRITICAL", "calls=37;;36;0;120"),
        (("--calls-warning", "@0:5"), 0, "OK", "calls=37;@5;;0;120"),
    ],
)
def test_calls_thresholds(
    simulator: Start, args: tuple[str, ...], code: int, state: str, perf: str
) -> None:
    run = plugin(simulator("18", "pri_all_up"), *args)
    assert run.code == code
    assert run.status.startswith(f"ASTERISK_PRI {state} - 4 of 4 spans up - 37 calls | {perf} ")


def test_excluded_span_calls_are_not_counted(simulator: Start) -> None:
    run = plugin(simulator("20", "pri_all_up"), "--calls", "--exclude-span", "4")
    assert run.status.startswith("ASTERISK_PRI OK - 3 of 3 spans up - 17 calls | calls=17;;;0;90 ")
    assert "calls_span4" not in run.status


def test_bad_calls_range() -> None:
    run = run_script("check_asterisk_pri", "-U", "m", "-P", "x", "--calls-warning", "x")
    assert (run.code, run.stdout) == (
        3,
        "ASTERISK_PRI UNKNOWN - Invalid value for '--calls-warning': 'x' is not a range "
        "like 100, 10:, ~:10 or @10:20 (see --help)\n",
    )
