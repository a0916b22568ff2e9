"""Database URLs: ``sqlite:///path``, ``mysql://user@host:port/db``, ``postgresql://...``."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

SCHEMES = {
    "sqlite": "sqlite",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mysql+pymysql": "mysql",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "postgresql+psycopg": "postgresql",
}
DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432}


class DsnError(ValueError):
    """A URL we cannot use (the text never contains the password)."""


@dataclass(frozen=True)
class Dsn:
    kind: str  # sqlite, mysql, postgresql
    database: str  # the file for sqlite
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = field(default="", repr=False)
    socket: str = ""  # ?unix_socket=/run/mysqld/mysqld.sock (mysql), ?host=/run/postgresql

    def redacted(self) -> str:
        """The URL without its password, for the output."""
        if self.kind == "sqlite":
            return f"sqlite://{self.database}" if self.database.startswith("/") else self.database
        where = self.socket or f"{self.host}:{self.port}"
        user = f"{self.user}@" if self.user else ""
        return f"{self.kind}://{user}{where}/{self.database}"

    def with_password(self, password: str) -> Dsn:
        return Dsn(self.kind, self.database, self.host, self.port, self.user, password, self.socket)


def parse(url: str) -> Dsn:
    """Parse a database URL; DsnError names what is wrong, never the password."""
    scheme, sep, rest = url.partition("://")
    kind = SCHEMES.get(scheme.lower())
    if not sep or kind is None:
        raise DsnError(
            f"unsupported database URL scheme {scheme!r}: use sqlite:///PATH, "
            "mysql://USER@HOST[:PORT]/DB or postgresql://USER@HOST[:PORT]/DB"
        )
    if kind == "sqlite":
        path = unquote(rest.split("?", 1)[0])
        if not path.startswith("/"):
            raise DsnError("sqlite URL needs an absolute path: sqlite:///var/lib/db.sqlite3")
        return Dsn("sqlite", path)
    try:
        parts = urlsplit(f"{kind}://{rest}")
        port = parts.port or DEFAULT_PORTS[kind]
    except ValueError as exc:
        raise DsnError(f"bad database URL: {str(exc).split(':')[0]}") from None
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise DsnError(f"{kind} URL needs a database name: {kind}://USER@HOST[:PORT]/DB")
    query = dict(parse_qsl(parts.query))
    unknown = sorted(set(query) - {"unix_socket", "host"})
    if unknown:
        raise DsnError(f"unknown URL parameter {unknown[0]!r} (unix_socket or host only)")
    socket = query.get("unix_socket", query.get("host", ""))
    return Dsn(
        kind,
        database,
        host=parts.hostname or "localhost",
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        socket=socket,
    )
