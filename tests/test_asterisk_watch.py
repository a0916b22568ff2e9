"""asterisk-watch against the AMI simulator: the same text as the active plugins, events,
the interval, heartbeats, reconnecting, stale sessions, fail2ban-safe logins, SIGHUP, SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import pytest

from asterisk_ami.session import Session, Target
from tests.conftest import SECRET, run_script
from tests.watch_helpers import WATCH, Daemon, Results, watch_config


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WATCH), "--check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


# -- configuration ------------------------------------------------------------------------
def test_check_config_accepts_a_good_file_and_says_what_it_watches(tmp_path) -> None:
    path = watch_config(
        tmp_path,
        5038,
        {"PRI spans": "check_asterisk_pri -w 2 -c 1 -n 4", "DAHDI": "check_asterisk_dahdi"},
        SECRET,
    )
    done = check_config(path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        f"{path}: OK - 1 PBX(s), 2 service(s), reporting to command file "
        f"{tmp_path / 'results.cmd'}\n"
    )


def test_the_shipped_example_is_valid(tmp_path) -> None:
    import trustme

    example = Path(__file__).resolve().parent.parent / "nagios-config" / "asterisk-watch.ini"
    text = example.read_text(encoding="utf-8")
    # Point its secret and credentials files at readable ones; the rest stays as shipped.
    secret = tmp_path / "secret"
    secret.write_text("x\n")
    credentials = tmp_path / "credentials"
    credentials.write_text("asterisk-watch:pw\n")
    for line in text.splitlines():
        key = line.split("=")[0].strip()
        if key in ("secret_file", "icinga_credentials_file"):
            value = credentials if key == "icinga_credentials_file" else secret
            text = text.replace(line, f"{key} = {value}")
        if key == "icinga_ca_file":  # loaded at --check-config: a real CA certificate
            ca_file = tmp_path / "ca.pem"
            trustme.CA().cert_pem.write_to_path(str(ca_file))
            text = text.replace(line, f"icinga_ca_file = {ca_file}")
    path = tmp_path / "example.ini"
    path.write_text(text)
    done = check_config(path)
    assert done.returncode == 0, done.stderr
    assert "service(s)" in done.stdout


BAD_CONFIGS = {
    "[watch]\nnagios_command_file = /tmp/x\n": "no [pbx NAME] section: nothing to watch",
    "[watch]\nnagios_command_file = /tmp/x\n[pbx a]\nuser = m\nsecret = s\n": (
        "[pbx a] has no service (service NAME = check_asterisk_...)"
    ),
    "[pbx a]\nuser = m\nsecret = s\nservice P = check_asterisk_pri\n": (
        "[watch] needs nagios_command_file or icinga_url: nowhere to report"
    ),
    "[watch]\nnagios_command_file = /x\n[pbx a]\nuser = m\nsecret = s\nservice P = check_x\n": (
        "[pbx a] service P: 'check_x' is not one of check_asterisk_bri, check_asterisk_dahdi, "
        "check_asterisk_fxo, check_asterisk_peers, check_asterisk_pri"
    ),
    "[watch]\nnagios_command_file = /x\n[pbx a]\nuser = m\nsecret = s\n"
    "service P = check_asterisk_pri -w abc\n": (
        "[pbx a] service P: Invalid value for '-w' / '--warning': 'abc' is neither a whole "
        "number nor a range like 3: or @0:1"
    ),
    "[watch]\nnagios_command_file = /x\n[pbx a]\nuser = m\nsecret = s\n"
    "service P = check_asterisk_pri -H other\n": (
        "[pbx a] service P: -H/--hostname belongs in the [pbx] section"
    ),
    "[watch]\nnagios_command_file = /x\n[pbx a]\nuser = m\nsecret = s\n"
    "service P = check_asterisk_pri -U other\n": (
        "[pbx a] service P: -U/--username belongs in the [pbx] section (user =)"
    ),
    "[watch]\nnagios_command_file = /x\n[pbx a]\nuser = m\nsecret_file = /nonexistent\n"
    "service P = check_asterisk_pri\n": (
        "cannot read secret file /nonexistent: No such file or directory"
    ),
    "[watch]\nnagios_command_file = /x\ninterval = soon\n[pbx a]\nuser = m\nsecret = s\n"
    "service P = check_asterisk_pri\n": "[watch] interval = 'soon' is not a number",
    "[watch]\nnagios_command_file = /x\n[pbx a]\nuser = m\nsecret = s\nservice P = "
    "check_asterisk_pri\nservice P = check_asterisk_dahdi\n": (
        "While reading from"  # configparser's own duplicate-key error, first line
    ),
    "not an ini file\n": "File contains no section headers.",
}


@pytest.mark.parametrize("text", list(BAD_CONFIGS))
def test_a_bad_config_is_one_line_and_exit_2(tmp_path, text) -> None:
    path = tmp_path / "bad.ini"
    path.write_text(text.replace("secret = s", "secret = hunter2-secret"))
    for args in (["--check-config", str(path)], ["--config", str(path)]):
        done = subprocess.run(
            [str(WATCH), *args], capture_output=True, text=True, timeout=30, check=False
        )
        assert done.returncode == 2
        assert done.stdout == ""
        lines = done.stderr.splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith(f"asterisk-watch: {path}: ")
        assert BAD_CONFIGS[text] in lines[0]
        assert "Traceback" not in done.stderr and "hunter2" not in done.stderr


# -- the same text as the active plugin ---------------------------------------------------
SAME_TEXT = [
    ("pri_span3_alarm", "check_asterisk_pri", "-n 4 -w 3 -c 1"),
    ("pri_all_up", "check_asterisk_pri", "-v --calls"),
    ("pri_layer2_down", "check_asterisk_pri", ""),
    ("fxo_no_battery", "check_asterisk_fxo", ""),
    ("dahdi_red_alarm", "check_asterisk_dahdi", "--span 1-4"),
    ("dahdi_red_alarm", "check_asterisk_dahdi", "-v"),
    ("bri_dahdi_mixed_pri", "check_asterisk_bri", "--idle-ok"),
    ("no_libpri", "check_asterisk_pri", ""),
    ("peers_lab", "check_asterisk_peers", "-v"),
]


@pytest.mark.parametrize(("scenario", "plugin", "args"), SAME_TEXT)
def test_the_watcher_reports_exactly_what_the_plugin_prints(
    tmp_path, simulator, scenario, plugin, args
) -> None:
    sim = simulator("18", scenario)
    active = run_script(
        plugin, "-H", "127.0.0.1", "-p", str(sim.port), "-U", "monitor", "-P", SECRET,
        *args.split(),
    )  # fmt: skip
    config = watch_config(tmp_path, sim.port, {"svc": f"{plugin} {args}"}, SECRET)
    with Daemon(config) as daemon:
        got = Results(tmp_path / "results.cmd").wait_for("svc", lambda c, t: True)
        log = daemon.log
    assert got == (active.code, active.stdout.rstrip("\n")), log
    assert SECRET not in log


# -- events, interval, heartbeat ----------------------------------------------------------
def test_a_span_alarm_event_is_reported_at_once(tmp_path, simulator) -> None:
    sim = simulator("18", "pri_all_up")
    watch = {"interval": "600"}  # only the event can explain a fast report
    config = watch_config(tmp_path, sim.port, {"PRI": "check_asterisk_pri -n 4"}, SECRET, watch)
    results = Results(tmp_path / "results.cmd")
    with Daemon(config) as daemon:
        assert results.wait_for("PRI", lambda c, t: c == 0)
        time.sleep(0.3)
        sim.set_scenario("pri_span3_alarm", {"Event": "SpanAlarm", "Span": "3", "Alarm": "Red"})
        # Within seconds, not the 600 s interval (the latency goal: benchmarks/bench_watch.py).
        code, text = results.wait_for("PRI", lambda c, t: c == 1, seconds=5) or (None, "")
        log = daemon.log
    assert (code, text.split("\n")[0]) == (
        1,
        "ASTERISK_PRI WARNING - 3 of 4 spans up - in alarm: 3 | spans_alarm=1;;;0;4 "
        "spans_down=1;;;0;4 spans_up=3;4:;1:;0;4",
    )
    assert "pbx1: event SpanAlarm (Privilege: system,all, Span: 3, Alarm: Red)" in log


def test_a_layer2_drop_without_event_is_found_by_the_interval(tmp_path, simulator) -> None:
    sim = simulator("18", "pri_all_up")
    config = watch_config(
        tmp_path, sim.port, {"PRI": "check_asterisk_pri -n 4"}, SECRET, {"interval": "0.5"}
    )
    results = Results(tmp_path / "results.cmd")
    with Daemon(config):
        assert results.wait_for("PRI", lambda c, t: c == 0)
        sim.set_scenario("pri_layer2_down")  # no event: only polling sees it
        got = results.wait_for("PRI", lambda c, t: c != 0, seconds=3)
    assert got is not None and got[0] != 0
    assert sim.connections == 1  # every evaluation over the one session
    assert len(sim.actions("Login")) == 1


def test_unchanged_results_go_out_only_as_heartbeats(tmp_path, simulator) -> None:
    sim = simulator("18", "pri_all_up")
    watch = {"interval": "0.2", "heartbeat": "1"}
    config = watch_config(tmp_path, sim.port, {"PRI": "check_asterisk_pri"}, SECRET, watch)
    results = Results(tmp_path / "results.cmd")
    with Daemon(config):
        assert results.wait_for("PRI", lambda c, t: True)
        time.sleep(3.2)
    sent = [r for r in results.all() if r[0] == "PRI"]
    # About 16 evaluations; the first result and a heartbeat each second (plus one of slack),
    # fewer of both on a loaded machine: many evaluations, few results.
    assert 2 <= len(sent) <= 5, sent
    assert len({r[1:] for r in sent}) == 1
    assert len(sim.actions("Command")) >= 2 * len(sent)


# -- lost sessions ------------------------------------------------------------------------
def test_a_pbx_restart_reconnects_and_reports_the_change(tmp_path, simulator) -> None:
    sim = simulator("18", "pri_all_up")
    watch = {"interval": "600", "stale": "30"}
    config = watch_config(tmp_path, sim.port, {"PRI": "check_asterisk_pri -n 4"}, SECRET, watch)
    results = Results(tmp_path / "results.cmd")
    with Daemon(config) as daemon:
        assert results.wait_for("PRI", lambda c, t: c == 0)
        sim.scenario = "pri_span3_alarm"  # it comes back with a span down, and no SpanAlarm
        sim.restart(down=0.5)
        got = results.wait_for("PRI", lambda c, t: c == 1, seconds=6)
        log = daemon.log
    assert got is not None and got[0] == 1, log
    assert sim.connections == 2
    assert "pbx1: session lost: Asterisk is shutting down" in log
    assert log.count("pbx1: logged in to") == 2


def test_a_session_lost_longer_than_stale_is_unknown_then_recovers(tmp_path, simulator) -> None:
    sim = simulator("18", "pri_all_up")
    watch = {"interval": "1", "stale": "1"}
    config = watch_config(tmp_path, sim.port, {"PRI": "check_asterisk_pri"}, SECRET, watch)
    results = Results(tmp_path / "results.cmd")
    with Daemon(config):
        assert results.wait_for("PRI", lambda c, t: c == 0)
        # Down for 8 s with stale at 1 s: room for a loaded machine (a 4 s window once missed
        # the UNKNOWN in CI's Python 3.13 run, 4 workers on 2 cores).
        sim.restart(down=8)
        lost = results.wait_for("PRI", lambda c, t: c == 3, seconds=8)
        back = results.wait_for("PRI", lambda c, t: c == 0, seconds=20)
    # The reason is the latest one: the reconnection attempts find the port closed.
    assert lost == (
        3,
        "ASTERISK_PRI UNKNOWN - AMI session lost: cannot connect to AMI at "
        f"127.0.0.1:{sim.port}: connection refused",
    )
    assert back is not None and back[0] == 0


def test_a_bad_secret_is_tried_once_a_minute_at_most(tmp_path, simulator) -> None:
    sim = simulator("18", "pri_all_up")
    watch = {"interval": "0.5", "stale": "1"}
    config = watch_config(
        tmp_path, sim.port, {"PRI": "check_asterisk_pri"}, "wrong-secret-77", watch
    )
    results = Results(tmp_path / "results.cmd")
    with Daemon(config) as daemon:
        got = results.wait_for("PRI", lambda c, t: c == 3, seconds=5)
        time.sleep(3 - 1)  # 3 s or more in all since the start
        logins = len(sim.actions("Login"))
        log = daemon.log
    assert logins == 1, log
    assert got == (
        3,
        "ASTERISK_PRI UNKNOWN - AMI session lost: AMI login as 'monitor' failed: "
        "Authentication failed",
    )
    assert "ERROR pbx1: AMI login as 'monitor' failed: Authentication failed" in log
    assert "ERROR pbx1: will not log in again for 60 s (fail2ban)" in log
    assert "wrong-secret-77" not in log


# -- operations ---------------------------------------------------------------------------
def test_sighup_reloads_services_without_dropping_the_session(tmp_path, simulator) -> None:
    sim = simulator("18", "pri_all_up")
    config = watch_config(tmp_path, sim.port, {"PRI": "check_asterisk_pri"}, SECRET)
    results = Results(tmp_path / "results.cmd")
    with Daemon(config) as daemon:
        assert results.wait_for("PRI", lambda c, t: c == 0)
        with open(config, "a") as more:
            more.write("service PRI strict = check_asterisk_pri -n 5\n")
        daemon.signal(signal.SIGHUP)
        got = results.wait_for("PRI strict", lambda c, t: True, seconds=5)
        config.write_text(config.read_text() + "service broken = check_asterisk_pri -w x\n")
        daemon.signal(signal.SIGHUP)
        time.sleep(0.5)
        alive = daemon.process.poll() is None
        log = daemon.log
    assert got is not None and got[0] == 1
    assert alive
    assert sim.connections == 1 and len(sim.actions("Login")) == 1
    assert "configuration reloaded: 1 PBX(s), 2 service(s)" in log
    assert (
        "ERROR configuration not reloaded, keeping the running one: [pbx pbx1] service broken"
        in log
    )


def test_sigterm_logs_off_and_exits_0(tmp_path, simulator) -> None:
    sim = simulator("18", "pri_all_up")
    config = watch_config(tmp_path, sim.port, {"PRI": "check_asterisk_pri"}, SECRET)
    daemon = Daemon(config)
    assert Results(tmp_path / "results.cmd").wait_for("PRI", lambda c, t: c == 0)
    assert daemon.stop() == 0
    assert len(sim.actions("Logoff")) == 1
    assert daemon.log.rstrip().endswith("INFO stopped")


def test_a_nagios_that_does_not_read_its_fifo_is_logged_not_fatal(tmp_path, simulator) -> None:
    import os

    sim = simulator("18", "pri_all_up")
    fifo = tmp_path / "nagios.cmd"
    os.mkfifo(fifo)
    config = watch_config(
        tmp_path,
        sim.port,
        {"PRI": "check_asterisk_pri"},
        SECRET,
        {"nagios_command_file": str(fifo)},
    )
    with Daemon(config) as daemon:
        deadline = time.monotonic() + 5
        while "nobody reads it" not in daemon.log and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = daemon.process.poll() is None
    assert alive
    assert (
        f"ERROR cannot report pbx1/PRI: {fifo}: nobody reads it (is Nagios running?)" in daemon.log
    )


def test_a_full_command_fifo_is_an_error_not_a_hang(tmp_path) -> None:
    import os

    from isp_plugins.watch.outputs import NagiosCommandFile, OutputError, PassiveResult

    fifo = tmp_path / "nagios.cmd"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a Nagios that stopped reading
    filler = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        while True:
            try:
                os.write(filler, b"x" * 4096)
            except BlockingIOError:
                break
        output = NagiosCommandFile(str(fifo))
        result = PassiveResult("pbx1", "PRI", 0, "ASTERISK_PRI OK - 4 of 4 spans up", 1.0)
        started = time.monotonic()
        with pytest.raises(OutputError, match="full, Nagios does not read it"):
            output.send([result])
        # A blocking write would never return (nobody reads the FIFO): any bound tells. The
        # output waits COMMAND_FILE_FULL_WAIT (5 s) for room, then gives up.
        assert time.monotonic() - started < 30
    finally:
        os.close(filler)
        os.close(reader)


def test_a_command_line_fits_in_one_atomic_fifo_write() -> None:
    import select

    from isp_plugins.watch.outputs import NagiosCommandFile, PassiveResult

    output = NagiosCommandFile("/nonexistent")
    long_output = "\n".join(f"span {n}: up (D-channel 0: Up, Active)" for n in range(1, 400))
    text = "ASTERISK_PRI OK - 399 of 399 spans up | spans_up=399\n" + long_output
    data = output.fitted(PassiveResult("pbx1", "PRI", 0, text, 1.0))
    assert len(data) <= select.PIPE_BUF
    assert data.endswith(b"\\n(long output cut: 4 KiB per command)\n")
    assert b"ASTERISK_PRI OK - 399 of 399 spans up | spans_up=399\\nspan 1: up" in data
    short = output.fitted(PassiveResult("pbx1", "PRI", 0, "ASTERISK_PRI OK - 1 span", 1.0))
    assert short == b"[1] PROCESS_SERVICE_CHECK_RESULT;pbx1;PRI;0;ASTERISK_PRI OK - 1 span\n"
    huge = output.fitted(PassiveResult("pbx1", "PRI", 0, "é" * 5000, 1.0))
    assert len(huge) <= select.PIPE_BUF and huge.endswith(b"\n")
    huge.decode("utf-8")  # cut on a character


# -- the AMI layer ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ("off", []),
        ("call", []),
        ("system", ["FullyBooted", "SpanAlarm"]),
        ("on", ["FullyBooted", "SpanAlarm"]),
    ],
)
def test_the_simulator_sends_events_of_the_classes_asked_for(simulator, events, expected) -> None:
    sim = simulator("16", "pri_all_up")
    seen: list[str] = []

    async def session() -> None:
        ami = Session(
            Target("127.0.0.1", sim.port, "monitor", SECRET),
            events=events,
            on_event=lambda e: seen.append(e["Event"]),
        )
        await ami.connect()
        await ami.login()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: sim.emit("SpanAlarm", Span="1", Alarm="Red"))
        await asyncio.sleep(0.2)
        await ami.logoff(0.5)
        ami.close()

    asyncio.run(session())
    assert seen == expected
    assert sim.actions("Login")[0]["events"] == events


def test_the_systemd_unit_runs_the_watcher_in_the_foreground_and_reloads_with_sighup() -> None:
    import configparser

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    path = Path(__file__).resolve().parent.parent / "nagios-config" / "asterisk-watch.service"
    unit.read(path)
    service = unit["Service"]
    assert service["Type"] == "simple"  # foreground: no fork, no PID file
    assert service["ExecStart"].split()[1:] == [
        "--config",
        "/etc/asterisk-watch/asterisk-watch.ini",
    ]
    assert service["ExecStartPre"].split()[1] == "--check-config"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["KillSignal"] == "SIGTERM"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_a_pbx_that_stops_answering_is_dropped_retried_and_unknown(tmp_path, simulator) -> None:
    sim = simulator("18", "pri_all_up", failure="stall")  # logs in, then never answers
    watch = {"interval": "1", "stale": "1"}
    config = watch_config(tmp_path, sim.port, {"PRI": "check_asterisk_pri -t 2"}, SECRET, watch)
    results = Results(tmp_path / "results.cmd")
    with Daemon(config) as daemon:
        got = results.wait_for("PRI", lambda c, t: "no answer" in t, seconds=10)
        deadline = time.monotonic() + 10
        while sim.connections < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        log = daemon.log
    assert got == (
        3,
        "ASTERISK_PRI UNKNOWN - AMI session lost: no answer from AMI within 1.8s "
        "(waiting for the reply to 'pri show spans')",
    ), log
    assert sim.connections >= 2  # a hung session is closed and a new one opened
    assert "Traceback" not in log


@pytest.mark.parametrize(
    ("event", "headers", "evaluated"),
    [
        ("Reload", {"Module": "chan_dahdi.so"}, {"PRI", "FXO"}),
        ("Alarm", {"DAHDIChannel": "2", "Alarm": "Red Alarm"}, {"PRI", "FXO"}),
        ("SpanAlarmClear", {"Span": "3"}, {"PRI"}),
        ("Newchannel", {"Channel": "DAHDI/1-1"}, set()),
    ],
)
def test_each_event_re_evaluates_the_services_it_affects(
    tmp_path, simulator, event, headers, evaluated
) -> None:
    sim = simulator("18", "fxo_ok")
    services = {"PRI": "check_asterisk_pri", "FXO": "check_asterisk_fxo"}
    config = watch_config(tmp_path, sim.port, services, SECRET, {"interval": "600"})
    results = Results(tmp_path / "results.cmd")
    with Daemon(config) as daemon:
        assert results.wait_for("PRI", lambda c, t: True)
        assert results.wait_for("FXO", lambda c, t: True)
        time.sleep(0.3)
        before = {a.get("command") or a["action"] for a in sim.received}
        count = len(sim.received)
        sim.scenario = "fxo_no_battery"  # FXO line 2 loses its battery; PRI unchanged
        sim.emit(event, **headers)
        time.sleep(1)
        asked = {a.get("command") or a["action"] for a in sim.received[count:]}
        log = daemon.log
    assert asked <= before
    wanted = set()
    if "PRI" in evaluated:
        wanted.add("pri show spans")
    if "FXO" in evaluated:
        wanted.add("DAHDIShowChannels")
    assert asked == wanted, log
    assert (results.last("FXO") or (0, ""))[0] == (1 if "FXO" in evaluated else 0)


@pytest.mark.parametrize(("trusted", "code"), [(True, 0), (False, 3)])
def test_tls_sessions_verify_the_pbx_certificate(tmp_path, simulator, trusted, code) -> None:
    import ssl

    import trustme

    ca, other = trustme.CA(), trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    sim = simulator("18", "pri_all_up", tls=context)
    ca_file = tmp_path / "ca.pem"
    (ca if trusted else other).cert_pem.write_to_path(str(ca_file))
    pbx = {"host": "localhost", "tls": "yes", "ca_file": str(ca_file)}
    watch = {"stale": "1"}
    config = watch_config(tmp_path, sim.port, {"PRI": "check_asterisk_pri"}, SECRET, watch, pbx)
    results = Results(tmp_path / "results.cmd")
    with Daemon(config) as daemon:
        got = results.wait_for("PRI", lambda c, t: True, seconds=8)
        log = daemon.log
    assert got is not None and got[0] == code, log
    if trusted:
        assert got[1].startswith("ASTERISK_PRI OK - 4 of 4 spans up"), log
    else:
        assert got[1].startswith(
            f"ASTERISK_PRI UNKNOWN - AMI session lost: TLS certificate of localhost:{sim.port} "
            "rejected"
        ), got
    assert len(sim.actions("Login")) == (1 if trusted else 0)  # no secret to an untrusted peer


def test_sighup_with_a_changed_connection_logs_off_and_opens_a_new_session(
    tmp_path, simulator
) -> None:
    first = simulator("18", "pri_all_up")
    second = simulator("18", "pri_span3_alarm")
    config = watch_config(tmp_path, first.port, {"PRI": "check_asterisk_pri -n 4"}, SECRET)
    results = Results(tmp_path / "results.cmd")
    with Daemon(config) as daemon:
        assert results.wait_for("PRI", lambda c, t: c == 0)
        config.write_text(
            config.read_text().replace(f"port = {first.port}", f"port = {second.port}")
        )
        daemon.signal(signal.SIGHUP)
        got = results.wait_for("PRI", lambda c, t: c == 1, seconds=8)
        log = daemon.log
    assert got is not None and got[0] == 1, log
    assert len(first.actions("Logoff")) == 1  # the old session ended cleanly
    assert len(second.actions("Login")) == 1
    assert "pbx1: connection changed" in log
