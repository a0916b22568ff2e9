"""asterisk-watch hardening (issue 14): secrets read verbatim (no INI interpolation), a
reloader that survives any bad configuration, an Icinga 2 client that refuses redirects,
one command per evaluation round, a quick reconnection after a restart, and log lines that
name their PBX."""

from __future__ import annotations

import http.server
import json
import re
import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SECRET, SLACK, wait_for
from tests.watch_helpers import WATCH, Daemon, Results, watch_config


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WATCH), "--check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


# -- item 5: no interpolation, a reloader that survives ------------------------------------
PERCENT_SECRETS = ["50%off-Qx", "a%%b-Qx", "x%(x)s-Qx", "%(host)s-Qx"]


@pytest.mark.parametrize("secret", PERCENT_SECRETS)
def test_a_secret_with_percent_signs_is_sent_verbatim(tmp_path, simulator, secret) -> None:
    sim = simulator("18", "pri_all_up", secret=secret)
    pbx = {"secret_file": "", "secret": secret}  # inline: the INI parser reads it
    config = watch_config(tmp_path, sim.port, {"PRI": "check_asterisk_pri"}, secret, pbx=pbx)
    checked = check_config(config)
    assert (checked.returncode, checked.stderr) == (0, "")
    assert checked.stdout.startswith(f"{config}: OK - 1 PBX(s), 1 service(s)")
    results = Results(tmp_path / "results.cmd")
    with Daemon(config) as daemon:
        got = results.wait_for("PRI", lambda c, t: True, seconds=10)
        log = daemon.log
    assert got is not None and got[1].startswith("ASTERISK_PRI OK - 4 of 4 spans up"), log
    assert [a.get("secret") for a in sim.actions("Login")] == [secret]
    assert secret not in log and "Qx" not in log and "Traceback" not in log


def test_a_percent_sign_elsewhere_is_kept_too(tmp_path) -> None:
    from isp_plugins.watch.config import parse

    settings = parse(
        "[watch]\nnagios_command_file = /tmp/100%.cmd\n"
        "[pbx a]\nuser = m%1\nsecret = s%(x)s\nservice P 100% = check_asterisk_pri\n"
    )
    assert settings.nagios_command_file == "/tmp/100%.cmd"
    pbx = settings.pbxs[0]
    assert (pbx.user, pbx.secret, pbx.services[0].name) == ("m%1", "s%(x)s", "P 100%")


def _not_utf8(path: Path) -> None:
    path.write_bytes(b"[watch]\nnagios_command_file = /tmp/\xff\xfe\n")


def test_sighup_with_broken_configs_keeps_running_then_reloads_and_stops_cleanly(
    tmp_path, simulator
) -> None:
    secret = "Rl-" + SECRET
    sim = simulator("18", "pri_all_up", secret=secret)
    pbx = {"secret_file": "", "secret": secret}
    config = watch_config(tmp_path, sim.port, {"PRI": "check_asterisk_pri"}, secret, pbx=pbx)
    good = config.read_text()
    garbage_ca = tmp_path / "not-a-ca.pem"
    garbage_ca.write_text(f"not a certificate {secret}\n")
    credentials = tmp_path / "icinga.credentials"
    credentials.write_text("watch:Icinga-pw-77\n")
    icinga = (
        f"icinga_url = https://127.0.0.1:1\nicinga_credentials_file = {credentials}\n"
        f"icinga_ca_file = {garbage_ca}\n"
    )
    broken = [
        ("missing", lambda p: p.unlink()),
        ("not UTF-8", _not_utf8),
        ("syntax", lambda p: p.write_text(good + "this line is no key\n")),
        ("value", lambda p: p.write_text(good.replace("interval = 5", "interval = soon"))),
        ("CA file", lambda p: p.write_text(good.replace("[watch]\n", "[watch]\n" + icinga))),
    ]
    results = Results(tmp_path / "results.cmd")
    daemon = Daemon(config)
    try:
        assert results.wait_for("PRI", lambda c, t: c == 0), daemon.log
        for count, (what, breaks) in enumerate(broken, 1):
            breaks(config)
            daemon.signal(signal.SIGHUP)
            assert wait_for(
                lambda n=count: daemon.log.count("configuration not reloaded") >= n, 10
            ), f"{what}: {daemon.log}"
        config.write_text(good + "service PRI strict = check_asterisk_pri -n 5\n")
        daemon.signal(signal.SIGHUP)
        got = results.wait_for("PRI strict", lambda c, t: True, seconds=10)
        alive = daemon.process.poll() is None
    finally:
        code = daemon.stop()
    log = daemon.log
    assert alive, log
    assert got is not None and got[0] == 1, log
    assert code == 0, log
    assert len(sim.actions("Logoff")) == 1, log
    assert log.rstrip().endswith("INFO stopped"), log
    assert "Traceback" not in log
    assert secret not in log and "Icinga-pw-77" not in log, log
    errors = [line for line in log.splitlines() if "configuration not reloaded" in line]
    assert len(errors) == len(broken), log
    assert all(line.startswith("ERROR configuration not reloaded") for line in errors), log
    assert "not UTF-8" in errors[1]
    assert "interval = 'soon' is not a number" in errors[3]
    assert f"icinga_ca_file {garbage_ca}" in errors[4]
    assert "configuration reloaded: 1 PBX(s), 2 service(s)" in log


