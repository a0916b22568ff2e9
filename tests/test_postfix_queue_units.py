"""postfix_queue's pure parts and the plugin's evaluation, on fixtures from every JSON version."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
import nagiosplugin
import pytest

from isp_plugins.checks.postfix_queue import check as plugin
from isp_plugins.cli.types import DurationRange, RangeType
from isp_plugins.runtime.text import human_age
from isp_plugins.sources.postfix_queue import instances, spool
from isp_plugins.sources.postfix_queue.model import QueuedMessage
from isp_plugins.sources.postfix_queue.reader import ParseError, parse_line, read_messages
from isp_plugins.sources.postfix_queue.stats import QueueStats, recipient_domain, top

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "postfix"
VERSIONED = ["postqueue-3.1.jsonl", "postqueue-3.5.jsonl", "postqueue-3.11.jsonl"]
NOW = 1767250800  # 2026-01-01 07:00:00 UTC, 7 h after the fixtures' oldest message


def messages(name: str) -> list[QueuedMessage]:
    with open(FIXTURES / name, "rb") as handle:
        found = list(read_messages(handle))
    assert not [m for m in found if isinstance(m, ParseError)]
    return [m for m in found if isinstance(m, QueuedMessage)]


# -- reader -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", [*VERSIONED, "postqueue-future-members.jsonl"])
def test_every_version_reads_to_the_same_messages(name: str) -> None:
    found = messages(name)
    assert [(m.queue, m.queue_id, m.arrival_time, m.size, m.sender) for m in found] == [
        ("deferred", "4Xb2Kq0Gx7z9", 1767225600, 4210, "spammer@dsl-42.isp.example"),
        ("deferred", "4Xb2Kq1Hy8z1", 1767229200, 4188, "spammer@dsl-42.isp.example"),
        ("deferred", "4Xb2Kq2Jz9a2", 1767232800, 4301, "spammer@dsl-42.isp.example"),
        ("deferred", "4Xb2Kq3Ka0b3", 1767236400, 2240, "MAILER-DAEMON"),
        ("active", "4Xb2Kq4Lb1c4", 1767240000, 15320, "newsletter@shop.example"),
        ("active", "4Xb2Kq5Mc2d5", 1767240060, 15320, "newsletter@shop.example"),
        ("hold", "4Xb2Kq6Nd3e6", 1767243600, 980, "alice@customer.example"),
        ("incoming", "4Xb2Kq7Pf4f7", 1767247200, 512, "carol@customer.example"),
        ("maildrop", "4Xb2Kq8Qg5g8", 1767247260, 731, "root@relay.isp.example"),
    ]
    # recipients are the current addresses, never orig_address (3.11)
    assert found[0].recipients == ("a@gmail.test", "b@gmail.test", "c@yahoo.test")
    assert found[7].recipients == ("root@relay.isp.example",)


def test_forced_expire_only_from_3_5() -> None:
    assert {m.forced_expire for m in messages("postqueue-3.1.jsonl")} == {None}
    for name in VERSIONED[1:]:
        assert [m.forced_expire for m in messages(name)][:3] == [False, True, False]


def test_captured_3_7_output() -> None:
    found = messages("postqueue-3.7-captured.jsonl")
    assert [m.queue for m in found] == ["deferred"] * 4 + ["hold"]
    assert found[3].sender == "MAILER-DAEMON"
    assert found[0].recipients == ("a1@gmail.test", "b1@yahoo.test")
    assert sum(m.size for m in found) == 288 * 3 + 265 + 281


def test_malformed_lines_are_counted_not_raised() -> None:
    with open(FIXTURES / "postqueue-malformed.jsonl", "rb") as handle:
        found = list(read_messages(handle))
    errors = [e for e in found if isinstance(e, ParseError)]
    good = [m for m in found if isinstance(m, QueuedMessage)]
    assert [e.lineno for e in errors] == [2, 3, 4, 5, 7]
    assert [m.queue_id for m in good] == ["4Xb2Kq0Gx7z9", "4Xb2Kq6Nd3e6", "4Xb2Kq9Rh6h9"]
    assert good[2].sender == "caf\ufffd@latin1.example"  # raw 8-bit byte, pre-3.7 style
    assert "not JSON" in errors[0].reason
    assert errors[2].reason == "a JSON list, not an object"
    assert errors[3].reason == "'arrival_time' is str, not a whole number"
    assert errors[4].reason == "'address' is missing, not a string"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"queue_name": "hold"}', "'queue_id' is missing, not a string"),
        (
            '{"queue_name": "hold", "queue_id": "A", "arrival_time": true, "message_size": 1, '
            '"sender": "", "recipients": []}',
            "'arrival_time' is bool, not a whole number",
        ),
        (
            '{"queue_name": "hold", "queue_id": "A", "arrival_time": 1, "message_size": 1, '
            '"sender": "", "recipients": {}}',
            "'recipients' is dict, not a list",
        ),
        ('"\\ud800"', "a JSON str, not an object"),
        ("{", "not JSON"),
    ],
)
def test_parse_line_reasons(line: str, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_line(line, 3)
    assert caught.value.reason.startswith(reason)
    assert str(caught.value).startswith("line 3: ")


# -- stats ------------------------------------------------------------------------------
def stats_of(name: str) -> QueueStats:
    stats = QueueStats()
    for message in messages(name):
        stats.add(message)
    return stats


def test_stats_per_queue_bytes_age_and_tops() -> None:
    stats = stats_of("postqueue-3.11.jsonl")
    assert stats.counts == {"maildrop": 1, "active": 2, "incoming": 1, "deferred": 4, "hold": 1}
    assert stats.total == 9
    assert stats.bytes == 4210 + 4188 + 4301 + 2240 + 15320 * 2 + 980 + 512 + 731
    assert stats.oldest_age(NOW) == 25200
    assert stats.oldest_queue == "deferred"
    assert stats.forced_expire == 1
    assert top(stats.senders, 2) == [
        ("spammer@dsl-42.isp.example", 3),
        ("newsletter@shop.example", 2),
    ]
    # messages per domain: the first message has two gmail recipients and counts once there
    assert top(stats.domains, 3) == [("gmail.test", 4), ("yahoo.test", 2), ("customer.example", 1)]
    assert top(stats.domains, 0) == []


def test_empty_queue_age_and_clock_behind() -> None:
    assert QueueStats().oldest_age(NOW) == 0
    stats = stats_of("postqueue-3.1.jsonl")
    assert stats.oldest_age(1767225000) == 0  # our clock behind Postfix's: never negative


def test_merge_adds_instances() -> None:
    one, two = stats_of("postqueue-3.5.jsonl"), stats_of("postqueue-3.7-captured.jsonl")
    one.merge(two)
    assert one.total == 14
    assert one.counts["hold"] == 2
    assert one.oldest_arrival == 1767225600
    assert one.senders["spammer@dsl-42.isp.example"] == 6


def test_recipient_domain() -> None:
    assert recipient_domain("a@Gmail.TEST") == "gmail.test"
    assert recipient_domain('"odd@local"@x.example') == "x.example"
    assert recipient_domain("root") == "root"


# -- spool ------------------------------------------------------------------------------
def record(rtype: str, data: bytes) -> bytes:
    """A queue-file record: type, length in 7-bit groups low first, data."""
    length, encoded = len(data), bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return rtype.encode() + bytes(encoded) + data


SIZE = b"%15d %15d %15d %15d %15d %15d" % (1234, 700, 2, 0, 1234, 0)


def test_envelope_of_cleanup_file() -> None:
    data = (
        record("C", SIZE)
        + record("T", b"1767225600 123456")
        + record("A", b"create_time=1767225600")
        + record("S", b"spammer@dsl-42.isp.example")
        + record("A", b"x" * 300)  # a two-byte length
        + record("O", b"a@gmail.test")
        + record("R", b"a@gmail.test")
        + record("D", b"done@yahoo.test")  # delivered already: not counted
        + record("R", b"b@yahoo.test")
        + record("M", b"")
        + record("N", b"Subject: x")
    )
    env = spool.parse_envelope(data)
    assert (env.arrival, env.size, env.sender) == (1767225600, 1234, "spammer@dsl-42.isp.example")
    assert env.recipients == ["a@gmail.test", "b@yahoo.test"]
    assert env.complete
    quick = spool.parse_envelope(data, envelope=False)
    assert (quick.arrival, quick.size, quick.sender, quick.recipients) == (
        1767225600,
        1234,
        None,
        [],
    )


def test_envelope_maildrop_time_first_and_size_ignored() -> None:
    data = record("T", b"1767247260 1") + record("C", SIZE) + record("S", b"") + record("M", b"")
    env = spool.parse_envelope(data, maildrop=True)
    assert (env.arrival, env.size, env.sender) == (1767247260, None, "MAILER-DAEMON")


def test_envelope_first_time_wins_and_truncation_stops() -> None:
    data = record("C", SIZE) + record("T", b"100 0") + record("T", b"200 0")
    assert spool.parse_envelope(data).arrival == 100
    cut = (record("C", SIZE) + record("T", b"1767225600 0") + record("S", b"a@b.example"))[:-3]
    env = spool.parse_envelope(cut)
    assert (env.arrival, env.sender, env.complete) == (1767225600, None, False)
    assert spool.parse_envelope(b"").arrival is None
    assert spool.parse_envelope(b"T\xff\xff\xff\xff\xff\xff").arrival is None  # bad length


def test_envelope_pointer_records() -> None:
    head = record("C", SIZE) + record("T", b"5 0")
    null = record("p", b"%15d" % 0)
    target = len(head) + len(null) + len(record("p", b"%15d" % 0)) + 5
    jump = record("p", b"%15d" % target)
    data = head + null + jump + b"\0" * 5 + record("R", b"x@y.example") + record("M", b"")
    assert spool.parse_envelope(data).recipients == ["x@y.example"]
    outside = head + record("p", b"%15d" % 99999) + record("R", b"never@y.example")
    assert spool.parse_envelope(outside).recipients == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "deferred-09659166000",
            (1795717365, 288, "spammer@dsl-42.isp.example", ["a1@gmail.test", "b1@yahoo.test"]),
        ),
        ("deferred-1DA1B165FF9", (1795717366, 265, "MAILER-DAEMON", ["f@customer.example"])),
        ("hold-19CC8165FFB", (1795717366, 281, "alice@customer.example", ["bob@yahoo.test"])),
        ("maildrop-postdrop", (1795717372, None, "root@relay.isp.example", ["ops@isp.example"])),
    ],
)
def test_real_queue_files(name: str, expected: tuple[object, ...]) -> None:
    data = (FIXTURES / "queue-files-3.7" / name).read_bytes()
    env = spool.parse_envelope(data[: spool.HEAD_BYTES], maildrop=name.startswith("maildrop"))
    arrival, size, sender, recipients = expected
    assert (env.arrival, env.size, env.sender, env.recipients) == (
        arrival,
        size,
        sender,
        recipients,
    )


def fake_spool(tmp_path: Path) -> Path:
    """A queue directory tree made of real 3.7 queue files, hashed like Postfix's."""
    src = FIXTURES / "queue-files-3.7"
    tmp_path.mkdir(parents=True, exist_ok=True)
    for queue in ("maildrop", "active", "incoming", "deferred", "hold", "corrupt", "pid"):
        (tmp_path / queue).mkdir()
    (tmp_path / "deferred" / "0").mkdir()
    (tmp_path / "deferred" / "1").mkdir()
    for name, where in [
        ("deferred-09659166000", "deferred/0/09659166000"),
        ("deferred-1DA1B165FF9", "deferred/1/1DA1B165FF9"),
        ("hold-19CC8165FFB", "hold/19CC8165FFB"),
        ("maildrop-postdrop", "maildrop/BAAA4165FF8"),
    ]:
        (tmp_path / where).write_bytes((src / name).read_bytes())
        future = time.time() + 3600  # a deferred file's time is its next retry
        os.utime(tmp_path / where, (future, future))
    (tmp_path / "corrupt" / "DEADBEEF").write_bytes(b"garbage")
    (tmp_path / "incoming" / "ABC123").write_bytes(b"")  # being written: no records yet
    return tmp_path


