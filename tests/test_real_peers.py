"""check_asterisk_peers against a real Asterisk 20 with a second one as the carrier
(tests/sip_lab.py): trunks with RTT, a wrong password, a phone that never registered, IAX2 up
and down, permissions, no password in any output, and the carrier stopped (the plugin, and
asterisk-watch through PeerStatus/ContactStatus). Skipped without the build of
.ci/setup.d/50-asterisk.sh (failed in CI)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.asterisk_real import ADMIN, ADMIN_SECRET, MONITOR, NO_COMMAND, SECRET
from tests.conftest import PluginRun, run_script
from tests.nagios_helpers import wait_until
from tests.services import services
from tests.sip_lab import BAD_PASSWORD, PASSWORD, Lab, sip_lab
from tests.watch_helpers import Daemon, Results, watch_config

pytestmark = services
#: The registrations meant to come up, by --registration pattern.
GOOD_REGISTRATIONS: tuple[str, ...] = (
    *("--registration", "pbxsip@*"),
    *("--registration", "pbxiax@*"),
    *("--registration", "provider-reg"),
)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One lab for the tests that leave it as they found it."""
    with sip_lab(tmp_path_factory.mktemp("sip-lab")) as running:
        yield running


def peers(lab: Lab, *args: str, user: str = ADMIN, secret: str = ADMIN_SECRET) -> PluginRun:
    target = ["-H", "127.0.0.1", "-p", str(lab.pbx.port), "-U", user]
    return run_script("check_asterisk_peers", *target, *args, env={"ASTERISK_AMI_SECRET": secret})


def first(run: PluginRun) -> str:
    return run.stdout.split("\n")[0].split(" | ")[0]


def settles(lab: Lab, expected: tuple[int, str], *args: str, seconds: float = 40) -> PluginRun:
    """Run the check until it says ``expected`` (qualify and registrations take seconds)."""
    runs: list[PluginRun] = []

    def says() -> bool:
        runs.append(peers(lab, *args))
        return (runs[-1].code, first(runs[-1])) == expected

    assert wait_until(says, seconds, 1), runs[-1].stdout + runs[-1].stderr
    return runs[-1]


def no_secrets(run: PluginRun) -> None:
    for secret in (PASSWORD, BAD_PASSWORD, SECRET, ADMIN_SECRET):
        assert secret not in run.stdout + run.stderr


def test_trunks_reachable_with_rtt(lab: Lab) -> None:
    run = settles(
        lab,
        (0, "ASTERISK_PEERS OK - 3 of 3 peers reachable - 3 of 3 registrations up"),
        "--peer", "provider-*", *GOOD_REGISTRATIONS,
    )  # fmt: skip
    for label in ("rtt_sip_provider_sip", "rtt_pjsip_provider_pj", "rtt_iax2_provider_iax"):
        assert re.search(rf" {label}=[0-9.]+ms;;;0", run.stdout), run.stdout
    assert re.search(r"SIP/provider-sip \(trunk\) at 127\.0\.0\.1:\d+: OK \(\d+ ms\)", run.stdout)


def test_wrong_password_is_a_critical_registration(lab: Lab) -> None:
    settles(
        lab,
        (
            2,
            "ASTERISK_PEERS CRITICAL - registration PJSIP/wrong-reg Rejected - 0 of 0 peers "
            "reachable - 0 of 1 registration up",
        ),
        "--tech", "pjsip", "--peer", "none", "--registration", "wrong-reg",
    )  # fmt: skip
    settles(
        lab,
        (
            2,
            f"ASTERISK_PEERS CRITICAL - registration SIP/pbxsip2@127.0.0.1:"
            f"{lab.provider_ports.sip} No Authentication - 0 of 0 peers reachable - "
            "0 of 1 registration up",
        ),
        "--tech", "sip", "--peer", "none", "--registration", "pbxsip2@*",
    )  # fmt: skip


