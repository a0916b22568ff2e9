"""check_asterisk_dahdi as Nagios runs it: exact status lines and exit codes, every version."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pytest

from asterisk_ami.simulator import Simulator
from tests.conftest import FIXTURES, SECRET, SLACK, VERSIONS, PluginRun, run_script, wait_for

Start = Callable[..., Simulator]
SCENARIOS = [
    "dahdi_all_ok",
    "dahdi_red_alarm",
    "dahdi_yel_rec",
    "dahdi_multi_alarm",
    "dahdi_unconfigured",
    "dahdi_no_spans",
    "dahdi_no_dahdi",
    "dahdi_not_loaded",
]
MISSING = (
    "CRITICAL - DAHDI is missing: chan_dahdi found no DAHDI device "
    "(are the DAHDI kernel modules loaded?)"
)
NOT_LOADED = (
    "CRITICAL - 'dahdi show status' not available: DAHDI is missing (chan_dahdi is not loaded)"
)


def perf(
    ok: int,
    alarm: int,
    spans: tuple[int, ...] = (1, 2, 3, 4, 5),
    bpv: dict[int, int] | None = None,
    crc: dict[int, int] | None = None,
    irq: dict[int, int] | None = None,
) -> str:
    """The perfdata nagiosplugin prints: sorted labels, counters per span with UOM c."""
    labels = []
    for name, values in (("bpv", bpv), ("crc", crc), ("irq_misses", irq)):
        labels += [f"{name}_span{n}={(values or {}).get(n, 0)}c;;;0" for n in spans]
    total = ok + alarm
    labels += [f"spans_alarm={alarm};;;0;{total}", f"spans_ok={ok};;;0;{total}"]
    return " ".join(labels)


def expected(version: str, scenario: str) -> tuple[int, str]:
    """(exit code, status line) for a scenario with no options."""
    cut = "BLU/YEL/RE" if version == "1.4" else "BLU/YEL"
    return {
        "dahdi_all_ok": (0, "OK - 5 of 5 spans OK | " + perf(5, 0, bpv={2: 17}, crc={2: 4})),
        "dahdi_red_alarm": (2, "CRITICAL - 4 of 5 spans OK - RED: 3 | " + perf(4, 1)),
        "dahdi_yel_rec": (
            1,
            "WARNING - 3 of 5 spans OK - YEL: 2 - REC: 4 | " + perf(3, 2, bpv={4: 3}, crc={2: 212}),
        ),
        "dahdi_multi_alarm": (
            2,
            f"CRITICAL - 4 of 5 spans OK - {cut}: 3 | "
            + perf(4, 1, bpv={1: 1234567, 3: 12}, crc={1: 98765, 3: 3}, irq={1: 2}),
        ),
        "dahdi_unconfigured": (
            0,
            "OK - 3 of 3 spans OK - unconfigured: 3, 4 (ignored) | " + perf(3, 0),
        ),
        "dahdi_no_spans": (
            2,
            "CRITICAL - DAHDI lists no spans (is the driver of the card loaded?)",
        ),
        "dahdi_no_dahdi": (2, MISSING),
        "dahdi_not_loaded": (2, NOT_LOADED),
    }[scenario]


def plugin(
    sim: Simulator | None, *args: str, env: dict[str, str] | None = None, secret: bool = True
) -> PluginRun:
    where = ["-H", "127.0.0.1", "-p", str(sim.port)] if sim else []
    credentials = ["-U", "monitor"] + (["-P", SECRET] if secret else [])
    run = run_script("check_asterisk_dahdi", *where, *credentials, *args, env=env)
    assert run.stderr == "", run.stderr  # Nagios shows stdout only; nothing belongs on stderr
    return run


def expect(run: PluginRun, code: int, status: str) -> None:
    assert (run.code, run.status) == (code, f"ASTERISK_DAHDI {status}"), run.stdout


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("version", VERSIONS)
def test_every_scenario_in_every_version(simulator: Start, version: str, scenario: str) -> None:
    sim = simulator(version, scenario)
    expect(plugin(sim), *expected(version, scenario))


# -- long output ------------------------------------------------------------------------
E1 = "T4XXP (PCI) Card 0 Span {n}"
ANALOG = "Wildcard TDM400P REV I Board 5"


@pytest.mark.parametrize(
    ("version", "line", "analog"),
    [
        ("1.4", "", ""),
        ("1.6", "; CCS HDB3 CRC4", "; CAS Unk"),
        ("22", "; CCS HDB3 CRC4", "; CAS Unkn"),
    ],
)
def test_long_output_lists_every_span(
    simulator: Start, version: str, line: str, analog: str
) -> None:
    sim = simulator(version, "dahdi_multi_alarm")
    cut = "BLU/YEL/RE" if version == "1.4" else "BLU/YEL"
    zero = "IRQ misses 0, bpviol 0, CRC 0"
    assert plugin(sim).lines[1:] == [
        f"span 1: OK - {E1.format(n=1)} (IRQ misses 2, bpviol 1234567, CRC 98765{line})",
        f"span 2: OK - {E1.format(n=2)} ({zero}{line})",
        f"span 3: {cut} (the column is full: more alarms may be cut off) - "
        f"{E1.format(n=3)} (IRQ misses 0, bpviol 12, CRC 3{line})",
        f"span 4: OK - {E1.format(n=4)} ({zero}{line})",
        f"span 5: OK - {ANALOG} ({zero}{analog})",
    ]


def test_unconfigured_spans_are_listed_in_order(simulator: Start) -> None:
    sim = simulator("18", "dahdi_unconfigured")
    assert [line.split(" - ")[0] for line in plugin(sim).lines[1:]] == [
        "span 1: OK",
        "span 2: OK",
        "span 3: UNCONFIGURED, ignored",
        "span 4: UNCONFIGURED, ignored",
        "span 5: OK",
    ]


@pytest.mark.parametrize(("version", "hint"), [("1.4", "help"), ("13", "core show help")])
def test_missing_command_quotes_asterisk(simulator: Start, version: str, hint: str) -> None:
    sim = simulator(version, "dahdi_not_loaded")
    run = plugin(sim)
    assert run.lines[1:] == [
        f"No such command 'dahdi show status' (type '{hint} dahdi show' for other possible "
        "commands)"
    ]
    assert [a["command"] for a in sim.actions("Command")] == [
        "dahdi show status",
        "zap show status",
    ]


@pytest.mark.parametrize("version", ["1.4", "13", "22"])
def test_no_dahdi_quotes_asterisk(simulator: Start, version: str) -> None:
    run = plugin(simulator(version, "dahdi_no_dahdi"))
    if version == "1.4":
        assert run.lines[1:] == ["No DAHDI interface found."]
    else:
        assert run.lines[1:] == [
            "No DAHDI found. Unable to open /dev/dahdi/ctl: No such file or directory",
            "Command 'dahdi show status' failed.",
        ]


def test_verbose_names_reply_format_and_layout(simulator: Start) -> None:
    for version, words in [
        ("1.4", "Response: Follows (Asterisk 1.4 to 13); layout: Asterisk 1.4"),
        ("1.6", "Response: Follows (Asterisk 1.4 to 13); layout: Asterisk 1.6.0 to 1.8.6 (CRC4)"),
        (
            "16",
            "Output headers (Asterisk 14 and later); layout: Asterisk 1.8.7 to 18.22, 20.7, "
            "21.2 (CRC)",
        ),
        (
            "20",
            "Output headers (Asterisk 14 and later); layout: Asterisk 18.23, 20.8, 21.3 and "
            "later (Span column)",
        ),
    ]:
        sim = simulator(version, "dahdi_all_ok")
        last = plugin(sim, "-v").lines[-1]
        assert last == (
            f"AMI greeting: Asterisk Call Manager/{sim.profile.ami_version}; reply format: {words}"
        )


# -- filters ----------------------------------------------------------------------------
def test_span_filter(simulator: Start) -> None:
    sim = simulator("20", "dahdi_red_alarm")
    run = plugin(sim, "--span", "1,2", "--span", "4-5")
    expect(run, 0, "OK - 4 of 4 spans OK | " + perf(4, 0, spans=(1, 2, 4, 5)))
    assert run.lines[3].startswith("span 3: RED, not selected - T4XXP (PCI) Card 0 Span 3 (")


def test_span_not_listed_is_critical(simulator: Start) -> None:
    sim = simulator("13", "dahdi_all_ok")
    run = plugin(sim, "--span", "1-4,7")
    expect(
        run,
        2,
        "CRITICAL - 4 of 4 spans OK - span 7 not listed | "
        + perf(4, 0, spans=(1, 2, 3, 4), bpv={2: 17}, crc={2: 4}),
    )
    assert run.lines[-1] == "span 7: not listed"


def test_description_filter(simulator: Start) -> None:
    sim = simulator("1.8", "dahdi_red_alarm")
    expect(
        plugin(sim, "--description", "TDM400P"),
        0,
        "OK - 1 of 1 spans OK | " + perf(1, 0, spans=(5,)),
    )
    expect(
        plugin(sim, "--description", "^T4XXP", "--span", "2-5"),
        2,
        "CRITICAL - 2 of 3 spans OK - RED: 3 | " + perf(2, 1, spans=(2, 3, 4)),
    )


def test_nothing_left_to_check_is_unknown(simulator: Start) -> None:
    sim = simulator("16", "dahdi_unconfigured")
    run = plugin(sim, "--span", "3-4")
    expect(
        run,
        3,
        "UNKNOWN - no DAHDI span to check: 3 not selected by --span/--description; "
        "2 UNCONFIGURED (see --unconfigured-critical)",
    )
    assert [line.split(" - ")[0] for line in run.lines[1:]] == [
        "span 1: OK, not selected",
        "span 2: OK, not selected",
        "span 3: UNCONFIGURED, ignored",
        "span 4: UNCONFIGURED, ignored",
        "span 5: OK, not selected",
    ]


@pytest.mark.parametrize("version", ["1.4", "1.6", "22"])
def test_unconfigured_critical(simulator: Start, version: str) -> None:
    sim = simulator(version, "dahdi_unconfigured")
    expect(
        plugin(sim, "--unconfigured-critical"),
        2,
        "CRITICAL - 3 of 5 spans OK - UNCONFIGURED: 3, 4 | " + perf(3, 2),
    )


# -- server behaviour the simulator has no switch for -----------------------------------
def start(sim: Simulator) -> Simulator:
    sim.start_in_thread()
    return sim


def fixtures_with(tmp_path: Path, version: str, files: dict[str, str]) -> Path:
    scenario = tmp_path / version / "custom"
    scenario.mkdir(parents=True)
    shutil.copy(FIXTURES / version / "pri_all_up" / "core_show_version.txt", scenario)
    for name, text in files.items():
        (scenario / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize("version", ["14", "22"])
def test_response_error_with_no_dahdi_text(version: str) -> None:
    sim = start(Simulator(version, "dahdi_no_dahdi", FIXTURES, secret=SECRET, auth_delay=0.05))
    try:
        expect(plugin(sim), 2, MISSING)
    finally:
        sim.stop()


def test_response_error_we_cannot_read_is_unknown(tmp_path: Path) -> None:
    text = "Unable to frobnicate the spans\nCommand 'dahdi show status' failed.\n"
    fixtures = fixtures_with(tmp_path, "18", {"dahdi_show_status.txt": text})
    sim = start(Simulator("18", "custom", fixtures, secret=SECRET, auth_delay=0.05))
    try:
        run = plugin(sim)
    finally:
        sim.stop()
    expect(run, 3, "UNKNOWN - 'dahdi show status' failed: 'Unable to frobnicate the spans'")
    assert run.lines[1:] == [
        "Unable to frobnicate the spans",
        "Command 'dahdi show status' failed.",
    ]


def test_chan_zap_of_early_14_answers_zap_show_status(tmp_path: Path) -> None:
    source = FIXTURES / "1.4" / "dahdi_red_alarm" / "dahdi_show_status.txt"
    fixtures = fixtures_with(tmp_path, "1.4", {"zap_show_status.txt": source.read_text()})
    sim = start(Simulator("1.4", "custom", fixtures, secret=SECRET, auth_delay=0.05))
    try:
        run = plugin(sim)
        commands = [a["command"] for a in sim.actions("Command")]
    finally:
        sim.stop()
    expect(run, 2, "CRITICAL - 4 of 5 spans OK - RED: 3 | " + perf(4, 1))
    assert commands == ["dahdi show status", "zap show status"]


def test_garbled_table_is_unknown(tmp_path: Path) -> None:
    header = (FIXTURES / "16" / "dahdi_all_ok" / "dahdi_show_status.txt").read_text()
    text = header.splitlines()[0] + "\nT4XXP (PCI) Card 0 Span 1 | PURPLE\n"
    fixtures = fixtures_with(tmp_path, "16", {"dahdi_show_status.txt": text})
    sim = start(Simulator("16", "custom", fixtures, secret=SECRET, auth_delay=0.05))
    try:
        run = plugin(sim)
    finally:
        sim.stop()
    expect(
        run,
        3,
        "UNKNOWN - cannot read the output: unexpected row on line 2 of 'dahdi show status': "
        "'T4XXP (PCI) Card 0 Span 1 / PURPLE'",
    )


# -- failures ---------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["1.4", "13", "14", "22"])
def test_failure_states(simulator: Start, version: str) -> None:
    addr = lambda sim: f"127.0.0.1:{sim.port}"  # noqa: E731
    sim = simulator(version, "dahdi_all_ok")
    expect(
        plugin(sim, "-P", "wrong"),
        2,
        "CRITICAL - AMI login as 'monitor' failed: Authentication failed",
    )
    sim = simulator(version, "dahdi_all_ok", failure="no-permission")
    expect(
        plugin(sim),
        3,
        "UNKNOWN - AMI user 'monitor' may not run CLI commands: "
        "Permission denied (manager.conf needs write = command)",
    )
    sim = simulator(version, "dahdi_all_ok", failure="close-mid-reply")
    expect(
        plugin(sim),
        2,
        f"CRITICAL - AMI at {addr(sim)}: the server closed the connection "
        "(waiting for the reply to 'dahdi show status')",
    )
    sim = simulator(version, "dahdi_all_ok", failure="stall")
    run = plugin(sim, "-t", "1")
    expect(
        run,
        3,
        f"UNKNOWN - no answer from AMI at {addr(sim)} within 1s "
        "(waiting for the reply to 'dahdi show status')",
    )
    assert run.seconds < 1 + SLACK
    assert wait_for(lambda: sim.received[-1].get("action") == "Logoff")


def test_connection_refused() -> None:
    expect(
        plugin(None, "-H", "127.0.0.1", "-p", "1"),
        2,
        "CRITICAL - cannot connect to AMI at 127.0.0.1:1: connection refused",
    )


# -- options ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--span", "x"), "Invalid value for '--span': 'x' is not a number or a range like 1-4"),
        (("--span", "1,4-2"), "Invalid value for '--span': '4-2' is not a valid range"),
        (
            ("--description", "T4XXP("),
            "Invalid value for '--description': 'T4XXP(' is not a valid regular expression: "
            "missing ), unterminated subpattern at position 5",
        ),
    ],
)
def test_bad_options_are_unknown(args: tuple[str, ...], message: str) -> None:
    run = plugin(None, *args)
    assert (run.code, run.stdout) == (3, f"ASTERISK_DAHDI UNKNOWN - {message} (see --help)\n")


def test_help_and_version() -> None:
    help_run = run_script("check_asterisk_dahdi", "--help")
    assert help_run.code == 0 and "bpv_span<N>" in help_run.stdout
    assert "--unconfigured-critical" in help_run.stdout
    version = run_script("check_asterisk_dahdi", "-V")
    assert version.code == 0 and version.stdout.startswith("check_asterisk_dahdi (isp-plugins) ")


def test_secret_never_printed(simulator: Start) -> None:
    for version, failure in [("1.4", "none"), ("22", "none"), ("18", "no-permission")]:
        run = plugin(simulator(version, "dahdi_red_alarm", failure=failure), "-vvv")
        assert SECRET not in run.stdout + run.stderr
        assert "Secret: (hidden)" in run.stdout
