"""Connections and the failures they can end in; drivers are imported only here, on use."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from isp_plugins.sources.ratelimit.dsn import Dsn


class DbFailure(Exception):
    """Why no usage could be read. ``kind`` decides the state (see :data:`KINDS`)."""

    def __init__(self, kind: str, text: str) -> None:
        super().__init__(text)
        self.kind = kind


#: down and auth: the rate limiter's database server is broken (CRITICAL); the rest UNKNOWN.
KINDS = ("down", "auth", "schema", "timeout", "config", "error")


@dataclass
class Connection:
    """A DB-API connection, its dialect and the deadline its queries must meet."""

    raw: Any
    kind: str
    deadline: float  # time.monotonic() value
    #: Opens a second connection to the same database (see :meth:`both`).
    twin: Callable[[], Connection] | None = None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run ``sql`` written with ``?`` placeholders; failures become :class:`DbFailure`."""
        if self.kind != "sqlite":
            sql = sql.replace("%", "%%").replace("?", "%s")
        cursor = self.raw.cursor()
        try:
            cursor.execute(sql, tuple(params))
            return list(cursor.fetchall())
        except Exception as exc:
            raise classify(exc, self.kind) from None
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    def both(
        self, first: tuple[str, Sequence[Any]], second: tuple[str, Sequence[Any]]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Two read queries at once, ``second`` on a twin connection in a thread.

        For two table scans: the database server runs each on its own core (SQLite and the
        drivers release the GIL while they wait), so the wall time is the longer scan, not
        the sum. Without a twin (it could not connect) they run one after the other.
        """
        import threading  # noqa: PLC0415 (only for the scans that need it)

        try:
            other = self.twin() if self.twin is not None else None
        except DbFailure:
            other = None
        if other is None:
            return self.query(*first), self.query(*second)
        outcome: list[Any] = []

        def run_second() -> None:
            try:
                outcome.append(other.query(*second))
            except BaseException as exc:  # re-raised in the caller's thread
                outcome.append(exc)

        worker = threading.Thread(target=run_second, name="second-scan", daemon=True)
        worker.start()
        try:
            rows = self.query(*first)
        finally:
            worker.join(max(0.0, self.deadline - time.monotonic()) + 1.0)
            other.close()
        if not outcome:
            raise DbFailure("timeout", "the second scan did not end in time")
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return rows, outcome[0]

    def columns(self) -> dict[str, set[str]]:
        """Every table of the database (lower case) with its columns (lower case)."""
        if self.kind == "sqlite":
            tables = [r[0] for r in self.query("SELECT name FROM sqlite_master WHERE type='table'")]
            found: dict[str, set[str]] = {}
            for table in tables:
                quoted = table.replace('"', '""')
                rows = self.query(f'PRAGMA table_info("{quoted}")')
                found[table.lower()] = {str(r[1]).lower() for r in rows}
            return found
        where = "DATABASE()" if self.kind == "mysql" else "current_schema()"
        rows = self.query(
            "SELECT table_name, column_name FROM information_schema.columns "
            f"WHERE table_schema = {where}"
        )
        out: dict[str, set[str]] = {}
        for table, column in rows:
            out.setdefault(str(table).lower(), set()).add(str(column).lower())
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.raw.close()


def require(found: dict[str, set[str]], wanted: Mapping[str, Sequence[str]], what: str) -> None:
    """UNKNOWN naming every missing table and column when the schema is not ``what``'s."""
    missing_tables = [t for t in wanted if t.lower() not in found]
    if missing_tables:
        names = ", ".join(missing_tables)
        plural = "s" if len(missing_tables) > 1 else ""
        raise DbFailure("schema", f"not a {what} database: missing table{plural} {names}")
    missing = [
        f"{table}.{column}"
        for table, columns in wanted.items()
        for column in columns
        if column.lower() not in found[table.lower()]
    ]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise DbFailure(
            "schema", f"not a {what} schema: missing column{plural} {', '.join(missing)}"
        )


def connect(dsn: Dsn, timeout: float) -> Connection:
    """Open the database read-only where the driver allows, with ``timeout`` for everything."""
    deadline = time.monotonic() + timeout
    if dsn.kind == "sqlite":
        conn = Connection(_sqlite(dsn, deadline), "sqlite", deadline)
    elif dsn.kind == "mysql":
        conn = Connection(_mysql(dsn, timeout), "mysql", deadline)
    else:
        conn = Connection(_postgresql(dsn, timeout), "postgresql", deadline)

    def twin() -> Connection:
        return connect(dsn, max(0.1, deadline - time.monotonic()))

    conn.twin = twin
    return conn


def _sqlite(dsn: Dsn, deadline: float) -> Any:
    """The file opened read-only. A file that is missing, unreadable or not a file is our
    configuration (UNKNOWN), as a MySQL or PostgreSQL database that does not exist is: an
    SQLite database has no server that could be down."""
    import os  # noqa: PLC0415
    import sqlite3  # noqa: PLC0415
    import stat  # noqa: PLC0415
    from urllib.parse import quote  # noqa: PLC0415

    try:
        fd = os.open(dsn.database, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise DbFailure("config", "no such file") from None
    except OSError as exc:
        raise DbFailure("config", f"cannot read: {exc.strerror}") from None
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
    if not regular:
        raise DbFailure("config", "not a regular file")
    try:
        # A URI for mode=ro: every character of the path percent-encoded but the slashes.
        raw = sqlite3.connect(
            f"file:{quote(dsn.database)}?mode=ro",
            uri=True,
            timeout=max(0.1, deadline - time.monotonic()),
            check_same_thread=False,  # a twin runs its one query in a thread (Connection.both)
        )
    except sqlite3.Error as exc:
        raise DbFailure("config", f"cannot open: {exc}") from None

    def over_time() -> int:
        return 1 if time.monotonic() > deadline else 0

    raw.set_progress_handler(over_time, 20000)  # an interrupted query is our timeout
    return raw


def _mysql(dsn: Dsn, timeout: float) -> Any:
    try:
        import pymysql  # noqa: PLC0415
    except ImportError:
        raise DbFailure("config", "mysql:// needs PyMySQL (pip install PyMySQL)") from None
    seconds = max(1, int(timeout))
    try:
        raw = pymysql.connect(
            host=dsn.host,
            port=dsn.port,
            user=dsn.user or None,
            password=dsn.password,
            database=dsn.database,
            unix_socket=dsn.socket or None,
            connect_timeout=seconds,
            read_timeout=seconds,
            write_timeout=seconds,
            autocommit=True,
            charset="utf8mb4",
        )
    except Exception as exc:
        raise classify(exc, "mysql") from None
    try:  # MariaDB's own statement limit (MySQL 5.7+ has max_execution_time, in ms)
        with raw.cursor() as cursor:
            cursor.execute(f"SET SESSION max_statement_time = {max(0.5, timeout):.3f}")
    except Exception:
        try:
            with raw.cursor() as cursor:
                cursor.execute(f"SET SESSION max_execution_time = {int(timeout * 1000)}")
        except Exception:
            pass
    return raw


def _postgresql(dsn: Dsn, timeout: float) -> Any:
    try:
        import psycopg  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415
    except ImportError:
        raise DbFailure(
            "config", "postgresql:// needs psycopg: pip install 'isp-plugins[postgresql]'"
        ) from None
    try:
        return psycopg.connect(
            host=dsn.socket or dsn.host,
            port=dsn.port,
            user=dsn.user or None,
            password=dsn.password or None,
            dbname=dsn.database,
            connect_timeout=max(1, int(timeout)),
            options=f"-c statement_timeout={int(timeout * 1000)}",
            autocommit=True,
        )
    except Exception as exc:
        raise classify(exc, "postgresql") from None


#: MySQL/MariaDB error numbers.
MYSQL_AUTH = {1044, 1045, 1698, 1251}
MYSQL_DOWN = {2002, 2003, 2005, 2006, 2013, 1040, 1129, 1130, 1203, 2026}
MYSQL_TIMEOUT = {1969, 3024, 1317}


def classify(exc: BaseException, kind: str) -> DbFailure:
    """A driver exception as a DbFailure: down/auth (CRITICAL), schema/timeout/error (UNKNOWN)."""
    if isinstance(exc, DbFailure):
        return exc
    text = " ".join(str(exc).split()) or type(exc).__name__
    low = text.lower()
    if kind == "sqlite":
        if "interrupted" in low:
            return DbFailure("timeout", "query timed out (-t)")
        if "locked" in low or "busy" in low:
            return DbFailure("timeout", f"database stayed locked: {text}")
        if "no such table" in low or "no such column" in low:
            return DbFailure("schema", text)
        if "not a database" in low or "malformed" in low:
            return DbFailure("schema", f"not an SQLite database: {text}")
        if "unable to open" in low:
            return DbFailure("config", text)
        return DbFailure("error", text)
    if kind == "mysql":
        args = getattr(exc, "args", ())
        code = args[0] if args and isinstance(args[0], int) else 0
        message = str(args[1]) if len(args) > 1 else text  # type: ignore[misc]
        message = " ".join(message.split())
        if "timed out" in message.lower() or code in MYSQL_TIMEOUT:
            return DbFailure("timeout", f"MySQL: {message}")
        if code in MYSQL_AUTH:
            return DbFailure("auth", f"MySQL authentication failed: {message}")
        if code == 1049:
            return DbFailure("config", f"MySQL: {message}")
        if code in (1146, 1054):
            return DbFailure("schema", f"MySQL: {message}")
        if code in MYSQL_DOWN or isinstance(exc, OSError):
            return DbFailure("down", f"MySQL: {message}")
        return DbFailure("error", f"MySQL error {code}: {message}")
    if "timeout" in low or "canceling statement" in low:
        return DbFailure("timeout", f"PostgreSQL: {text}")
    if "authentication failed" in low or "no password supplied" in low or "pg_hba" in low:
        return DbFailure("auth", f"PostgreSQL authentication failed: {text}")
    if "does not exist" in low and "database" in low:
        return DbFailure("config", f"PostgreSQL: {text}")
    if "undefinedtable" in type(exc).__name__.lower() or "relation" in low:
        return DbFailure("schema", f"PostgreSQL: {text}")
    if "connect" in low or "connection" in low:
        return DbFailure("down", f"PostgreSQL: {text}")
    return DbFailure("error", f"PostgreSQL: {text}")
