"""check_ratelimit_offenders as Nagios runs it: exact lines, exit codes, states, secrets."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_script
from tests.ratelimit_helpers import (
    DATABASES,
    MYSQL,
    POSTGRESQL,
    Database,
    database_fixture,
    need_server,
)
from tests.services import services

SCRIPT = "check_ratelimit_offenders"


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    yield from database_fixture(request, tmp_path)


def fill_rate_limit(database: Database) -> None:
    database.create("policyd_rate_limit")
    now = int(time.time())
    rows = [("bob", now - 20, 1)] * 10 + [("alice", now - 20, 8), ("carol", now - 20, 2)]
    database.many(
        "mail_count",
        ("id", "date", "recipient_count", "instance", "protocol_state"),
        [(i, d, n, "x", "DATA") for i, d, n in rows],
    )


def test_offender_critical_with_long_output(database: Database) -> None:
    fill_rate_limit(database)
    done = run_script(SCRIPT, "-b", "policyd-rate-limit", "-d", database.url, env=database.env)
    assert done.lines == [
        "RATELIMIT_OFFENDERS CRITICAL - 1 offender: bob (100%) - 1 near limit (>= 80%) - "
        "max usage 100% | max_usage=100.0%;;;0 near_limit=1;0;;0 offenders=1;;0;0",
        "offender bob: 10/10 recipients (100%) per 1m",
        "near alice: 8/10 recipients (80%) per 1m",
    ]
    assert (done.code, done.stderr) == (2, "")


def test_thresholds_exclude_and_near(database: Database) -> None:
    fill_rate_limit(database)
    args = ("-b", "policyd-rate-limit", "-d", database.url, "--exclude", "bob")
    done = run_script(SCRIPT, *args, env=database.env)
    assert done.status == (
        "RATELIMIT_OFFENDERS WARNING - no offender - 1 near limit (>= 80%) - max usage 80% "
        "| max_usage=80.0%;;;0 near_limit=1;0;;0 offenders=0;;0;0"
    )
    assert done.code == 1
    done = run_script(SCRIPT, *args, "--near", "90", "-w", "5", env=database.env)
    assert done.status == (
        "RATELIMIT_OFFENDERS OK - no offender - 0 near limit (>= 90%) - max usage 80% "
        "| max_usage=80.0%;;;0 near_limit=0;5;;0 offenders=0;;0;0"
    )
    assert (done.code, done.lines[1:]) == (0, [])
    done = run_script(
        SCRIPT,
        "-b",
        "policyd-rate-limit",
        "-d",
        database.url,
        "-c",
        "2",
        "-w",
        "1",
        "--limit",
        "20/1m",
        env=database.env,
    )
    assert done.status.startswith("RATELIMIT_OFFENDERS OK - no offender - 0 near limit")
    assert done.code == 0


def test_config_yaml_limits_by_id(database: Database, tmp_path: Path) -> None:
    fill_rate_limit(database)
    conf = tmp_path / "policyd-rate-limit.yaml"
    conf.write_text("limits:\n  - [10, 60]\nlimits_by_id:\n  bob: [[100, 60]]\n  alice: []\n")
    done = run_script(
        SCRIPT,
        "-b",
        "policyd-rate-limit",
        "-d",
        database.url,
        "--config",
        str(conf),
        env=database.env,
    )
    assert done.status == (
        "RATELIMIT_OFFENDERS OK - no offender - 0 near limit (>= 80%) - max usage 20% "
        "| max_usage=20.0%;;;0 near_limit=0;0;;0 offenders=0;;0;0"
    )


def test_config_yaml_sql_limits_by_id(database: Database, tmp_path: Path) -> None:
    fill_rate_limit(database)
    database.insert("rate_limits", [{"id": 7, "limits": "[[2, 60]]"}])
    database.many(
        "mail_count",
        ("id", "date", "recipient_count", "instance", "protocol_state"),
        [("7", int(time.time()) - 5, 2, "x", "DATA")],
    )
    conf = tmp_path / "policyd-rate-limit.yaml"
    conf.write_text(
        'limits:\n  - [100, 60]\nsql_limits_by_id: "SELECT limits FROM rate_limits WHERE id = %s"\n'
    )
    args = ("-b", "policyd-rate-limit", "-d", database.url, "--config", str(conf))
    done = run_script(SCRIPT, *args, env=database.env)
    assert done.status.startswith("RATELIMIT_OFFENDERS CRITICAL - 1 offender: 7 (100%) - ")
    assert "offender 7: 2/2 recipients (100%) per 1m" in done.lines
    conf.write_text("sql_limits_by_id: [1]\n")
    done = run_script(SCRIPT, *args, env=database.env)
    assert done.status == (
        "RATELIMIT_OFFENDERS UNKNOWN - sql_limits_by_id is not an SQL query (see --help)"
    )


def test_wrong_schema_unknown(database: Database) -> None:
    database.create("policyd1")
    done = run_script(SCRIPT, "-b", "cluebringer", "-d", database.url, env=database.env)
    assert done.status == (
        f"RATELIMIT_OFFENDERS UNKNOWN - {database.url}: not a cluebringer database: "
        "missing tables quotas, quotas_limits, quotas_tracking"
    )
    assert (done.code, done.stderr) == (3, "")


def test_policyd1_defaults_from_conf(database: Database, tmp_path: Path) -> None:
    database.create("policyd1")
    now = int(time.time())
    database.insert(
        "throttle",
        [
            {
                "_from": "sasl-joe",
                "_count_max": 0,
                "_count_cur": 40,
                "_date": now - 100,
                "_time_limit": 0,
            }
        ],
    )
    conf = tmp_path / "policyd.conf"
    conf.write_text("# policyd\nSENDERMSGLIMIT=40\nSENDERTIMELIMIT=3600\n")
    done = run_script(
        SCRIPT, "-b", "policyd1", "-d", database.url, "--policyd-conf", str(conf), env=database.env
    )
    assert done.lines[0].startswith("RATELIMIT_OFFENDERS CRITICAL - 1 offender: sasl-joe (100%)")
    assert done.lines[1] == "offender sasl-joe: 40/40 messages (100%) per 1h"
    done = run_script(
        SCRIPT,
        "-b",
        "policyd1",
        "-d",
        database.url,
        "--default-msg-limit",
        "400",
        "--default-window",
        "50s",
        env=database.env,
    )
    assert done.status.startswith("RATELIMIT_OFFENDERS OK - no offender - 0 near limit")


@services
def test_mariadb_auth_failure_and_down_are_critical_password_hidden(tmp_path: Path) -> None:
    need_server("mariadb")
    url = f"mysql://{MYSQL['user']}:Wrong-Pw-42@{MYSQL['host']}:{MYSQL['port']}/{MYSQL['database']}"
    done = run_script(SCRIPT, "-b", "policyd1", "-d", url, "-vvv")
    assert done.code == 2
    assert done.status.startswith(
        f"RATELIMIT_OFFENDERS CRITICAL - mysql://{MYSQL['user']}@{MYSQL['host']}:{MYSQL['port']}"
        f"/{MYSQL['database']}: MySQL authentication failed: Access denied for user "
        f"'{MYSQL['user']}'@"
    )
    assert "Wrong-Pw-42" not in done.stdout + done.stderr
    pw = tmp_path / "pw"
    pw.write_text(MYSQL["password"] + "\n")
    done = run_script(
        SCRIPT, "-b", "policyd1", "-d", "mysql://u@127.0.0.1:1/db", "--password-file", str(pw)
    )
    assert done.code == 2
    assert done.status.startswith(
        "RATELIMIT_OFFENDERS CRITICAL - mysql://u@127.0.0.1:1/db: MySQL: Can't connect"
    )
    assert MYSQL["password"] not in done.stdout


@services
def test_postgresql_auth_failure_down_and_no_database(tmp_path: Path) -> None:
    need_server("postgresql")
    pg = POSTGRESQL
    url = f"postgresql://{pg['user']}:Wrong-Pw-42@{pg['host']}:{pg['port']}/{pg['dbname']}"
    done = run_script(SCRIPT, "-b", "cluebringer", "-d", url, "-vvv")
    assert (done.code, done.stderr) == (2, "")
    assert done.status.startswith(
        f"RATELIMIT_OFFENDERS CRITICAL - postgresql://{pg['user']}@{pg['host']}:{pg['port']}"
        f"/{pg['dbname']}: PostgreSQL authentication failed: "
    )
    assert "Wrong-Pw-42" not in done.stdout
    env = {"RATELIMIT_DB_PASSWORD": str(pg["password"])}
    done = run_script(SCRIPT, "-b", "cluebringer", "-d", "postgresql://u@127.0.0.1:1/db", env=env)
    assert done.code == 2
    assert done.status.startswith(
        "RATELIMIT_OFFENDERS CRITICAL - postgresql://u@127.0.0.1:1/db: PostgreSQL: "
    )
    url = f"postgresql://{pg['user']}@{pg['host']}:{pg['port']}/no_such_db"
    done = run_script(SCRIPT, "-b", "cluebringer", "-d", url, env=env)
    assert done.code == 3
    assert 'database "no_such_db" does not exist' in done.status
    assert str(pg["password"]) not in done.stdout


def test_sqlite_missing_file_and_usage_errors_are_unknown(tmp_path: Path) -> None:
    done = run_script(SCRIPT, "-b", "policyd1", "-d", f"sqlite://{tmp_path}/none.db")
    assert done.lines == [
        f"RATELIMIT_OFFENDERS UNKNOWN - sqlite://{tmp_path}/none.db: no such file"
    ]
    assert done.code == 3
    for args, text in [
        (("-d", "sqlite:///x"), "give --backend and --dsn (or --log FILE) (see --help)"),
        (("-b", "policyd1", "-d", "oracle://x/y"), "unsupported database URL scheme 'oracle'"),
        (
            ("-b", "cluebringer", "-d", "sqlite:///x", "--limit", "5/60"),
            "--limit applies to --backend policyd-rate-limit only (see --help)",
        ),
        (("-b", "policyd-rate-limit", "-d", "sqlite:///x", "--limit", "5"), "Invalid value"),
        (("--log", "/x", "-b", "policyd1"), "give --log or --backend/--dsn, not both (see --help)"),
    ]:
        done = run_script(SCRIPT, *args)
        assert done.status.startswith("RATELIMIT_OFFENDERS UNKNOWN - "), done.status
        assert text in done.status
        assert (done.code, done.stderr) == (3, "")


def test_fifo_password_file_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    done = run_script(
        SCRIPT, "-b", "policyd1", "-d", "mysql://u@127.0.0.1/db", "--password-file", str(fifo)
    )
    assert done.status == (
        f"RATELIMIT_OFFENDERS UNKNOWN - password file {fifo} is not a regular file (see --help)"
    )
    assert done.code == 3


def test_sqlite_locked_past_the_deadline_is_unknown(tmp_path: Path) -> None:
    """A writer holds the database for good: the plugin gives up at its deadline, whatever
    the machine's speed (the lock never goes away; -t leaves the backstop 0.5 s of slack)."""
    import sqlite3

    path = tmp_path / "locked.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute(
        "CREATE TABLE throttle (_from, _count_max, _count_cur, _date, _quota_cur, "
        "_quota_max, _time_limit, _rcpt_max, _rcpt_cur, _abuse_cur, _abuse_tot)"
    )
    writer.execute("BEGIN EXCLUSIVE")
    try:
        done = run_script(SCRIPT, "-b", "policyd1", "-d", f"sqlite://{path}", "-t", "5")
    finally:
        writer.close()
    assert (done.code, done.lines, done.stderr) == (
        3,
        [
            f"RATELIMIT_OFFENDERS UNKNOWN - sqlite://{path}: no answer within 5s "
            "(database stayed locked: database is locked)"
        ],
        "",
    )


def test_sqlite_query_past_the_deadline_is_interrupted(tmp_path: Path) -> None:
    """A query that never ends (an endless recursive CTE) is interrupted at the deadline."""
    from isp_plugins.sources.ratelimit import db, dsn

    path = tmp_path / "any.sqlite3"
    path.touch()
    conn = db.connect(dsn.parse(f"sqlite://{path}"), 0.3)
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"
    try:
        with pytest.raises(db.DbFailure) as failure:
            conn.query(endless)
    finally:
        conn.close()
    assert (failure.value.kind, str(failure.value)) == ("timeout", "query timed out (-t)")
