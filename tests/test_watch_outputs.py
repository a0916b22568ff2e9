"""asterisk-watch's delivery (issue 19): a coalescing queue per output that never makes an
evaluation wait, command-file lines batched in atomic PIPE_BUF writes, the Icinga 2 API over
kept-alive HTTPS connections with a bounded number in flight, against a real FIFO and a local
TLS server that counts connections and requests."""

from __future__ import annotations

import contextlib
import gc
import http.server
import json
import logging
import os
import re
import resource
import select
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from isp_plugins.watch import publisher as publisher_module
from isp_plugins.watch.config import IcingaConfig
from isp_plugins.watch.outputs import (
    ICINGA_IN_FLIGHT,
    IcingaApi,
    NagiosCommandFile,
    OutputError,
    PassiveResult,
    ResultRejected,
)
from isp_plugins.watch.publisher import Delivery, Publisher
from isp_plugins.watch.services import Outcome
from tests.conftest import wait_for

LINE = re.compile(r"^\[\d+\] PROCESS_SERVICE_CHECK_RESULT;pbx\d+;PRI \d+;[0-3];ASTERISK_PRI .*$")


@dataclass(frozen=True)
class FakeService:
    """What the publisher reads of a service."""

    host_name: str
    name: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.host_name, self.name)


def service(n: int) -> FakeService:
    return FakeService(f"pbx{n}", f"PRI {n}")


def ok(spans: int) -> Outcome:
    return Outcome(0, f"ASTERISK_PRI OK - {spans} of {spans} spans up | spans_up={spans}")


def result(n: int, text: str = "ASTERISK_PRI OK - 4 of 4 spans up") -> PassiveResult:
    return PassiveResult(f"pbx{n}", f"PRI {n}", 0, text, 1_700_000_000.0 + n)


def sender_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"deliver to {name}"]


@pytest.fixture
def fast_retry(monkeypatch) -> None:
    """Failed sends tried again within a few hundredths of a second."""
    monkeypatch.setattr(publisher_module, "RETRY_FIRST", 0.02)
    monkeypatch.setattr(publisher_module, "RETRY_MAX", 0.05)


# -- a scripted output: what the publisher does around it ----------------------------------
@dataclass
class Scripted:
    """An output that records what it is sent; it blocks while ``gate`` is clear, and fails
    (or refuses one result) as told."""

    name: str = "scripted"
    batch: int = 1
    senders: int = 1
    spacing: float = 0.0
    gate: threading.Event = field(default_factory=threading.Event)
    calls: list[list[PassiveResult]] = field(default_factory=list)
    delivered: list[PassiveResult] = field(default_factory=list)
    error: str | None = None
    refuse: set[str] = field(default_factory=set)
    closed: int = 0

    def send(self, results: Sequence[PassiveResult]) -> int:
        self.calls.append(list(results))
        self.gate.wait(30)
        if self.error is not None:
            raise OutputError(self.error)
        if results[0].service in self.refuse:
            raise ResultRejected(f"no such service {results[0].host}!{results[0].service}")
        self.delivered.extend(results)
        return len(results)

    def close(self) -> None:
        self.closed += 1


def test_a_slow_output_sees_only_the_newest_result_of_each_service() -> None:
    output = Scripted()
    publisher = Publisher([output], heartbeat=3600)
    try:
        publisher.publish(service(1), ok(1))  # taken at once: the sender blocks on it
        assert wait_for(lambda: len(output.calls) == 1, 10)
        for spans in range(2, 50):
            assert publisher.publish(service(1), ok(spans)) is True  # returns at once
            assert publisher.publish(service(2), ok(spans)) is True
        delivery = publisher.deliveries[0]
        # One waiting result per service (and the one in the sender's hands).
        assert list(delivery.pending) == [("pbx1", "PRI 1"), ("pbx2", "PRI 2")]
        assert delivery.waiting == 3
        output.gate.set()
        assert publisher.flush(10)
    finally:
        publisher.close(5)
    texts = [(r.host, r.text.split(" | ")[0]) for r in output.delivered]
    assert texts == [
        ("pbx1", "ASTERISK_PRI OK - 1 of 1 spans up"),
        ("pbx1", "ASTERISK_PRI OK - 49 of 49 spans up"),
        ("pbx2", "ASTERISK_PRI OK - 49 of 49 spans up"),
    ]
    assert publisher.deliveries[0].offered == 97


