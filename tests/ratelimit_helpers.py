"""Rate-limit test databases: the daemons' schemas on SQLite files and on a real MariaDB."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

SCHEMAS = ROOT / "fixtures" / "ratelimit"
MYSQL = {
    "host": os.environ.get("RATELIMIT_MYSQL_HOST", "127.0.0.1"),
    "port": int(os.environ.get("RATELIMIT_MYSQL_PORT", "3306")),
    "user": os.environ.get("RATELIMIT_MYSQL_USER", "isp_ratelimit"),
    "password": os.environ.get("RATELIMIT_MYSQL_PASSWORD", "rl-test-Pw7"),
    "database": os.environ.get("RATELIMIT_MYSQL_DB", "isp_ratelimit_test"),
}
TABLES = ("throttle", "mail_count", "limit_report", "rate_limits")
CB_TABLES = ("quotas_tracking", "quotas_limits", "quotas", "policies")


def statements(path: Path) -> list[str]:
    return [s.strip() for s in path.read_text().split(";") if s.strip()]


class Database:
    """One test database: ``kind`` is sqlite or mariadb; ``url`` is what --dsn gets."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        if kind == "sqlite":
            self.path = tmp_path / "policy.sqlite3"
            self.raw: Any = sqlite3.connect(self.path)
            self.url = f"sqlite://{self.path}"
        else:
            import pymysql

            self.raw = pymysql.connect(**MYSQL, autocommit=True)  # type: ignore[arg-type]
            self.url = (
                f"mysql://{MYSQL['user']}@{MYSQL['host']}:{MYSQL['port']}/{MYSQL['database']}"
            )
            self.drop_all()

    @property
    def env(self) -> dict[str, str]:
        return {"RATELIMIT_DB_PASSWORD": MYSQL["password"]} if self.kind == "mariadb" else {}

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if self.kind == "mariadb":
            sql = sql.replace("?", "%s")
        cursor = self.raw.cursor()
        cursor.execute(sql, tuple(params))
        cursor.close()
        if self.kind == "sqlite":
            self.raw.commit()

    def drop_all(self, prefix: str = "") -> None:
        for table in (*TABLES, *(prefix + t for t in CB_TABLES)):
            self.execute(f"DROP TABLE IF EXISTS {table}")

    def create(self, schema: str, prefix: str = "") -> None:
        dialect = "sqlite" if self.kind == "sqlite" else "mysql"
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
        if self.kind == "mariadb":
            sql = sql.replace("?", "%s")
        cursor.executemany(sql, rows)
        cursor.close()
        if self.kind == "sqlite":
            self.raw.commit()

    def close(self) -> None:
        if self.kind == "mariadb":
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


def database_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    kind = request.param
    if kind == "mariadb":
        why = mariadb_reachable()
        if why:
            if os.environ.get("ISP_PLUGINS_REQUIRE_SERVICES") == "1":
                pytest.fail(f"MariaDB required (ISP_PLUGINS_REQUIRE_SERVICES=1) but: {why}")
            pytest.skip(f"no test MariaDB (.ci/setup.d/30-mariadb.sh): {why}")
    database = Database(kind, tmp_path)
    try:
        yield database
    finally:
        database.close()
