"""Database URLs: ``sqlite:///path`` (or ``sqlite:////path``), ``mysql://user@host:port/db``,
``postgresql://...`` (see :func:`parse`)."""

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


#: How the help and the errors spell each URL.
SQLITE_FORMS = "sqlite:///PATH or sqlite:////PATH"


def parse(url: str) -> Dsn:
    """Parse a database URL; DsnError names what is wrong, never the password.

    SQLite: after ``sqlite:`` and its slashes (three, or SQLAlchemy's four for an absolute
    path) the rest is the file's absolute path, taken literally: spaces, ``%``, ``?`` and
    ``#`` are part of it (no percent-decoding, no query).

    MySQL and PostgreSQL: ``SCHEME://[USER[:PASSWORD]@]HOST[:PORT]/DB[?unix_socket=|host=]``.
    The user and password end at the last ``@``, so a password may hold ``@ : / ? #`` as
    they are; they are percent-decoded (a literal ``%`` is ``%25``). The password is split
    off before anything else is parsed: no error quotes it.
    """
    scheme, sep, rest = url.partition(":")
    kind = SCHEMES.get(scheme.lower())
    if kind == "sqlite":
        return _sqlite(rest)
    if not sep or not rest.startswith("//") or kind is None:
        raise DsnError(
            f"unsupported database URL scheme {scheme!r}: use sqlite:///PATH, "
            "mysql://USER@HOST[:PORT]/DB or postgresql://USER@HOST[:PORT]/DB"
        )
    rest = rest[2:]
    userinfo, at, location = rest.rpartition("@")
    if not at:
        location = rest
    user, _, password = userinfo.partition(":")
    try:
        parts = urlsplit(f"{kind}://{location}")
        hostname = parts.hostname
    except ValueError:
        raise DsnError("bad database URL: the host cannot be read") from None
    tail = parts.netloc.rpartition("]")[2] if parts.netloc.startswith("[") else parts.netloc
    port_text = tail.rpartition(":")[2] if ":" in tail else ""
    if port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536):
        raise DsnError(f"bad database URL: port {port_text!r} is not a number")
    port = int(port_text) if port_text else DEFAULT_PORTS[kind]
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
        host=hostname or "localhost",
        port=port,
        user=unquote(user),
        password=unquote(password),
        socket=socket,
    )


def _sqlite(rest: str) -> Dsn:
    """``//`` + the absolute path (``sqlite:///p``), or ``///`` + it (``sqlite:////p``)."""
    if not rest.startswith("///"):
        raise DsnError(f"sqlite URL needs an absolute path: {SQLITE_FORMS}")
    path = "/" + rest.lstrip("/")
    if path == "/":
        raise DsnError(f"sqlite URL needs a file: {SQLITE_FORMS}")
    return Dsn("sqlite", path)