def test_publishing_never_waits_for_a_hung_output() -> None:
    output = Scripted()  # never released: every send hangs
    publisher = Publisher([output], heartbeat=0)
    try:
        started = time.monotonic()
        for n in range(3000):
            publisher.publish(service(n % 3), ok(n), now=float(n))
        # Any bound tells: one hung send would take the 30 s of the gate.
        assert time.monotonic() - started < 20
        delivery = publisher.deliveries[0]
        assert len(delivery.pending) <= 3 and delivery.waiting <= 4
    finally:
        output.gate.set()
        publisher.close(5)


def test_the_change_and_heartbeat_rules_are_kept() -> None:
    output = Scripted()
    output.gate.set()
    publisher = Publisher([output], heartbeat=60)
    try:
        assert publisher.publish(service(1), ok(4), now=1000.0) is True
        assert publisher.flush(10)
        assert publisher.publish(service(1), ok(4), now=1030.0) is False  # unchanged
        assert publisher.publish(service(1), ok(3), now=1031.0) is True  # changed
        assert publisher.flush(10)
        assert publisher.publish(service(1), ok(3), now=1091.0) is True  # heartbeat
        assert publisher.flush(10)
    finally:
        publisher.close(5)
    assert [r.timestamp for r in output.delivered] == [1000.0, 1031.0, 1091.0]


def test_a_failed_send_is_tried_again_with_the_newest_result(caplog, fast_retry) -> None:
    output = Scripted(error="Nagios is not there")
    output.gate.set()
    publisher = Publisher([output], heartbeat=3600)
    try:
        with caplog.at_level(logging.INFO, logger="asterisk_watch"):
            publisher.publish(service(1), ok(1))
            assert wait_for(lambda: len(output.calls) >= 3, 10)  # tried, and tried again
            publisher.publish(service(1), ok(2))  # replaces the one held
            calls = len(output.calls)
            assert wait_for(lambda: len(output.calls) >= calls + 2, 10)
            output.error = None
            assert publisher.flush(10)
    finally:
        publisher.close(5)
    assert [r.text.split(" | ")[0] for r in output.delivered] == [
        "ASTERISK_PRI OK - 2 of 2 spans up"
    ]
    assert ("pbx1", "PRI 1") in publisher.last  # delivered: not due again
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["cannot report pbx1/PRI 1: Nagios is not there"]  # once, not per try
    assert any(r.getMessage().startswith("scripted answers again after ") for r in caplog.records)


def test_a_lasting_failure_is_logged_again_now_and_then(caplog, fast_retry, monkeypatch) -> None:
    monkeypatch.setattr(publisher_module, "ERROR_REPEAT", 1.0)
    output = Scripted(error="Nagios is not there")
    output.gate.set()
    publisher = Publisher([output], heartbeat=3600)
    try:
        with caplog.at_level(logging.ERROR, logger="asterisk_watch"):
            publisher.publish(service(1), ok(1))
            assert wait_for(lambda: "still failing" in caplog.text, 10)
    finally:
        publisher.close(0)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors[0] == "cannot report pbx1/PRI 1: Nagios is not there"
    assert re.fullmatch(
        r"scripted still failing after \d+ s, 1 result\(s\) waiting: Nagios is not there",
        errors[1],
    )
    assert len(output.calls) > len(errors)  # tried more often than logged


def test_a_refused_result_is_published_again_by_the_next_evaluation(caplog) -> None:
    output = Scripted(refuse={"PRI 1"})
    output.gate.set()
    publisher = Publisher([output], heartbeat=3600)
    try:
        with caplog.at_level(logging.ERROR, logger="asterisk_watch"):
            for _ in range(3):
                assert publisher.publish(service(1), ok(4)) is True  # due again each time
                assert publisher.flush(10)
                assert publisher.last == {}
            assert publisher.publish(service(2), ok(4)) is True
            assert publisher.flush(10)
            assert publisher.publish(service(2), ok(4)) is False  # delivered, unchanged
    finally:
        publisher.close(5)
    assert len(output.calls) == 4
    errors = [r.getMessage() for r in caplog.records]
    assert errors == ["cannot report pbx1/PRI 1: no such service pbx1!PRI 1"]  # once