def test_read_spool(tmp_path: Path) -> None:
    queue_dir = fake_spool(tmp_path)
    stats = QueueStats()
    for message in spool.read_spool(queue_dir, time.monotonic() + 10):
        stats.add(message)
    assert stats.counts == {
        "maildrop": 1,
        "active": 0,
        "incoming": 1,
        "deferred": 2,
        "hold": 1,
        "corrupt": 1,
    }
    assert stats.total == 5
    assert stats.bytes == 288 + 265 + 281 + 113 + 0
    # the arrival record, not the file time (an hour ahead), and not the empty file's mtime
    assert stats.oldest_arrival == 1795717365
    assert stats.senders["spammer@dsl-42.isp.example"] == 1
    assert stats.domains == {
        "gmail.test": 1,
        "yahoo.test": 2,
        "customer.example": 1,
        "isp.example": 1,
    }
    assert spool.master_running(queue_dir) is False


def test_read_spool_errors(tmp_path: Path) -> None:
    with pytest.raises(spool.SpoolError, match="no queue directory"):
        list(spool.read_spool(tmp_path / "nowhere"))
    queue_dir = fake_spool(tmp_path)
    with pytest.raises(spool.SpoolTimeout):
        for _ in range(300):
            (queue_dir / "hold" / f"F{_:05d}").write_bytes(b"")
        list(spool.read_spool(queue_dir, time.monotonic() - 1))


