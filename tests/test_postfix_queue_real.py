"""check_postfix_queue against the real Postfix of .ci/setup.d/10-postfix.sh.

Mail is injected with sendmail to remote domains; the relayhost is a closed loopback port, so
every message defers and stays queued. Nothing leaves the machine. The module empties the
queue before and after, and leaves Postfix running as it found it (restarting it after the
"Postfix stopped" test). Skipped without Postfix or root, unless ISP_PLUGINS_REQUIRE_SERVICES=1
(CI), where that is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from isp_plugins.checks.postfix_queue.check import human_bytes
from isp_plugins.runtime.text import human_age
from isp_plugins.sources.postfix_queue.runner import find_program
from tests.conftest import PluginRun, run_script
from tests.services import exclusive, service_missing, services

pytestmark = services

SPAMMER, ALICE = "spammer@dsl-42.isp.example", "alice@customer.example"


def postfix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [find_program(args[0]) or args[0], *args[1:]],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def running() -> bool:
    return postfix("postfix", "status").returncode == 0


def queue() -> list[dict[str, object]]:
    """The test's own oracle: postqueue -j parsed here, independently of the plugin."""
    out = postfix("postqueue", "-j").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def send(sender: str, *recipients: str) -> None:
    message = f"From: <{sender}>\nSubject: queue test\n\nhello\n"
    done = subprocess.run(
        [find_program("sendmail") or "sendmail", "-f", sender, *recipients],
        input=message,
        text=True,
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr


def settle(count: int, seconds: float = 30) -> list[dict[str, object]]:
    """Wait until ``count`` messages sit in deferred or hold, and nothing is in flight."""
    deadline = time.monotonic() + seconds
    while True:
        listed = queue()
        if len(listed) == count and {m["queue_name"] for m in listed} <= {"deferred", "hold"}:
            return listed
        assert time.monotonic() < deadline, f"queue did not settle: {listed}"
        time.sleep(0.2)


@dataclass
class Queue:
    messages: list[dict[str, object]]

    @property
    def bytes(self) -> int:
        return sum(int(str(m["message_size"])) for m in self.messages)

    @property
    def oldest(self) -> int:
        return min(int(str(m["arrival_time"])) for m in self.messages)


@pytest.fixture(scope="module")
def known_queue() -> Iterator[Queue]:
    if find_program("postqueue") is None:
        service_missing("10-postfix.sh", "Postfix is not installed")
    if os.geteuid() != 0:
        service_missing("10-postfix.sh", "the real Postfix tests need root")
    # The machine's one queue: its tests wait for each other (pytest-xdist workers, other runs).
    with exclusive("postfix"):
        was_running = running()
        if not was_running:
            assert postfix("postfix", "start").returncode == 0
        postfix("postsuper", "-d", "ALL")
        for i in range(3):
            send(SPAMMER, f"a{i}@gmail.test", f"b{i}@yahoo.test")
        send(ALICE, "carol@outlook.test")
        send(ALICE, "dave@outlook.test")
        send("", "f@customer.example")  # a bounce: the null sender
        listed = settle(6)
        for message in listed:
            if message["sender"] == ALICE:
                assert postfix("postsuper", "-h", str(message["queue_id"])).returncode == 0
        listed = settle(6)
        assert sorted(str(m["queue_name"]) for m in listed) == ["deferred"] * 4 + ["hold"] * 2
        time.sleep(1.1)  # so the oldest message is at least a second old
        yield Queue(listed)
        if not running():
            postfix("postfix", "start")
        postfix("postsuper", "-d", "ALL")
        if not was_running:
            postfix("postfix", "stop")


def plugin(*args: str) -> tuple[PluginRun, set[int]]:
    before = int(time.time())
    done = run_script("check_postfix_queue", *args)
    return done, {before, int(time.time())}


def lines_for(q: Queue, nows: set[int], template: str) -> set[str]:
    return {
        template.format(
            age=human_age(now - q.oldest),
            secs=now - q.oldest,
            bytes=q.bytes,
            size=human_bytes(q.bytes),
        )
        for now in nows
    }


@pytest.mark.parametrize("method", ["postqueue", "spool"])
def test_exact_counts_bytes_and_age(known_queue: Queue, method: str) -> None:
    done, nows = plugin(
        "--method",
        method,
        "-w",
        "100",
        "-c",
        "500",
        "--deferred-warning",
        "10",
        "--age-critical",
        "1h",
    )
    assert done.status in lines_for(
        known_queue,
        nows,
        "POSTFIX_QUEUE OK - 6 queued (deferred 4, hold 2), {size}, oldest {age} | active=0;;;0 "
        "bytes={bytes}B;;;0 deferred=4;10;;0 hold=2;;;0 incoming=0;;;0 maildrop=0;;;0 "
        "oldest={secs}s;;3600;0 total=6;100;500;0",
    )
    assert (done.code, done.stderr) == (0, "")


@pytest.mark.parametrize("method", ["postqueue", "spool"])
def test_top_senders_and_domains(known_queue: Queue, method: str) -> None:
    done, _ = plugin("--method", method)
    assert done.lines[1].startswith("/etc/postfix: OK - 6 queued (deferred 4, hold 2)")
    assert done.lines[2:] == [
        "  top senders (messages, of 3 senders):",
        "         3  spammer@dsl-42.isp.example",
        "         2  alice@customer.example",
        "         1  MAILER-DAEMON",
        "  top recipient domains (messages, of 4 domains):",
        "         3  gmail.test",
        "         3  yahoo.test",
        "         2  outlook.test",
        "         1  customer.example",
    ]


def test_queue_and_age_thresholds(known_queue: Queue) -> None:
    done, _ = plugin("--hold-warning", "1", "--deferred-critical", "5")
    assert done.status.startswith("POSTFIX_QUEUE WARNING - hold 2 above 1 - 6 queued ")
    assert " deferred=4;;5;0 hold=2;1;;0 " in done.status
    assert done.code == 1
    done, _ = plugin("--deferred-critical", "3", "--age-critical", "0", "-c", "@6")
    assert done.code == 2
    assert done.status.startswith(
        "POSTFIX_QUEUE CRITICAL - total 6 inside 0..6 - deferred 4 above 3 - "
    )
    assert "s above 0s - 6 queued" in done.status


def test_config_dir_and_all_instances(known_queue: Queue) -> None:
    one, _ = plugin("-C", "/etc/postfix", "--top", "0")
    every, _ = plugin("--all-instances", "--top", "0")
    for done in (one, every):
        assert done.code == 0
        assert done.lines[1].startswith("/etc/postfix: OK - 6 queued (deferred 4, hold 2)")
        assert len(done.lines) == 2


def test_postfix_stopped_is_critical(known_queue: Queue) -> None:
    assert postfix("postfix", "stop").returncode == 0
    try:
        deadline = time.monotonic() + 10
        while running() and time.monotonic() < deadline:
            time.sleep(0.1)
        done, _ = plugin("--top", "0")
        assert done.status.startswith(
            "POSTFIX_QUEUE CRITICAL - Mail system is down -- accessing queue directly (Connect "
            "to the Postfix showq service: "
        )
        assert ") - 6 queued (deferred 4, hold 2)" in done.status  # root still reads the spool
        assert (done.code, done.stderr) == (2, "")
        done, _ = plugin("--method", "spool", "--top", "0")
        assert done.status.startswith(
            "POSTFIX_QUEUE CRITICAL - Postfix is not running (no master process for "
            "/var/spool/postfix) - 6 queued (deferred 4, hold 2)"
        )
        assert done.code == 2
    finally:
        assert postfix("postfix", "start").returncode == 0
    deadline = time.monotonic() + 15
    while True:
        done, _ = plugin("--top", "0")
        if done.code == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert done.lines[1].startswith("/etc/postfix: OK - 6 queued (deferred 4, hold 2)")
