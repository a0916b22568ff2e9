"""Paths off the main road of the AMI checks: nothing listed, DAHDI missing, -n 0, and chan_dahdi
unloaded for a user without ``command`` permission. Every path keeps the long output the README
promises (the --insecure warning first, the -v greeting line last)."""

from __future__ import annotations

import ssl
from typing import Callable

import pytest
import trustme

from asterisk_ami.simulator import Simulator
from tests.conftest import SECRET, PluginRun, run_script

Start = Callable[..., Simulator]
INSECURE = "warning: the AMI TLS certificate was not verified (--insecure)"
GREETING_22 = "AMI greeting: Asterisk Call Manager/11.0.0"
OUTPUT_FORMAT = "; reply format: Output headers (Asterisk 14 and later)"


@pytest.fixture(scope="module")
def server_tls() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    return context


def run(script: str, sim: Simulator, *args: str) -> PluginRun:
    done = run_script(script, "-p", str(sim.port), "-U", "monitor", "-P", SECRET, "-t", "5", *args)
    assert done.stderr == "", done.stderr
    return done


# (script, scenario, status, detail lines between the warning and the greeting, greeting line)
PATHS = [
    (
        "check_asterisk_pri",
        "pri_none",
        "ASTERISK_PRI UNKNOWN - no PRI spans listed and none expected (give -n to expect spans)",
        [],
        GREETING_22 + OUTPUT_FORMAT,
    ),
    (
        "check_asterisk_fxo",
        "fxo_none",
        "ASTERISK_FXO UNKNOWN - no FXO ports listed and none expected (give -n to expect lines)",
        [],
        GREETING_22 + "; channels from AMI action DAHDIShowChannels",
    ),
    (
        "check_asterisk_bri",
        "pri_none",
        "ASTERISK_BRI UNKNOWN - no BRI ports listed and none expected (give -n to expect ports)",
        [
            "misdn: not available (No such command 'misdn show stacks' (type 'core show help "
            "misdn show' for other possible commands))",
            "dahdi: 0 BRI ports",
        ],
        GREETING_22 + OUTPUT_FORMAT,
    ),
    (
        "check_asterisk_dahdi",
        "dahdi_no_dahdi",
        "ASTERISK_DAHDI CRITICAL - DAHDI is missing: chan_dahdi found no DAHDI device "
        "(are the DAHDI kernel modules loaded?)",
        [
            "No DAHDI found. Unable to open /dev/dahdi/ctl: No such file or directory",
            "Command 'dahdi show status' failed.",
        ],
        GREETING_22 + OUTPUT_FORMAT,
    ),
]


@pytest.mark.parametrize("verbose", [0, 1])
@pytest.mark.parametrize(
    ("script", "scenario", "status", "detail", "greeting"),
    PATHS,
    ids=[f"{p[0]}-{p[1]}" for p in PATHS],
)
def test_every_path_keeps_warning_and_greeting(
    simulator: Start,
    server_tls: ssl.SSLContext,
    script: str,
    scenario: str,
    status: str,
    detail: list[str],
    greeting: str,
    verbose: int,
) -> None:
    sim = simulator("22", scenario, tls=server_tls)
    done = run(script, sim, "--tls", "--insecure", *(["-v"] * verbose))
    assert done.lines == [status, INSECURE, *detail, *([greeting] if verbose else [])]


@pytest.mark.parametrize(
    ("script", "scenario", "status"),
    [
        (
            "check_asterisk_pri",
            "pri_none",
            "ASTERISK_PRI OK - no PRI spans listed, none expected (-n 0) | "
            "spans_alarm=0;;;0;0 spans_down=0;;;0;0 spans_up=0;;;0;0",
        ),
        (
            "check_asterisk_fxo",
            "fxo_none",
            "ASTERISK_FXO OK - no FXO ports listed, none expected (-n 0) | "
            "fxo_alarm=0;;;0;0 fxo_ok=0;;;0;0",
        ),
        (
            "check_asterisk_bri",
            "pri_none",
            "ASTERISK_BRI OK - no BRI ports listed, none expected (-n 0) | "
            "ports_down=0;;;0;0 ports_idle=0;;;0;0 ports_up=0;;;0;0",
        ),
    ],
)
def test_explicit_zero_expected_and_none_listed_is_ok(
    simulator: Start, script: str, scenario: str, status: str
) -> None:
    done = run(script, simulator("22", scenario), "-n", "0")
    assert (done.code, done.lines) == (0, [status])


@pytest.mark.parametrize("version", ["13", "20", "22"])
def test_fxo_chan_dahdi_unloaded_without_command_permission(simulator: Start, version: str) -> None:
    """DAHDIShowChannels answered 'Invalid/unknown command': chan_dahdi is not loaded, whatever
    the CLI fallback is refused for. ZapShowChannels is never sent after 1.4 (each unknown
    action is a RequestBadFormat security event in the PBX's log, food for fail2ban)."""
    sim = simulator(version, "dahdi_not_loaded", failure="no-permission")
    done = run("check_asterisk_fxo", sim)
    assert (done.code, done.lines) == (
        2,
        [
            "ASTERISK_FXO CRITICAL - 'DAHDIShowChannels' not available: chan_dahdi is not loaded",
            "Invalid/unknown command: DAHDIShowChannels. Use Action: ListCommands to show "
            "available commands.",
        ],
    )
    assert sim.actions("ZapShowChannels") == []


@pytest.mark.parametrize("version", ["1.6", "13", "20", "22"])
@pytest.mark.parametrize("scenario", ["dahdi_not_loaded", "fxo_cli_only", "fxo_ok"])
def test_fxo_never_sends_zap_after_1_4(simulator: Start, version: str, scenario: str) -> None:
    sim = simulator(version, scenario)
    run("check_asterisk_fxo", sim)
    assert sim.actions("ZapShowChannels") == []


def test_fxo_zap_mode_still_works_on_1_4(simulator: Start) -> None:
    sim = simulator("1.4", "fxo_zap_mode")
    done = run("check_asterisk_fxo", sim)
    assert done.code == 1
    assert [a["action"] for a in sim.received][1:3] == ["DAHDIShowChannels", "ZapShowChannels"]