def test_master_running(tmp_path: Path) -> None:
    (tmp_path / "pid").mkdir()
    pid_file = tmp_path / "pid" / "master.pid"
    pid_file.write_text(f"{os.getpid():>33}\n")
    assert spool.master_running(tmp_path) is False  # alive, but it is python, not master
    pid_file.write_text("garbage\n")
    assert spool.master_running(tmp_path) is None


# -- instances --------------------------------------------------------------------------
def test_parse_postmulti() -> None:
    text = (
        "-               -               y         /etc/postfix\n"
        "postfix-out     mta             y         /etc/postfix-out\n"
        "postfix-null    null            n         /etc/postfix null\n"
        "postmulti: warning: something\n"
    )
    found = instances.parse_postmulti(text)
    assert found == [
        instances.Instance("-", "/etc/postfix", True),
        instances.Instance("postfix-out", "/etc/postfix-out", True),
        instances.Instance("postfix-null", "/etc/postfix null", False),
    ]
    assert [i.label for i in found] == ["/etc/postfix", "postfix-out", "postfix-null"]


def test_instances_from_directories() -> None:
    found = instances.from_directories("/etc/postfix", "/etc/postfix-out, /etc/postfix-in")
    assert [i.config_dir for i in found] == ["/etc/postfix", "/etc/postfix-out", "/etc/postfix-in"]
    assert instances.from_directories("/etc/postfix", "") == [
        instances.Instance("-", "/etc/postfix")
    ]


