"""Every AMI check against a real Asterisk 13, 20 and 22 (tests/asterisk_real.py).

No DAHDI hardware here, so what is tested for real is what a PBX without spans answers,
logins (plain, MD5, TLS), permissions, a module unloaded, Logoff; span alarms come from the
simulator. Skipped without the builds of .ci/setup.d/50-asterisk.sh (failed in CI).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from isp_plugins.checks import AMI_CHECKS
from tests.asterisk_real import (
    MONITOR,
    NO_COMMAND,
    SECRET,
    VERSIONS,
    RealAsterisk,
    running_asterisk,
)
from tests.capture_asterisk import capture, real_server, stable
from tests.check_cases import REAL_CASES
from tests.conftest import PluginRun, run_script
from tests.nagios_helpers import wait_until
from tests.services import services
from tests.test_captured import captured
from tests.watch_helpers import Daemon, Results, watch_config

pytestmark = services
SCRIPTS = [check.script for check in AMI_CHECKS]


@pytest.fixture(scope="module", params=VERSIONS)
def asterisk(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealAsterisk]:
    """One instance per version, shared by the tests that leave it as they found it."""
    directory = tmp_path_factory.mktemp(f"asterisk-{request.param}")
    with running_asterisk(request.param, directory) as instance:
        yield instance


@pytest.fixture(params=VERSIONS)
def own_asterisk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RealAsterisk]:
    """An instance of the test's own, for tests that unload modules or stop it."""
    with running_asterisk(request.param, tmp_path) as instance:
        yield instance


def check(
    asterisk: RealAsterisk,
    script: str,
    *args: str,
    user: str = MONITOR,
    secret: str = SECRET,
    port: int | None = None,
) -> PluginRun:
    """Run a check against the instance, the secret in the environment as Icinga 2 passes it."""
    target = ["-H", "127.0.0.1", "-p", str(port or asterisk.port), "-U", user]
    return run_script(script, *target, *args, env={"ASTERISK_AMI_SECRET": secret})


def logged_off(asterisk: RealAsterisk, user: str = MONITOR) -> bool:
    """The last session of ``user`` sent Logoff (Asterisk's logger thread may write it a
    moment after the check has exited)."""
    return wait_until(lambda: asterisk.sessions(user)[-1:] == [True], 10)


def no_secret(run: PluginRun, secret: str = SECRET) -> None:
    assert secret not in run.stdout + run.stderr


# -- logins --------------------------------------------------------------------------------
@pytest.mark.parametrize("auth", ["plain", "md5"])
@pytest.mark.parametrize("script", SCRIPTS)
def test_each_check_reads_a_pbx_without_hardware(
    asterisk: RealAsterisk, script: str, auth: str
) -> None:
    run = check(asterisk, script, "--auth", auth, "-vvv")
    assert (run.code, run.status) == REAL_CASES[script].bare, run.stdout + run.stderr
    assert "greeting: Asterisk Call Manager/" in run.stdout
    assert run.lines[-1] == "logged off", run.stdout
    assert run.stderr == ""
    no_secret(run)
    assert logged_off(asterisk), "the check did not log off"


@pytest.mark.parametrize("timeout", ["3", "10"])
@pytest.mark.parametrize("script", SCRIPTS)
def test_a_wrong_secret_is_the_same_critical_whatever_the_timeout(
    asterisk: RealAsterisk, script: str, timeout: str
) -> None:
    # Asterisk answers a wrong secret after about a second, then closes the connection.
    run = check(asterisk, script, "-t", timeout, "-vvv", secret="wrong-s3cret-Hh90")
    name = script.removeprefix("check_").upper()
    assert (run.code, run.status) == (
        2,
        f"{name} CRITICAL - AMI login as 'monitor' failed: Authentication failed",
    )
    no_secret(run, "wrong-s3cret-Hh90")


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_user_without_command_permission(asterisk: RealAsterisk, script: str) -> None:
    run = check(asterisk, script, user=NO_COMMAND)
    assert (run.code, run.status) == REAL_CASES[script].no_command, run.stdout
    assert logged_off(asterisk, NO_COMMAND), "the check did not log off"


# -- TLS (13 is built without OpenSSL) ------------------------------------------------------
def tls_only(asterisk: RealAsterisk) -> Path:
    if asterisk.ca_file is None:
        pytest.skip(f"Asterisk {asterisk.build.release} has no AMI TLS (built without OpenSSL)")
    return asterisk.ca_file


@pytest.mark.parametrize("script", SCRIPTS)
def test_tls_with_the_ca_file(asterisk: RealAsterisk, script: str) -> None:
    ca_file = tls_only(asterisk)
    run = check(
        asterisk, script, "--tls", "--ca-file", str(ca_file), "-vvv", port=asterisk.tls_port
    )
    assert (run.code, run.status) == REAL_CASES[script].bare, run.stdout
    no_secret(run)


def test_tls_with_an_untrusted_certificate(asterisk: RealAsterisk) -> None:
    tls_only(asterisk)
    run = check(asterisk, "check_asterisk_pri", "--tls", port=asterisk.tls_port)
    assert (run.code, run.status) == (
        2,
        f"ASTERISK_PRI CRITICAL - TLS certificate of 127.0.0.1:{asterisk.tls_port} rejected: "
        "unable to get local issuer certificate",
    )


def test_insecure_tls_says_so(asterisk: RealAsterisk) -> None:
    tls_only(asterisk)
    run = check(asterisk, "check_asterisk_pri", "--tls", "--insecure", port=asterisk.tls_port)
    assert (run.code, run.status) == REAL_CASES["check_asterisk_pri"].bare
    assert "warning: the AMI TLS certificate was not verified (--insecure)" in run.stdout, (
        run.stdout
    )