def test_a_phone_that_never_registered_is_no_alarm(lab: Lab) -> None:
    run = peers(lab, "--peer", "phone-*", "--registration", "none")
    assert (run.code, first(run)) == (0, "ASTERISK_PEERS OK - 0 of 3 peers reachable")
    assert "SIP/phone-sip (peer): UNKNOWN" in run.stdout
    assert "PJSIP/phone-pj (peer): UNKNOWN - Unavailable: no contact" in run.stdout


@pytest.mark.parametrize(("tech", "name"), [("sip", "SIP/slow-sip"), ("iax2", "IAX2/slow-iax")])
def test_a_slow_qualify_is_lagged(lab: Lab, tech: str, name: str) -> None:
    """chan_sip's and chan_iax2's own LAGGED: the OPTIONS or POKE answered after qualify= ms."""
    lagged = re.compile(
        rf"ASTERISK_PEERS WARNING - trunk {name} LAGGED \((\d+) ms\) - 1 of 1 peer reachable"
    )
    peer = name.split("/")[1]
    runs: list[PluginRun] = []

    def is_lagged() -> bool:
        runs.append(peers(lab, "--tech", tech, "--peer", peer, "--registration", "none"))
        return runs[-1].code == 1 and lagged.fullmatch(first(runs[-1])) is not None

    assert wait_until(is_lagged, 40, 1), runs[-1].stdout
    match = lagged.fullmatch(first(runs[-1]))
    assert match is not None and int(match.group(1)) > 500
    assert " peers_lagged=1;;;0 " in runs[-1].stdout


def test_iax2_peer_up_and_down(lab: Lab) -> None:
    settles(
        lab,
        (0, "ASTERISK_PEERS OK - 1 of 1 peer reachable - 1 of 1 registration up"),
        "--tech", "iax2", "--peer", "provider-iax",
    )  # fmt: skip
    settles(
        lab,
        (
            2,
            "ASTERISK_PEERS CRITICAL - trunk IAX2/dead-iax UNREACHABLE - 0 of 1 peer reachable "
            "- 1 of 1 registration up",
        ),
        "--tech", "iax2", "--peer", "dead-iax",
    )  # fmt: skip


def test_every_user_gets_the_same_answer_or_a_clear_permission_line(lab: Lab) -> None:
    """admin reads the PJSIP actions, monitor (write = command) the CLI, viewer neither."""
    # slow-sip's qualify time differs from run to run: it has its own test
    expected = settles(lab, (2, first(peers(lab, "--exclude", "slow-*"))), "--exclude", "slow-*")
    by_cli = peers(lab, "-v", "--exclude", "slow-*", user=MONITOR, secret=SECRET)
    assert (by_cli.code, first(by_cli)) == (expected.code, first(expected))
    assert "PJSIP: 'pjsip show endpoints', PJSIPShowRegistrationsOutbound" in by_cli.stdout
    viewer = peers(lab, user=NO_COMMAND, secret=SECRET)
    assert (viewer.code, first(viewer)) == (
        3,
        "ASTERISK_PEERS UNKNOWN - AMI user 'viewer' may not read PJSIP peers: Permission "
        "denied (manager.conf needs write = system, or command for the CLI)",
    )
    served = peers(lab, "--tech", "sip", "--tech", "iax2", user=NO_COMMAND, secret=SECRET)
    assert served.code == 2 and " peers reachable - " in first(served), served.stdout
    assert "SIP/dead-sip (trunk)" in served.stdout


@pytest.mark.parametrize("user", [ADMIN, MONITOR])
def test_no_password_at_any_verbosity(lab: Lab, user: str) -> None:
    secret = ADMIN_SECRET if user == ADMIN else SECRET
    run = peers(lab, "-vvv", user=user, secret=secret)
    assert run.code == 2
    assert "PJSIPShowRegistrationsOutbound" in run.stdout + run.stderr
    no_secrets(run)


