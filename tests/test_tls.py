"""AMI over TLS: a good certificate, a wrong name, an untrusted CA, and a plain port."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest
import trustme

from asterisk_ami.simulator import Simulator
from tests.conftest import SECRET, PluginRun, run_script

Start = Callable[..., Simulator]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.fixture
def tls_simulator(simulator: Start, ca: trustme.CA) -> Iterator[Callable[..., Simulator]]:
    def start(*names: str, **options: object) -> Simulator:
        return simulator(tls=server_context(ca, *names), **options)

    yield start


def plugin(sim: Simulator, *args: str) -> PluginRun:
    run = run_script(
        "check_asterisk_pri", "-p", str(sim.port), "-U", "monitor", "-P", SECRET, *args
    )
    assert run.stderr == ""
    return run


OK = (
    "ASTERISK_PRI OK - 4 of 4 spans up | spans_alarm=0;;;0;4 spans_down=0;;;0;4 "
    "spans_up=4;4:;1:;0;4"
)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_good_certificate(
    tls_simulator: Callable[..., Simulator], ca_file: Path, host: str
) -> None:
    sim = tls_simulator("localhost", "127.0.0.1")
    run = plugin(sim, "-H", host, "--tls", "--ca-file", str(ca_file))
    assert (run.code, run.status) == (0, OK)
    assert not any("warning" in line for line in run.lines)
    assert sim.actions("login")[0]["secret"] == SECRET  # the secret crossed inside TLS


def test_wrong_host_name(tls_simulator: Callable[..., Simulator], ca_file: Path) -> None:
    sim = tls_simulator("pbx.example.net")
    run = plugin(sim, "--tls", "--ca-file", str(ca_file))
    assert (run.code, run.status) == (
        2,
        f"ASTERISK_PRI CRITICAL - TLS certificate of 127.0.0.1:{sim.port} rejected: "
        "IP address mismatch, certificate is not valid for '127.0.0.1'",
    )
    assert sim.received == []  # nothing, least of all the secret, went to that server


def test_untrusted_certificate(tls_simulator: Callable[..., Simulator]) -> None:
    sim = tls_simulator("127.0.0.1")
    run = plugin(sim, "--tls")
    assert (run.code, run.status) == (
        2,
        f"ASTERISK_PRI CRITICAL - TLS certificate of 127.0.0.1:{sim.port} rejected: "
        "unable to get local issuer certificate",
    )
    assert sim.received == []


def test_insecure_accepts_and_says_so(tls_simulator: Callable[..., Simulator]) -> None:
    sim = tls_simulator("pbx.example.net")
    run = plugin(sim, "--tls", "--insecure")
    assert (run.code, run.status) == (0, OK)
    assert run.lines[1] == "warning: the AMI TLS certificate was not verified (--insecure)"


def test_plain_server_on_the_tls_port(simulator: Start, ca_file: Path) -> None:
    sim = simulator()
    run = plugin(sim, "--tls", "--ca-file", str(ca_file))
    assert (run.code, run.status) == (
        2,
        f"ASTERISK_PRI CRITICAL - TLS handshake with 127.0.0.1:{sim.port} failed: wrong "
        "version number (is TLS enabled on this port?)",
    )


@pytest.mark.parametrize("timeout", ["1", "10"])
def test_plain_client_on_a_tls_port(tls_simulator: Callable[..., Simulator], timeout: str) -> None:
    """A TLS listener says nothing until the client's hello: after a short silence the check
    sends a plain Challenge, which the listener fails as a handshake and closes on (no need to
    wait for -t). Nothing, least of all a Login, goes to it."""
    sim = tls_simulator("127.0.0.1")
    run = plugin(sim, "-t", timeout)
    assert (run.code, run.status) == (
        2,
        f"ASTERISK_PRI CRITICAL - no AMI greeting from 127.0.0.1:{sim.port}: it closed the "
        "connection when sent plain text (is this a TLS port? try --tls)",
    )
    assert run.seconds < 1 + 3  # the probe goes out after 1 s of silence at most
    assert sim.received == []


def test_tls_alert_as_greeting(simulator: Start) -> None:
    """A TLS stack that answers plain bytes with an alert (0x15 0x03 ...) is told at once."""
    sim = simulator(failure="tls-alert")
    run = plugin(sim, "-t", "10")
    assert (run.code, run.status) == (
        2,
        f"ASTERISK_PRI CRITICAL - no AMI greeting from 127.0.0.1:{sim.port}: it answers in TLS "
        "(is this a TLS port? try --tls)",
    )
    assert run.seconds < 1 + 3
    assert sim.actions("Login") == []


def test_tls_defaults_to_port_5039() -> None:
    run = run_script("check_asterisk_pri", "-U", "monitor", "-P", SECRET, "--tls", "-t", "2")
    assert run.code == 2 and ":5039: connection refused" in run.status


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--insecure",), "--ca-file and --insecure apply to --tls only"),
        (("--tls", "--insecure", "--ca-file", "x.pem"), "give --ca-file or --insecure, not both"),
        (
            ("--tls", "--ca-file", "/nonexistent/ca.pem"),
            "cannot load CA file /nonexistent/ca.pem: No such file or directory",
        ),
    ],
)
def test_tls_option_errors(args: tuple[str, ...], message: str) -> None:
    run = run_script("check_asterisk_pri", "-U", "monitor", "-P", SECRET, *args)
    assert (run.code, run.stdout) == (3, f"ASTERISK_PRI UNKNOWN - {message} (see --help)\n")