def test_one_warning_when_an_output_falls_behind_the_pbxs(caplog, monkeypatch) -> None:
    monkeypatch.setattr(publisher_module, "LAG_WARN", 0.3)
    output = Scripted()
    publisher = Publisher([output], heartbeat=0)
    try:
        with caplog.at_level(logging.INFO, logger="asterisk_watch"):
            publisher.publish(service(0), ok(0), now=1.0)
            assert wait_for(lambda: len(output.calls) == 1, 10)
            deadline = time.monotonic() + 2.5  # the backlog is looked at once a second
            n = 0
            while time.monotonic() < deadline:
                n += 1
                publisher.publish(service(1 + n % 5), ok(n), now=float(n))
                time.sleep(0.01)
            output.gate.set()
            assert publisher.flush(10)
    finally:
        publisher.close(5)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert re.fullmatch(
        r"scripted is slower than the PBXs: [1-6] result\(s\) waiting, the oldest for \d+ s; "
        r"\d+/s delivered, \d+/s offered over \d+ s \(each service's newest result waits, "
        r"older ones are dropped\)",
        warnings[0],
    ), warnings[0]
    assert "scripted: caught up" in [r.getMessage() for r in caplog.records]


def test_a_replaced_publisher_delivers_what_waits_and_its_senders_end() -> None:
    output = Scripted()
    publisher = Publisher([output], heartbeat=3600)
    for n in range(5):
        publisher.publish(service(n), ok(n))
    assert wait_for(lambda: len(output.calls) == 1, 10)
    assert len(sender_threads("scripted")) == 1
    del publisher  # as a reload replaces it
    gc.collect()
    output.gate.set()
    assert wait_for(lambda: not sender_threads("scripted"), 10)
    assert [r.host for r in output.delivered] == [f"pbx{n}" for n in range(5)]
    assert output.closed == 1


def test_closing_with_an_output_that_hangs_is_bounded(caplog) -> None:
    output = Scripted()
    publisher = Publisher([output], heartbeat=3600)
    for n in range(5):
        publisher.publish(service(n), ok(n))
    assert wait_for(lambda: len(output.calls) == 1, 10)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="asterisk_watch"):
        assert publisher.close(0.2) is False
    assert time.monotonic() - started < 20  # the gate holds the send 30 s: any bound tells
    assert "scripted: 5 result(s) not delivered" in caplog.text
    output.gate.set()