def test_carrier_stopped_is_critical_and_the_watcher_says_so_within_seconds(
    tmp_path: Path,
) -> None:
    with sip_lab(tmp_path / "lab") as lab:
        args = ("--tech", "sip", "--tech", "pjsip", "--peer", "provider-*", "--registration", "x")
        settles(lab, (0, "ASTERISK_PEERS OK - 2 of 2 peers reachable"), *args)
        command = "check_asterisk_peers " + " ".join(args)
        config = watch_config(
            tmp_path,
            lab.pbx.port,
            {"peers": command},
            SECRET,
            # Only the events can explain a change within seconds.
            {"interval": "600"},
        )
        with Daemon(config) as daemon:
            results = Results(tmp_path / "results.cmd")
            ok = results.wait_for("peers", lambda code, _: code == 0, 20)
            assert ok is not None and ok[0] == 0, daemon.log
            lab.provider.stop()
            # chan_sip and PJSIP notice in about 4 s (qualify every 2 s, 2 s timeout).
            down = results.wait_for(
                "peers", lambda _, text: "trunk SIP/provider-sip UNREACHABLE" in text, 30
            )
            assert down is not None and down[0] == 2, daemon.log
            assert "trunk SIP/provider-sip UNREACHABLE" in down[1], daemon.log
            log = daemon.log
        assert "peerstatus" in log.lower() or "contactstatus" in log.lower(), log
        run = peers(lab, *args)
        assert run.code == 2
        assert "trunk PJSIP/provider-pj UNREACHABLE" in first(run)


def test_a_refresh_unanswered_is_a_stale_registration(tmp_path: Path) -> None:
    """The carrier stopped: PJSIP keeps provider-reg Registered until its refresh times out;
    once the refresh is 10 s overdue (`pjsip show registrations`: exp. Ns ago) it is WARNING,
    then Rejected (CRITICAL). The refresh falls due within a minute of the stop."""
    stale = re.compile(
        r"ASTERISK_PEERS WARNING - registration PJSIP/provider-reg Registered \(exp\. (\d+)s ago\)"
        r" - 0 of 0 peers reachable - 0 of 1 registration up"
    )
    args = ("--tech", "pjsip", "--peer", "none", "--registration", "provider-reg")
    with sip_lab(tmp_path / "lab") as lab:
        settles(
            lab, (0, "ASTERISK_PEERS OK - 0 of 0 peers reachable - 1 of 1 registration up"), *args
        )
        lab.provider.stop()
        runs: list[PluginRun] = []

        def is_stale() -> bool:
            runs.append(peers(lab, *args))
            return runs[-1].code == 1 and stale.fullmatch(first(runs[-1])) is not None

        assert wait_until(is_stale, 120, 1), runs[-1].stdout
        match = stale.fullmatch(first(runs[-1]))
        assert match is not None and int(match.group(1)) >= 10
        assert "'pjsip show registrations'" in peers(lab, *args, "-v").stdout


def test_a_slow_pjsip_contact_is_over_the_rtt_threshold(lab: Lab) -> None:
    """PJSIP says Reachable whatever the delay (under qualify_timeout): the RTT tells."""
    slow = re.compile(
        r"ASTERISK_PEERS WARNING - peer PJSIP/slow-pj qualify ([0-9.]+) ms > 500 ms - "
        r"1 of 1 peer reachable"
    )
    args = ("--tech", "pjsip", "--peer", "slow-pj", "--registration", "none")
    runs: list[PluginRun] = []

    def is_slow() -> bool:
        runs.append(peers(lab, *args, "--rtt-warning", "500"))
        return runs[-1].code == 1 and slow.fullmatch(first(runs[-1])) is not None

    assert wait_until(is_slow, 40, 1), runs[-1].stdout
    match = slow.fullmatch(first(runs[-1]))
    assert match is not None and float(match.group(1)) > 700
    assert "PJSIP/slow-pj (peer) at sip:127.0.0.1:" in runs[-1].stdout