def test_an_icinga_ca_file_that_is_not_a_certificate_is_a_config_error(tmp_path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("junk\n")
    credentials = tmp_path / "credentials"
    credentials.write_text("watch:pw-Secret-55\n")
    config = watch_config(
        tmp_path,
        5038,
        {"PRI": "check_asterisk_pri"},
        SECRET,
        {
            "icinga_url": "https://127.0.0.1:5665",
            "icinga_credentials_file": str(credentials),
            "icinga_ca_file": str(garbage),
        },
    )
    done = check_config(config)
    assert done.returncode == 2
    assert done.stderr == (
        f"asterisk-watch: {config}: [watch] icinga_ca_file {garbage} holds no usable "
        "CA certificate\n"
    )


# -- item 6: the Icinga 2 client refuses redirects -----------------------------------------
class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every POST as Icinga 2 would, and records what it was sent."""

    seen: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.seen.append({"path": self.path, "authorization": self.headers.get("Authorization")})
        body = json.dumps({"results": [{"code": 200, "status": "Successfully processed"}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


class _Redirector(http.server.BaseHTTPRequestHandler):
    status = 301
    location = ""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(self.status)
        self.send_header("Location", self.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _serve(handler: type[http.server.BaseHTTPRequestHandler], context: Any = None) -> Any:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def icinga_pair(tmp_path) -> Iterator[tuple[Any, Any, Any, list[dict[str, Any]], Path]]:
    """An HTTPS 'Icinga' that redirects, and a plain HTTP one on another port that records."""
    import trustme

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    seen: list[dict[str, Any]] = []
    recorder = _serve(type("Recorder", (_Recorder,), {"seen": seen}))
    redirector_class = type("Redirector", (_Redirector,), {})
    redirector = _serve(redirector_class, context)
    yield redirector, redirector_class, recorder, seen, ca_file
    for server in (redirector, recorder):
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_the_icinga_client_does_not_follow_a_redirect(caplog, icinga_pair, status) -> None:
    from isp_plugins.watch.config import IcingaConfig
    from isp_plugins.watch.outputs import IcingaApi, OutputError, PassiveResult
    from isp_plugins.watch.publisher import Publisher
    from isp_plugins.watch.services import Outcome

    redirector, redirector_class, recorder, seen, ca_file = icinga_pair
    target = f"http://127.0.0.1:{recorder.server_port}/v1/actions/process-check-result"
    redirector_class.status = status
    redirector_class.location = target
    url = f"https://127.0.0.1:{redirector.server_port}"
    api = IcingaApi(IcingaConfig(url, str(ca_file), "watch", "Api-Pw-31"))
    result = PassiveResult("pbx1", "PRI", 0, "ASTERISK_PRI OK - 4 of 4 spans up", 1.0)
    with pytest.raises(OutputError) as raised:
        api.send([result])
    message = str(raised.value)
    assert message == (
        f"Icinga 2 API {url}: refused to follow HTTP {status} redirect to {target} "
        "(set icinga_url to where the API really is)"
    )
    # Through the publisher: a failure, logged in one line, kept to be tried again.
    service = type("S", (), {"key": ("pbx1", "PRI"), "host_name": "pbx1", "name": "PRI"})()
    publisher = Publisher([api], heartbeat=60)
    try:
        with caplog.at_level("ERROR", logger="asterisk_watch"):
            queued = publisher.publish(service, Outcome(0, "ASTERISK_PRI OK"))  # type: ignore[arg-type]
            assert wait_for(lambda: "cannot report" in caplog.text, 10)
            assert publisher.flush(0.2) is False  # not delivered, still waiting
    finally:
        publisher.close(0)
    assert queued is True
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"cannot report pbx1/PRI: {message}"
    ]
    assert seen == []  # never contacted, with or without the credentials
    assert "Api-Pw-31" not in caplog.text


def test_a_redirect_location_with_credentials_is_not_logged(icinga_pair) -> None:
    from isp_plugins.watch.config import IcingaConfig
    from isp_plugins.watch.outputs import IcingaApi, OutputError, PassiveResult

    redirector, redirector_class, recorder, seen, ca_file = icinga_pair
    redirector_class.status = 302
    redirector_class.location = f"https://u:Loc-pw-9@127.0.0.1:{recorder.server_port}/x"
    url = f"https://127.0.0.1:{redirector.server_port}"
    api = IcingaApi(IcingaConfig(url, str(ca_file), "watch", "Api-Pw-31"))
    with pytest.raises(OutputError) as raised:
        api.send([PassiveResult("pbx1", "PRI", 0, "ASTERISK_PRI OK", 1.0)])
    assert "Loc-pw-9" not in str(raised.value) and "Api-Pw-31" not in str(raised.value)
    assert f"redirect to https://127.0.0.1:{recorder.server_port}/x " in str(raised.value)
    assert seen == []


# -- item 12e: one command per round, quick reconnection, PBX-named log lines --------------
def test_pri_and_bri_services_share_one_pri_show_spans_per_round(tmp_path, simulator) -> None:
    sim = simulator("18", "bri_dahdi_mixed_pri")
    services = {"PRI": "check_asterisk_pri", "BRI": "check_asterisk_bri --source dahdi"}
    config = watch_config(tmp_path, sim.port, services, SECRET, {"interval": "600"})
    results = Results(tmp_path / "results.cmd")

    def commands() -> list[str]:
        return [a.get("command", "") for a in sim.actions("Command")]

    with Daemon(config) as daemon:
        assert results.wait_for("PRI", lambda c, t: True), daemon.log
        assert results.wait_for("BRI", lambda c, t: True), daemon.log
        time.sleep(0.5)
        first = commands()
        sim.emit("SpanAlarm", Span="1", Alarm="Red Alarm")  # one more round, both services
        assert wait_for(lambda: commands().count("pri show spans") > 1, 10), daemon.log
        time.sleep(1)
        both = commands()
        log = daemon.log
    # A round sends `pri show spans` once and each span's detail once, whichever services ask;
    # how many rounds ran (the login's and FullyBooted's may be one or two) is up to timing.
    for sent in (first, both):
        rounds = sent.count("pri show spans")
        details = {c for c in sent if c.startswith("pri show span ")}
        assert rounds >= 1 and details, sent
        assert all(sent.count(detail) == rounds for detail in details), sent
        assert len(sent) == rounds * (1 + len(details)), sent
    assert both.count("pri show spans") > first.count("pri show spans"), both
    assert results.last("PRI") is not None and results.last("BRI") is not None, log


def test_the_backoff_schedule() -> None:
    from isp_plugins.watch import (
        AUTH_RETRY,
        BACKOFF_FIRST,
        BACKOFF_MAX,
        CONNECT_RETRY,
    )
    from isp_plugins.watch.supervisor import Backoff, Failure

    backoff = Backoff()
    delays = [backoff.after(Failure.OTHER) for _ in range(9)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert (BACKOFF_FIRST, BACKOFF_MAX) == (1, 60)
    # A refused connection costs the PBX nothing: retried every CONNECT_RETRY seconds,
    # however long the back-off has grown, so a restarted Asterisk is found within it.
    assert [backoff.after(Failure.REFUSED) for _ in range(20)] == [CONNECT_RETRY] * 20
    assert CONNECT_RETRY <= 1
    # fail2ban: a rejected login waits AUTH_RETRY at least, and so does what follows it.
    backoff.reset()
    assert backoff.after(Failure.AUTH) == AUTH_RETRY == 60
    assert backoff.after(Failure.OTHER) >= 2
    # A healthy session starts the schedule over; one that dies at once does not.
    backoff.reset()
    assert backoff.after(Failure.LOST) == BACKOFF_FIRST
    assert backoff.after(Failure.LOST) == 2 * BACKOFF_FIRST


def test_a_restarted_asterisk_is_found_within_a_second_of_coming_back(tmp_path, simulator) -> None:
    from isp_plugins.watch import CONNECT_RETRY

    sim = simulator("18", "pri_all_up")
    config = watch_config(tmp_path, sim.port, {"PRI": "check_asterisk_pri"}, SECRET)
    results = Results(tmp_path / "results.cmd")
    with Daemon(config) as daemon:
        assert results.wait_for("PRI", lambda c, t: c == 0), daemon.log
        # Down 9 s: the old back-off (1, 2, 4, 8 s) tried at +1, +3, +7, then +15 s.
        sim.restart(down=9)  # returns once the port is open again
        back = time.monotonic()
        assert wait_for(lambda: len(sim.actions("Login")) == 2, 20), daemon.log
        late = time.monotonic() - back
        log = daemon.log
    assert late <= CONNECT_RETRY + SLACK, log
    # A connection refused every second is logged once, not every second.
    refused = [line for line in log.splitlines() if "connection refused" in line]
    assert len(refused) == 1, log
    assert refused[0] == (
        f"WARNING pbx1: cannot connect to AMI at 127.0.0.1:{sim.port}: connection refused"
    )


def _two_pbx_config(tmp_path: Path, first: int, second: int) -> Path:
    secret = tmp_path / "ami.secret"
    secret.write_text(SECRET + "\n")
    text = f"[watch]\ninterval = 600\nnagios_command_file = {tmp_path / 'results.cmd'}\n"
    for name, port in (("alpha", first), ("beta", second)):
        text += (
            f"[pbx {name}]\nhost = 127.0.0.1\nport = {port}\nuser = monitor\n"
            f"secret_file = {secret}\nservice PRI = check_asterisk_pri\n"
        )
    (tmp_path / "results.cmd").touch()
    path = tmp_path / "watch.ini"
    path.write_text(text)
    return path


#: The daemon-wide lines: every other one is about one PBX and names it.
DAEMON_WIDE = re.compile(
    r"^(INFO|DEBUG) (watching \d+ PBX|stopping: logging off|stopped$|SIGHUP|configuration )"
)


def test_every_log_line_about_a_session_names_its_pbx(tmp_path, simulator) -> None:
    first, second = simulator("18", "pri_all_up"), simulator("18", "pri_span3_alarm")
    config = _two_pbx_config(tmp_path, first.port, second.port)
    results = Results(tmp_path / "results.cmd")
    with Daemon(config, "--log-level", "debug") as daemon:
        assert wait_for(lambda: len(results.all()) == 2, 10), daemon.log
        first.restart(down=0.2)
        assert wait_for(lambda: len(first.actions("Login")) == 2, 10), daemon.log
        time.sleep(0.5)
    log = daemon.log
    assert f"INFO alpha: connected to 127.0.0.1:{first.port}" in log
    assert f"INFO beta: connected to 127.0.0.1:{second.port}" in log
    assert "DEBUG alpha: sending Action: Logoff" in log
    assert "INFO beta: 'pri show spans': " in log  # the plugin's own lines, in a worker thread
    lines = log.splitlines()
    anonymous = [
        line
        for line in lines
        if not DAEMON_WIDE.match(line) and not re.match(r"^\w+ (alpha|beta)[:/]", line)
    ]
    assert anonymous == [], log
    assert "Traceback" not in log and SECRET not in log