# -- modules -------------------------------------------------------------------------------
def test_chan_dahdi_unloaded(own_asterisk: RealAsterisk) -> None:
    own_asterisk.unload("chan_dahdi.so")
    for script in SCRIPTS:
        run = check(own_asterisk, script)
        assert (run.code, run.status) == REAL_CASES[script].unloaded, run.stdout
    assert wait_until(lambda: all(own_asterisk.sessions()), 10), "a check did not log off"


@pytest.mark.parametrize("script", SCRIPTS)
def test_minus_v_keeps_the_greeting_and_the_insecure_warning_on_every_path(
    asterisk: RealAsterisk, script: str
) -> None:
    tls_only(asterisk)
    run = check(asterisk, script, "--tls", "--insecure", "-v", port=asterisk.tls_port)
    assert (run.code, run.status) == REAL_CASES[script].bare
    assert "warning: the AMI TLS certificate was not verified (--insecure)" in run.lines
    assert any(line.startswith("AMI greeting: Asterisk Call Manager/") for line in run.lines)


# -- asterisk-watch ------------------------------------------------------------------------
def test_asterisk_watch_against_a_real_pbx(own_asterisk: RealAsterisk, tmp_path: Path) -> None:
    """Logs in, is told Reload, goes UNKNOWN after `stale` while the PBX is down, recovers when
    it is back, logs off on SIGTERM. (The FullyBooted of a login is not asserted: the watcher
    ignores it before its first evaluation, but a PBX still booting sends it later.)"""
    services = {"PRI": "check_asterisk_pri -n 0", "DAHDI": "check_asterisk_dahdi"}
    watch = {"interval": "600", "stale": "2", "heartbeat": "600"}
    config = watch_config(tmp_path, own_asterisk.port, services, SECRET, watch)
    results = Results(tmp_path / "results.cmd")
    with Daemon(config) as daemon:
        first = results.wait_for("DAHDI", lambda code, text: True, seconds=20)
        assert first is not None and first[1].startswith(REAL_CASES["check_asterisk_dahdi"].bare[1])
        # Unchanged results go out only as heartbeats: the PBX's log tells the re-evaluation.
        before = own_asterisk.log().count("Running action 'Command'")
        own_asterisk.action("Reload")
        assert wait_until(lambda: "pbx1: event Reload" in daemon.log, 20), daemon.log
        rerun = lambda: own_asterisk.log().count("Running action 'Command'") > before  # noqa: E731
        assert wait_until(rerun, 20), daemon.log
        own_asterisk.stop()
        lost = results.wait_for("DAHDI", lambda code, text: code == 3, seconds=30)
        assert lost is not None and "AMI session lost" in lost[1], daemon.log
        own_asterisk.start()
        back = results.wait_for("DAHDI", lambda code, text: code == 2, seconds=60)
        assert back is not None, daemon.log
        assert daemon.stop() == 0, daemon.log
        log = daemon.log
    assert log.count("pbx1: logged in to") == 2, log
    assert wait_until(lambda: own_asterisk.sessions() == [False, True], 10), "no Logoff"
    assert SECRET not in log


# -- the captured fixtures -----------------------------------------------------------------
def test_the_captured_fixtures_are_what_the_real_server_answers(own_asterisk: RealAsterisk) -> None:
    found = capture(real_server(own_asterisk))
    stored = captured(own_asterisk.build.release)
    assert sorted(found) == sorted(stored)
    differ = [name for name in stored if stable(found[name]) != stable(stored[name])]
    assert differ == [], "python -m tests.capture_asterisk rewrites fixtures/asterisk/captured"


@pytest.mark.parametrize(
    "script", ["check_asterisk_pri", "check_asterisk_bri", "check_asterisk_fxo"]
)
def test_nothing_listed_and_none_expected_is_ok(asterisk: RealAsterisk, script: str) -> None:
    run = check(asterisk, script, "-n", "0")
    name = script.removeprefix("check_").upper()
    assert run.code == 0 and run.status.startswith(f"{name} OK - no "), run.stdout
    assert "none expected (-n 0)" in run.status


@pytest.mark.parametrize("script", SCRIPTS)
def test_plain_text_to_the_tls_port_says_try_tls(asterisk: RealAsterisk, script: str) -> None:
    tls_only(asterisk)
    run = check(asterisk, script, "-t", "10", port=asterisk.tls_port)
    name = script.removeprefix("check_").upper()
    assert (run.code, run.status) == (
        2,
        f"{name} CRITICAL - no AMI greeting from 127.0.0.1:{asterisk.tls_port}: it closed the "
        "connection when sent plain text (is this a TLS port? try --tls)",
    )
    assert run.seconds < 10  # not the whole -t (a loose bound: the probe waits 1 s)


def test_fxo_without_command_permission_and_chan_dahdi_unloaded(own_asterisk: RealAsterisk) -> None:
    """DAHDIShowChannels answers "unknown" (chan_dahdi absent): CRITICAL, not the permission
    UNKNOWN; and no ZapShowChannels (a RequestBadFormat security event each) after 1.4."""
    own_asterisk.unload("chan_dahdi.so")
    run = check(own_asterisk, "check_asterisk_fxo", user=NO_COMMAND)
    assert (run.code, run.status) == (
        2,
        "ASTERISK_FXO CRITICAL - 'DAHDIShowChannels' not available: chan_dahdi is not loaded",
    )
    assert wait_until(lambda: "DAHDIShowChannels" in own_asterisk.log("security"), 10)
    assert "ZapShowChannels" not in own_asterisk.log("security")
    assert "ZapShowChannels" not in own_asterisk.log()
