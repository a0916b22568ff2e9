"""Every AMI plugin against every way a server can misbehave: bounded, honest, one line."""

from __future__ import annotations

import re
import time
from typing import Callable

import pytest

from asterisk_ami.simulator import Simulator
from isp_plugins.checks import AMI_CHECKS, CheckInfo
from tests.check_cases import AMI_CASES
from tests.conftest import SECRET, run_script, wait_for

Start = Callable[..., Simulator]
TIMEOUT = 2
STATES = ["OK", "WARNING", "CRITICAL", "UNKNOWN"]

# mode -> (simulator settings, whether the client logs in and can still say Logoff)
MODES: dict[str, tuple[dict[str, object], bool]] = {
    "healthy": ({}, True),
    "silent after connect": ({"failure": "silent"}, False),
    "silent after greeting": ({"failure": "stall-login"}, False),
    "silent after login": ({"failure": "stall"}, True),
    "stall mid-reply": ({"failure": "stall-mid-reply"}, True),
    "random bytes": ({"failure": "garbage"}, True),
    "HTTP server": ({"failure": "http"}, False),
    "SSH server": ({"failure": "not-ami"}, False),
    "close on connect": ({"failure": "close-on-connect"}, False),
    "close mid-reply": ({"failure": "close-mid-reply"}, False),
    "10 MB reply": ({"failure": "huge-reply"}, True),
    "slow drip": ({"failure": "drip"}, False),
    "bad secret": ({"secret": "not-the-one-we-send"}, False),
    "no permission": ({"failure": "no-permission"}, True),
    "unknown command": ({"scenario": "no_libpri"}, True),
    "no Goodbye": ({"failure": "no-goodbye"}, True),
    "event flood": ({"failure": "flood"}, True),
    "TLS alert": ({"failure": "tls-alert"}, False),
}


@pytest.mark.parametrize("version", ["13", "18"], ids=["Follows format", "Output format"])
@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("check", AMI_CHECKS, ids=[check.script for check in AMI_CHECKS])
def test_hostile_server(simulator: Start, check: CheckInfo, mode: str, version: str) -> None:
    """Every AMI check of the registry, with its options and healthy scenario from check_cases."""
    script, name = check.script, check.name
    options, healthy = AMI_CASES[check.script]
    settings, logs_off = MODES[mode]
    sim = simulator(version, **{"scenario": healthy, **settings})
    started = time.monotonic()
    run = run_script(
        script,
        "-H",
        "127.0.0.1",
        "-p",
        str(sim.port),
        "-U",
        "monitor",
        "-P",
        SECRET,
        "-t",
        str(TIMEOUT),
        "-vvv",
        *options,
    )
    assert time.monotonic() - started < TIMEOUT + 3

    status = re.fullmatch(rf"{name} (OK|WARNING|CRITICAL|UNKNOWN) - \S.*", run.status)
    assert status, run.stdout
    assert run.code == STATES.index(status.group(1))
    if mode in ("healthy", "no Goodbye"):
        assert status.group(1) == "OK", run.stdout
    assert not any(line.startswith(f"{name} ") for line in run.lines[1:])
    assert run.stderr == ""
    assert "Traceback" not in run.stdout
    assert SECRET not in run.stdout

    if logs_off:
        # The simulator's thread records it; on a loaded machine (a flood on every core) late.
        logoff = lambda: any(a.get("action") == "Logoff" for a in sim.received)  # noqa: E731
        assert wait_for(logoff, seconds=10), mode
    else:
        assert not any(a.get("action") == "Logoff" for a in sim.received)
    assert sim.connections == 1
    assert len(sim.actions("login")) <= 1  # never a second attempt: fail2ban bans for less


@pytest.mark.parametrize("timeout", ["1", "3"])
@pytest.mark.parametrize("check", AMI_CHECKS, ids=[check.script for check in AMI_CHECKS])
def test_event_flood_ends_by_the_cap_or_the_deadline(
    simulator: Start, check: CheckInfo, timeout: str
) -> None:
    """A PBX that floods small events and answers nothing: the session ends at the unsolicited
    data cap, or at its own asyncio deadline, never by the SIGALRM backstop."""
    options, healthy = AMI_CASES[check.script]
    sim = simulator("22", healthy, failure="flood")
    run = run_script(
        check.script, "-p", str(sim.port), "-U", "monitor", "-P", SECRET, "-t", timeout,
        *options,
    )  # fmt: skip
    where = f"AMI at 127.0.0.1:{sim.port}"
    capped = (
        f"{check.name} UNKNOWN - {where} sent more than 1 MiB of events not asked for "
        "(the login said Events: off): session ended"
    )
    deadline = re.escape(f"{check.name} UNKNOWN - no answer from {where} within {timeout}s (")
    assert run.status == capped or re.fullmatch(deadline + r"waiting for .*\)", run.status), (
        run.stdout
    )
    assert run.code == 3 and run.stderr == ""
    assert run.seconds < float(timeout) + 3
