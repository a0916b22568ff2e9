"""The one-shot AMI session against a simulator that behaves, and one that misbehaves."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any, Callable, NamedTuple

import pytest

from asterisk_ami import errors
from asterisk_ami.replies import CommandOutput
from asterisk_ami.session import Session, Target, run
from asterisk_ami.simulator import Simulator
from tests.conftest import SECRET, SLACK, VERSIONS, wait_for


class Transcript(NamedTuple):
    """What one session brought back: the server's greeting and each command's output."""

    greeting: str
    outputs: tuple[CommandOutput, ...]


def run_commands(target: Target, commands: Sequence[str], deadline: float) -> Transcript:
    """Run CLI commands in order in one session (the checks' own path: session.run)."""

    async def work(session: Session) -> Transcript:
        outputs = [await session.command(command) for command in commands]
        return Transcript(session.greeting, tuple(outputs))

    return run(target, deadline, work)


Start = Callable[..., Simulator]


def target(sim: Simulator, **changes: Any) -> Target:
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": sim.port,
        "username": "monitor",
        "secret": SECRET,
    }
    options.update(changes)
    return Target(**options)


def names(sim: Simulator) -> list[str]:
    return [a.get("action", "") for a in sim.received]


@pytest.mark.parametrize("trickle", [False, True], ids=["whole", "trickled"])
@pytest.mark.parametrize("auth", ["plain", "md5"])
@pytest.mark.parametrize("version", VERSIONS)
def test_commands_in_every_version(
    simulator: Start, version: str, auth: str, trickle: bool
) -> None:
    sim = simulator(version, "pri_span3_alarm", trickle=trickle)
    transcript = run_commands(target(sim, auth=auth), ["pri show spans", "core show version"], 5)
    spans, about = transcript.outputs
    assert len(spans.lines) == 4 and spans.lines[2].endswith("In Alarm, Down, Active")
    assert about.lines[0].startswith(f"Asterisk {sim.profile.release} built by")
    assert spans.reply_format == ("output" if sim.profile.output_headers else "follows")
    assert transcript.greeting == f"Asterisk Call Manager/{sim.profile.ami_version}"
    login = sim.actions("login")[0]
    assert login["events"] == "off"
    assert ("key" in login) == (auth == "md5") and ("secret" in login) == (auth == "plain")
    assert wait_for(lambda: names(sim)[-1] == "Logoff")
    assert sim.connections == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_empty_output_and_missing_command(simulator: Start, version: str) -> None:
    sim = simulator(version, "pri_none")
    assert run_commands(target(sim), ["pri show spans"], 5).outputs[0].lines == ()
    sim = simulator(version, "no_libpri")
    with pytest.raises(errors.CommandNotFound) as caught:
        run_commands(target(sim), ["pri show spans"], 5)
    assert caught.value.text.startswith("No such command 'pri show spans' (type '")
    assert wait_for(lambda: names(sim)[-1] == "Logoff")


def test_bad_secret_is_not_retried(simulator: Start) -> None:
    sim = simulator("18", auth_delay=0.3)
    with pytest.raises(errors.AuthenticationFailed, match="login as 'monitor' failed") as caught:
        run_commands(target(sim, secret="wrong"), ["pri show spans"], 5)
    assert str(caught.value).endswith("Authentication failed")  # the server's answer, awaited
    time.sleep(0.5)  # panoramisk's stock Manager would be reconnecting by now
    assert sim.connections == 1 and names(sim) == ["Login"]


def test_bad_md5_key(simulator: Start) -> None:
    sim = simulator("13")
    with pytest.raises(errors.AuthenticationFailed):
        run_commands(target(sim, secret="wrong", auth="md5"), ["pri show spans"], 5)
    assert names(sim) == ["Challenge", "Login"]


def test_permission_denied_still_logs_off(simulator: Start) -> None:
    sim = simulator("20", failure="no-permission")
    with pytest.raises(errors.PermissionDenied, match="Permission denied"):
        run_commands(target(sim), ["pri show spans"], 5)
    assert wait_for(lambda: names(sim) == ["Login", "Command", "Logoff"])


