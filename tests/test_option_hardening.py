"""Options that used to slip through: a timeout that is not a number of seconds, an empty host,
and a user, secret or host that cannot go on the wire (not valid UTF-8), at every verbosity."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from asterisk_ami.simulator import Simulator
from isp_plugins.checks import AMI_CHECKS, CHECKS, CheckInfo

Start = Callable[..., Simulator]
#: A secret as a Latin-1 manager.conf or shell would hold it: "pässwort" with ä as one byte.
RAW_SECRET = b"p\xe4sswort"
SECRET_ARG = os.fsdecode(RAW_SECRET)  # how Python hands it over: 'p\udce4sswort'
#: Every form the secret could take in output: raw, repr'd, escaped, decoded some other way.
SECRET_FORMS = [
    RAW_SECRET,
    RAW_SECRET.decode("latin-1").encode("utf-8"),
    repr(SECRET_ARG)[1:-1].encode(),  # p\udce4sswort
    SECRET_ARG.encode("utf-8", "backslashreplace"),
    SECRET_ARG.encode("unicode_escape"),
    repr(RAW_SECRET)[2:-1].encode(),  # p\xe4sswort
    b"p\xef\xbf\xbdsswort",  # p + U+FFFD
    b"p?sswort",
    b"sswort",  # any part after the bad byte
]


def run_bytes(script: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Exit code and stdout + stderr as bytes: a secret that is not UTF-8 must be findable."""
    path = Path(sys.executable).with_name(script)
    environment = {k: v for k, v in os.environ.items() if k != "ASTERISK_AMI_SECRET"}
    environment.update(env or {})
    done = subprocess.run(
        [str(path), *args], capture_output=True, env=environment, timeout=30, check=False
    )
    return done.returncode, done.stdout + done.stderr


# -- item 10: -t nan / inf, -H '' -----------------------------------------------------------
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e300", "0", "-1"])
@pytest.mark.parametrize("check", CHECKS, ids=[check.script for check in CHECKS])
def test_timeout_must_be_seconds(check: CheckInfo, value: str) -> None:
    """The -t type is shared: every plugin of the registry refuses what is not a duration."""
    code, out = run_bytes(check.script, "-t", value)
    line = out.decode()
    assert code == 3, line
    assert line.startswith(f"{check.name} UNKNOWN - Invalid value for '-t' / '--timeout': "), line
    assert line.endswith(" (see --help)\n") and line.count("\n") == 1, line
    assert "internal error" not in line


def test_timeout_messages() -> None:
    prefix = "ASTERISK_PRI UNKNOWN - Invalid value for '-t' / '--timeout': "
    for value, reason in [
        ("nan", "'nan' is not a number of seconds."),
        ("inf", "inf is not in the range 0<x<=86400."),
        ("1e300", "1e+300 is not in the range 0<x<=86400."),
    ]:
        code, out = run_bytes("check_asterisk_pri", "-U", "u", "-P", "x", "-t", value)
        assert (code, out.decode()) == (3, f"{prefix}{reason} (see --help)\n")


@pytest.mark.parametrize("host", ["", " ", "[]", "pbx 1"])
@pytest.mark.parametrize("check", AMI_CHECKS, ids=[check.script for check in AMI_CHECKS])
def test_empty_or_spaced_host_is_a_bad_option(check: CheckInfo, host: str) -> None:
    code, out = run_bytes(check.script, "-U", "u", "-P", "x", "-H", host, "-t", "2")
    assert (code, out.decode()) == (
        3,
        f"{check.name} UNKNOWN - the hostname must not be empty or contain white space "
        "(see --help)\n",
    )


# -- item 4: user, secret or host that is not valid UTF-8 -----------------------------------
def assert_no_secret(out: bytes) -> None:
    for form in SECRET_FORMS:
        assert form not in out, (form, out)
    assert b"Traceback" not in out


@pytest.mark.parametrize("auth", ["plain", "md5"])
@pytest.mark.parametrize("how", ["env", "-P"])
def test_secret_not_utf8_is_refused_before_connecting(
    simulator: Start, how: str, auth: str
) -> None:
    sim = simulator("22")
    args = ["-p", str(sim.port), "-U", "monitor", "--auth", auth, "-vvv", "-t", "3"]
    env = {}
    if how == "env":
        env["ASTERISK_AMI_SECRET"] = SECRET_ARG
    else:
        args += ["-P", SECRET_ARG]
    code, out = run_bytes("check_asterisk_pri", *args, env=env)
    assert (code, out) == (
        3,
        b"ASTERISK_PRI UNKNOWN - the secret is not valid UTF-8 text (see --help)\n",
    )
    assert_no_secret(out)
    assert sim.connections == 0


def test_secret_file_not_utf8(simulator: Start, tmp_path: Path) -> None:
    sim = simulator("22")
    path = tmp_path / "ami.secret"
    path.write_bytes(RAW_SECRET + b"\n")
    code, out = run_bytes(
        "check_asterisk_pri", "-p", str(sim.port), "-U", "monitor", "--secret-file", str(path),
        "-vvv",
    )  # fmt: skip
    assert (code, out.decode()) == (
        3,
        f"ASTERISK_PRI UNKNOWN - cannot read secret file {path}: not UTF-8 text (see --help)\n",
    )
    assert_no_secret(out)
    assert sim.connections == 0


@pytest.mark.parametrize(("option", "what"), [("-U", "username"), ("-H", "hostname")])
def test_user_or_host_not_utf8(simulator: Start, option: str, what: str) -> None:
    sim = simulator("22")
    args = {"-U": "monitor", "-H": "127.0.0.1", option: SECRET_ARG}
    code, out = run_bytes(
        "check_asterisk_pri", "-p", str(sim.port), "-P", "x", "-vvv",
        *(x for pair in args.items() for x in pair),
    )  # fmt: skip
    assert (code, out.decode()) == (
        3,
        f"ASTERISK_PRI UNKNOWN - the {what} is not valid UTF-8 text (see --help)\n",
    )
    assert sim.connections == 0


@pytest.mark.parametrize("secret", [SECRET_ARG, "s3cret-Zq81", 'it\'s \\ "quoted"'])
def test_redaction_hides_every_form(secret: str) -> None:
    """The filter on the plugin's log hides the secret however a record carries it."""
    import io
    import logging

    from isp_plugins.runtime.run import RedactSecret

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecret(secret))
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("Fail to send %r", {"Secret": secret})
        logger.warning("as is: %s, ascii: %a", secret, secret)
        try:
            raise ValueError(secret)
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert text.count("(hidden)") >= 4, text
    for form in [secret, repr(secret)[1:-1], ascii(secret)[1:-1]]:
        assert form not in text, (form, text)
    assert "Traceback" in text  # the traceback stays, without the secret
