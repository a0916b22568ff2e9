"""Rate-limit test databases: the daemons' schemas on SQLite files, a real MariaDB and a real
PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.services import exclusive, service_missing, services

SCHEMAS = ROOT / "fixtures" / "ratelimit"
MYSQL = {
    "host": os.environ.get("RATELIMIT_MYSQL_HOST", "127.0.0.1"),
    "port": int(os.environ.get("RATELIMIT_MYSQL_PORT", "3306")),
    "user": os.environ.get("RATELIMIT_MYSQL_USER", "isp_ratelimit"),
    "password": os.environ.get("RATELIMIT_MYSQL_PASSWORD", "rl-test-Pw7"),
    "database": os.environ.get("RATELIMIT_MYSQL_DB", "isp_ratelimit_test"),
}
POSTGRESQL = {
    "host": os.environ.get("RATELIMIT_PG_HOST", "127.0.0.1"),
    "port": int(os.environ.get("RATELIMIT_PG_PORT", "5432")),
    "user": os.environ.get("RATELIMIT_PG_USER", "isp_ratelimit"),
    "password": os.environ.get("RATELIMIT_PG_PASSWORD", "rl-test-Pw7"),
    "dbname": os.environ.get("RATELIMIT_PG_DB", "isp_ratelimit_test"),
}
TABLES = ("throttle", "mail_count", "limit_report", "rate_limits")
CB_TABLES = ("quotas_tracking", "quotas_limits", "quotas", "policies")


def statements(path: Path) -> list[str]:
    return [s.strip() for s in path.read_text().split(";") if s.strip()]


class Database:
    """One test database: ``kind`` is sqlite, mariadb or postgresql; ``url`` is what --dsn
    gets."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        if kind == "sqlite":
            self.path = tmp_path / "policy.sqlite3"
            self.raw: Any = sqlite3.connect(self.path)
            self.url = f"sqlite://{self.path}"
        elif kind == "postgresql":
            import psycopg

            self.raw = psycopg.connect(**POSTGRESQL, autocommit=True)  # type: ignore[arg-type]
            pg = POSTGRESQL
            self.url = f"postgresql://{pg['user']}@{pg['host']}:{pg['port']}/{pg['dbname']}"
            self.drop_all()
        else:
            import pymysql

            self.raw = pymysql.connect(**MYSQL, autocommit=True)  # type: ignore[arg-type]
            self.url = (
                f"mysql://{MYSQL['user']}@{MYSQL['host']}:{MYSQL['port']}/{MYSQL['database']}"
            )
            self.drop_all()

    @property
    def env(self) -> dict[str, str]:
        if self.kind == "sqlite":
            return {}
        source = MYSQL if self.kind == "mariadb" else POSTGRESQL
        return {"RATELIMIT_DB_PASSWORD": str(source["password"])}

    @property
    def password(self) -> str:
        return self.env.get("RATELIMIT_DB_PASSWORD", "")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if self.kind != "sqlite":
            sql = sql.replace("?", "%s")
        cursor = self.raw.cursor()
        cursor.execute(sql, tuple(params))
        cursor.close()
        if self.kind == "sqlite":
            self.raw.commit()

    def drop_all(self, prefix: str = "") -> None:
        for table in (*TABLES, *(prefix + t for t in CB_TABLES)):
            cascade = " CASCADE" if self.kind == "postgresql" else ""
            self.execute(f"DROP TABLE IF EXISTS {table}{cascade}")

    def create(self, schema: str, prefix: str = "") -> None:
        dialect = {"sqlite": "sqlite", "mariadb": "mysql"}.get(self.kind, self.kind)
        for statement in statements(SCHEMAS / f"{schema}.{dialect}.sql"):
            sql = statement
            if prefix:
                for table in CB_TABLES:
                    for end in (" ", "(", "\n"):
                        sql = sql.replace(f" {table}{end}", f" {prefix}{table}{end}")
            self.execute(sql)

    def insert(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            names = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            self.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(row.values()))

    def many(self, table: str, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join("?" for _ in names)
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"
        cursor = self.raw.cursor()
        if self.kind != "sqlite":
            sql = sql.replace("?", "%s")
        cursor.executemany(sql, rows)
        cursor.close()
        if self.kind == "sqlite":
            self.raw.commit()

    def close(self) -> None:
        if self.kind != "sqlite":
            self.drop_all()
        self.raw.close()


def mariadb_reachable() -> str:
    """'' when the test MariaDB answers, else why not."""
    try:
        import pymysql

        pymysql.connect(**MYSQL, connect_timeout=3).close()  # type: ignore[arg-type]
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


def postgresql_reachable() -> str:
    """'' when the test PostgreSQL answers, else why not."""
    try:
        import psycopg

        psycopg.connect(**POSTGRESQL, connect_timeout=3).close()  # type: ignore[arg-type]
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


SERVERS = {
    "mariadb": ("MariaDB", "30-mariadb.sh", mariadb_reachable),
    "postgresql": ("PostgreSQL", "35-postgresql.sh", postgresql_reachable),
}
#: The ``database`` fixtures' parameters.
DATABASES = ["sqlite", *(pytest.param(kind, marks=services) for kind in SERVERS)]


def need_server(kind: str) -> None:
    """Skip (or fail, in CI) unless the test database server ``kind`` answers."""
    name, setup, reachable = SERVERS[kind]
    why = reachable()
    if why:
        service_missing(setup, f"no test {name}: {why}")


def database_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    kind = request.param
    if kind == "sqlite":
        yield from _open(kind, tmp_path)
        return
    need_server(kind)
    with exclusive(kind):  # a server's tests share its one test database
        yield from _open(kind, tmp_path)


def _open(kind: str, tmp_path: Path) -> Iterator[Database]:
    database = Database(kind, tmp_path)
    try:
        yield database
    finally:
        database.close()
