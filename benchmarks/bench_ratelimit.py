"""check_ratelimit_offenders at scale: 1,000,000 throttle / mail_count / quotas_tracking rows
on SQLite and MariaDB (the query time, in-process, best of 3), and the --log scan against
``grep -c`` on the same warm 100+ MB mail log (MB/s, peak RSS).

    make bench-ratelimit
    .venv/bin/python benchmarks/bench_ratelimit.py [--rows N] [--log-mb N] [--only db|log]
        [--no-mariadb] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from isp_plugins.sources.ratelimit import backends, db, dsn, logscan  # noqa: E402
from tests.ratelimit_helpers import MYSQL, Database, mariadb_reachable  # noqa: E402

NOW = int(time.time())


def best(func, runs: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times)


#: Senders near or over a limit in each table; everyone else is far below their limits.
HOT = 300


def throttle_rows(rng: random.Random, rows: int) -> list[tuple[object, ...]]:
    """One row per sender, as policyd v1 keeps them (``_from`` is unique). Most senders use a
    few percent of their window; HOT of them sit between 80 % and 120 % of their message limit
    (a tenth of those with the abuse flag); a third of all windows have expired, and lazy reset
    left their counters in place."""
    hot = set(rng.sample(range(rows), HOT))
    out = []
    for i in range(rows):
        limit = rng.choice((0, 0, 100, 500, 1000))  # 0: the policyd.conf default (512)
        cap = limit or 512
        date = NOW - rng.randint(0, 3 * 86400)
        if i in hot:
            count = int(cap * rng.uniform(0.8, 1.2))
            date = NOW - rng.randint(0, 86000)
        else:
            count = min(cap - 1, int(rng.expovariate(1 / (cap * 0.03))))
        abuse = 1 if i in hot and rng.random() < 0.1 else 0
        out.append((f"user{i}@example.net", limit, count, date, 86400, count * 20000, abuse))
    return out


def mail_count_rows(rng: random.Random, rows: int) -> list[tuple[object, ...]]:
    """One row per accepted message over the last two days (``--clean`` keeps twice the
    longest period), inserted in time order as the daemon does. 200,000 ordinary senders send
    a few messages a day, far below 10/60 and 150/1d; HOT senders send 110 to 200 recipients
    in the last day, and a tenth of those also 8 to 14 in the last minute."""
    out: list[tuple[object, ...]] = []
    for h in range(HOT):
        left = rng.randint(110, 200)
        if h % 10 == 0:
            burst = rng.randint(8, 14)
            left -= burst
            while burst > 0:
                n = min(burst, rng.randint(1, 3))
                burst -= n
                out.append((f"hot{h}", NOW - rng.randint(0, 59), n, "i", "DATA"))
        while left > 0:
            n = min(left, rng.randint(1, 5))
            left -= n
            out.append((f"hot{h}", NOW - rng.randint(61, 86400), n, "i", "DATA"))
    for _ in range(rows - len(out)):
        n = 1 if rng.random() < 0.8 else rng.randint(2, 5)
        out.append((f"user{rng.randrange(200000)}", NOW - rng.randint(0, 172800), n, "i", "DATA"))
    out.sort(key=lambda row: row[1])  # type: ignore[arg-type,return-value]
    return out


def tracking_rows(rng: random.Random, rows: int) -> list[tuple[object, ...]]:
    """cluebringer keeps a tracking row for 30 days after its last update; most counters are
    far below the limit of 100, HOT were updated within the hour at 80 to 130."""
    hot = set(rng.sample(range(rows), HOT))
    return [
        (1, f"SASLUsername:u{i}", NOW - rng.randint(0, 3000), rng.randint(80, 130))
        if i in hot
        else (1, f"SASLUsername:u{i}", NOW - rng.randint(0, 30 * 86400), rng.randint(0, 20))
        for i in range(rows)
    ]


def fill(database: Database, rows: int) -> None:
    rng = random.Random(4)
    database.create("policyd1")
    database.create("policyd_rate_limit")
    database.create("cluebringer")
    database.insert("quotas", [{"ID": 1, "Name": "q", "Track": "SASLUsername", "Period": 3600}])
    database.insert(
        "quotas_limits", [{"ID": 1, "QuotasID": 1, "Type": "MessageCount", "CounterLimit": 100}]
    )
    throttle = ("_from", "_count_max", "_count_cur", "_date", "_time_limit", "_quota_cur")
    mail_count = ("id", "date", "recipient_count", "instance", "protocol_state")
    tracking = ("QuotasLimitsID", "TrackKey", "LastUpdate", "Counter")
    tables = (
        ("throttle", (*throttle, "_abuse_cur"), throttle_rows),
        ("mail_count", mail_count, mail_count_rows),
        ("quotas_tracking", tracking, tracking_rows),
    )
    batch = 20000
    for table, names, make in tables:
        data = make(rng, rows)
        for start in range(0, rows, batch):
            database.many(table, names, data[start : start + batch])
        del data


def plans(conn: db.Connection, sql: str, params: tuple[object, ...]) -> list[str]:
    """EXPLAIN QUERY PLAN (SQLite) or EXPLAIN (MariaDB): table, access, index, extra."""
    if conn.kind == "sqlite":
        return [str(row[3]) for row in conn.query(f"EXPLAIN QUERY PLAN {sql}", params)]
    return [
        f"{row[2]}: {row[3]} key={row[5]} rows={row[8]} {row[9] or ''}".strip()
        for row in conn.query(f"EXPLAIN {sql}", params)
    ]


def traced(conn: db.Connection, run: Callable[[], backends.Report]) -> None:
    """Runs once and prints each data query with its plan."""
    query = conn.query
    seen: list[tuple[str, tuple[object, ...], float, int]] = []

    def spy(sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        started = time.perf_counter()
        rows = query(sql, params)
        if "information_schema" not in sql and "sqlite_master" not in sql and "PRAGMA" not in sql:
            seen.append((sql, tuple(params), time.perf_counter() - started, len(rows)))
        return rows

    conn.query = spy  # type: ignore[method-assign]
    try:
        run()
    finally:
        conn.query = query  # type: ignore[method-assign]
    for sql, params, seconds, count in seen:
        print(f"      {seconds * 1000:5.0f} ms {count:5} rows  {' '.join(sql.split())[:110]}")
        for line in plans(conn, sql, params):
            print(f"                  plan: {line}")


def bench_db(kind: str, rows: int, tmp: Path) -> None:
    database = Database(kind, tmp)
    try:
        started = time.perf_counter()
        fill(database, rows)
        print(
            f"{kind}: {rows} rows per table loaded in {time.perf_counter() - started:.0f}s "
            f"(realistic: {HOT} senders near or over a limit per table, the rest far below)"
        )
        target = dsn.parse(database.url)
        if kind == "mariadb":
            target = target.with_password(MYSQL["password"])
            database.execute("ANALYZE TABLE throttle, mail_count, quotas_tracking")
        conn = db.connect(target, 60)
        limits = backends.RateLimits()
        defaults = backends.Policyd1Defaults()
        top = 10  # the plugin's default --top
        runs: list[tuple[str, Callable[[], backends.Report]]] = [
            (
                "policyd1 throttle",
                lambda: backends.policyd1(conn, defaults, 80, NOW, [], top),
            ),
            (
                "policyd1, nobody near (--near 200)",
                lambda: backends.policyd1(conn, defaults, 200, NOW, [], top),
            ),
            (
                "cluebringer quotas_tracking",
                lambda: backends.cluebringer(conn, "", 80, NOW, [], top),
            ),
            (
                "policyd-rate-limit mail_count",
                lambda: backends.policyd_rate_limit(conn, limits, 80, NOW, [], top),
            ),
        ]
        for name, run in runs:
            report = run()
            seconds = best(run)
            print(
                f"  {name:36} {seconds * 1000:7.0f} ms  ({report.offender_count} offenders, "
                f"{report.near_count} near, max usage {report.max_usage:.1f}%)"
            )
            traced(conn, run)
        conn.close()
    finally:
        database.close()


REJECT = (
    "Jan  1 10:00:01 relay postfix/smtpd[43]: NOQUEUE: reject: DATA from pc[198.51.100.9]: "
    "450 4.7.1 <DATA>: Data command rejected: Rate limit reach, retry later; "
    "from=<m@example.net> to=<y@yahoo.test> proto=ESMTP helo=<pc> sasl_username=u{n}\n"
)
LINES = [
    "Jan  1 10:00:00 relay postfix/smtpd[4{n}]: connect from unknown[192.0.2.{n}]\n",
    "Jan  1 10:00:00 relay postfix/cleanup[5{n}]: 4BXYZ{n}: message-id=<{n}@pc.example>\n",
    "Jan  1 10:00:00 relay postfix/qmgr[6]: 4BXYZ{n}: from=<u{n}@example.net>, size=2{n}, "
    "nrcpt=1 (queue active)\n",
    "Jan  1 10:00:01 relay postfix/smtp[7{n}]: 4BXYZ{n}: to=<x{n}@gmail.test>, "
    "relay=gmail.test[203.0.113.5]:25, delay=0.5, status=sent (250 ok)\n",
]


def bench_log(megabytes: int, tmp: Path) -> None:
    path = tmp / "maillog"
    rng = random.Random(5)
    with path.open("w") as handle:
        written = 0
        while written < megabytes << 20:
            block = "".join(
                (REJECT if rng.random() < 0.001 else rng.choice(LINES)).format(n=rng.randrange(100))
                for _ in range(10000)
            )
            handle.write(block)
            written += len(block)
    size = path.stat().st_size
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm
    grep = best(
        lambda: subprocess.run(
            ["grep", "-c", "Rate limit reach", str(path)], stdout=subprocess.PIPE, check=False
        )
    )
    state = tmp / "state"

    def scan() -> None:
        logscan.scan_log(str(path), str(state), update=False)

    ours = best(scan)
    found = logscan.scan_log(str(path), str(state), update=False).total
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"log {size / 1e6:.0f} MB ({found} reject lines): grep -c {size / grep / 1e6:.0f} MB/s, "
        f"scan {size / ours / 1e6:.0f} MB/s ({grep / ours:.2f} of grep's speed; "
        f"must be >= 0.20), peak RSS of this process {rss:.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--log-mb", type=int, default=128)
    parser.add_argument("--no-mariadb", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--only", choices=["db", "log"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if args.only != "db":
            bench_log(args.log_mb, tmp)
        if args.only != "log":
            if not args.no_sqlite:
                bench_db("sqlite", args.rows, tmp)
            if not args.no_mariadb:
                why = mariadb_reachable()
                print(f"mariadb: skipped ({why})") if why else bench_db("mariadb", args.rows, tmp)
    os.sync()


if __name__ == "__main__":
    main()
