"""check_asterisk_bri as Nagios runs it: exact status lines and exit codes, every version."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pytest

from asterisk_ami.simulator import Simulator
from tests.conftest import FIXTURES, SECRET, SLACK, VERSIONS, PluginRun, run_script, wait_for

Start = Callable[..., Simulator]
MISDN_VERSIONS = [v for v in VERSIONS if v not in ("20", "22")]  # chan_misdn: 1.4 to 18
DAHDI_BRI_VERSIONS = [v for v in VERSIONS if v != "1.4"]  # BRI signalling: chan_dahdi 1.6+
NO_SOURCE = (
    2,
    "CRITICAL - no BRI source: neither chan_misdn ('misdn show stacks') nor chan_dahdi "
    "with libpri ('pri show spans') is loaded",
)
NO_PORTS = (3, "UNKNOWN - no BRI ports listed and none expected (give -n to expect ports)")


def perf(
    up: int, down: int, idle: int, expected: int, top: int = 0, w: str = "", c: str = "1:"
) -> str:
    top = top or expected
    warning = w or f"{expected}:"
    return (
        f"ports_down={down};;;0;{top} ports_idle={idle};;;0;{top} "
        f"ports_up={up};{warning};{c};0;{expected}"
    )


# scenario -> (versions with the source, result there, result elsewhere), no options
DEFAULT_RESULTS = {
    "bri_misdn_all_up": (
        MISDN_VERSIONS,
        (0, "OK - 4 of 4 ports up | " + perf(4, 0, 0, 4)),
        NO_SOURCE,
    ),
    "bri_misdn_mixed": (
        MISDN_VERSIONS,
        (1, "WARNING - 2 of 4 ports up - down: 2, 4 | " + perf(2, 2, 0, 4)),
        NO_SOURCE,
    ),
    "bri_misdn_te_idle": (
        MISDN_VERSIONS,
        (2, "CRITICAL - 0 of 2 ports up - down: 1, 2 | " + perf(0, 2, 0, 2)),
        NO_SOURCE,
    ),
    "bri_misdn_and_pri": (
        MISDN_VERSIONS,
        (0, "OK - 2 of 2 ports up | " + perf(2, 0, 0, 2)),
        NO_PORTS,
    ),
    "bri_dahdi_all_up": (
        DAHDI_BRI_VERSIONS,
        (0, "OK - 4 of 4 ports up | " + perf(4, 0, 0, 4)),
        NO_SOURCE,
    ),
    "bri_dahdi_te_idle": (
        DAHDI_BRI_VERSIONS,
        (1, "WARNING - 2 of 4 ports up - down: 2, 4 | " + perf(2, 2, 0, 4)),
        NO_SOURCE,
    ),
    "bri_dahdi_mixed_pri": (
        DAHDI_BRI_VERSIONS,
        (1, "WARNING - 1 of 2 ports up - down: 4 | " + perf(1, 1, 0, 2)),
        NO_SOURCE,
    ),
    "bri_no_source": ([], NO_SOURCE, NO_SOURCE),
}
# scenario -> (versions with the source, result there) with --idle-ok
IDLE_RESULTS = {
    "bri_misdn_mixed": (
        MISDN_VERSIONS,
        (1, "WARNING - 2 of 4 ports up - idle: 2 - down: 4 | " + perf(2, 1, 1, 4)),
    ),
    "bri_misdn_te_idle": (
        MISDN_VERSIONS,
        (0, "OK - 0 of 2 ports up - idle: 1, 2 | " + perf(0, 0, 2, 2)),
    ),
    "bri_dahdi_te_idle": (
        DAHDI_BRI_VERSIONS,
        (1, "WARNING - 2 of 4 ports up - idle: 2 - down: 4 | " + perf(2, 1, 1, 4)),
    ),
}


def plugin(
    sim: Simulator | None, *args: str, env: dict[str, str] | None = None, secret: bool = True
) -> PluginRun:
    where = ["-H", "127.0.0.1", "-p", str(sim.port)] if sim else []
    credentials = ["-U", "monitor"] + (["-P", SECRET] if secret else [])
    run = run_script("check_asterisk_bri", *where, *credentials, *args, env=env)
    assert run.stderr == "", run.stderr  # Nagios shows stdout only; nothing belongs on stderr
    return run


def expect(run: PluginRun, code: int, status: str) -> None:
    assert (run.code, run.status) == (code, f"ASTERISK_BRI {status}"), run.stdout


@pytest.mark.parametrize("scenario", sorted(DEFAULT_RESULTS))
@pytest.mark.parametrize("version", VERSIONS)
def test_every_scenario_in_every_version(simulator: Start, version: str, scenario: str) -> None:
    versions, there, elsewhere = DEFAULT_RESULTS[scenario]
    expect(plugin(simulator(version, scenario)), *(there if version in versions else elsewhere))


@pytest.mark.parametrize(
    ("version", "scenario"),
    [(v, s) for s, (versions, _) in sorted(IDLE_RESULTS.items()) for v in versions],
)
def test_idle_ok_in_every_version(simulator: Start, version: str, scenario: str) -> None:
    expect(plugin(simulator(version, scenario), "--idle-ok"), *IDLE_RESULTS[scenario][1])


# -- long output ------------------------------------------------------------------------
@pytest.mark.parametrize(("version", "l2"), [("1.4", "UP"), ("1.8", "UNKN"), ("18", "UNKN")])
def test_long_output_lists_every_misdn_port(simulator: Start, version: str, l2: str) -> None:
    run = plugin(simulator(version, "bri_misdn_mixed"), "--idle-ok")
    assert run.lines[1:] == [
        "misdn port 1: up (TE PMP; L1 UP, L2 UP)",
        "misdn port 2: idle (TE PMP; L1 DOWN, L2 DOWN)",
        f"misdn port 3: up (NT PMP; L1 UP, L2 {l2})",
        "misdn port 4: DOWN (NT PTP; L1 DOWN, L2 DOWN)",
    ]


@pytest.mark.parametrize("version", ["1.6", "13", "22"])
def test_long_output_lists_pri_spans_without_counting_them(simulator: Start, version: str) -> None:
    prov = "Provisioned, " if version == "1.6" else ""
    sim = simulator(version, "bri_dahdi_mixed_pri")
    assert plugin(sim).lines[1:] == [
        f"dahdi span 1: PRI, not a BRI port (TE; {prov}Up, Active)",
        f"dahdi span 2: PRI, not a BRI port (TE; {prov}Up, Active)",
        f"dahdi span 3: up (TE PTP; {prov}Up, Active)",
        f"dahdi span 4: DOWN (TE PTP; {prov}In Alarm, Down, Active)",
    ]
    commands = [a["command"] for a in sim.actions("Command")]
    assert commands == ["misdn show stacks", "pri show spans"] + [
        f"pri show span {n}" for n in (1, 2, 3, 4)
    ]


def test_no_bri_ports_says_what_each_source_answered(simulator: Start) -> None:
    run = plugin(simulator("22", "bri_misdn_and_pri"))
    assert run.lines[1:] == [
        "dahdi span 1: PRI, not a BRI port (TE; Up, Active)",
        "misdn: not available (No such command 'misdn show stacks' (type 'core show help "
        "misdn show' for other possible commands))",
        "dahdi: 0 BRI ports, 1 PRI",
    ]


def test_no_source_quotes_asterisk(simulator: Start) -> None:
    run = plugin(simulator("1.4", "bri_no_source"))
    assert run.lines[1:] == [
        "No such command 'misdn show stacks' (type 'help misdn show' for other possible commands)",
        "No such command 'pri show spans' (type 'help pri show' for other possible commands)",
    ]


def test_verbose_names_sources_and_reply_format(simulator: Start) -> None:
    sim = simulator("16", "bri_misdn_and_pri")
    assert plugin(sim, "-v").lines[-3:] == [
        "misdn: 2 BRI ports",
        "dahdi: 0 BRI ports, 1 PRI",
        f"AMI greeting: Asterisk Call Manager/{sim.profile.ami_version}; "
        "reply format: Output headers (Asterisk 14 and later)",
    ]


# -- options ----------------------------------------------------------------------------
def test_idle_ok_port(simulator: Start) -> None:
    sim = simulator("20", "bri_dahdi_te_idle")
    expect(
        plugin(sim, "--idle-ok", "--idle-ok-port", "4"),
        0,
        "OK - 2 of 4 ports up - idle: 2, 4 | " + perf(2, 0, 2, 4),
    )
    # per port, whatever its type; a reference to the other source changes nothing
    expect(
        plugin(sim, "--idle-ok-port", "dahdi:4", "--idle-ok-port", "misdn:2"),
        1,
        "WARNING - 2 of 4 ports up - idle: 4 - down: 2 | " + perf(2, 1, 1, 4),
    )


def test_excluded_ports_leave_every_count(simulator: Start) -> None:
    sim = simulator("11", "bri_misdn_mixed")
    run = plugin(sim, "--idle-ok", "--exclude-port", "misdn:4", "--exclude-port", "dahdi:7")
    expect(run, 0, "OK - 2 of 3 ports up - idle: 2 | " + perf(2, 0, 1, 3))
    assert run.lines[-2:] == [
        "misdn port 4: excluded (NT PTP; L1 DOWN, L2 DOWN)",
        "dahdi span 7: excluded, not listed",
    ]


@pytest.mark.parametrize(
    ("args", "code", "status"),
    [
        (
            ("-w", "2", "-c", "1"),
            1,
            "WARNING - 2 of 4 ports up - down: 2, 4 | " + perf(2, 2, 0, 4, w="3:", c="2:"),
        ),
        (
            ("-w", "1", "-c", "0"),
            0,
            "OK - 2 of 4 ports up - down: 2, 4 | " + perf(2, 2, 0, 4, w="2:"),
        ),
        (("-c", "2"), 2, "CRITICAL - 2 of 4 ports up - down: 2, 4 | " + perf(2, 2, 0, 4, c="3:")),
        # idle ports count for -w/-c: 2 up + 1 idle is more than 2
        (
            ("-w", "2", "-c", "1", "--idle-ok"),
            0,
            "OK - 2 of 4 ports up - idle: 2 - down: 4 | " + perf(2, 1, 1, 4, w="3:", c="2:"),
        ),
        (
            ("-n", "5", "-w", "1", "-c", "0"),
            1,
            "WARNING - 2 of 5 ports up - down: 2, 4 - 4 ports listed, 5 expected | "
            + perf(2, 2, 0, 5, w="2:"),
        ),
    ],
)
def test_thresholds(simulator: Start, args: tuple[str, ...], code: int, status: str) -> None:
    expect(plugin(simulator("18", "bri_misdn_mixed"), *args), code, status)


def test_expected_ports_when_none_listed(simulator: Start) -> None:
    expect(
        plugin(simulator("20", "bri_misdn_and_pri"), "-n", "2"),
        2,
        "CRITICAL - 0 of 2 ports up - 0 ports listed, 2 expected | " + perf(0, 0, 0, 2),
    )


@pytest.mark.parametrize(
    ("version", "scenario", "source", "code", "status"),
    [
        (
            "20",
            "bri_misdn_all_up",
            "misdn",
            2,
            "CRITICAL - 'misdn show stacks' not available: chan_misdn is not loaded "
            "(Asterisk 19 and later have no chan_misdn)",
        ),
        (
            "1.4",
            "bri_dahdi_all_up",
            "dahdi",
            2,
            "CRITICAL - 'pri show spans' not available: chan_dahdi is not loaded or was built "
            "without libpri",
        ),
        ("13", "bri_misdn_and_pri", "dahdi", *NO_PORTS),
        ("13", "bri_misdn_and_pri", "misdn", 0, "OK - 2 of 2 ports up | " + perf(2, 0, 0, 2)),
        ("22", "bri_dahdi_all_up", "dahdi", 0, "OK - 4 of 4 ports up | " + perf(4, 0, 0, 4)),
    ],
)
def test_source_option(
    simulator: Start, version: str, scenario: str, source: str, code: int, status: str
) -> None:
    sim = simulator(version, scenario)
    expect(plugin(sim, "--source", source), code, status)
    other = {"misdn": "pri show spans", "dahdi": "misdn show stacks"}[source]
    assert other not in [a["command"] for a in sim.actions("Command")]


# -- servers the stock scenarios do not cover ------------------------------------------
def custom(tmp_path: Path, version: str, files: dict[str, str]) -> Simulator:
    scenario = tmp_path / version / "custom"
    scenario.mkdir(parents=True)
    shutil.copy(FIXTURES / version / "pri_all_up" / "core_show_version.txt", scenario)
    for name, text in files.items():
        (scenario / name).write_text(text)
    sim = Simulator(version, "custom", tmp_path, secret=SECRET, auth_delay=0.05)
    sim.start_in_thread()
    return sim


def copy_of(version: str, scenario: str) -> dict[str, str]:
    return {p.name: p.read_text() for p in (FIXTURES / version / scenario).glob("*.txt")}


def test_both_sources_with_bri_ports(tmp_path: Path) -> None:
    files = copy_of("18", "bri_misdn_mixed") | copy_of("18", "bri_dahdi_te_idle")
    sim = custom(tmp_path, "18", files)
    try:
        mixed = plugin(sim)
        excluded = plugin(sim, "--exclude-port", "4", "--idle-ok")
    finally:
        sim.stop()
    expect(
        mixed,
        1,
        "WARNING - 4 of 8 ports up - down: misdn port 2, misdn port 4, dahdi span 2, "
        "dahdi span 4 | " + perf(4, 4, 0, 8),
    )
    expect(
        excluded,
        0,
        "OK - 4 of 6 ports up - idle: misdn port 2, dahdi span 2 | " + perf(4, 0, 2, 6),
    )
    assert [line.split(":")[0] for line in mixed.lines[1:]] == [
        *(f"misdn port {n}" for n in (1, 2, 3, 4)),
        *(f"dahdi span {n}" for n in (1, 2, 3, 4)),
    ]


def test_blocked_port_and_port_without_stack(tmp_path: Path) -> None:
    stacks = (
        "BEGIN STACK_LIST:\n"
        "  * Port  1 Type TE Prot. PMP L2Link UP   L1Link:UP   Blocked:0  Debug:0\n"
        "  * Port  2 Type TE Prot. PMP L2Link UP   L1Link:UP   Blocked:1  Debug:0\n"
        "    Debug:0\n"
    )
    sim = custom(tmp_path, "16", {"misdn_show_stacks.txt": stacks})
    try:
        run = plugin(sim, "--idle-ok")
    finally:
        sim.stop()
    expect(run, 1, "WARNING - 1 of 3 ports up - down: 2, ? | " + perf(1, 2, 0, 3))
    assert run.lines[1:] == [
        "misdn port 1: up (TE PMP; L1 UP, L2 UP)",
        "misdn port 2: DOWN, blocked (TE PMP; L1 UP, L2 UP)",
        "misdn port ?: DOWN, configured, but without an mISDN stack",
    ]


def test_span_gone_between_commands_is_unknown(tmp_path: Path) -> None:
    files = copy_of("13", "bri_dahdi_all_up")
    files["pri_show_span_3.txt"] = "No PRI running on span 3\n"
    sim = custom(tmp_path, "13", files)
    try:
        run = plugin(sim)
    finally:
        sim.stop()
    expect(
        run,
        3,
        "UNKNOWN - cannot read the output: unexpected line 1 in 'pri show span 3': "
        "'No PRI running on span 3'",
    )


# -- failures ---------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["1.4", "13", "14", "22"])
def test_failure_states(simulator: Start, version: str) -> None:
    addr = lambda sim: f"127.0.0.1:{sim.port}"  # noqa: E731
    sim = simulator(version, "bri_misdn_mixed")
    expect(
        plugin(sim, "-P", "wrong"),
        2,
        "CRITICAL - AMI login as 'monitor' failed: Authentication failed",
    )
    sim = simulator(version, "bri_misdn_mixed", failure="no-permission")
    expect(
        plugin(sim),
        3,
        "UNKNOWN - AMI user 'monitor' may not run CLI commands: "
        "Permission denied (manager.conf needs write = command)",
    )
    sim = simulator(version, "bri_misdn_mixed", failure="close-mid-reply")
    expect(
        plugin(sim),
        2,
        f"CRITICAL - AMI at {addr(sim)}: the server closed the connection "
        "(waiting for the reply to 'misdn show stacks')",
    )
    sim = simulator(version, "bri_dahdi_all_up", failure="stall")
    run = plugin(sim, "-t", "1", "--source", "dahdi")
    expect(
        run,
        3,
        f"UNKNOWN - no answer from AMI at {addr(sim)} within 1s "
        "(waiting for the reply to 'pri show spans')",
    )
    assert run.seconds < 1 + SLACK
    assert wait_for(lambda: sim.received[-1].get("action") == "Logoff")


def test_connection_refused() -> None:
    expect(
        plugin(None, "-H", "127.0.0.1", "-p", "1"),
        2,
        "CRITICAL - cannot connect to AMI at 127.0.0.1:1: connection refused",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--exclude-port", "x"),
            "Invalid value for '--exclude-port': 'x' is not a port like 3, misdn:3 or dahdi:3",
        ),
        (
            ("--idle-ok-port", "sip:3"),
            "Invalid value for '--idle-ok-port': 'sip:3' is not a port like 3, misdn:3 or dahdi:3",
        ),
        (
            ("-w", "abc"),
            "Invalid value for '-w' / '--warning': 'abc' is neither a whole "
            "number nor a range like 3: or @0:1",
        ),
    ],
)
def test_bad_options_are_unknown(args: tuple[str, ...], message: str) -> None:
    run = plugin(None, *args)
    assert (run.code, run.stdout) == (3, f"ASTERISK_BRI UNKNOWN - {message} (see --help)\n")


def test_bad_source_is_unknown() -> None:
    run = plugin(None, "--source", "capi")
    assert run.code == 3 and len(run.lines) == 1
    assert run.status.startswith("ASTERISK_BRI UNKNOWN - Invalid value for '--source'")


def test_help_and_version() -> None:
    help_run = run_script("check_asterisk_bri", "--help")
    assert (
        help_run.code == 0
        and "ports_idle" in help_run.stdout
        and "--idle-ok-port" in help_run.stdout
    )
    version = run_script("check_asterisk_bri", "-V")
    assert version.code == 0 and version.stdout.startswith("check_asterisk_bri (isp-plugins) ")


def test_secret_never_printed(simulator: Start) -> None:
    for version, failure in [("1.4", "none"), ("22", "none"), ("18", "no-permission")]:
        run = plugin(simulator(version, "bri_dahdi_te_idle", failure=failure), "-vvv")
        assert SECRET not in run.stdout + run.stderr
        assert "Secret: (hidden)" in run.stdout
