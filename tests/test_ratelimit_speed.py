"""The fast paths give the same answer as the plain ones: top-N and counts in SQL (policyd1),
sums bounded by the (id, date) index (policyd-rate-limit), anchor-byte search (--log)."""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from isp_plugins.sources.ratelimit import backends, logscan
from isp_plugins.sources.ratelimit.model import Report, percent
from tests.conftest import run_script
from tests.ratelimit_helpers import DATABASES, Database, database_fixture
from tests.test_ratelimit_backends import DEFAULTS, NOW, connect, throttle

MAIL_COUNT = ("id", "date", "recipient_count", "instance", "protocol_state")


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    yield from database_fixture(request, tmp_path)


def listed(report: Report) -> list[tuple[str, bool, float, float, str]]:
    return [
        (s.identity, s.offender, s.worst.used, s.worst.limit, s.worst.note) for s in report.senders
    ]


# -- policyd v1: top-N, counts and MAX() in SQL -----------------------------------------
def random_throttle(rng: random.Random, count: int) -> list[dict[str, object]]:
    rows = []
    for i in range(count):
        limit = rng.choice((0, 50, 100, 400))  # 0: DEFAULTS.msg (100)
        cap = limit or DEFAULTS.msg
        used = rng.choice((rng.randint(0, cap // 4), rng.randint(cap * 3 // 4, cap * 5 // 4)))
        rows.append(
            throttle(
                f"s{i:03d}@example.net",
                _count_max=limit,
                _count_cur=used,
                _rcpt_max=rng.choice((0, 1000)),
                _rcpt_cur=rng.randint(0, 150),
                _date=NOW - rng.choice((60, 1800, 3599, 3601, 9000)),
                _abuse_cur=int(rng.random() < 0.05),
            )
        )
    return rows


def policyd1_reference(
    rows: list[dict[str, object]], near: float, exclude: set[str]
) -> tuple[list[str], int, int, float]:
    """policyd v1's rule in plain Python, written apart from backends.policyd1: the senders
    listed in the report's order (offenders, then by usage, then by name), the number of
    offenders and of near-limit senders, the highest usage."""
    found = []
    highest = 0.0
    for row in rows:
        values = {key: int(value) for key, value in row.items() if key != "_from"}  # type: ignore[call-overload]
        get = values.get
        ident = str(row["_from"])
        window = get("_time_limit", 0) or DEFAULTS.window
        if ident in exclude or get("_date", 0) + window < NOW:
            continue  # excluded, or its window is over (lazy reset)
        pairs = [
            (get("_count_cur", 0), get("_count_max", 0) or DEFAULTS.msg),
            (get("_quota_cur", 0), get("_quota_max", 0) or DEFAULTS.quota),
            (get("_rcpt_cur", 0), get("_rcpt_max", 0) or DEFAULTS.rcpt),
        ]
        usage = max(used * 100 / limit for used, limit in pairs)
        highest = max(highest, usage)
        offender = get("_abuse_cur", 0) >= 1 or any(used >= limit for used, limit in pairs)
        if offender or usage >= near:
            found.append((not offender, -usage, ident))
    found.sort()
    offenders = sum(1 for flag, _, _ in found if not flag)
    return [ident for _, _, ident in found], offenders, len(found) - offenders, highest


@pytest.mark.parametrize("hot_rows", [1000, 5])
def test_policyd1_top_n_same_senders_and_counts(
    database: Database, hot_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    database.create("policyd1")
    rows = random_throttle(random.Random(7), 240)
    database.insert("throttle", rows)
    conn = connect(database)
    order, offenders, near, highest = policyd1_reference(rows, 80, {"s001@example.net"})
    assert offenders > 5 and near > 5
    full = backends.policyd1(conn, DEFAULTS, 80, NOW, ["s001@example.net"])
    assert full.totals is None
    assert [s.identity for s in full.senders] == order
    assert (full.offender_count, full.near_count) == (offenders, near)
    assert full.max_usage == pytest.approx(highest, abs=1e-3)
    monkeypatch.setattr(backends, "HOT_ROWS", hot_rows)  # 5: the totals come from SQL
    for top in (0, 1, 3, 10):
        fast = backends.policyd1(conn, DEFAULTS, 80, NOW, ["s001@example.net"], top)
        assert [s.identity for s in fast.senders] == order[:top]
        assert listed(fast) == listed(full)[:top]
        assert (fast.offender_count, fast.near_count) == (offenders, near)
        assert fast.max_usage == pytest.approx(highest, abs=1e-3)


def test_policyd1_nobody_near_takes_max_of_all(database: Database) -> None:
    database.create("policyd1")
    database.insert(
        "throttle",
        [
            throttle("low", _count_max=50, _count_cur=10),  # 20 %
            throttle("lower", _count_max=50, _count_cur=5),
            throttle("abuse", _count_max=50, _count_cur=1, _abuse_cur=1),  # listed, 2 %
            throttle("expired", _count_max=50, _count_cur=45, _date=NOW - 7200),
        ],
    )
    report = backends.policyd1(connect(database), DEFAULTS, 80, NOW, [], 10)
    assert [s.identity for s in report.senders] == ["abuse"]
    assert (report.offender_count, report.near_count, report.max_usage) == (1, 0, 20.0)


# -- policyd-rate-limit: candidate senders from the index, exact sums ------------------
def reference(
    rows: list[tuple[str, int, int]], limits: backends.RateLimits, near: float, exclude: set[str]
) -> tuple[list[tuple[str, bool, float, float]], float]:
    """The daemon's rule in plain Python over every row of the longest window."""
    oldest = NOW - max(s for pairs in (limits.limits, *limits.by_id.values()) for _, s in pairs)
    highest, found = 0.0, []
    for ident in sorted({i for i, d, _ in rows if d >= oldest} - exclude):
        best = None
        for mails, seconds in limits.of(ident):
            used = sum(n for i, d, n in rows if i == ident and d >= NOW - seconds)
            share = percent(used, mails)
            highest = max(highest, share)
            if share >= near or used >= mails:
                key = (used >= mails, share)
                if best is None or key > best[0]:
                    best = (key, (ident, used >= mails, float(used), float(mails)))
        if best is not None:
            found.append(best)
    found.sort(key=lambda b: (not b[0][0], -b[0][1], b[1][0]))
    return [b[1] for b in found], highest


def random_mail_count(rng: random.Random) -> list[tuple[str, int, int]]:
    rows = []
    for i in range(150):
        for _ in range(rng.choice((1, 2, 3, 20, 60))):
            rows.append((f"u{i}", NOW - rng.randint(0, 100000), rng.choice((1, 1, 2, 3, 4))))
    rows += [("newsletter", NOW - 5000, 140)]  # one big row: found by the table pass
    rows += [("burst", NOW - 10, 9), ("burst", NOW - 20, 1)]  # 10/10 per minute
    rows += [("vip", NOW - 50, 30)] * 3  # limits_by_id
    rows += [("free", NOW - 50, 5000)]  # limits_by_id: unlimited
    rows += [("bulk", NOW - 50, 5000)]  # --exclude
    return rows


@pytest.mark.parametrize(
    ("candidates", "small_row"),
    [(1000, 10), (3, 10), (1, 10), (2, 1), (5, 200)],
    ids=["all-fit", "retry", "fallback", "tiny-rows", "no-big-rows"],
)
# 100000: the short windows' rows come over; 3: too many, the bounds from the index instead
@pytest.mark.parametrize("recent_rows", [100000, 3], ids=["recent-rows", "index-bounds"])
def test_policyd_rate_limit_bounded_sums_are_exact(
    database: Database,
    candidates: int,
    small_row: int,
    recent_rows: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database.create("policyd_rate_limit")
    rows = random_mail_count(random.Random(11))
    database.many("mail_count", MAIL_COUNT, [(i, d, n, "x", "DATA") for i, d, n in rows])
    limits = backends.RateLimits(
        ((10, 60), (150, 86400)), {"vip": ((100, 60), (300, 3600)), "free": ()}
    )
    monkeypatch.setattr(backends, "CANDIDATES", candidates)
    monkeypatch.setattr(backends, "SMALL_ROW", small_row)
    monkeypatch.setattr(backends, "RECENT_ROWS", recent_rows)
    conn = connect(database)
    for near in (80, 50, 100):
        expected, highest = reference(rows, limits, near, {"bulk"})
        report = backends.policyd_rate_limit(conn, limits, near, NOW, ["bulk"])
        got = [(s.identity, s.offender, s.worst.used, s.worst.limit) for s in report.senders]
        assert got == expected
        assert report.max_usage == pytest.approx(highest)
        top = backends.policyd_rate_limit(conn, limits, near, NOW, ["bulk"], 3)
        assert listed(top) == listed(report)[:3]
        assert (top.offender_count, top.near_count) == (len(report.offenders), len(report.near))
        if near == 80:
            assert ("newsletter", False, 140.0, 150.0) in got  # 93 % with a single row
            assert len(got) > 10


@pytest.mark.parametrize(
    "limits",
    [
        backends.RateLimits(((150, 86400),), {}),  # one window: no rows brought over
        backends.RateLimits(((10, 60),), {"vip": ((300, 7200),)}),  # widest only per ID
        backends.RateLimits(((10, 60), (40, 3600), (150, 86400)), {"free": ()}),
    ],
    ids=["one-window", "widest-by-id", "three-windows"],
)
@pytest.mark.parametrize("candidates", [1000, 2])
def test_policyd_rate_limit_exact_for_any_windows(
    database: Database,
    limits: backends.RateLimits,
    candidates: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database.create("policyd_rate_limit")
    rows = random_mail_count(random.Random(5))
    database.many("mail_count", MAIL_COUNT, [(i, d, n, "x", "DATA") for i, d, n in rows])
    monkeypatch.setattr(backends, "CANDIDATES", candidates)
    conn = connect(database)
    for near in (80, 30):
        expected, highest = reference(rows, limits, near, {"bulk"})
        report = backends.policyd_rate_limit(conn, limits, near, NOW, ["bulk"])
        got = [(s.identity, s.offender, s.worst.used, s.worst.limit) for s in report.senders]
        assert got == expected
        assert report.max_usage == pytest.approx(highest)


def test_policyd_rate_limit_healthy_max_found(database: Database) -> None:
    """Nobody near a limit: the highest usage still comes out exact."""
    database.create("policyd_rate_limit")
    rows = [(f"u{i}", NOW - 1000 - i, 1) for i in range(40)]
    rows += [("busiest", NOW - 100 * k, 2) for k in range(30)]  # 60/150 per day
    database.many("mail_count", MAIL_COUNT, [(i, d, n, "x", "DATA") for i, d, n in rows])
    report = backends.policyd_rate_limit(connect(database), backends.RateLimits(), 80, NOW, [], 10)
    assert (report.senders, report.max_usage) == ([], 40.0)


# -- the plugin: counts from the backend, only --top listed -----------------------------
def test_top_lists_few_counts_all(database: Database) -> None:
    database.create("policyd1")
    date = int(time.time()) - 600
    database.insert(
        "throttle",
        [throttle(f"off{i}", _count_max=10, _count_cur=10 + i, _date=date) for i in range(5)]
        + [throttle(f"near{i}", _count_max=10, _count_cur=8, _date=date) for i in range(3)],
    )
    args = ("-b", "policyd1", "-d", database.url, "--top", "1")
    done = run_script("check_ratelimit_offenders", *args, env=database.env)
    assert done.lines == [
        "RATELIMIT_OFFENDERS CRITICAL - 5 offenders: off4 (140%), off3 (130%), off2 (120%), "
        "... - 3 near limit (>= 80%) - max usage 140% "
        "| max_usage=140.0%;;;0 near_limit=3;0;;0 offenders=5;;0;0",
        "offender off4: 14/10 messages (140%) per 1h",
        "... and 7 more senders",
    ]
    assert done.code == 2


# -- --log: each fingerprint found through its rarest byte ------------------------------
def test_needle_picks_rarest_byte() -> None:
    needle = logscan.Needle.pick(b"Rate limit reach", b"eeee iiii tttt RRRR hhh aa c")
    assert (needle.at, needle.text[needle.at : needle.at + 1]) == (5, b"l")


def naive(text: bytes, patterns: list[bytes]) -> list[bytes]:
    return [line for line in text.split(b"\n") if any(p in line for p in patterns)]


@pytest.mark.parametrize("block", [7, 64, 1 << 20])
def test_anchor_search_matches_plain_search(
    tmp_path: Path, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(3)
    pieces = [
        b"Policy Rejection- Quota Exceeded",
        b"Policy Rejection- Quota Exceede",  # cut short: no match
        b"PPPP Rejection",
        b"reason=quota_match",
        b"reason=quota_matc_",
        b"____",
        b"Rate limit reach",
        b"Rate limit reac",
        b"RRR mmm",
        b"reject: x",
        b" ",
    ]
    lines = [b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 4))) for _ in range(3000)]
    text = b"\n".join(lines) + b"\n"
    path = tmp_path / "log"
    path.write_bytes(text)
    monkeypatch.setattr(logscan, "BLOCK", block)
    sample = text[: logscan.SAMPLE]
    found = logscan.needles(logscan.FINGERPRINTS, sample)
    with path.open("rb", buffering=0) as handle:
        got = list(logscan.matching_lines(handle, 0, len(text), found, None))
    assert got == naive(text, list(logscan.FINGERPRINTS))
    # and through scan_log, with --pattern, against a per-line count
    extra = re.compile(rb"reject: x")
    want: Counter[str] = Counter()
    for line in text.split(b"\n"):
        hit = any(p in line for p in logscan.FINGERPRINTS) or extra.search(line)
        if hit:
            want[logscan.identity(line)] += 1
    scan = logscan.scan_log(str(path), str(tmp_path / "state"), ["reject: x"], update=False)
    assert scan.rejects == want