# -- the command file ------------------------------------------------------------------
class RecordingCommandFile(NagiosCommandFile):
    """The real command file output, noting the size of each write it makes."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.writes: list[bytes] = []

    def _write(self, data: bytes) -> None:
        super()._write(data)
        self.writes.append(data)


def fifo_reader(fifo: Path) -> tuple[list[bytes], threading.Event]:
    """A Nagios reading the FIFO: every chunk it read, until told to stop."""
    chunks: list[bytes] = []
    stop = threading.Event()
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)

    def read() -> None:
        try:
            while not stop.is_set():
                ready, _, _ = select.select([fd], [], [], 0.05)
                if ready:
                    data = os.read(fd, 65536)
                    if data:
                        chunks.append(data)
        finally:
            os.close(fd)

    threading.Thread(target=read, daemon=True).start()
    return chunks, stop


def test_one_write_carries_as_many_whole_lines_as_fit_in_pipe_buf(tmp_path) -> None:
    fifo = tmp_path / "nagios.cmd"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    output = NagiosCommandFile(str(fifo))
    results = [
        result(n, "ASTERISK_PRI OK - 4 of 4 spans up\n" + "span: up" * 20) for n in range(60)
    ]
    writes = []
    try:
        while results:
            count = output.send(results)
            writes.append(os.read(reader, 65536))  # exactly what that one write put in
            results = results[count:]
    finally:
        os.close(reader)
    size = len(output.fitted(result(0, "ASTERISK_PRI OK - 4 of 4 spans up\n" + "span: up" * 20)))
    per_write = select.PIPE_BUF // size
    assert len(writes) == -(-60 // per_write)  # ceil: the fewest writes that can do
    for data in writes:
        assert len(data) <= select.PIPE_BUF and data.endswith(b"\n")
        assert all(LINE.match(line) for line in data.decode().splitlines())
    assert sum(len(d.splitlines()) for d in writes) == 60


@pytest.fixture(params=["few fds", "fds past 1023"])
def open_files(request) -> Iterator[None]:
    """As many files open as a test wants: a watcher of thousands of PBXs has its command
    file's descriptor past 1023, where select() fails ("filedescriptor out of range")."""
    if request.param == "few fds":
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"the open-files hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_momentarily_full_fifo_is_waited_on_not_failed(tmp_path, open_files) -> None:
    fifo = tmp_path / "nagios.cmd"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    filler = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        with contextlib.suppress(BlockingIOError):
            while True:
                os.write(filler, b"x" * select.PIPE_BUF)
        # Nagios reads in bursts: it comes back to the pipe a little later.
        timer = threading.Timer(0.3, lambda: os.read(reader, 1 << 20))
        timer.start()
        assert NagiosCommandFile(str(fifo)).send([result(1)]) == 1
        timer.join()
        assert os.read(reader, 1 << 20).endswith(
            b";pbx1;PRI 1;0;ASTERISK_PRI OK - 4 of 4 spans up\n"
        )
    finally:
        os.close(filler)
        os.close(reader)


def test_a_result_too_long_for_a_shared_write_goes_in_the_next(tmp_path) -> None:
    path = tmp_path / "results.cmd"
    path.touch()
    output = NagiosCommandFile(str(path))
    big = "ASTERISK_PRI OK - 399 spans up\n" + "\n".join(f"span {n}: up" for n in range(400))
    assert output.send([result(1), result(2, big)]) == 1  # the big one no longer fits
    assert output.send([result(2, big)]) == 1  # alone, cut to fit
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 2 and len(lines[1]) <= select.PIPE_BUF
    assert lines[1].endswith(b"\\n(long output cut: 4 KiB per command)\n")


def test_published_results_reach_the_fifo_in_few_whole_line_writes(tmp_path, fast_retry) -> None:
    fifo = tmp_path / "nagios.cmd"
    os.mkfifo(fifo)
    output = RecordingCommandFile(str(fifo))
    publisher = Publisher([output], heartbeat=3600)
    try:
        # Nobody reads yet (ENXIO): the results queue up while the sender backs off.
        for n in range(200):
            publisher.publish(service(n), ok(n))
        assert not publisher.flush(0.1)
        chunks, stop = fifo_reader(fifo)
        assert publisher.flush(20)
        assert wait_for(lambda: sum(c.count(b"\n") for c in chunks) >= 200, 10)
        stop.set()
    finally:
        publisher.close(5)
    lines = b"".join(chunks).decode().splitlines()
    assert len(lines) == 200 and all(LINE.match(line) for line in lines)
    assert sorted(int(line.split(";")[1][3:]) for line in lines) == list(range(200))
    assert all(len(w) <= select.PIPE_BUF and w.endswith(b"\n") for w in output.writes)
    total = sum(len(w) for w in output.writes)
    # Packed, not one write per result: about as few writes as PIPE_BUF allows.
    assert len(output.writes) <= 2 * (total // select.PIPE_BUF + 1) < 200 // 4
    assert publisher.deliveries[0].sends == len(output.writes)


# -- the Icinga 2 API over a local TLS server -------------------------------------------
@dataclass
class ApiState:
    connections: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: Per request: the answer's status and JSON body.
    status: int = 200
    answer: dict[str, Any] = field(
        default_factory=lambda: {"results": [{"code": 200, "status": "Successfully processed"}]}
    )
    close_after: bool = False  # drop the connection after each answer, without a word
    hang: threading.Event | None = None  # read the request, answer only once it is set
    given_up: int = 0  # hung requests whose client closed the connection (timed out)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Api(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    state: ApiState

    def setup(self) -> None:
        super().setup()
        with self.state.lock:
            self.state.connections += 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.state.lock:
            self.state.requests.append({"path": self.path, **json.loads(body)})
        if self.state.hang is not None:
            deadline = time.monotonic() + 60
            while not self.state.hang.is_set() and time.monotonic() < deadline:
                # No pipelining: the client's side turns readable only when it closes.
                if select.select([self.connection], [], [], 0.05)[0]:
                    with self.state.lock:
                        self.state.given_up += 1
                    return
        data = json.dumps(self.state.answer).encode()
        self.send_response(self.state.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if self.state.close_after:
            self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Api:
    url: str
    ca_file: Path
    state: ApiState

    def client(self, timeout: float = 10, **options: Any) -> IcingaApi:
        config = IcingaConfig(self.url, str(self.ca_file), "watch", "Api-Pw-19", **options)
        return IcingaApi(config, timeout=timeout)


@pytest.fixture
def api(tmp_path) -> Iterator[Api]:
    """A local 'Icinga 2 API' over TLS, its certificate from a throw-away CA."""
    import trustme

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    state = ApiState()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), type("Api", (_Api,), {"state": state})
    )
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Api(f"https://127.0.0.1:{server.server_port}", ca_file, state)
    finally:
        if state.hang is not None:
            state.hang.set()
        server.shutdown()
        server.server_close()