# -- option types -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("30m", "1800"),
        ("2h", "7200"),
        ("1d", "86400"),
        ("90", "90"),
        ("1.5h", "5400"),
        ("1h:", "3600:"),
        ("@1h:2h", "@3600:7200"),
        ("~:1w", "~:604800"),
        ("10m:1d", "600:86400"),
    ],
)
def test_duration_range(text: str, spec: str) -> None:
    assert str(DurationRange().convert(text, None, None)) == spec


@pytest.mark.parametrize("text", ["", "3x", "1h:30m", "h", "@", "1d1h", "-5m"])
def test_duration_range_rejects(text: str) -> None:
    with pytest.raises(click.BadParameter):
        DurationRange().convert(text, None, None)


@pytest.mark.parametrize("text", ["100", "10:", "~:10", "10:20", "@10:20", "0"])
def test_range_param(text: str) -> None:
    assert str(RangeType().convert(text, None, None)) == text


@pytest.mark.parametrize("text", ["", "abc", "20:10", "1:2:3", "10%"])
def test_range_param_rejects(text: str) -> None:
    with pytest.raises(click.BadParameter):
        RangeType().convert(text, None, None)


# -- evaluation and texts ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59, "59s"), (60, "1m"), (312, "5m 12s"), (7500, "2h 5m"), (93600, "1d 2h")],
)
def test_human_age(seconds: int, text: str) -> None:
    assert human_age(seconds) == text


def test_human_bytes() -> None:
    assert [plugin.human_bytes(n) for n in (0, 1023, 4710, 3 * 1024**3)] == [
        "0 B",
        "1023 B",
        "4.6 KiB",
        "3.0 GiB",
    ]


