"""--state-dir (issue 14, item 9), for every check that keeps state: a directory anyone may
write without the sticky bit, one owned by another user, a symlink, or a state file that is
a symlink, is refused with an UNKNOWN line naming it and why; /tmp-like (sticky, root's)
and the user's own are used."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import fail2ban_payloads as payloads
from tests.conftest import PluginRun, run_script
from tests.test_fail2ban import FakeServer

NOTICE = (
    "[2024-03-10 10:00:01] NOTICE[4567]: chan_sip.c:28390 handle_request_register: "
    "Registration from '<sip:1001@192.0.2.10>' failed for '203.0.113.5:5060' - Wrong password\n"
)
REJECT = (
    "Mar 10 10:00:01 relay postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[192.0.2.1]: 554 5.7.1 "
    "<bob@example.com>: Sender address rejected: Rate limit reach, retry later; "
    "from=<bob@example.com> to=<a@example.net> proto=ESMTP helo=<x>\n"
)


@pytest.fixture
def root() -> Iterator[Path]:
    """A short directory (fail2ban's socket path is limited to 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="isp-st-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


Runner = Callable[[Path, Path], PluginRun]


def sipauth(root: Path, state: Path) -> PluginRun:
    log = root / "asterisk.log"
    log.write_text(NOTICE)
    return run_script("check_asterisk_sipauth", "--log", str(log), "--state-dir", str(state))


def ratelimit(root: Path, state: Path) -> PluginRun:
    log = root / "mail.log"
    log.write_text(REJECT)
    return run_script(
        "check_ratelimit_offenders",
        "--log",
        str(log),
        "--state-dir",
        str(state),
        "-w",
        "5",
        "-c",
        "5",
    )


def fail2ban(root: Path, state: Path) -> PluginRun:
    sock = root / "s"
    fake = FakeServer(
        sock,
        None,
        {
            "status": payloads.server_status("j") + b"<F2B_END_COMMAND>",
            "status j": payloads.jail_status() + b"<F2B_END_COMMAND>",
        },
    )
    try:
        return run_script("check_fail2ban", "-s", str(sock), "--state-dir", str(state))
    finally:
        fake.close()
        sock.unlink()


CHECKS: dict[str, tuple[Runner, str, int]] = {
    "sipauth": (sipauth, "ASTERISK_SIPAUTH", 0),
    "ratelimit": (ratelimit, "RATELIMIT_OFFENDERS", 0),
    "fail2ban": (fail2ban, "FAIL2BAN", 1),  # its jail reads no file: WARNING
}


@pytest.fixture(params=sorted(CHECKS))
def check(request: pytest.FixtureRequest) -> tuple[Runner, str, int]:
    return CHECKS[request.param]


def refused(done: PluginRun, name: str, text: str) -> None:
    assert (done.code, done.lines, done.stderr) == (3, [f"{name} UNKNOWN - {text}"], "")


def test_a_world_writable_directory_without_the_sticky_bit(
    root: Path, check: tuple[Runner, str, int]
) -> None:
    run, name, _ = check
    state = root / "st"
    state.mkdir()
    state.chmod(0o777)
    refused(
        run(root, state),
        name,
        f"state directory {state} is writable by everyone without the sticky bit: refused",
    )
    assert list(state.iterdir()) == []


def test_a_directory_of_another_user(root: Path, check: tuple[Runner, str, int]) -> None:
    run, name, _ = check
    state = root / "st"
    state.mkdir(mode=0o700)
    os.chown(state, 65534, 65534)
    uid = os.geteuid()
    refused(
        run(root, state),
        name,
        f"state directory {state} belongs to uid 65534, neither to us (uid {uid}) nor to "
        "root: refused",
    )


def test_a_symlink_as_the_directory(root: Path, check: tuple[Runner, str, int]) -> None:
    run, name, _ = check
    real = root / "real"
    real.mkdir(mode=0o700)
    state = root / "st"
    state.symlink_to(real)
    refused(run(root, state), name, f"state directory {state} is a symlink: refused")
    assert list(real.iterdir()) == []
    # a trailing slash makes the kernel follow it: still refused
    refused(run(root, Path(f"{state}/")), name, f"state directory {state} is a symlink: refused")


def test_a_state_file_that_is_a_symlink(root: Path, check: tuple[Runner, str, int]) -> None:
    run, name, code = check
    state = root / "st"
    assert run(root, state).code == code
    (saved,) = state.glob("*.json")
    target = root / "elsewhere.json"
    saved.rename(target)
    saved.symlink_to(target)
    refused(run(root, state), name, f"state {saved} is a symlink: refused")


def test_sticky_shared_and_private_directories_are_used(
    root: Path, check: tuple[Runner, str, int]
) -> None:
    run, _, code = check
    shared = root / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: anyone may write, nobody may replace our files
    assert run(root, shared).code == code
    assert len(list(shared.glob("*.json"))) == 1
    private = root / "new" / "dir"  # created, private
    assert run(root, private).code == code
    assert private.stat().st_mode & 0o777 == 0o700
