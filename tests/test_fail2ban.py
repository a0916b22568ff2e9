"""check_fail2ban against a real fail2ban-server (Debian's package, .ci/setup.d/40-fail2ban.sh)
that really bans, then stopped; and against fake servers that misbehave.

The real server is our own instance: a private configuration directory (the stock asterisk
filter, a jail on a test log, polling backend, an action that writes to a file instead of
touching a firewall), its own socket, pidfile and log. Skipped without fail2ban, unless
ISP_PLUGINS_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from isp_plugins.sources import fail2ban as f2b
from tests import fail2ban_payloads as payloads
from tests.conftest import SLACK, run_script, wait_for
from tests.services import service_missing, services

SCRIPT = "check_fail2ban"
JAIL = "asterisk-test"
STOCK_FILTERS = Path("/etc/fail2ban/filter.d")


def failed_registration(account: str, address: str) -> str:
    """chan_sip's line (1.8+ form), stamped now: fail2ban only counts recent failures."""
    stamp = time.strftime("%b %e %H:%M:%S")
    return (
        f"[{stamp}] NOTICE[4567]: chan_sip.c:28390 handle_request_register: Registration "
        f"from '<sip:{account}@192.0.2.10>' failed for '{address}:5060' - Wrong password\n"
    )


@dataclass
class Server:
    """Our own fail2ban-server: its files, and how to stop it."""

    root: Path
    conf: Path
    socket: Path
    log: Path
    bans: Path
    state: Path

    def client(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["fail2ban-client", "-c", str(self.conf), "-s", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def banned(self) -> set[str]:
        if not self.bans.exists():
            return set()
        return {line.split()[1] for line in self.bans.read_text().splitlines() if "ban " in line}

    def fail(self, address: str, times: int) -> None:
        with self.log.open("a") as handle:
            for n in range(times):
                handle.write(failed_registration(str(200 + n), address))

    def check(self, *args: str) -> tuple[int, list[str]]:
        done = run_script(
            SCRIPT, "--socket", str(self.socket), "--state-dir", str(self.state), *args
        )
        assert done.stderr == ""
        return done.code, done.lines

    def status(self) -> f2b.JailStatus:
        (jail,) = f2b.read_status(str(self.socket), [JAIL], 5).jails
        return jail

    def stop(self) -> None:
        self.client("stop")
        pidfile = self.root / "f2b.pid"
        if not pidfile.exists():
            return
        # Still there: kill the server we started, and only it (its command line names our
        # private socket).
        with contextlib.suppress(ValueError, OSError):
            pid = int(pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if str(self.socket).encode() in cmdline or str(self.conf).encode() in cmdline:
                os.kill(pid, 9)


def need_fail2ban() -> None:
    if shutil.which("fail2ban-server") and (STOCK_FILTERS / "asterisk.conf").exists():
        return
    service_missing("40-fail2ban.sh", "fail2ban is not installed")


@pytest.fixture
def server() -> Iterator[Server]:
    need_fail2ban()
    # A short path: a Unix socket's path is limited to 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="f2b-"))
    conf = root / "conf"
    (conf / "filter.d").mkdir(parents=True)
    (conf / "action.d").mkdir()
    for name in ("asterisk.conf", "common.conf"):
        shutil.copy(STOCK_FILTERS / name, conf / "filter.d" / name)
    srv = Server(root, conf, root / "f2b.sock", root / "asterisk.log", root / "bans", root / "st")
    (conf / "fail2ban.conf").write_text(
        "[Definition]\nloglevel = INFO\n"
        f"logtarget = {root / 'server.log'}\nsocket = {srv.socket}\n"
        f"pidfile = {root / 'f2b.pid'}\ndbfile = :memory:\nsyslogsocket = auto\n"
        "allowipv6 = auto\ndbpurgeage = 1d\n"
    )
    (conf / "action.d" / "isp-test.conf").write_text(
        "[Definition]\nactionstart =\nactionstop =\nactioncheck =\n"
        f"actionban = echo ban <ip> >> {srv.bans}\nactionunban = echo unban <ip> >> {srv.bans}\n"
    )
    (conf / "jail.conf").write_text(
        "[DEFAULT]\nbackend = polling\nbanaction = isp-test\nmaxretry = 3\nfindtime = 600\n"
        f"bantime = 600\n\n[{JAIL}]\nenabled = true\nfilter = asterisk\nlogpath = {srv.log}\n"
        "action = isp-test\n"
    )
    srv.log.write_text("")
    started = srv.client("start")
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(root, ignore_errors=True)


@services
def test_real_fail2ban_bans_then_stops(server: Server) -> None:
    code, out = server.check()
    assert code == 0
    assert out[:2] == [
        f"FAIL2BAN OK - {JAIL}: 0 banned, 0 failing, +0 failed | asterisk_test_banned=0;;;0 "
        "asterisk_test_failed=0;;;0 asterisk_test_failed_growth=0;;;0 "
        "asterisk_test_total_banned=0c;;;0 asterisk_test_total_failed=0c;;;0",
        f"{JAIL}: 0 banned (0 in total), 0 failing, 0 failed in total (+0 since the last run)",
    ]
    assert re.fullmatch(rf"{JAIL} log {server.log}: written \d+s ago", out[2])
    assert out[3:] == ["first run: failed growth counted from now"]
    # an attack: 3 wrong passwords from one address, maxretry 3: banned
    server.fail("203.0.113.5", 3)
    assert wait_for(lambda: "203.0.113.5" in server.banned(), 20), server.bans
    code, out = server.check("-w", "0", "-j", JAIL)
    assert code == 1, out
    assert out[0] == (
        f"FAIL2BAN WARNING - {JAIL}: 1 banned, 0 failing, +3 failed | "
        "asterisk_test_banned=1;0;;0 asterisk_test_failed=0;;;0 "
        "asterisk_test_failed_growth=3;;;0 asterisk_test_total_banned=1c;;;0 "
        "asterisk_test_total_failed=3c;;;0"
    )
    assert out[1] == (
        f"{JAIL}: 1 banned (1 in total), 0 failing, 3 failed in total (+3 since the last run); "
        "banned: 203.0.113.5"
    )
    # a second wave: failed growth thresholds; one failure not banned yet
    server.fail("203.0.113.6", 3)
    server.fail("198.51.100.7", 1)
    assert wait_for(lambda: "203.0.113.6" in server.banned(), 20)
    assert wait_for(lambda: server.status().currently_failed == 1, 10)
    code, out = server.check("--failed-critical", "3", "-v")
    assert code == 2
    assert out[0].startswith(f"FAIL2BAN CRITICAL - {JAIL}: 2 banned, 1 failing, +4 failed | ")
    assert out[1:3] == [
        f"socket: {server.socket}, jails on the server: {JAIL}",
        f"{JAIL}: 2 banned (2 in total), 1 failing, 7 failed in total (+4 since the last run); "
        "banned: 203.0.113.5, 203.0.113.6",
    ]
    assert out[3].startswith(f"{JAIL} log {server.log}: written ")
    # a jail that does not exist: protection is off
    code, out = server.check("-j", JAIL, "-j", "asterisk")
    assert code == 2
    assert out[0].startswith(
        f"FAIL2BAN CRITICAL - jail 'asterisk' does not exist (protection is off) - {JAIL}: "
        "2 banned, 1 failing, +0 failed | "
    )
    # the jail's log not written for a day, then gone
    old = time.time() - 2 * 86400
    os.utime(server.log, (old, old))
    code, out = server.check()
    assert code == 1
    assert out[0].startswith(
        f"FAIL2BAN WARNING - jail {JAIL} watches nothing: {server.log} not written for 2d - "
    )
    assert (
        run_script(
            SCRIPT, "-s", str(server.socket), "--stale", "0", "--state-dir", str(server.state)
        ).code
        == 0
    )
    server.log.unlink()
    code, out = server.check()
    assert code == 1
    assert out[0].startswith(
        f"FAIL2BAN WARNING - jail {JAIL} watches nothing: {server.log} does not exist - "
    )
    assert f"{JAIL} log {server.log}: does not exist" in out
    # stopped: CRITICAL
    server.stop()
    assert wait_for(lambda: not server.socket.exists(), 10)
    code, out = server.check()
    assert (code, out) == (
        2,
        [
            f"FAIL2BAN CRITICAL - fail2ban is not running: no socket {server.socket} "
            "(protection is off)"
        ],
    )


@services
def test_sipauth_counts_what_fail2ban_banned(server: Server) -> None:
    """The two plugins read the same attack: the log check names the source fail2ban bans."""
    server.fail("203.0.113.9", 5)
    assert wait_for(lambda: "203.0.113.9" in server.banned(), 20)
    done = run_script(
        "check_asterisk_sipauth", "--log", str(server.log), "--state-dir", str(server.state)
    )
    assert done.code == 0, done.stdout
    assert "5 failed SIP authentications since the last run" in done.status
    assert "top 203.0.113.9 (5)" in done.status


# -- fake servers that misbehave ----------------------------------------------------------
class FakeServer:
    """A Unix socket server answering every command with ``reply`` (None: never answers), or
    a command found in ``replies`` (the words joined by spaces) with its own."""

    def __init__(
        self, path: Path, reply: bytes | None, replies: dict[str, bytes] | None = None
    ) -> None:
        self.path = path
        self.reply = reply
        self.replies = replies or {}
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(5)
        self.connections: list[socket.socket] = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            data = b""
            while not data.endswith(f2b.END):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            command = " ".join(pickle.loads(data[: -len(f2b.END)])) if data else ""
            answer = self.replies.get(command, self.reply)
            if answer is not None:
                with contextlib.suppress(OSError):
                    conn.sendall(answer)
                conn.close()

    def close(self) -> None:
        self.listener.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="f2bfake-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


class Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize(
    ("reply", "line"),
    [
        (
            b"garbage" + f2b.END,
            "UNKNOWN - not fail2ban's answer from {s} to 'status': unreadable pickle",
        ),
        (
            pickle.dumps([1, 2]) + f2b.END,
            "UNKNOWN - not fail2ban's answer from {s} to 'status': not a (code, result) pair",
        ),
        (
            pickle.dumps((0, "x")) + f2b.END,
            "UNKNOWN - not fail2ban's answer from {s} to 'status': the server status is not a "
            "list of pairs",
        ),
        (
            pickle.dumps("ERROR: no such command") + f2b.END,
            "UNKNOWN - fail2ban refused 'status': ERROR: no such command",
        ),
        (
            b"",
            "CRITICAL - fail2ban at {s} closed the connection without an answer "
            "(protection is off)",
        ),
    ],
)
def test_misbehaving_servers(short_dir: Path, reply: bytes, line: str) -> None:
    fake = FakeServer(short_dir / "s", reply)
    try:
        done = run_script(SCRIPT, "-s", str(short_dir / "s"), "--state-dir", str(short_dir))
    finally:
        fake.close()
    code = 3 if line.startswith("UNKNOWN") else 2
    assert (done.code, done.lines, done.stderr) == (
        code,
        ["FAIL2BAN " + line.format(s=short_dir / "s")],
        "",
    )


def test_hostile_pickle_runs_nothing(short_dir: Path) -> None:
    marker = short_dir / "pwned"
    reply = pickle.dumps((0, Evil(marker))) + f2b.END
    fake = FakeServer(short_dir / "s", reply)
    try:
        done = run_script(SCRIPT, "-s", str(short_dir / "s"), "--state-dir", str(short_dir))
    finally:
        fake.close()
    assert not marker.exists()
    assert (done.code, done.lines) == (
        3,
        [
            f"FAIL2BAN UNKNOWN - not fail2ban's answer from {short_dir / 's'} to 'status': "
            "the server status is not a list of pairs"
        ],
    )


def test_silent_server_is_unknown_within_the_timeout(short_dir: Path) -> None:
    fake = FakeServer(short_dir / "s", None)
    try:
        done = run_script(
            SCRIPT, "-s", str(short_dir / "s"), "--state-dir", str(short_dir), "-t", "2"
        )
    finally:
        fake.close()
    assert done.code == 3
    assert done.lines == [
        f"FAIL2BAN UNKNOWN - no answer from fail2ban at {short_dir / 's'} within 2s"
    ]
    assert done.seconds < 2 + SLACK


def test_stale_socket_file_is_critical(short_dir: Path) -> None:
    path = short_dir / "s"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens: a crashed server
    done = run_script(SCRIPT, "-s", str(path), "--state-dir", str(short_dir))
    assert (done.code, done.lines) == (
        2,
        [
            f"FAIL2BAN CRITICAL - fail2ban is not running: {path} refuses connections "
            "(protection is off)"
        ],
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-w", "x"], "'x' is not a range"),
        (["--stale", "soon"], "'soon' is not a duration"),
        (["-j", "a,b"], "is not a jail name"),
    ],
)
def test_bad_options_are_unknown(args: list[str], message: str) -> None:
    done = run_script(SCRIPT, *args)
    assert done.code == 3 and len(done.lines) == 1
    assert done.status.startswith("FAIL2BAN UNKNOWN - ") and message in done.status


# -- the protocol, unit by unit ---------------------------------------------------------
def test_safe_loads_keeps_foreign_objects_inert() -> None:
    class UnknownJailException(Exception):
        pass

    UnknownJailException.__module__ = "fail2ban.exceptions"
    # pickled by reference to fail2ban's class, as the server does
    data = pickle.dumps((1, KeyError("x")))
    assert f2b.safe_loads(data)[0] == 1
    found = f2b.safe_loads(
        b"\x80\x05\x95?\x00\x00\x00\x00\x00\x00\x00K\x01\x8c\x13fail2ban.exceptions\x94\x8c"
        b"\x14UnknownJailException\x94\x93\x94\x8c\x04nope\x94\x85\x94R\x94\x86\x94."
    )
    assert found[0] == 1
    assert type(found[1]).__name__ == "UnknownJailException" and str(found[1]) == "nope"
    assert isinstance(found[1], f2b.Foreign)


def test_parse_jail_status_forms() -> None:
    reply = [
        ("Filter", [("Currently failed", 1), ("Total failed", 9), ("File list", ["/a", "/b"])]),
        ("Actions", [("Currently banned", 2), ("Total banned", 3), ("Banned IP list", ["x"])]),
    ]
    status = f2b.parse_jail_status("j", reply)
    assert (status.currently_failed, status.total_failed, status.files) == (1, 9, ("/a", "/b"))
    journal = [
        ("Filter", [("Currently failed", 0), ("Total failed", 0), ("Journal matches", ["x"])]),
        ("Actions", [("Currently banned", 0), ("Total banned", 0), ("Banned IP list", [])]),
    ]
    assert f2b.parse_jail_status("j", journal).files is None
    with pytest.raises(f2b.Fail2banError):
        f2b.parse_jail_status("j", [("Filter", [("Currently failed", "x")])])
    assert f2b.parse_jail_list([("Number of jail", 2), ("Jail list", "a, b")]) == ["a", "b"]
    assert f2b.parse_jail_list([("Number of jail", 0), ("Jail list", "")]) == []


def test_server_without_jails_is_critical(short_dir: Path) -> None:
    reply = pickle.dumps((0, [("Number of jail", 0), ("Jail list", "")])) + f2b.END
    fake = FakeServer(short_dir / "s", reply)
    try:
        done = run_script(SCRIPT, "-s", str(short_dir / "s"), "--state-dir", str(short_dir))
    finally:
        fake.close()
    assert (done.code, done.lines) == (
        2,
        [
            "FAIL2BAN CRITICAL - fail2ban runs no jail (protection is off)",
            "first run: failed growth counted from now",
        ],
    )


def as_nobody(home: Path) -> list[str]:
    """check_fail2ban's command line as user nobody.

    nobody may not read this checkout's virtualenv (a pyenv interpreter lives under /root,
    mode 700), so the plugin's code and its pure-Python dependencies are copied to ``home``
    (a directory nobody can enter) and run by the first interpreter nobody can execute:
    this one, else Debian's.
    """
    import click
    import nagiosplugin

    import isp_plugins

    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        service_missing("40-fail2ban.sh", "running the plugin as nobody needs root and setpriv")
    library = home / "lib"
    for package in (isp_plugins, click, nagiosplugin):
        source = Path(str(package.__file__)).parent
        shutil.copytree(source, library / package.__name__, ignore=shutil.ignore_patterns("*.pyc"))
    start = (
        f"import sys; sys.path.insert(0, {str(library)!r}); "
        "from isp_plugins.checks.fail2ban.command import main; main()"
    )
    nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    failures = []
    for python in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        command = [*nobody, python, "-I", "-c", start]
        probe = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return command
        failures.append(f"{python}: {probe.stderr.strip()[-120:]}")
    service_missing("40-fail2ban.sh", f"nobody can run no interpreter: {'; '.join(failures)}")


def test_no_permission_on_the_socket_is_unknown(short_dir: Path) -> None:
    """fail2ban's socket is root's: a plugin run as another user is misconfigured, not down."""
    short_dir.chmod(0o755)
    nobody = as_nobody(short_dir / "nobody-can-read")
    private = short_dir / "run"
    private.mkdir(mode=0o700)
    fake = FakeServer(private / "s", pickle.dumps((0, "pong")) + f2b.END)
    try:
        done = subprocess.run(
            [
                *nobody,
                "-s",
                str(private / "s"),
                "--state-dir",
                str(short_dir / "nobody"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        fake.close()
    assert (done.returncode, done.stdout) == (
        3,
        f"FAIL2BAN UNKNOWN - no permission to use {private / 's'} (run as root or through sudo)\n",
    )


# -- hostile replies: bounded work, bounded output, UNKNOWN (issue 14, item 7) -----------
def run_bounded(*args: str) -> tuple[int, str, int]:
    """The plugin's exit code, its output and its peak RSS in KiB, run with at most 2 GiB of
    address space (a reply that explodes hits that, not the machine)."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    script = Path(sys.executable).with_name(SCRIPT)
    child = subprocess.Popen(
        [str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=limit,  # noqa: PLW1509 (no thread of ours runs Python here)
    )
    assert child.stdout is not None
    # Read at most 64 MiB: an exploded line shows as a long output, not as a stuck test.
    output = child.stdout.read(64 << 20)
    if len(output) == 64 << 20:
        os.kill(child.pid, 9)
    child.stdout.close()
    _, status, usage = os.wait4(child.pid, 0)  # not Popen.wait: it keeps no rusage
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, output.decode("utf-8", "replace"), usage.ru_maxrss


BOMB_LEVELS = 7  # 10**7 strings of 11 characters to str(): a line of 140 MB before the fix


@pytest.mark.parametrize(
    ("name", "status_reply", "reason"),
    [
        (
            "str() of a memo bomb (the IPAddr form)",
            payloads.jail_status(
                banned_now=payloads.number(1),
                banned=payloads.items(payloads.str_of(payloads.memo_bomb(BOMB_LEVELS))),
            ),
            "str() of something that is not a string",
        ),
        (
            "a memo bomb as the banned list",
            payloads.jail_status(banned=payloads.items(payloads.memo_bomb(BOMB_LEVELS))),
            "more than 4000000 objects",
        ),
        (
            "a memo bomb as the file list",
            payloads.jail_status(files=payloads.memo_bomb(BOMB_LEVELS)),
            "more than 4000000 objects",
        ),
        (
            "one long string a thousand times",
            payloads.jail_status(files=payloads.memo_bomb(4, leaf="/var/log/" + "x" * 65000)),
            "more than 67108864 characters in all",
        ),
        (
            "a memo bomb in an ignored key",
            payloads.reply(
                payloads.items(
                    payloads.pair("Filter", payloads.items()),
                    payloads.pair("Junk", payloads.memo_bomb(BOMB_LEVELS)),
                )
            ),
            "more than 4000000 objects",
        ),
        (
            "a memo bomb in an error",
            payloads.reply(
                payloads.global_("fail2ban.exceptions", "UnknownJailException")
                + payloads.memo_bomb(BOMB_LEVELS)
                + payloads.TUPLE1
                + payloads.REDUCE,
                code=1,
            ),
            "more than 4000000 objects",
        ),
        (
            "deep nesting",
            payloads.jail_status(banned=payloads.deep(100000)),
            "nested more than 16 deep",
        ),
        (
            "a list that holds itself",
            payloads.jail_status(banned=payloads.self_holding()),
            "an object that holds itself",
        ),
        (
            "a huge string",
            payloads.jail_status(banned=payloads.items(payloads.text("1" * 1000000))),
            "a string of more than 65536 characters",
        ),
        (
            "a huge number",
            payloads.jail_status(failed=payloads.number(10**40)),
            "a number of more than 63 bits",
        ),
        (
            "a dict (hashing a key could take forever)",
            payloads.reply(payloads.EMPTY_DICT),
            "a dict or a set",
        ),
        (
            "a string as a count",
            payloads.jail_status(failed=payloads.text("1")),
            "'Currently failed' is not a count",
        ),
        (
            "a negative count",
            payloads.jail_status(total_banned=b"J\xff\xff\xff\xff"),  # BININT -1
            "'Total banned' is not a count",
        ),
        (
            "numbers as addresses",
            payloads.jail_status(banned=payloads.items(payloads.number(1))),
            "'Banned IP list' is not a list of addresses",
        ),
        (
            "a number as a path",
            payloads.jail_status(files=payloads.items(payloads.number(1))),
            "'File list' is not a list of paths",
        ),
        (
            "a foreign object as an address",
            payloads.jail_status(
                banned=payloads.items(
                    payloads.global_("fail2ban.server.ipdns", "IPAddr")
                    + payloads.text("203.0.113.5")
                    + payloads.TUPLE1
                    + payloads.REDUCE
                )
            ),
            "'Banned IP list' is not a list of addresses",
        ),
        (
            "a status that is not a list of pairs",
            payloads.reply(payloads.items(payloads.text("Filter"))),
            "the status of jail 'asterisk' is not a list of pairs",
        ),
    ],
    # Short ids: pytest puts the id in PYTEST_CURRENT_TEST, which the plugin's process
    # inherits, and a payload's repr there is longer than one environment string may be.
    ids=lambda value: value[:60] if isinstance(value, str) else "payload",
)
def test_hostile_replies_are_unknown_and_bounded(
    short_dir: Path, name: str, status_reply: bytes, reason: str
) -> None:
    sock = short_dir / "s"
    fake = FakeServer(
        sock,
        None,
        {
            "status": payloads.server_status("asterisk") + f2b.END,
            "status asterisk": status_reply + f2b.END,
        },
    )
    try:
        code, output, rss = run_bounded("-s", str(sock), "--state-dir", str(short_dir / "st"))
    finally:
        fake.close()
    assert len(output) < 2000, f"{name}: {len(output)} characters of output"
    assert (code, output) == (
        3,
        f"FAIL2BAN UNKNOWN - not fail2ban's answer from {sock} to 'status asterisk': {reason}\n",
    ), name
    assert rss < 150 << 10, f"{name}: {rss} KiB"


@pytest.mark.parametrize(
    ("server_reply", "reason"),
    [
        (
            payloads.reply(
                payloads.items(
                    payloads.pair("Number of jail", payloads.number(2)),
                    payloads.pair("Jail list", payloads.text("a")),
                )
            ),
            "'Number of jail' is not the number of jails listed",
        ),
        (
            payloads.reply(payloads.items(payloads.pair("Number of jail", payloads.number(0)))),
            "no 'Jail list'",
        ),
        (
            payloads.server_status(*(f"j{n}" for n in range(1001))),
            "more than 1000 jails",
        ),
        (payloads.PROTO + payloads.number(0) + payloads.STOP, "not a (code, result) pair"),
    ],
)
def test_hostile_server_status_is_unknown(
    short_dir: Path, server_reply: bytes, reason: str
) -> None:
    sock = short_dir / "s"
    fake = FakeServer(sock, server_reply + f2b.END)
    try:
        done = run_script(SCRIPT, "-s", str(sock), "--state-dir", str(short_dir / "st"))
    finally:
        fake.close()
    assert (done.code, done.lines, done.stderr) == (
        3,
        [f"FAIL2BAN UNKNOWN - not fail2ban's answer from {sock} to 'status': {reason}"],
        "",
    )


@services
def test_real_replies_pass_the_checks(server: Server) -> None:
    """What the real fail2ban-server sends, banned addresses included, is accepted as is."""
    server.fail("203.0.113.5", 3)
    assert wait_for(lambda: "203.0.113.5" in server.banned(), 20)
    deadline = time.monotonic() + 5
    raw = f2b.ask(str(server.socket), ["status", JAIL], deadline)
    status = f2b.parse_jail_status(JAIL, raw)
    assert (status.banned, status.files) == (("203.0.113.5",), (str(server.log),))
    assert f2b.parse_jail_list(f2b.ask(str(server.socket), ["status"], deadline)) == [JAIL]
    with pytest.raises(f2b.NoSuchJail):
        f2b.ask(str(server.socket), ["status", "nope"], deadline)