def report_for(name: str, **ranges: str) -> plugin.InstanceReport:
    warn, crit = {}, {}
    for key, spec in ranges.items():
        label, kind = key.rsplit("_", 1)
        kind_map = warn if kind == "w" else crit
        parse = DurationRange() if label == "oldest" else RangeType()
        kind_map[label] = parse.convert(spec, None, None)
    report = plugin.InstanceReport(instances.Instance("-", "/etc/postfix"), stats=stats_of(name))
    plugin.evaluate(report, plugin.Thresholds(warn, crit), NOW)
    return report


def test_evaluate_ok() -> None:
    report = report_for("postqueue-3.11.jsonl", total_w="100", total_c="500", oldest_c="1d")
    assert report.state == nagiosplugin.Ok
    assert plugin.instance_summary(report, NOW) == (
        "9 queued (active 2, deferred 4, hold 1, incoming 1, maildrop 1), 46.7 KiB, oldest 7h"
    )


def test_evaluate_age_and_queue_thresholds() -> None:
    report = report_for(
        "postqueue-3.11.jsonl",
        oldest_w="30m",
        oldest_c="2h",
        deferred_w="3",
        hold_c="@1:5",
        active_w="5:",
    )
    assert report.state == nagiosplugin.Critical
    assert plugin.instance_summary(report, NOW).split(" - ")[:-1] == [
        "hold 1 inside 1..5",
        "oldest 7h above 2h",
        "active 2 below 5",
        "deferred 4 above 3",
    ]


def test_evaluate_failures_and_malformed() -> None:
    report = plugin.InstanceReport(instances.Instance("-", "/etc/postfix"))
    report.failure = ("critical", "Queue report unavailable - mail system is down")
    plugin.evaluate(report, plugin.Thresholds(), NOW)
    assert plugin.instance_summary(report, NOW) == "Queue report unavailable - mail system is down"
    report = plugin.InstanceReport(instances.Instance("-", "/etc/postfix"), stats=QueueStats())
    report.malformed, report.first_malformed = 2, "line 1: not JSON"
    plugin.evaluate(report, plugin.Thresholds(), NOW)
    assert report.state == nagiosplugin.Unknown
    assert plugin.instance_summary(report, NOW) == (
        "2 unreadable postqueue lines, no message read (line 1: not JSON) - queue empty"
    )


def test_describe_range() -> None:
    rng = nagiosplugin.Range
    assert plugin.describe_range(rng("100")) == "above 100"
    assert plugin.describe_range(rng("~:10")) == "above 10"
    assert plugin.describe_range(rng("10:")) == "below 10"
    assert plugin.describe_range(rng("10:20")) == "outside 10..20"
    assert plugin.describe_range(rng("@10:20")) == "inside 10..20"
    assert plugin.describe_range(rng("7200"), age=True) == "above 2h"


def test_long_output_tops_and_sanitizing() -> None:
    report = report_for("postqueue-3.11.jsonl")
    report.stats.senders["evil|pipe@x.example"] = 1  # type: ignore[union-attr]
    lines = plugin.long_output([report], ["postfix-null"], NOW, 10, 0)
    assert lines[0].startswith("/etc/postfix: OK - 9 queued")
    assert "  top senders (messages, of 7 senders):" in lines
    assert "         3  spammer@dsl-42.isp.example" in lines
    assert "         1  evil/pipe@x.example" in lines
    assert "  top recipient domains (messages, of 6 domains):" in lines
    assert "         4  gmail.test" in lines
    assert "  1 messages forced to expire (postsuper -e)" in lines
    assert lines[-1] == "postfix-null: disabled in postmulti, not checked"
    assert plugin.long_output([report], [], NOW, 0, 0) == [lines[0]]


def test_status_text_several_instances() -> None:
    one = report_for("postqueue-3.11.jsonl", deferred_c="3")
    two = plugin.InstanceReport(
        instances.Instance("postfix-out", "/etc/postfix-out"),
        stats=stats_of("postqueue-3.7-captured.jsonl"),
    )
    plugin.evaluate(two, plugin.Thresholds(critical={"deferred": nagiosplugin.Range("3")}), NOW)
    assert plugin.status_text([one, two], 1795717400) == (
        "/etc/postfix: deferred 4 above 3 - postfix-out: deferred 4 above 3 - 2 instances: "
        "14 queued (active 2, deferred 8, hold 2, incoming 1, maildrop 1), 48.1 KiB, "
        "oldest 329d 18h"
    )
