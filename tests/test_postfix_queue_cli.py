"""check_postfix_queue as Nagios runs it, against a fake Postfix: exact lines and exit codes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from isp_plugins.runtime.text import human_age
from tests.postfix_helpers import FakePostfix, run_timed
from tests.test_postfix_queue_units import fake_spool

OLDEST = 1767225600  # the fixtures' oldest arrival
PERF = (
    "active={active};;;0 bytes={bytes}B;;;0 deferred={deferred}{dthr};0 hold={hold};;;0 "
    "incoming={incoming};;;0 maildrop={maildrop};;;0 oldest={oldest}s{athr};0 "
    "total={total}{tthr};0"
)
NINE = {
    "active": 2,
    "bytes": 47802,
    "deferred": 4,
    "hold": 1,
    "incoming": 1,
    "maildrop": 1,
    "total": 9,
}
NINE_TEXT = "9 queued (active 2, deferred 4, hold 1, incoming 1, maildrop 1), 46.7 KiB"


def perf(
    counts: dict[str, int], oldest: int, dthr: str = ";;", athr: str = ";;", tthr: str = ";;"
) -> str:
    return PERF.format(**counts, oldest=oldest, dthr=dthr, athr=athr, tthr=tthr)


def expect(ages: set[int], template: str, **thr: str) -> set[str]:
    """The status lines the plugin may print, one per age it may have seen."""
    return {template.format(age=human_age(a), perf=perf(NINE, a, **thr)) for a in ages}


@pytest.mark.parametrize(
    "fixture",
    [
        "postqueue-3.1.jsonl",
        "postqueue-3.5.jsonl",
        "postqueue-3.11.jsonl",
        "postqueue-future-members.jsonl",
    ],
)
def test_every_json_version_same_line(tmp_path: Path, fixture: str) -> None:
    fake = FakePostfix(tmp_path, fixture)
    done, ages = run_timed(fake, OLDEST, "-w", "100", "-c", "500")
    assert done.status in expect(
        ages, "POSTFIX_QUEUE OK - " + NINE_TEXT + ", oldest {age} | {perf}", tthr=";100;500"
    )
    assert (done.code, done.stderr) == (0, "")
    assert done.lines[1] == "/etc/postfix: OK - " + done.status.split(" - ", 1)[1].split(" |")[0]
    assert fake.calls == [
        "postconf -h command_directory queue_directory mail_version",
        "postqueue -j",
    ]


def test_long_output_lists_top_senders_and_domains(tmp_path: Path) -> None:
    done = FakePostfix(tmp_path).run("--top", "2")
    assert done.lines[2:] == [
        "  top senders (messages, of 6 senders):",
        "         3  spammer@dsl-42.isp.example",
        "         2  newsletter@shop.example",
        "  top recipient domains (messages, of 6 domains):",
        "         4  gmail.test",
        "         2  yahoo.test",
        "  1 messages forced to expire (postsuper -e)",
    ]


def test_queue_and_age_thresholds(tmp_path: Path) -> None:
    fake = FakePostfix(tmp_path)
    done, ages = run_timed(
        fake, OLDEST, "--deferred-warning", "3", "--deferred-critical", "10", "--age-warning", "1d"
    )
    assert done.status in expect(
        ages,
        "POSTFIX_QUEUE WARNING - deferred 4 above 3 - oldest {age} above 1d - "
        + NINE_TEXT
        + ", oldest {age} | {perf}",
        dthr=";3;10",
        athr=";86400;",
    )
    assert done.code == 1
    done, ages = run_timed(fake, OLDEST, "--age-warning", "30m", "--age-critical", "2h")
    assert done.code == 2
    assert done.status.startswith("POSTFIX_QUEUE CRITICAL - oldest ")
    assert "above 2h - 9 queued" in done.status
    assert done.status.endswith(";1800;7200;0 total=9;;;0")


def test_hold_and_active_thresholds(tmp_path: Path) -> None:
    done = FakePostfix(tmp_path).run("--hold-critical", "0", "--active-warning", "1")
    assert done.code == 2
    assert done.status.startswith("POSTFIX_QUEUE CRITICAL - hold 1 above 0 - active 2 above 1 - ")
    assert " active=2;1;;0 " in done.status
    assert " hold=1;;0;0 " in done.status


def test_mail_system_down_is_critical(tmp_path: Path) -> None:
    fake = FakePostfix(
        tmp_path,
        None,
        code=69,
        stderr="postqueue: fatal: Queue report unavailable - mail system is down "
        "(Connect to the Postfix showq service: Connection refused)\n",
    )
    done = fake.run()
    assert done.lines[0] == (
        "POSTFIX_QUEUE CRITICAL - Queue report unavailable - mail system is down "
        "(Connect to the Postfix showq service: Connection refused)"
    )
    assert (done.code, done.stderr) == (2, "")


def test_down_but_read_by_root_is_critical_with_counts(tmp_path: Path) -> None:
    fake = FakePostfix(
        tmp_path,
        stderr="postqueue: warning: Mail system is down -- accessing queue directly "
        "(Connect to the Postfix showq service: Connection refused)\n",
    )
    done, ages = run_timed(fake, OLDEST)
    assert done.status in expect(
        ages,
        "POSTFIX_QUEUE CRITICAL - Mail system is down -- accessing queue directly (Connect to "
        "the Postfix showq service: Connection refused) - " + NINE_TEXT + ", oldest {age} | {perf}",
    )
    assert done.code == 2


def test_not_allowed_is_unknown_with_hint(tmp_path: Path) -> None:
    fake = FakePostfix(
        tmp_path,
        None,
        code=77,
        stderr="postqueue: fatal: User nagios(1001) is not allowed to view the mail queue\n",
    )
    done = fake.run()
    assert done.lines == [
        "POSTFIX_QUEUE UNKNOWN - User nagios(1001) is not allowed to view the mail queue "
        "(authorized_mailq_users in /etc/postfix/main.cf)",
        "/etc/postfix: UNKNOWN - User nagios(1001) is not allowed to view the mail queue "
        "(authorized_mailq_users in /etc/postfix/main.cf)",
    ]
    assert done.code == 3


def test_other_failure_is_critical(tmp_path: Path) -> None:
    done = FakePostfix(tmp_path, None, code=75, stderr="").run()
    assert (done.status, done.code) == ("POSTFIX_QUEUE CRITICAL - postqueue exited 75", 2)


@pytest.mark.slow
def test_own_timeout_kills_postqueue_and_is_unknown(tmp_path: Path) -> None:
    fake = FakePostfix(tmp_path, sleep=600)
    started = time.monotonic()
    done = fake.run("-t", "2")
    assert time.monotonic() - started < 60  # generous: the fake postqueue sleeps 600 s
    assert done.lines[0] == "POSTFIX_QUEUE UNKNOWN - postqueue not done within 2s (-t)"
    assert (done.code, done.stderr) == (3, "")


def test_malformed_lines_are_a_warning(tmp_path: Path) -> None:
    done = FakePostfix(tmp_path, "postqueue-malformed.jsonl").run("--top", "1")
    assert done.status.startswith(
        "POSTFIX_QUEUE WARNING - 5 unreadable postqueue lines - "
        "3 queued (deferred 2, hold 1), 5.2 KiB, oldest "
    )
    assert done.lines[1].startswith("/etc/postfix: WARNING - 5 unreadable postqueue lines - ")
    assert done.lines[2].startswith("  first unreadable line: line 2: not JSON (")
    assert (done.code, done.stderr) == (1, "")


def test_nothing_readable_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "garbage").mkdir()
    fake = FakePostfix(tmp_path, None)
    (tmp_path / "postqueue.out").write_text("<html>oops</html>\n")
    done = fake.run()
    assert done.status == (
        "POSTFIX_QUEUE UNKNOWN - 1 unreadable postqueue line, no message read "
        "(line 1: not JSON (Expecting value: line 1 column 1 (char 0))) - queue empty | "
        "active=0;;;0 bytes=0B;;;0 deferred=0;;;0 hold=0;;;0 incoming=0;;;0 maildrop=0;;;0 "
        "oldest=0s;;;0 total=0;;;0"
    )
    assert done.code == 3


def test_empty_queue(tmp_path: Path) -> None:
    done = FakePostfix(tmp_path, None).run("-w", "0")
    assert done.lines == [
        "POSTFIX_QUEUE OK - queue empty | active=0;;;0 bytes=0B;;;0 deferred=0;;;0 hold=0;;;0 "
        "incoming=0;;;0 maildrop=0;;;0 oldest=0s;;;0 total=0;0;;0",
        "/etc/postfix: OK - queue empty",
    ]


def test_config_dir_passes_c_to_postconf_and_postqueue(tmp_path: Path) -> None:
    fake = FakePostfix(tmp_path, "postqueue-3.7-captured.jsonl")
    config = tmp_path / "postfix-out"
    config.mkdir()
    done = fake.run("-C", str(config), "-v")
    assert done.code == 0
    assert fake.calls == [
        f"postconf -c {config} -h command_directory queue_directory mail_version",
        f"postqueue -c {config} -j",
    ]
    assert done.lines[1].startswith(f"{config}: OK - 5 queued (deferred 4, hold 1), 1.4 KiB")
    assert done.lines[2] == f"  postqueue: {fake.bin}/postqueue -c {config} -j, Postfix 3.7.11"


def test_missing_config_dir_is_unknown(tmp_path: Path) -> None:
    done = FakePostfix(tmp_path).run("-C", "/nonexistent/postfix")
    assert done.status == (
        "POSTFIX_QUEUE UNKNOWN - postconf failed for /nonexistent/postfix: "
        "open /nonexistent/postfix/main.cf: No such file or directory"
    )
    assert done.code == 3


def test_all_instances_one_result_each(tmp_path: Path) -> None:
    # Both instances' configuration directories are the test's own, never the machine's.
    main, out = tmp_path / "postfix", tmp_path / "postfix-out"
    main.mkdir()
    out.mkdir()
    listing = (
        f"-               -               y         {main}\n"
        f"postfix-out     mta             y         {out}\n"
        "postfix-null    null            n         /etc/postfix-null\n"
    )
    fake = FakePostfix(tmp_path, "postqueue-3.7-captured.jsonl", postmulti=listing)
    done = fake.run("--all-instances", "--deferred-warning", "3", "--top", "1")
    assert done.code == 1
    assert done.status.startswith(
        f"POSTFIX_QUEUE WARNING - {main}: deferred 4 above 3 - postfix-out: deferred 4 "
        "above 3 - 2 instances: 10 queued (deferred 8, hold 2), 2.8 KiB, oldest "
    )
    assert " deferred=8;3;;0 " in done.status
    assert done.lines[1].startswith(f"{main}: WARNING - deferred 4 above 3 - 5 queued")
    assert done.lines[6].startswith("postfix-out: WARNING - deferred 4 above 3 - 5 queued")
    assert done.lines[-1] == "postfix-null: disabled in postmulti, not checked"
    assert fake.calls == [
        "postmulti -l",
        f"postconf -c {main} -h command_directory queue_directory mail_version",
        f"postqueue -c {main} -j",
        f"postconf -c {out} -h command_directory queue_directory mail_version",
        f"postqueue -c {out} -j",
    ]


def test_all_instances_without_postmulti(tmp_path: Path) -> None:
    fake = FakePostfix(tmp_path, postmulti="postmulti: fatal: whatever\n")
    done = fake.run("--all-instances")
    assert done.code == 0
    assert done.lines[1].startswith("/etc/postfix: OK - 9 queued")
    assert fake.calls[1] == "postconf -h config_directory multi_instance_directories"


def test_postqueue_missing_is_unknown(tmp_path: Path) -> None:
    fake = FakePostfix(tmp_path, postqueue=False)
    done = fake.run()
    assert (
        done.status == f"POSTFIX_QUEUE UNKNOWN - {fake.bin}/postqueue not found or not executable"
    )
    assert done.code == 3


def test_old_postfix_uses_the_spool(tmp_path: Path) -> None:
    queue_dir = fake_spool(tmp_path / "spool")
    fake = FakePostfix(tmp_path, version="2.11.3", queue_dir=str(queue_dir))
    done = fake.run("-v")
    assert done.code == 2  # no pid/master.pid: not running, and a corrupt file
    assert done.status.startswith(
        f"POSTFIX_QUEUE CRITICAL - Postfix is not running (no master process for {queue_dir}) - "
        "1 corrupt queue file - 5 queued (deferred 2, hold 1, incoming 1, maildrop 1), 947 B, "
        "oldest "
    )
    assert ", 1 corrupt | active=0;;;0 bytes=947B;;;0 deferred=2;;;0 " in done.status
    assert "postqueue" not in " ".join(fake.calls)
    assert done.lines[2].startswith("  spool: read ")
    done = fake.run("--method", "postqueue")
    assert done.status == (
        "POSTFIX_QUEUE UNKNOWN - Postfix 2.11.3 has no postqueue -j (3.1+): use --method spool"
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["-w", "lots"],
            "Invalid value for '-w' / '--warning': 'lots' is not a range like 100, 10:, ~:10 "
            "or @10:20",
        ),
        (
            ["--age-critical", "2 hours"],
            "Invalid value for '--age-critical': '2 hours' is not an age like 30m, 2h, 1d or a "
            "range of them",
        ),
        (["-C", "etc/postfix"], "--config-dir etc/postfix: give an absolute path"),
        (
            ["-C", "/etc/postfix", "--all-instances"],
            "give -C/--config-dir or --all-instances, not both",
        ),
        (
            ["--method", "mailq"],
            "Invalid value for '--method': 'mailq' is not one of 'auto', 'postqueue', 'spool'.",
        ),
        (["--top", "-1"], "Invalid value for '--top': -1 is not in the range 0<=x<=1000."),
        (["-t", "0"], "Invalid value for '-t' / '--timeout': 0.0 is not in the range 0<x<=86400."),
        (["extra"], "Got unexpected extra argument (extra)"),
    ],
)
def test_bad_options_one_unknown_line(tmp_path: Path, args: list[str], line: str) -> None:
    done = FakePostfix(tmp_path).run(*args)
    assert done.lines == [f"POSTFIX_QUEUE UNKNOWN - {line} (see --help)"]
    assert (done.code, done.stderr) == (3, "")


def test_help_lists_states_and_perfdata(tmp_path: Path) -> None:
    done = FakePostfix(tmp_path).run("--help")
    assert done.code == 0
    for text in ("States", "Perfdata", "authorized_mailq_users", "--age-critical AGE", "oldest"):
        assert text in done.stdout
