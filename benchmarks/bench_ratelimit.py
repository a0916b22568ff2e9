"""check_ratelimit_offenders at scale: 1,000,000 throttle / mail_count / quotas_tracking rows
on SQLite and MariaDB (the query time, in-process, best of 3), and the --log scan against
``grep -c`` on the same warm 100+ MB mail log (MB/s, peak RSS).

    .venv/bin/python benchmarks/bench_ratelimit.py [--rows 1000000] [--log-mb 128] [--no-mariadb]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ratelimit import backends, db, dsn, logscan  # noqa: E402
from tests.ratelimit_helpers import MYSQL, Database, mariadb_reachable  # noqa: E402

NOW = int(time.time())


def best(func, runs: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times)


def fill(database: Database, rows: int) -> None:
    rng = random.Random(4)
    database.create("policyd1")
    database.create("policyd_rate_limit")
    database.create("cluebringer")
    batch = 20000
    senders = 20000
    for start in range(0, rows, batch):
        chunk = range(start, min(rows, start + batch))
        database.many(
            "throttle",
            ("_from", "_count_max", "_count_cur", "_date", "_time_limit"),
            [
                (
                    f"user{i}@example.net",
                    100,
                    rng.randint(0, 100),
                    NOW - rng.randint(0, 172800),
                    86400,
                )
                for i in chunk
            ],
        )
        database.many(
            "mail_count",
            ("id", "date", "recipient_count", "instance", "protocol_state"),
            [
                (
                    f"user{rng.randrange(senders)}",
                    NOW - rng.randint(0, 172800),
                    rng.randint(1, 3),
                    "i",
                    "DATA",
                )
                for _ in chunk
            ],
        )
    database.insert("quotas", [{"ID": 1, "Name": "q", "Track": "SASLUsername", "Period": 3600}])
    database.insert(
        "quotas_limits", [{"ID": 1, "QuotasID": 1, "Type": "MessageCount", "CounterLimit": 100}]
    )
    for start in range(0, rows, batch):
        database.many(
            "quotas_tracking",
            ("QuotasLimitsID", "TrackKey", "LastUpdate", "Counter"),
            [
                (1, f"SASLUsername:u{i}", NOW - rng.randint(0, 30 * 86400), rng.randint(0, 150))
                for i in range(start, min(rows, start + batch))
            ],
        )


def bench_db(kind: str, rows: int, tmp: Path) -> None:
    database = Database(kind, tmp)
    try:
        started = time.perf_counter()
        fill(database, rows)
        print(f"{kind}: {rows} rows per table loaded in {time.perf_counter() - started:.0f}s")
        target = dsn.parse(database.url)
        if kind == "mariadb":
            target = target.with_password(MYSQL["password"])
            database.execute("ANALYZE TABLE throttle, mail_count, quotas_tracking")
        conn = db.connect(target, 60)
        limits = backends.RateLimits()
        for name, run in (
            (
                "policyd1 throttle",
                lambda: backends.policyd1(conn, backends.Policyd1Defaults(), 80, NOW, []),
            ),
            ("cluebringer quotas_tracking", lambda: backends.cluebringer(conn, "", 80, NOW, [])),
            (
                "policyd-rate-limit mail_count",
                lambda: backends.policyd_rate_limit(conn, limits, 80, NOW, []),
            ),
        ):
            report = run()
            seconds = best(run)
            print(
                f"  {name:32} {seconds * 1000:7.0f} ms  ({len(report.offenders)} offenders, "
                f"{len(report.near)} near)"
            )
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
    parser.add_argument("--only", choices=["db", "log"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if args.only != "db":
            bench_log(args.log_mb, tmp)
        if args.only != "log":
            bench_db("sqlite", args.rows, tmp)
            if not args.no_mariadb:
                why = mariadb_reachable()
                print(f"mariadb: skipped ({why})") if why else bench_db("mariadb", args.rows, tmp)
    os.sync()


if __name__ == "__main__":
    main()
