"""check_asterisk_pri as Nagios runs it: exact status lines and exit codes, every version."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from asterisk_ami.simulator import Simulator
from tests.conftest import SECRET, SLACK, VERSIONS, PluginRun, run_script, wait_for

Start = Callable[..., Simulator]
CLASSIC = ("-w", "2", "-c", "1", "-n", "4")  # the PHP plugin's check_asterisk_pri!user!pass!2!1!4
PERF4 = "spans_alarm={a};;;0;4 spans_down={d};;;0;4 spans_up={u};3:;2:;0;4"

# scenario -> (exit code, status line) with the classic options, in every version
CLASSIC_RESULTS = {
    "pri_all_up": (0, "OK - 4 of 4 spans up | " + PERF4.format(a=0, d=0, u=4)),
    "pri_span3_alarm": (0, "OK - 3 of 4 spans up - in alarm: 3 | " + PERF4.format(a=1, d=1, u=3)),
    "pri_layer2_down": (0, "OK - 3 of 4 spans up - down: 2 | " + PERF4.format(a=0, d=1, u=3)),
    "pri_in_alarm_up": (
        2,
        "CRITICAL - 1 of 4 spans up - in alarm: 2 - 2 spans listed, 4 expected | "
        + PERF4.format(a=1, d=1, u=1),
    ),
    "pri_nfas": (
        1,
        "WARNING - 2 of 4 spans up - D-channel lost: 3/0 - 2 spans listed, 4 expected | "
        + PERF4.format(a=1, d=0, u=2),
    ),
    "pri_all_alarm": (
        2,
        "CRITICAL - 0 of 4 spans up - in alarm: 1, 2, 3, 4 | " + PERF4.format(a=4, d=4, u=0),
    ),
    "pri_none": (
        2,
        "CRITICAL - 0 of 4 spans up - 0 spans listed, 4 expected | " + PERF4.format(a=0, d=0, u=0),
    ),
    "no_libpri": (
        2,
        "CRITICAL - 'pri show spans' not available: chan_dahdi is not loaded or was built "
        "without libpri",
    ),
}

# scenario -> (exit code, status line) with no -w, -c or -n
DEFAULT_RESULTS = {
    "pri_all_up": (
        0,
        "OK - 4 of 4 spans up | spans_alarm=0;;;0;4 spans_down=0;;;0;4 spans_up=4;4:;1:;0;4",
    ),
    "pri_span3_alarm": (
        1,
        "WARNING - 3 of 4 spans up - in alarm: 3 | spans_alarm=1;;;0;4 "
        "spans_down=1;;;0;4 spans_up=3;4:;1:;0;4",
    ),
    "pri_in_alarm_up": (
        1,
        "WARNING - 1 of 2 spans up - in alarm: 2 | spans_alarm=1;;;0;2 "
        "spans_down=1;;;0;2 spans_up=1;2:;1:;0;2",
    ),
    "pri_nfas": (
        1,
        "WARNING - 2 of 2 spans up - D-channel lost: 3/0 | spans_alarm=1;;;0;2 "
        "spans_down=0;;;0;2 spans_up=2;2:;1:;0;2",
    ),
    "pri_all_alarm": (
        2,
        "CRITICAL - 0 of 4 spans up - in alarm: 1, 2, 3, 4 | "
        "spans_alarm=4;;;0;4 spans_down=4;;;0;4 spans_up=0;4:;1:;0;4",
    ),
    "pri_none": (3, "UNKNOWN - no PRI spans listed and none expected (give -n to expect spans)"),
}


def plugin(
    sim: Simulator | None, *args: str, env: dict[str, str] | None = None, secret: bool = True
) -> PluginRun:
    where = ["-H", "127.0.0.1", "-p", str(sim.port)] if sim else []
    credentials = ["-U", "monitor"] + (["-P", SECRET] if secret else [])
    run = run_script("check_asterisk_pri", *where, *credentials, *args, env=env)
    assert run.stderr == "", run.stderr  # Nagios shows stdout only; nothing belongs on stderr
    return run


def expect(run: PluginRun, code: int, status: str) -> None:
    assert (run.code, run.status) == (code, f"ASTERISK_PRI {status}"), run.stdout


@pytest.mark.parametrize("scenario", sorted(CLASSIC_RESULTS))
@pytest.mark.parametrize("version", VERSIONS)
def test_classic_command_line(simulator: Start, version: str, scenario: str) -> None:
    sim = simulator(version, scenario)
    expect(plugin(sim, *CLASSIC), *CLASSIC_RESULTS[scenario])


@pytest.mark.parametrize("scenario", sorted(DEFAULT_RESULTS))
@pytest.mark.parametrize("version", VERSIONS)
def test_default_thresholds(simulator: Start, version: str, scenario: str) -> None:
    sim = simulator(version, scenario)
    expect(plugin(sim), *DEFAULT_RESULTS[scenario])


@pytest.mark.parametrize("version", ["1.4", "1.8", "22"])
def test_long_output_lists_every_span(simulator: Start, version: str) -> None:
    sim = simulator(version, "pri_nfas")
    prov = "Provisioned, " if version == "1.4" else ""
    assert plugin(sim).lines[1:] == [
        f"span 1: up (D-channel 0: {prov}Up, Active; D-channel 1: {prov}Up, Standby)",
        f"span 3: up, D-channel 0 lost (D-channel 0: {prov}In Alarm, Down, Standby; "
        f"D-channel 1: {prov}Up, Active)",
    ]


@pytest.mark.parametrize(
    ("version", "hint"), [("1.4", "help"), ("13", "core show help"), ("14", "core show help")]
)
def test_missing_command_quotes_asterisk(simulator: Start, version: str, hint: str) -> None:
    sim = simulator(version, "no_libpri")
    assert plugin(sim).lines[1:] == [
        f"No such command 'pri show spans' (type '{hint} pri show' for other possible commands)"
    ]


def test_verbose_names_the_reply_format(simulator: Start) -> None:
    for version, words in [
        ("13", "Response: Follows (Asterisk 1.4 to 13)"),
        ("14", "Output headers (Asterisk 14 and later)"),
    ]:
        sim = simulator(version)
        last = plugin(sim, "-v").lines[-1]
        assert (
            last == f"AMI greeting: Asterisk Call Manager/{sim.profile.ami_version}; "
            f"reply format: {words}"
        )


# -- thresholds -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "code", "state", "perf_up"),
    [
        (("-w", "3", "-c", "1"), 1, "WARNING", "spans_up=3;4:;2:;0;4"),  # 3 or fewer up: warn
        (("-w", "2", "-c", "3"), 2, "CRITICAL", "spans_up=3;3:;4:;0;4"),  # critical first
        (("-w", "0", "-c", "0"), 0, "OK", "spans_up=3;1:;1:;0;4"),
        (("-w", "4:", "-c", "2:"), 1, "WARNING", "spans_up=3;4:;2:;0;4"),  # ranges
        (("-w", "~:2", "-c", "~:5"), 1, "WARNING", "spans_up=3;~:2;~:5;0;4"),
        (("-c", "@3:4"), 2, "CRITICAL", "spans_up=3;4:;@3:4;0;4"),  # alert inside
        (
            (
                "-w",
                "@0:2",
            ),
            0,
            "OK",
            "spans_up=3;@2;1:;0;4",
        ),
        (("-w", "10:20"), 1, "WARNING", "spans_up=3;10:20;1:;0;4"),
    ],
)
def test_thresholds(
    simulator: Start, args: tuple[str, ...], code: int, state: str, perf_up: str
) -> None:
    sim = simulator("18", "pri_span3_alarm")
    run = plugin(sim, *args)
    assert run.code == code
    assert run.status.startswith(f"ASTERISK_PRI {state} - 3 of 4 spans up - in alarm: 3 | ")
    assert run.status.endswith(perf_up)


def test_more_spans_listed_than_expected_warns(simulator: Start) -> None:
    sim = simulator("20", "pri_all_up")
    expect(
        plugin(sim, "-w", "1", "-c", "0", "-n", "3"),
        1,
        "WARNING - 4 of 3 spans up - 4 spans listed, 3 expected | spans_alarm=0;;;0;4 "
        "spans_down=0;;;0;4 spans_up=4;2:;1:;0;3",
    )


def test_excluded_spans_leave_every_count(simulator: Start) -> None:
    sim = simulator("16", "pri_span3_alarm")
    run = plugin(sim, "--exclude-span", "3", "--exclude-span", "7", "-n", "3")
    expect(
        run, 0, "OK - 3 of 3 spans up | spans_alarm=0;;;0;3 spans_down=0;;;0;3 spans_up=3;3:;1:;0;3"
    )
    assert run.lines[-2:] == [
        "span 3: excluded (In Alarm, Down, Active)",
        "span 7: excluded, not listed",
    ]


def test_none_expected_but_spans_listed(simulator: Start) -> None:
    sim = simulator("18", "pri_all_up")
    run = plugin(sim, "-n", "0")
    assert (run.code, run.status.split(" | ")[0]) == (
        1,
        "ASTERISK_PRI WARNING - 4 of 0 spans up - 4 spans listed, 0 expected",
    )


# -- failures ---------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_failure_states_in_every_version(simulator: Start, version: str) -> None:
    addr = lambda sim: f"127.0.0.1:{sim.port}"  # noqa: E731
    sim = simulator(version)
    expect(
        plugin(sim, "-P", "wrong"),
        2,
        "CRITICAL - AMI login as 'monitor' failed: Authentication failed",
    )
    sim = simulator(version, failure="no-permission")
    expect(
        plugin(sim),
        3,
        "UNKNOWN - AMI user 'monitor' may not run CLI commands: "
        "Permission denied (manager.conf needs write = command)",
    )
    sim = simulator(version, failure="close-mid-reply")
    expect(
        plugin(sim),
        2,
        f"CRITICAL - AMI at {addr(sim)}: the server closed the connection "
        "(waiting for the reply to 'pri show spans')",
    )
    sim = simulator(version, failure="garbage")
    expect(
        plugin(sim),
        3,
        f"UNKNOWN - unreadable reply from AMI at {addr(sim)}: not an AMI "
        "message: '\\x00??\\x13garbage?? line noise\\x07\\x0d\\x0a\\u07ad??'",
    )
    sim = simulator(version, failure="stall")
    run = plugin(sim, "-t", "1")
    expect(
        run,
        3,
        f"UNKNOWN - no answer from AMI at {addr(sim)} within 1s "
        "(waiting for the reply to 'pri show spans')",
    )
    assert run.seconds < 1 + SLACK
    assert wait_for(lambda: sim.received[-1].get("action") == "Logoff")


@pytest.mark.parametrize(
    ("failure", "code", "status"),
    [
        (
            "silent",
            3,
            "UNKNOWN - no answer from AMI at {a} within 1s (waiting for the AMI greeting)",
        ),
        (
            "stall-login",
            3,
            "UNKNOWN - no answer from AMI at {a} within 1s (waiting for the login reply)",
        ),
        (
            "stall-mid-reply",
            3,
            "UNKNOWN - no answer from AMI at {a} within 1s "
            "(waiting for the reply to 'pri show spans')",
        ),
        (
            "not-ami",
            2,
            "CRITICAL - {a} is not an AMI server: it greets with "
            "'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3'",
        ),
        (
            "close-on-connect",
            2,
            "CRITICAL - AMI at {a}: the server closed the connection before its greeting",
        ),
    ],
)
def test_failure_modes(simulator: Start, failure: str, code: int, status: str) -> None:
    sim = simulator("13", failure=failure)
    run = plugin(sim, "-t", "1")
    expect(run, code, status.format(a=f"127.0.0.1:{sim.port}"))
    assert run.seconds < 1 + SLACK


def test_connection_refused() -> None:
    expect(
        plugin(None, "-H", "127.0.0.1", "-p", "1"),
        2,
        "CRITICAL - cannot connect to AMI at 127.0.0.1:1: connection refused",
    )


def test_unknown_host() -> None:
    expect(
        plugin(None, "-H", "pbx.invalid"),
        2,
        "CRITICAL - AMI at pbx.invalid:5038: "
        "cannot resolve 'pbx.invalid': Name or service not known",
    )


def test_ipv6_address_is_shown_in_brackets() -> None:
    run = plugin(None, "-H", "::1", "-p", "1")
    assert run.code == 2 and run.status.startswith(
        "ASTERISK_PRI CRITICAL - cannot connect to AMI at [::1]:1: "
    )


# -- options ----------------------------------------------------------------------------
# Our own messages are asserted whole; click's wording differs between click 8.1 and 8.5.
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("-w", "abc"),
            "Invalid value for '-w' / '--warning': 'abc' is neither a whole "
            "number nor a range like 3: or @0:1",
        ),
        (
            ("-c", "30:10"),
            "Invalid value for '-c' / '--critical': '30:10' is not a valid "
            "range: start 30 must not be greater than end 10",
        ),
        (
            ("-w", "1.5"),
            "Invalid value for '-w' / '--warning': '1.5' is neither a whole "
            "number nor a range like 3: or @0:1",
        ),
    ],
)
def test_bad_thresholds_are_unknown(args: tuple[str, ...], message: str) -> None:
    run = plugin(None, *args)
    assert (run.code, run.stdout) == (3, f"ASTERISK_PRI UNKNOWN - {message} (see --help)\n")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("-n", "-1"), "-1 is not in the range x>=0"),
        (("-t", "0"), "0.0 is not in the range 0<x<=86400"),
        (("-p", "70000"), "70000 is not in the range 1<=x<=65535"),
        (("--auth", "sha"), "'sha' is not one of 'plain', 'md5'"),
        (("--bogus",), "--bogus"),
        (("-w",), "requires an argument"),
        (("extra",), "unexpected extra argument (extra)"),
    ],
)
def test_bad_options_are_unknown(args: tuple[str, ...], fragment: str) -> None:
    run = plugin(None, *args)
    assert run.code == 3 and len(run.lines) == 1 and fragment in run.status
    assert run.status.startswith("ASTERISK_PRI UNKNOWN - ") and run.status.endswith(" (see --help)")


@pytest.mark.parametrize("args", [("-U", "monitor\r\nAction: Originate"), ("-P", "a\nb")])
def test_line_breaks_cannot_inject_ami_headers(args: tuple[str, ...]) -> None:
    run = run_script("check_asterisk_pri", "-U", "monitor", "-P", SECRET, *args)
    assert run.code == 3 and len(run.lines) == 1 and "must not contain a line break" in run.status
    assert "Originate" not in run.stdout and "a\nb" not in run.stdout


def test_username_is_required() -> None:
    run = run_script("check_asterisk_pri", "-P", SECRET)
    assert (run.code, run.stderr, len(run.lines)) == (3, "", 1)
    assert run.status.startswith("ASTERISK_PRI UNKNOWN - Missing option '-U'")


def test_help_and_version() -> None:
    help_run = run_script("check_asterisk_pri", "--help")
    assert help_run.code == 0 and "spans_alarm" in help_run.stdout and "CRITICAL" in help_run.stdout
    assert run_script("check_asterisk_pri", "-h").stdout == help_run.stdout
    version = run_script("check_asterisk_pri", "-V")
    assert version.code == 0 and version.stdout.startswith("check_asterisk_pri (isp-plugins) ")


# -- secrets ----------------------------------------------------------------------------
def test_secret_from_file_and_environment(simulator: Start, tmp_path: Path) -> None:
    sim = simulator("18")
    secret_file = tmp_path / "ami.secret"
    secret_file.write_text(SECRET + "\n")
    assert plugin(sim, "--secret-file", str(secret_file), secret=False).code == 0
    assert plugin(sim, env={"ASTERISK_AMI_SECRET": SECRET}, secret=False).code == 0
    assert plugin(sim, "-P", SECRET, env={"ASTERISK_AMI_SECRET": "wrong"}, secret=False).code == 0


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "cannot read secret file {f}: No such file or directory"),
        ("directory", "Invalid value for '--secret-file': File '{f}' is a directory."),
        ("fifo", "secret file {f} is not a regular file"),
        ("empty", "no AMI secret: give -P, --secret-file or set ASTERISK_AMI_SECRET"),
    ],
)
def test_secret_problems_are_unknown(tmp_path: Path, setup: str, message: str) -> None:
    import os

    path = tmp_path / "ami.secret"
    if setup == "directory":
        path.mkdir()
    elif setup == "fifo":
        os.mkfifo(path)  # opening it would block: the plugin must refuse, not hang
    elif setup == "empty":
        path.write_text("\n")
    run = plugin(None, "--secret-file", str(path), secret=False)
    assert (run.code, run.stdout) == (
        3,
        f"ASTERISK_PRI UNKNOWN - {message.format(f=path)} (see --help)\n",
    )


def test_secret_never_printed(simulator: Start, tmp_path: Path) -> None:
    secret_file = tmp_path / "ami.secret"
    secret_file.write_text(SECRET + "\n")
    runs = []
    for version, failure, extra in [
        ("1.4", "none", ()),
        ("22", "none", ("--auth", "md5")),
        ("13", "stall", ("-t", "1")),
        ("18", "no-permission", ()),
    ]:
        sim = simulator(version, failure=failure)
        runs.append(plugin(sim, "-vvv", *extra))
        runs.append(plugin(sim, "-vvv", "--secret-file", str(secret_file), *extra, secret=False))
    sim = simulator("18")
    runs.append(plugin(sim, "-vvv", "-P", SECRET + "x", secret=False))  # a wrong one neither
    for run in runs:
        assert SECRET not in run.stdout + run.stderr
    assert "Secret: (hidden)" in runs[0].stdout and "Key: (hidden)" in runs[2].stdout


def test_backstop_ends_a_probe_that_ignores_its_deadline() -> None:
    # A probe stuck in a blocking call (no real server can make asyncio's deadline miss),
    # stood in for by a sleeping session: the SIGALRM backstop must end the run at -t.
    code = (
        "import sys, time\n"
        "import asterisk_ami.session as session\n"
        "session.run = lambda *a, **k: time.sleep(30)\n"
        "sys.argv = ['check_asterisk_pri', '-U', 'm', '-P', 'x', '-t', '1']\n"
        "from isp_plugins.checks.asterisk_pri.command import main\n"
        "main()\n"
    )
    import subprocess
    import sys
    import time

    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, check=False
    )
    assert time.monotonic() - started < 1 + SLACK
    assert (done.returncode, done.stdout, done.stderr) == (
        3,
        "ASTERISK_PRI UNKNOWN - check aborted after 1s (-t)\n",
        "",
    )
