"""Each daemon's rule on rows crafted around every boundary, on SQLite and a real MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from isp_plugins.sources.ratelimit import backends, db, dsn
from isp_plugins.sources.ratelimit.model import Report
from tests.ratelimit_helpers import DATABASES, Database, database_fixture

NOW = 1767225600
DEFAULTS = backends.Policyd1Defaults(msg=100, rcpt=200, quota=1000000, window=3600)


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    yield from database_fixture(request, tmp_path)


def connect(database: Database) -> db.Connection:
    target = dsn.parse(database.url)
    if database.password:
        target = target.with_password(database.password)
    return db.connect(target, 10)


def summary(report: Report) -> tuple[list[tuple[str, bool, str]], float]:
    rows = [(s.identity, s.offender, f"{s.worst.used:g}/{s.worst.limit:g}") for s in report.senders]
    return rows, round(report.max_usage, 2)


def throttle(ident: str, **values: int) -> dict[str, object]:
    row: dict[str, object] = {"_from": ident, "_date": NOW - 600, "_time_limit": 3600}
    row.update(values)
    return row


def test_policyd1_boundaries(database: Database) -> None:
    database.create("policyd1")
    database.insert(
        "throttle",
        [
            throttle("at-count", _count_max=50, _count_cur=50),  # exactly at the limit
            throttle("under", _count_max=50, _count_cur=49),  # 98 %: near
            throttle("low", _count_max=50, _count_cur=10),  # 20 %: neither
            throttle("expired", _count_max=50, _count_cur=500, _date=NOW - 3601),  # lazy reset
            throttle("last-second", _count_max=50, _count_cur=50, _date=NOW - 3600),  # still open
            throttle("default-count", _count_max=0, _count_cur=100),  # 0 -> default 100
            throttle(
                "default-window", _count_max=50, _count_cur=50, _time_limit=0, _date=NOW - 3000
            ),
            throttle("rcpt", _count_max=50, _count_cur=1, _rcpt_max=10, _rcpt_cur=10),
            throttle("quota", _quota_max=1000, _quota_cur=1000, _count_max=50),
            throttle("abuse", _count_max=50, _count_cur=3, _abuse_cur=1),
            throttle("abuse-expired", _count_max=50, _abuse_cur=1, _date=NOW - 7200),
            throttle("bulk", _count_max=50, _count_cur=60),
        ],
    )
    report = backends.policyd1(connect(database), DEFAULTS, 80, NOW, ["bulk"])
    rows, top = summary(report)
    assert rows == [
        ("at-count", True, "50/50"),
        ("default-count", True, "100/100"),
        ("default-window", True, "50/50"),
        ("last-second", True, "50/50"),
        ("quota", True, "1000/1000"),
        ("rcpt", True, "10/10"),
        ("abuse", True, "3/50"),
        ("under", False, "49/50"),
    ]
    assert top == 100.0
    assert report.senders[-2].worst.note == "abuse flag set"


def test_cluebringer_decay_and_disabled(database: Database) -> None:
    database.create("cluebringer")
    database.insert(
        "quotas",
        [
            {"ID": 1, "Name": "sasl hourly", "Track": "SASLUsername", "Period": 3600},
            {
                "ID": 2,
                "Name": "disabled",
                "Track": "Sender:user@domain",
                "Period": 3600,
                "Disabled": 1,
            },
            {"ID": 3, "Name": "size", "Track": "SenderIP:/24", "Period": 3600},
        ],
    )
    database.insert(
        "quotas_limits",
        [
            {"ID": 1, "QuotasID": 1, "Type": "MessageCount", "CounterLimit": 10},
            {"ID": 2, "QuotasID": 2, "Type": "MessageCount", "CounterLimit": 10},
            {"ID": 3, "QuotasID": 3, "Type": "MessageCumulativeSize", "CounterLimit": 1000},
            {"ID": 4, "QuotasID": 1, "Type": "MessageCount", "CounterLimit": 1, "Disabled": 1},
        ],
    )
    key = "SASLUsername:"
    database.insert(
        "quotas_tracking",
        [
            {"QuotasLimitsID": 1, "TrackKey": key + "at-limit", "LastUpdate": NOW, "Counter": 10},
            {"QuotasLimitsID": 1, "TrackKey": key + "over", "LastUpdate": NOW, "Counter": 10.5},
            {
                "QuotasLimitsID": 1,
                "TrackKey": key + "half",
                "LastUpdate": NOW - 1800,
                "Counter": 20,
            },
            {
                "QuotasLimitsID": 1,
                "TrackKey": key + "half-over",
                "LastUpdate": NOW - 1800,
                "Counter": 22,
            },
            {
                "QuotasLimitsID": 1,
                "TrackKey": key + "period",
                "LastUpdate": NOW - 3600,
                "Counter": 500,
            },
            {
                "QuotasLimitsID": 1,
                "TrackKey": key + "old",
                "LastUpdate": NOW - 3601,
                "Counter": 500,
            },
            {
                "QuotasLimitsID": 1,
                "TrackKey": key + "future",
                "LastUpdate": NOW + 60,
                "Counter": 11,
            },
            {"QuotasLimitsID": 1, "TrackKey": key + "low", "LastUpdate": NOW, "Counter": 5},
            {"QuotasLimitsID": 1, "TrackKey": key + "bulk", "LastUpdate": NOW, "Counter": 50},
            {
                "QuotasLimitsID": 2,
                "TrackKey": "Sender:x@example.com",
                "LastUpdate": NOW,
                "Counter": 99,
            },
            {
                "QuotasLimitsID": 3,
                "TrackKey": "SenderIP:192.0.2.0/24",
                "LastUpdate": NOW,
                "Counter": 900,
            },
            {"QuotasLimitsID": 4, "TrackKey": key + "low", "LastUpdate": NOW, "Counter": 5},
        ],
    )
    report = backends.cluebringer(connect(database), "", 80, NOW, ["bulk"])
    rows, top = summary(report)
    assert rows == [
        (key + "future", True, "11/10"),  # a clock ahead of ours: no decay
        (key + "half-over", True, "11/10"),  # 22 decayed half way through the period
        (key + "over", True, "10.5/10"),
        (key + "at-limit", False, "10/10"),  # cluebringer refuses only above the limit
        (key + "half", False, "10/10"),
        ("SenderIP:192.0.2.0/24", False, "900/1000"),
    ]
    assert top == 110.0


def test_cluebringer_table_prefix(database: Database) -> None:
    database.drop_all("cb_")
    database.create("cluebringer", prefix="cb_")
    database.insert("cb_quotas", [{"ID": 1, "Name": "q", "Track": "Sender", "Period": 60}])
    database.insert(
        "cb_quotas_limits", [{"ID": 1, "QuotasID": 1, "Type": "MessageCount", "CounterLimit": 2}]
    )
    database.insert(
        "cb_quotas_tracking",
        [{"QuotasLimitsID": 1, "TrackKey": "Sender:a@b", "LastUpdate": NOW, "Counter": 3}],
    )
    report = backends.cluebringer(connect(database), "cb_", 80, NOW, [])
    assert summary(report) == ([("Sender:a@b", True, "3/2")], 150.0)
    database.drop_all("cb_")


def test_policyd_rate_limit_windows_and_overrides(database: Database) -> None:
    database.create("policyd_rate_limit")
    rows = []
    rows += [("at-limit", NOW - 30, 1)] * 10  # 10/10 in the last minute
    rows += [("under", NOW - 30, 9)]  # 9/10: near
    rows += [("edge", NOW - 60, 5), ("edge", NOW - 61, 5)]  # date >= now - 60 counts: 5/10
    rows += [("daily", NOW - 3600, 100), ("daily", NOW - 7200, 50)]  # 150/150 per day
    rows += [("vip", NOW - 10, 50)]  # limits_by_id: 100/60 -> 50 %
    rows += [("free", NOW - 10, 5000)]  # limits_by_id: [] -> unlimited
    rows += [("bulk", NOW - 10, 5000)]  # --exclude
    rows += [("old", NOW - 90000, 5000)]  # outside every window
    database.many(
        "mail_count",
        ("id", "date", "recipient_count", "instance", "protocol_state"),
        [(i, d, n, "inst", "DATA") for i, d, n in rows],
    )
    database.insert("limit_report", [{"id": "daily", "delta": 86400, "hit": 4}])
    limits = backends.RateLimits(((10, 60), (150, 86400)), {"vip": ((100, 60),), "free": ()})
    report = backends.policyd_rate_limit(connect(database), limits, 80, NOW, ["bulk"])
    assert summary(report) == (
        [
            ("at-limit", True, "10/10"),
            ("daily", True, "150/150"),
            ("under", False, "9/10"),
        ],
        100.0,
    )
    assert report.senders[1].worst.note == "4 hits (1d)"
    assert report.notes == ["limit_report: daily hit a limit 4 times since the last clean"]


@pytest.mark.parametrize(
    ("schema", "run", "text"),
    [
        ("policyd_rate_limit", "policyd1", "not a policyd v1 database: missing table throttle"),
        ("policyd1", "cluebringer", "not a cluebringer database: missing tables quotas, "),
    ],
)
def test_wrong_schema_names_what_is_missing(
    database: Database, schema: str, run: str, text: str
) -> None:
    database.create(schema)
    with pytest.raises(db.DbFailure) as caught:
        if run == "policyd1":
            backends.policyd1(connect(database), DEFAULTS, 80, NOW, [])
        else:
            backends.cluebringer(connect(database), "", 80, NOW, [])
    assert caught.value.kind == "schema"
    assert str(caught.value).startswith(text)


def test_missing_column_is_named(database: Database) -> None:
    database.execute("CREATE TABLE mail_count (id varchar(40), date bigint)")
    with pytest.raises(db.DbFailure) as caught:
        backends.policyd_rate_limit(connect(database), backends.RateLimits(), 80, NOW, [])
    assert str(caught.value) == (
        "not a policyd-rate-limit schema: missing column mail_count.recipient_count"
    )


def test_cluebringer_skips_the_quotas_of_a_disabled_policy(database: Database) -> None:
    database.create("cluebringer")
    database.insert(
        "policies",
        [
            {"ID": 1, "Name": "customers", "Priority": 50},
            {"ID": 2, "Name": "retired", "Priority": 60, "Disabled": 1},
        ],
    )
    database.insert(
        "quotas",
        [
            {"ID": 1, "PolicyID": 1, "Name": "live", "Track": "SASLUsername", "Period": 60},
            {"ID": 2, "PolicyID": 2, "Name": "dead", "Track": "SASLUsername", "Period": 60},
            {"ID": 3, "PolicyID": None, "Name": "no policy", "Track": "Sender", "Period": 60},
        ],
    )
    database.insert(
        "quotas_limits",
        [
            {"ID": 1, "QuotasID": 1, "Type": "MessageCount", "CounterLimit": 10},
            {"ID": 2, "QuotasID": 2, "Type": "MessageCount", "CounterLimit": 10},
            {"ID": 3, "QuotasID": 3, "Type": "MessageCount", "CounterLimit": 10},
        ],
    )
    database.insert(
        "quotas_tracking",
        [
            {"QuotasLimitsID": 1, "TrackKey": "SASLUsername:a", "LastUpdate": NOW, "Counter": 11},
            {"QuotasLimitsID": 2, "TrackKey": "SASLUsername:b", "LastUpdate": NOW, "Counter": 99},
            {"QuotasLimitsID": 3, "TrackKey": "Sender:c@d", "LastUpdate": NOW, "Counter": 9},
        ],
    )
    report = backends.cluebringer(connect(database), "", 80, NOW, [])
    assert summary(report) == (
        [("SASLUsername:a", True, "11/10"), ("Sender:c@d", False, "9/10")],
        110.0,
    )


def test_policyd_rate_limit_reads_sql_limits_by_id(database: Database) -> None:
    database.create("policyd_rate_limit")
    rows = [("1001", NOW - 10, 6), ("1002", NOW - 10, 6), ("1003", NOW - 10, 6)]
    rows += [("1004", NOW - 10, 50), ("1005", NOW - 10, 9)]
    database.many(
        "mail_count",
        ("id", "date", "recipient_count", "instance", "protocol_state"),
        [(i, d, n, "inst", "DATA") for i, d, n in rows],
    )
    database.insert(
        "rate_limits",
        [
            {"id": 1001, "limits": "[[5, 60]]"},  # over its own, lower limit
            {"id": 1002, "limits": "[[100, 60], [6, 3600]]"},  # SQL wins over limits_by_id
            {"id": 1004, "limits": "[]"},  # unlimited
            {"id": 1005, "limits": "[[10, 60], 'x']"},  # unreadable: the daemon's limits
        ],
    )
    sql = "SELECT limits FROM rate_limits WHERE id = %s"
    limits = backends.RateLimits(((10, 60),), {"1002": ((100, 60),)}, sql)
    report = backends.policyd_rate_limit(connect(database), limits, 80, NOW, [])
    assert summary(report) == (
        [("1001", True, "6/5"), ("1002", True, "6/6"), ("1005", False, "9/10")],
        120.0,
    )
    assert report.notes == ["rate_limits: unreadable limits for 1005 (the daemon's own are used)"]
    other = backends.RateLimits(((10, 60),), {}, "SELECT l FROM custom WHERE u = %s")
    report = backends.policyd_rate_limit(connect(database), other, 80, NOW, [])
    assert report.notes == [
        "sql_limits_by_id does not read rate_limits: its per-ID limits are not used"
    ]
    assert [s.identity for s in report.senders] == ["1004", "1005"]


def test_both_runs_two_queries_on_two_connections(database: Database) -> None:
    database.create("policyd_rate_limit")
    conn = connect(database)
    opened: list[db.Connection] = []
    assert conn.twin is not None
    make_twin = conn.twin

    def counting_twin() -> db.Connection:
        opened.append(make_twin())
        return opened[-1]

    conn.twin = counting_twin
    first, second = conn.both(("SELECT 1", ()), ("SELECT 2", ()))
    assert (first, second, len(opened)) == ([(1,)], [(2,)], 1)
    with pytest.raises(db.DbFailure, match="no_such_table"):
        conn.both(("SELECT 1", ()), ("SELECT * FROM no_such_table", ()))


def test_both_without_a_twin_runs_one_after_the_other(database: Database) -> None:
    conn = connect(database)

    def refused() -> db.Connection:
        raise db.DbFailure("down", "too many connections")

    conn.twin = refused
    assert conn.both(("SELECT 1", ()), ("SELECT 2", ())) == ([(1,)], [(2,)])
    conn.twin = None
    assert conn.both(("SELECT 3", ()), ("SELECT 4", ())) == ([(3,)], [(4,)])