def test_results_share_one_kept_alive_connection(api) -> None:
    client = api.client()
    try:
        for n in range(50):
            assert client.send([result(n)]) == 1
    finally:
        client.close()
    assert (api.state.connections, len(api.state.requests)) == (1, 50)
    request = api.state.requests[7]
    assert request["path"] == "/v1/actions/process-check-result"
    assert request["service"] == "pbx7!PRI 7"
    assert request["plugin_output"] == "ASTERISK_PRI OK - 4 of 4 spans up"


def test_published_results_use_at_most_the_in_flight_bound_of_connections(api) -> None:
    publisher = Publisher([api.client()], heartbeat=3600)
    try:
        for n in range(200):
            publisher.publish(service(n), ok(n))
        assert publisher.flush(30)
    finally:
        publisher.close(5)
    assert len(api.state.requests) == 200
    assert sorted(r["service"] for r in api.state.requests) == sorted(
        f"pbx{n}!PRI {n}" for n in range(200)
    )
    assert 1 <= api.state.connections <= ICINGA_IN_FLIGHT


def test_a_connection_the_server_closed_is_replaced_and_the_result_delivered(api) -> None:
    api.state.close_after = True  # as Icinga does with idle connections: no warning
    client = api.client()
    try:
        for n in range(5):
            time.sleep(0.1)  # the server's close reaches the client's socket
            assert client.send([result(n)]) == 1
    finally:
        client.close()
    assert len(api.state.requests) == 5  # each delivered once
    assert api.state.connections == 5


def test_a_hung_api_is_bounded_by_the_timeout_and_the_queue_by_the_services(
    api, caplog, fast_retry
) -> None:
    api.state.hang = threading.Event()
    publisher = Publisher([api.client(timeout=0.5)], heartbeat=0)
    delivery = publisher.deliveries[0]
    try:
        with caplog.at_level(logging.ERROR, logger="asterisk_watch"):
            started = time.monotonic()
            for n in range(2000):
                publisher.publish(service(n % 3), ok(n), now=float(n))
                assert len(delivery.pending) <= 3
            assert wait_for(lambda: "timed out" in caplog.text, 30)
            assert time.monotonic() - started < 30
            assert delivery.waiting <= 3 + ICINGA_IN_FLIGHT
    finally:
        api.state.hang.set()
        publisher.close(5)
    message = caplog.records[0].getMessage()
    assert re.fullmatch(
        rf"cannot report pbx[0-2]/PRI [0-2]: Icinga 2 API {api.url}: .*timed out", message
    )