@pytest.mark.parametrize(
    ("failure", "phase"),
    [
        ("silent", "waiting for the AMI greeting"),
        ("stall-login", "waiting for the login reply"),
        ("stall", "waiting for the reply to 'pri show spans'"),
        ("stall-mid-reply", "waiting for the reply to 'pri show spans'"),
    ],
)
def test_one_deadline_covers_every_phase(simulator: Start, failure: str, phase: str) -> None:
    sim = simulator("13", failure=failure)
    started = time.monotonic()
    with pytest.raises(errors.AmiTimeout) as caught:
        run_commands(target(sim), ["pri show spans"], 0.6)
    elapsed = time.monotonic() - started
    assert 0.6 <= elapsed < 0.6 + SLACK
    assert caught.value.phase == phase
    if failure.startswith("stall") and failure != "stall-login":  # logged in: Logoff goes out
        assert wait_for(lambda: names(sim)[-1] == "Logoff")


def test_logoff_without_goodbye_does_not_cost_the_deadline(simulator: Start) -> None:
    sim = simulator("22", failure="no-goodbye")
    started = time.monotonic()
    assert run_commands(target(sim), ["pri show spans"], 120).outputs[0].lines
    # The Logoff grace (0.5 s) only, not the deadline: generous slack, far below 120 s.
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("failure", "error", "match"),
    [
        (
            "close-mid-reply",
            errors.ConnectionLost,
            r"closed the connection \(waiting for the reply to 'pri show spans'\)",
        ),
        ("close-on-connect", errors.ConnectionLost, "closed the connection before its greeting"),
        ("not-ami", errors.NotAmiServer, "greets with 'SSH-2.0-OpenSSH"),
        ("garbage", errors.ProtocolError, r"not an AMI message: '\\x00\?\?\\x13garbage"),
    ],
)
@pytest.mark.parametrize("version", ["1.8", "18"])
def test_misbehaving_servers(
    simulator: Start, version: str, failure: str, error: type[Exception], match: str
) -> None:
    sim = simulator(version, failure=failure)
    with pytest.raises(error, match=match):
        run_commands(target(sim), ["pri show spans"], 3)


def test_connection_refused() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(
        errors.ConnectionFailed, match=re.escape(f"127.0.0.1:{port}: connection refused")
    ):
        run_commands(Target("127.0.0.1", port, "monitor", SECRET), ["pri show spans"], 3)


def test_unknown_host() -> None:
    with pytest.raises(errors.ConnectionFailed, match=r"cannot resolve 'pbx\.invalid'"):
        run_commands(Target("pbx.invalid", 5038, "monitor", SECRET), ["pri show spans"], 3)


def test_hung_resolver_cannot_outlive_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # No real resolver can be made to hang here, so this one stands in for it.
    released = threading.Event()  # the resolver hangs until the test is done (or 120 s)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: released.wait(120) and [])
    started = time.monotonic()
    try:
        with pytest.raises(errors.AmiTimeout, match="resolving pbx1"):
            run_commands(Target("pbx1", 5038, "monitor", SECRET), ["pri show spans"], 0.5)
        assert time.monotonic() - started < 30  # the resolver still hangs by then
    finally:
        released.set()


def test_ipv6_loopback(simulator: Start) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    sim = Simulator(asterisk="16", secret=SECRET)
    try:
        sim.start_in_thread(host="::1")
    except OSError:
        pytest.skip("cannot bind ::1")
    try:
        out = run_commands(Target("::1", sim.port, "monitor", SECRET), ["pri show spans"], 5)
        assert len(out.outputs[0].lines) == 4
    finally:
        sim.stop()


def test_nothing_outlives_a_session(simulator: Start) -> None:
    sim = simulator("14", failure="stall")
    before = {t.ident for t in threading.enumerate()}
    with pytest.raises(errors.AmiTimeout):
        run_commands(target(sim), ["pri show spans"], 0.3)
    assert wait_for(lambda: {t.ident for t in threading.enumerate()} <= before)


