"""check_asterisk_fxo: channel parsers on every fixture, and the plugin against the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from asterisk_ami.errors import ParseError
from asterisk_ami.parsers.dahdi_channels import (
    parse_channel_events,
    parse_show_channel,
    parse_show_channels,
)
from asterisk_ami.simulator import Simulator
from isp_plugins.checks.asterisk_fxo.check import ACTION
from tests.conftest import FIXTURES, SECRET, VERSIONS, PluginRun, run_script

Start = Callable[..., Simulator]

# scenario -> [(channel, port, alarm)] in the AMI action's reply (1.4 and later)
ACTION_EXPECTED = {
    "fxo_ok": [
        (1, "FXO", "No Alarm"),
        (2, "FXO", "No Alarm"),
        (3, "FXS", "No Alarm"),
        (5, "", "No Alarm"),
    ],
    "fxo_no_battery": [
        (1, "FXO", "No Alarm"),
        (2, "FXO", "Red Alarm"),
        (3, "FXS", "No Alarm"),
        (5, "", "No Alarm"),
    ],
    "fxo_all_alarm": [
        (1, "FXO", "Red Alarm"),
        (2, "FXO", "Red Alarm"),
        (3, "FXS", "No Alarm"),
        (5, "", "No Alarm"),
    ],
    "fxo_none": [(5, "", "No Alarm")],
}
WIDE_LAYOUT = {"18", "20", "22"}  # 18.23+, 20.8+, 22: signalling and alarms in the table


def wire_events(path: Path) -> list[dict[str, str]]:
    """The events of a recorded action reply, as header maps (ack and Complete left out)."""
    events = []
    for frame in path.read_text().split("\n\n"):
        headers = dict(
            line.split(": ", 1) if ": " in line else (line.rstrip(":"), "")
            for line in frame.splitlines()
            if line
        )
        if headers.get("Event", "").endswith("ShowChannels"):
            events.append(headers)
    return events


def action_fixtures() -> list[tuple[str, str]]:
    found = sorted(
        (p.parent.parent.name, p.parent.name)
        for p in FIXTURES.glob("*/fxo_*/action_*ShowChannels.txt")
    )
    assert len(found) >= len(VERSIONS) * len(ACTION_EXPECTED)
    return found


@pytest.mark.parametrize(("version", "scenario"), action_fixtures())
def test_action_events(version: str, scenario: str) -> None:
    (path,) = (FIXTURES / version / scenario).glob("action_*.txt")
    channels = parse_channel_events(wire_events(path))
    expected = ACTION_EXPECTED.get(scenario, ACTION_EXPECTED["fxo_no_battery"])
    assert [(c.number, c.port, c.alarm) for c in channels] == expected
    described = version not in ("1.4", "1.6", "1.8")  # Description: from 10.0
    assert (
        channels[0].description == ("" if scenario == "fxo_none" else "PSTN line 1")
    ) == described or scenario == "fxo_none"
    pri = channels[-1]
    assert pri.in_call == (version != "1.4")  # 1.4 never names the call's channel


@pytest.mark.parametrize("version", VERSIONS)
def test_cli_fallback(version: str) -> None:
    folder = FIXTURES / version / "fxo_cli_only"
    rows = parse_show_channels((folder / "dahdi_show_channels.txt").read_text().splitlines())
    assert [r.number for r in rows] == [1, 2, 3, 5]
    wide = version in WIDE_LAYOUT
    assert (rows[1].signalling, rows[1].alarm) == (
        ("FXS Kewlstart", "Red Alarm") if wide else (None, None)
    )
    for row in rows:
        text = (folder / f"dahdi_show_channel_{row.number}.txt").read_text().splitlines()
        detail = parse_show_channel(text)
        assert detail.number == row.number
        assert detail.in_alarm == (row.number == 2)
        assert detail.in_call == (row.number == 5)


def test_event_forms_old_and_new() -> None:
    old = {
        "Event": "ZapShowChannels",
        "Channel": "4",
        "Signalling": "FXS Loopstart",
        "Alarm": "Red Alarm",
    }
    new = {
        "Event": "DAHDIShowChannels",
        "DAHDIChannel": "7",
        "Channel": "DAHDI/7-1",
        "Signalling": "FXO Kewlstart",
        "Alarm": "No Alarm",
        "Description": "Lobby",
    }
    first, second = parse_channel_events([new, old])
    assert (first.number, first.port, first.in_alarm, first.in_call) == (4, "FXO", True, False)
    assert (second.number, second.port, second.description, second.in_call) == (
        7,
        "FXS",
        "Lobby",
        True,
    )


@pytest.mark.parametrize(
    "event",
    [
        {"Event": "PeerStatus", "Channel": "1", "Signalling": "x", "Alarm": "No Alarm"},
        {"Event": "DAHDIShowChannels", "Channel": "DAHDI/1-1", "Signalling": "x", "Alarm": "y"},
        {"Event": "DAHDIShowChannels", "DAHDIChannel": "1", "Alarm": "No Alarm"},
        {"Event": "DAHDIShowChannels", "DAHDIChannel": ["1", "2"], "Signalling": "x", "Alarm": "y"},
        # A digit int() does not take (test_fuzz.py found it): an error, not a traceback.
        {"Event": "DAHDIShowChannels", "DAHDIChannel": "\u00b2", "Signalling": "x", "Alarm": "y"},
    ],
)
def test_event_errors(event: dict[str, object]) -> None:
    with pytest.raises(ParseError):
        parse_channel_events([event])


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ["Unable to find given channel 9", "Command 'dahdi show channel 9' failed."],
            "not a 'dahdi show channel' block",
        ),
        (["Channel: 1", "InAlarm: 2", "Signalling Type: FXS Kewlstart"], "not a"),
        (["Channel: \u00b2", "InAlarm: 0", "Signalling Type: FXS Kewlstart"], "not a"),
    ],
)
def test_show_channel_errors(lines: list[str], message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_show_channel(lines)


def test_show_channels_errors() -> None:
    with pytest.raises(ParseError, match="header expected"):
        parse_show_channels(["No DAHDI channels"])
    with pytest.raises(ParseError, match="unexpected line 3"):
        parse_show_channels(["   Chan Extension", " pseudo  default", "garbage here"])
    with pytest.raises(ParseError, match="unexpected line 2"):
        parse_show_channels(["   Chan Extension", "\u00b2  default"])
    with pytest.raises(ParseError, match="printed nothing"):
        parse_show_channels([])


# -- the plugin ---------------------------------------------------------------------------
def plugin(sim: Simulator, *args: str) -> PluginRun:
    run = run_script(
        "check_asterisk_fxo",
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
    assert run.stderr == "", run.stderr
    return run


PERF = "fxo_alarm={a};;;0;{m} fxo_ok={o};{w};1:;0;{n}"
DEFAULT = {
    "fxo_ok": (0, "OK - 2 of 2 FXO lines up | " + PERF.format(a=0, m=2, o=2, w="2:", n=2)),
    "fxo_no_battery": (
        1,
        "WARNING - 1 of 2 FXO lines up - no line: 2 | " + PERF.format(a=1, m=2, o=1, w="2:", n=2),
    ),
    "fxo_all_alarm": (
        2,
        "CRITICAL - 0 of 2 FXO lines up - no line: 1, 2 | "
        + PERF.format(a=2, m=2, o=0, w="2:", n=2),
    ),
    "fxo_none": (3, "UNKNOWN - no FXO ports listed and none expected (give -n to expect lines)"),
    "fxo_cli_only": (
        1,
        "WARNING - 1 of 2 FXO lines up - no line: 2 | " + PERF.format(a=1, m=2, o=1, w="2:", n=2),
    ),
}


@pytest.mark.parametrize("scenario", sorted(DEFAULT))
@pytest.mark.parametrize("version", VERSIONS)
def test_every_version(simulator: Start, version: str, scenario: str) -> None:
    sim = simulator(version, scenario)
    run = plugin(sim)
    code, status = DEFAULT[scenario]
    assert (run.code, run.status) == (code, f"ASTERISK_FXO {status}")
    used = [a["action"] for a in sim.received if a["action"] not in ("Login", "Logoff")]
    if scenario == "fxo_cli_only":  # neither action exists: the CLI answers
        # ZapShowChannels exists on 1.4 only: never sent to a later greeting
        expected = ["DAHDIShowChannels", "ZapShowChannels"] if version == "1.4" else [ACTION]
        expected += ["Command"]
        if version not in WIDE_LAYOUT:
            expected += ["Command"] * 4  # dahdi show channel N, one per channel
        assert used == expected
    else:
        assert used == [ACTION]


def test_long_output_and_phones(simulator: Start) -> None:
    sim = simulator("22", "fxo_no_battery")
    run = plugin(sim, "--include-fxs", "-n", "2", "-v")
    assert run.code == 1
    assert run.lines[1:] == [
        "channel 1 (FXO line, FXS Kewlstart): line OK - PSTN line 1",
        "channel 2 (FXO line, FXS Kewlstart): NO LINE (Red Alarm) - PSTN line 2",
        "channel 3 (FXS phone port, FXO Kewlstart): OK - Office phone",
        "AMI greeting: Asterisk Call Manager/11.0.0; channels from AMI action DAHDIShowChannels",
    ]


def test_zap_mode_on_asterisk_1_4(simulator: Start) -> None:
    sim = simulator("1.4", "fxo_zap_mode")
    run = plugin(sim, "-v")
    assert run.status.startswith("ASTERISK_FXO WARNING - 1 of 2 FXO lines up - no line: 2 | ")
    assert run.lines[-1].endswith("channels from AMI action ZapShowChannels")


def test_channel_filter_and_expected(simulator: Start) -> None:
    sim = simulator("16", "fxo_no_battery")
    run = plugin(sim, "--channel", "1,3-4", "-n", "2", "--include-fxs")
    assert (run.code, run.status) == (
        1,
        "ASTERISK_FXO WARNING - 1 of 2 FXO lines up - 1 FXO ports listed, 2 expected | "
        "fxo_alarm=0;;;0;2 fxo_ok=1;2:;1:;0;2",
    )
    assert run.lines[1:] == [
        "channel 1 (FXO line, FXS Kewlstart): line OK - PSTN line 1",
        "channel 3 (FXS phone port, FXO Kewlstart): OK - Office phone",
        "channel 4: not configured in chan_dahdi",
    ]


@pytest.mark.parametrize(
    ("args", "code", "status"),
    [
        (
            ("-w", "1", "-c", "0"),
            1,
            "WARNING - 1 of 2 FXO lines up - no line: 2 | fxo_alarm=1;;;0;2 fxo_ok=1;2:;1:;0;2",
        ),
        (
            ("-c", "1"),
            2,
            "CRITICAL - 1 of 2 FXO lines up - no line: 2 | fxo_alarm=1;;;0;2 fxo_ok=1;2:;2:;0;2",
        ),
        (
            ("-w", "@0", "-c", "@5:"),
            0,
            "OK - 1 of 2 FXO lines up - no line: 2 | fxo_alarm=1;;;0;2 fxo_ok=1;@0;@5:;0;2",
        ),
    ],
)
def test_thresholds(simulator: Start, args: tuple[str, ...], code: int, status: str) -> None:
    run = plugin(simulator("20", "fxo_no_battery"), *args)
    assert (run.code, run.status) == (code, f"ASTERISK_FXO {status}")


def test_phone_port_alarm_is_warning(simulator: Start, tmp_path: Path) -> None:
    folder = tmp_path / "18" / "phones"
    folder.mkdir(parents=True)
    text = (FIXTURES / "18" / "fxo_ok" / "action_DAHDIShowChannels.txt").read_text()
    head, _, rest = text.partition("DAHDIChannel: 3\n")
    (folder / "action_DAHDIShowChannels.txt").write_text(
        head + "DAHDIChannel: 3\n" + rest.replace("Alarm: No Alarm", "Alarm: Red Alarm", 1)
    )
    sim = simulator("18", "phones", fixtures=tmp_path)
    assert plugin(sim).code == 0  # phones are not watched by default
    run = plugin(sim, "--include-fxs")
    assert (run.code, run.status.split(" | ")[0]) == (
        1,
        "ASTERISK_FXO WARNING - 2 of 2 FXO lines up - phone port alarm: 3",
    )


@pytest.mark.parametrize(
    ("scenario", "args", "status"),
    [
        (
            "pri_all_up",
            (),
            "CRITICAL - 'dahdi show channels' not available: chan_dahdi is not loaded",
        ),
        (
            "pri_all_up",
            ("--method", "action"),
            "CRITICAL - 'DAHDIShowChannels' not available: chan_dahdi is not loaded",
        ),
        (
            "fxo_ok",
            ("--method", "cli"),
            "CRITICAL - 'dahdi show channels' not available: chan_dahdi is not loaded",
        ),
    ],
)
def test_chan_dahdi_missing(
    simulator: Start, scenario: str, args: tuple[str, ...], status: str
) -> None:
    run = plugin(simulator("18", scenario), *args)
    assert (run.code, run.status) == (2, f"ASTERISK_FXO {status}")


def test_action_needs_no_command_permission(simulator: Start) -> None:
    sim = simulator("13", "fxo_ok", failure="no-permission")
    assert plugin(sim).code == 0
    run = plugin(sim, "--method", "cli")
    assert (run.code, run.status) == (
        3,
        "ASTERISK_FXO UNKNOWN - AMI user 'monitor' may not run CLI commands: "
        "Permission denied (manager.conf needs write = command)",
    )


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("1-x", "'1-x' is not a number or a range"), ("4-2", "'4-2' is not a valid range")],
)
def test_bad_channel_list(value: str, fragment: str) -> None:
    run = run_script("check_asterisk_fxo", "-U", "m", "-P", "x", "--channel", value)
    assert run.code == 3 and fragment in run.status and len(run.lines) == 1
