"""--dsn spellings (issue 14, item 2): SQLite paths as SQLAlchemy and the Python tools write
them, paths with odd characters, the states of an unusable DSN or file, and odd passwords in
MySQL and PostgreSQL URLs (never printed)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from isp_plugins.sources.ratelimit import dsn
from tests.conftest import ROOT, run_script
from tests.ratelimit_helpers import MYSQL, POSTGRESQL, need_server
from tests.services import exclusive, services

SCRIPT = "check_ratelimit_offenders"
OK_LINE = (
    "RATELIMIT_OFFENDERS OK - no offender - 0 near limit (>= 80%) - max usage 0% "
    "| max_usage=0.0%;;;0 near_limit=0;0;;0 offenders=0;;0;0"
)
#: Directory and file names a path may hold: each is taken literally after the slashes.
ODD_NAMES = [
    "with space",
    "per%cent",
    "per%20cent",  # stays %20: no percent-decoding
    "quest?ion=1",
    "hash#tag",
    "all of ?#%25 them&x=y",
]


def policyd1_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = sqlite3.connect(path)
    raw.executescript((ROOT / "fixtures" / "ratelimit" / "policyd1.sqlite.sql").read_text())
    raw.close()
    return path


@pytest.mark.parametrize("name", ODD_NAMES)
def test_three_and_four_slashes_and_odd_characters(tmp_path: Path, name: str) -> None:
    database = policyd1_file(tmp_path / name / f"{name}.db")
    for url in (f"sqlite://{database}", f"sqlite:///{database}"):
        done = run_script(SCRIPT, "-b", "policyd1", "-d", url, "-v")
        assert (done.code, done.stderr) == (0, ""), done.stdout
        assert done.lines[0] == OK_LINE
        assert done.lines[1].startswith(f"source: sqlite://{database} (policyd1), read in ")


def test_sqlite_paths_parse_literally() -> None:
    for url, path in [
        ("sqlite:///var/lib/x.db", "/var/lib/x.db"),
        ("sqlite:////var/lib/x.db", "/var/lib/x.db"),
        ("SQLite:////var/lib/x.db", "/var/lib/x.db"),
        ("sqlite:///var/lib/a b.db", "/var/lib/a b.db"),
        ("sqlite:///var/lib/a%20b.db", "/var/lib/a%20b.db"),
        ("sqlite:///var/lib/x.db?mode=ro", "/var/lib/x.db?mode=ro"),
        ("sqlite:///var/lib/x#1.db", "/var/lib/x#1.db"),
    ]:
        parsed = dsn.parse(url)
        assert (parsed.kind, parsed.database) == ("sqlite", path), url
        assert parsed.redacted() == f"sqlite://{path}"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "sqlite://var/lib/x.db",
            "sqlite URL needs an absolute path: sqlite:///PATH or sqlite:////PATH",
        ),
        (
            "sqlite:var/lib/x.db",
            "sqlite URL needs an absolute path: sqlite:///PATH or sqlite:////PATH",
        ),
        ("sqlite://", "sqlite URL needs an absolute path: sqlite:///PATH or sqlite:////PATH"),
        ("sqlite:///", "sqlite URL needs a file: sqlite:///PATH or sqlite:////PATH"),
        (
            "oracle://x/y",
            "unsupported database URL scheme 'oracle': use sqlite:///PATH, "
            "mysql://USER@HOST[:PORT]/DB or postgresql://USER@HOST[:PORT]/DB",
        ),
        ("mysql://u@h:notaport/db", "bad database URL: port 'notaport' is not a number"),
        ("mysql://u@h:99999/db", "bad database URL: port '99999' is not a number"),
        ("mysql://u@h", "mysql URL needs a database name: mysql://USER@HOST[:PORT]/DB"),
        (
            "postgresql://u@h/a/b",
            "postgresql URL needs a database name: postgresql://USER@HOST[:PORT]/DB",
        ),
    ],
)
def test_a_dsn_we_cannot_use_is_unknown(url: str, message: str) -> None:
    done = run_script(SCRIPT, "-b", "policyd1", "-d", url)
    assert (done.code, done.lines, done.stderr) == (
        3,
        [f"RATELIMIT_OFFENDERS UNKNOWN - {message} (see --help)"],
        "",
    )


def test_a_missing_file_is_unknown(tmp_path: Path) -> None:
    for url in (f"sqlite://{tmp_path}/none.db", f"sqlite:///{tmp_path}/none.db"):
        done = run_script(SCRIPT, "-b", "policyd1", "-d", url)
        assert (done.code, done.lines, done.stderr) == (
            3,
            [f"RATELIMIT_OFFENDERS UNKNOWN - sqlite://{tmp_path}/none.db: no such file"],
            "",
        )


def test_a_directory_is_unknown(tmp_path: Path) -> None:
    done = run_script(SCRIPT, "-b", "policyd1", "-d", f"sqlite://{tmp_path}")
    assert (done.code, done.lines) == (
        3,
        [f"RATELIMIT_OFFENDERS UNKNOWN - sqlite://{tmp_path}: not a regular file"],
    )


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory any user may enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="isp-dsn "))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for child in path.iterdir():
            child.unlink()
        path.rmdir()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the plugin as nobody")
def test_an_unreadable_file_is_unknown(shared_dir: Path) -> None:
    database = policyd1_file(shared_dir / "p.db")
    database.chmod(0o600)
    script = Path(sys.executable).with_name(SCRIPT)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(script)]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent"}
    probe = subprocess.run(
        [*nobody, "--version"], capture_output=True, timeout=30, check=False, env=env
    )
    if probe.returncode != 0:  # this interpreter lives where nobody may not read (pyenv)
        pytest.skip("user nobody cannot run this virtualenv's interpreter")
    done = subprocess.run(
        [*nobody, "-b", "policyd1", "-d", f"sqlite://{database}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )
    assert (done.returncode, done.stdout.splitlines(), done.stderr) == (
        3,
        [f"RATELIMIT_OFFENDERS UNKNOWN - sqlite://{database}: cannot read: Permission denied"],
        "",
    )


#: Passwords with every character a URL gives a meaning to.
ODD_PASSWORDS = ["p@ss", "pa#ss", "pa?ss=1&x", "pa/ss", "pa:ss", "p a s s", "pa%ss", "p@#?/: %"]


@pytest.mark.parametrize("password", ODD_PASSWORDS)
@pytest.mark.parametrize("scheme", ["mysql", "postgresql"])
def test_odd_passwords_raw_or_percent_encoded(scheme: str, password: str) -> None:
    for written in (password, quote(password, safe="")):
        if written == password and "%" in password:
            continue  # a literal % is written %25 (the userinfo is percent-decoded)
        parsed = dsn.parse(f"{scheme}://nagios:{written}@db1.example:4000/policyd")
        assert (parsed.user, parsed.password, parsed.host, parsed.port, parsed.database) == (
            "nagios",
            password,
            "db1.example",
            4000,
            "policyd",
        ), written
        assert password not in parsed.redacted()
        assert parsed.redacted() == f"{scheme}://nagios@db1.example:4000/policyd"


def test_ipv6_host_and_socket_parameters() -> None:
    parsed = dsn.parse("mysql://u:p@[2001:db8::1]:3307/db")
    assert (parsed.host, parsed.port, parsed.password) == ("2001:db8::1", 3307, "p")
    parsed = dsn.parse("mysql://u:p%3F@localhost/db?unix_socket=/run/mysqld/mysqld.sock")
    assert (parsed.socket, parsed.password) == ("/run/mysqld/mysqld.sock", "p?")
    parsed = dsn.parse("postgresql://u@/db?host=/run/postgresql")
    assert (parsed.socket, parsed.host, parsed.database) == ("/run/postgresql", "localhost", "db")


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u:SECRETpw?x=1@h:port/db",
        "mysql://u:SECRETpw#x@h/",
        "mysql://u:SECRETpw/x@h:port/db",
        "mysql://u:SECRETpw@h:port/db",
        "mysql://u:SECRETpw@h/db?x=1",
        "mysql://u:SECRETpw@h",
        "postgresql://u:SECRETpw@h/a/b",
        "postgresql://u:SECRET:pw@[::1/db",
    ],
)
def test_errors_never_show_the_password(url: str) -> None:
    try:
        dsn.parse(url)
    except dsn.DsnError as exc:
        assert "SECRET" not in str(exc)
    else:
        raise AssertionError(f"{url} parsed")


@services
@pytest.mark.parametrize("kind", ["mariadb", "postgresql"])
def test_real_servers_percent_encoded_and_odd_wrong_passwords(kind: str) -> None:
    need_server(kind)
    if kind == "mariadb":
        scheme, user, password, host, port, name = (
            "mysql",
            MYSQL["user"],
            str(MYSQL["password"]),
            MYSQL["host"],
            MYSQL["port"],
            MYSQL["database"],
        )
        backend = "policyd1"
    else:
        scheme, user, password, host, port, name = (
            "postgresql",
            POSTGRESQL["user"],
            str(POSTGRESQL["password"]),
            POSTGRESQL["host"],
            POSTGRESQL["port"],
            POSTGRESQL["dbname"],
        )
        backend = "cluebringer"
    every_char_encoded = "".join(f"%{b:02X}" for b in password.encode())
    url = f"{scheme}://{user}:{every_char_encoded}@{host}:{port}/{name}"
    with exclusive(kind):  # the test database is empty while we hold it
        done = run_script(SCRIPT, "-b", backend, "-d", url, "-vvv")
    # logged in: the schema is missing (UNKNOWN), not an authentication failure (CRITICAL)
    assert done.code == 3, done.stdout
    assert "not a" in done.status, done.status
    assert "authentication failed" not in done.status
    assert password not in done.stdout + done.stderr
    for wrong in ("W#r?o/n@g:1 %", "Wr@ng#pw"):
        url = f"{scheme}://{user}:{wrong}@{host}:{port}/{name}"
        done = run_script(SCRIPT, "-b", backend, "-d", url, "-vvv")
        assert done.code == 2, done.stdout
        assert done.status.startswith(
            f"RATELIMIT_OFFENDERS CRITICAL - {scheme}://{user}@{host}:{port}/{name}: "
        ), done.status
        assert "authentication failed" in done.status
        for piece in ("W#r", "o/n", "Wr@ng", "ng#pw"):
            assert piece not in done.stdout + done.stderr