def test_debug_log_hides_the_secret(simulator: Start, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="asterisk_ami")
    for auth in ("plain", "md5"):
        run_commands(target(simulator("11"), auth=auth), ["pri show spans"], 5)
    assert "Secret: (hidden)" in caplog.text and "Key: (hidden)" in caplog.text
    assert SECRET not in caplog.text


def test_target_repr_hides_the_secret() -> None:
    target = Target("pbx1", 5038, "monitor", SECRET, "md5")
    assert repr(target) == str(target) == "Target(pbx1:5038, user 'monitor', md5)"


# -- a request that cannot be written (issue 14, item 4) -----------------------------------
NOT_UTF8 = "p\udce4sswort"  # the bytes p, 0xE4, sswort from argv or the environment


@pytest.mark.parametrize("auth", ["plain", "md5"])
def test_unwritable_secret_ends_the_session(simulator: Start, auth: str) -> None:
    """Not a timeout, not a UnicodeEncodeError: a typed failure, and nothing logged in clear."""
    sim = simulator("22")
    started = time.monotonic()
    with pytest.raises(errors.SendFailed) as caught:
        run_commands(target(sim, secret=NOT_UTF8, auth=auth), ["pri show spans"], 5)
    assert str(caught.value) == (
        "cannot send Login: a value is not valid UTF-8 text"
        if auth == "plain"
        else "cannot send Login: the secret is not valid UTF-8 text"
    )
    assert time.monotonic() - started < 5  # ended by the failure, not the deadline
    assert not sim.actions("Login")


def test_failed_send_is_not_logged(simulator: Start, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(errors.SendFailed):
        run_commands(target(simulator("22"), secret=NOT_UTF8), ["pri show spans"], 5)
    assert "sswort" not in caplog.text and "Traceback" not in caplog.text


# -- an event flood (issue 14, item 11) -----------------------------------------------------
def test_event_flood_is_capped(simulator: Start) -> None:
    sim = simulator("22", failure="flood")
    with pytest.raises(errors.EventFlood, match="sent more than 1 MiB of events not asked for"):
        run_commands(target(sim), ["pri show spans"], 30)


def test_deadline_holds_under_an_event_flood(
    simulator: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the cap out of the way, the flood runs into the session's own deadline: reading
    stops there, so the timer fires (in a plugin, before the SIGALRM backstop)."""
    from asterisk_ami import protocol

    monkeypatch.setattr(protocol, "MAX_UNSOLICITED_BYTES", 1 << 40)
    monkeypatch.setattr(protocol, "MAX_UNSOLICITED_MESSAGES", 1 << 40)
    sim = simulator("22", failure="flood")
    started = time.monotonic()
    with pytest.raises(errors.AmiTimeout) as caught:
        run_commands(target(sim), ["pri show spans"], 1.0)
    assert caught.value.phase == "waiting for the reply to 'pri show spans'"
    assert time.monotonic() - started < 1.0 + SLACK


def test_flood_debug_text_only_when_shown(
    simulator: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No description is built per message unless debug records are wanted (-vvv)."""
    from asterisk_ami import protocol

    built: list[int] = []
    describe = protocol._describe
    monkeypatch.setattr(protocol, "_describe", lambda m: built.append(1) or describe(m))
    logging.getLogger("asterisk_ami").setLevel(logging.WARNING)
    try:
        with pytest.raises(errors.EventFlood):
            run_commands(target(simulator("22", failure="flood")), ["pri show spans"], 30)
    finally:
        logging.getLogger("asterisk_ami").setLevel(logging.NOTSET)
    assert built == []


def test_one_event_is_not_a_flood(simulator: Start) -> None:
    """1.4 sends FullyBooted even with Events: off: an unsolicited message, well under the cap."""
    out = run_commands(target(simulator("1.4")), ["pri show spans"], 5)
    assert out.outputs[0].lines