def test_a_hung_icinga_holds_neither_the_evaluations_nor_nagios(tmp_path, simulator, api) -> None:
    from tests.conftest import SECRET
    from tests.watch_helpers import Daemon, Results, watch_config

    api.state.hang = threading.Event()
    sim = simulator("18", "pri_all_up")
    credentials = tmp_path / "icinga.credentials"
    credentials.write_text("watch:Api-Pw-19\n")
    config = watch_config(
        tmp_path,
        sim.port,
        {"PRI": "check_asterisk_pri -n 4 -c 1"},
        SECRET,
        {
            "interval": "600",  # only the event explains a new evaluation
            "icinga_url": api.url,
            "icinga_ca_file": str(api.ca_file),
            "icinga_credentials_file": str(credentials),
        },
    )
    results = Results(tmp_path / "results.cmd")
    with Daemon(config) as daemon:
        assert results.wait_for("PRI", lambda c, t: c == 0, 15), daemon.log
        assert wait_for(lambda: len(api.state.requests) == 1, 15), daemon.log
        sim.set_scenario("pri_span3_alarm", {"Event": "SpanAlarm", "Span": "3", "Alarm": "Red"})
        assert results.wait_for("PRI", lambda c, t: c == 1, 30), daemon.log
        # Nagios has the alarm while Icinga still holds the first request, not timed out
        # (before, the evaluation waited for Icinga's 10 s timeout first).
        given_up, requests = api.state.given_up, len(api.state.requests)
        api.state.hang.set()
        assert wait_for(lambda: len(api.state.requests) == 2, 15), daemon.log
    assert (given_up, requests) == (0, 1)
    assert api.state.requests[1]["exit_status"] == 1  # then Icinga gets the newest result
    assert api.state.connections == 1


@pytest.mark.parametrize(
    ("status", "answer", "refused", "message"),
    [
        (
            404,
            {"error": 404, "status": "No objects found."},
            True,
            "no such service pbx1!PRI 1 (HTTP 404 No objects found.)",
        ),
        (200, {"results": []}, True, "no such service pbx1!PRI 1"),
        (
            500,
            {"results": [{"code": 500, "status": "Oops"}]},
            False,
            "HTTP 500 Internal Server Error",
        ),
        (
            200,
            {"results": [{"code": 409, "status": "Passive checks off"}]},
            True,
            "Passive checks off",
        ),
        (401, {}, False, "HTTP 401 Unauthorized"),
        (503, {"status": "Icinga is reloading"}, False, "HTTP 503 Icinga is reloading"),
    ],
)
def test_what_the_api_answers(api, status, answer, refused, message) -> None:
    api.state.status, api.state.answer = status, answer
    client = api.client()
    with pytest.raises(OutputError) as raised:
        client.send([result(1)])
    client.close()
    assert str(raised.value) == f"Icinga 2 API {api.url}: {message}"
    assert isinstance(raised.value, ResultRejected) is refused


def test_the_api_is_talked_to_directly_whatever_https_proxy_says(api, monkeypatch) -> None:
    for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # discard: no proxy there
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    client = api.client()
    try:
        assert client.send([result(1)]) == 1
    finally:
        client.close()
    assert len(api.state.requests) == 1


def test_the_api_certificate_is_verified(api, tmp_path) -> None:
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    client = IcingaApi(IcingaConfig(api.url, str(other), "watch", "Api-Pw-19"), timeout=10)
    with pytest.raises(OutputError, match="CERTIFICATE_VERIFY_FAILED"):
        client.send([result(1)])
    insecure = IcingaApi(IcingaConfig(api.url, str(other), "watch", "pw", insecure=True))
    assert insecure.send([result(1)]) == 1
    insecure.close()
    assert len(api.state.requests) == 1


def test_a_connection_idle_too_long_is_not_reused(api, monkeypatch) -> None:
    from isp_plugins.watch import outputs

    client = api.client()
    try:
        client.send([result(1)])
        client.send([result(2)])
        monkeypatch.setattr(outputs, "KEEPALIVE_IDLE", 0.0)
        client.send([result(3)])
    finally:
        client.close()
    assert api.state.connections == 2


def test_delivery_counts(api) -> None:
    delivery = Delivery(api.client(), lambda r: None)
    for n in range(10):
        delivery.put(result(n))
    assert delivery.wait(30)
    assert delivery.close(5)
    assert (delivery.offered, delivery.delivered, delivery.sends) == (10, 10, 10)
