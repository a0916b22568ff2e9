"""make bench-watch-outputs: how fast asterisk-watch's outputs take results, and how many writes
and connections they cost (issue 19: bounded write rates at 10,000 PBXs x 3 services).

- Command file: results published through the real Publisher into a FIFO read by a thread
  (a Nagios that keeps up): a burst (every service at once, as at start-up) and a steady
  trickle (the heartbeats of 30,000 services every 240 s: 125 results a second). Writes are
  counted by the output itself; each is at most PIPE_BUF bytes of whole lines.
- Icinga 2 API: a private Icinga 2 (needs icinga2, .ci/setup.d/20-nagios-icinga.sh) with
  1,000 hosts x 3 passive services; every service's result published at once, with 1, 2, 4
  and 8 requests in flight over kept-alive connections, and with a new TLS connection per
  request (how the watcher did it before: the baseline). Connections are counted by
  wrapping http.client's connect.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import platform
import select
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from isp_plugins.watch import outputs  # noqa: E402
from isp_plugins.watch.config import IcingaConfig  # noqa: E402
from isp_plugins.watch.outputs import IcingaApi, NagiosCommandFile  # noqa: E402
from isp_plugins.watch.publisher import Publisher  # noqa: E402
from isp_plugins.watch.services import Outcome  # noqa: E402
from tests.nagios_helpers import (  # noqa: E402
    icinga2_constants,
    icinga2_daemon,
    icinga2_validate,
    stop,
    wait_until,
)

TEXT = (
    "ASTERISK_PRI OK - 4 of 4 spans up | spans_alarm=0;;;0;4 spans_down=0;;;0;4 "
    "spans_up=4;3:;2:;0;4\nspan 1: up (D-channel 0: Up, Active)\nspan 2: up (D-channel 0: Up, "
    "Active)\nspan 3: up (D-channel 0: Up, Active)\nspan 4: up (D-channel 0: Up, Active)"
)
SERVICES = ("PRI spans", "DAHDI alarms", "FXO lines")


class Service:
    def __init__(self, host: str, name: str) -> None:
        self.host_name, self.name, self.key = host, name, (host, name)


def services(hosts: int) -> list[Service]:
    return [Service(f"pbx{n}", name) for n in range(hosts) for name in SERVICES]


class CountingFile(NagiosCommandFile):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.writes: list[int] = []

    def _write(self, data: bytes) -> None:
        super()._write(data)
        self.writes.append(len(data))


def drain(fifo: Path, stop_reading: threading.Event, lines: list[int]) -> None:
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # as Nagios 4 opens it: never an EOF
    try:
        while not stop_reading.is_set():
            if select.select([fd], [], [], 0.05)[0]:
                with contextlib.suppress(BlockingIOError):
                    lines[0] += os.read(fd, 1 << 16).count(b"\n")
    finally:
        os.close(fd)


def bench_fifo(work: Path, hosts: int, trickle_seconds: float) -> None:
    fifo = work / "nagios.cmd"
    os.mkfifo(fifo)
    stop_reading = threading.Event()
    lines = [0]
    reader = threading.Thread(target=drain, args=(fifo, stop_reading, lines), daemon=True)
    reader.start()
    time.sleep(0.2)
    every = services(hosts)
    output = CountingFile(str(fifo))
    publisher = Publisher([output], heartbeat=0)
    print(f"command file (FIFO read by a thread), {len(every)} services")
    started = time.perf_counter()
    for n, service in enumerate(every):
        publisher.publish(service, Outcome(0, TEXT), now=1e9 + n)
    queued = time.perf_counter() - started
    publisher.flush(600)
    took = time.perf_counter() - started
    writes = len(output.writes)
    print(
        f"  burst: {len(every)} results in {took:.2f} s ({len(every) / took:,.0f}/s; "
        f"publishing took {queued * 1e6 / len(every):.1f} us each), {writes} writes "
        f"({len(every) / writes:.1f} results per write, largest {max(output.writes)} B, "
        f"PIPE_BUF {select.PIPE_BUF})"
    )
    # The steady state of 10,000 PBXs x 3: every service's heartbeat once per 240 s.
    rate = len(every) / 240
    output.writes.clear()
    started = time.perf_counter()
    sent = 0
    while time.perf_counter() - started < trickle_seconds:
        due = int((time.perf_counter() - started) * rate)
        while sent < due:
            publisher.publish(every[sent % len(every)], Outcome(0, TEXT), now=2e9 + sent)
            sent += 1
        time.sleep(0.002)
    publisher.flush(60)
    took = time.perf_counter() - started
    print(
        f"  steady {rate:.0f} results/s for {took:.0f} s: {len(output.writes) / took:.1f} writes/s"
        f" ({sent / max(len(output.writes), 1):.1f} results per write)"
    )
    publisher.close(5)
    stop_reading.set()
    reader.join()


# -- Icinga 2 ----------------------------------------------------------------------------
def start_icinga(work: Path, hosts: int) -> tuple[Any, str, Path, str]:
    import trustme  # noqa: PLC0415 (a test dependency)

    icinga2 = shutil.which("icinga2") or "/usr/sbin/icinga2"
    ca = trustme.CA()
    node = "localhost"
    cert = ca.issue_cert(node, "127.0.0.1", common_name=node)
    pki = work / "pki"
    pki.mkdir()
    ca.cert_pem.write_to_path(str(pki / "ca.crt"))
    cert.cert_chain_pems[0].write_to_path(str(pki / f"{node}.crt"))
    cert.private_key_pem.write_to_path(str(pki / f"{node}.key"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    password = f"bench-{port}"
    (work / "constants.conf").write_text(icinga2_constants(node))
    names = ", ".join(f'"{name}"' for name in SERVICES)
    (work / "icinga2.conf").write_text(
        'include "constants.conf"\ninclude <itl>\n'
        'object IcingaApplication "app" { }\n'
        "object Endpoint NodeName { }\nobject Zone ZoneName { endpoints = [ NodeName ] }\n"
        'object ApiListener "api" {\n'
        f'\tbind_host = "127.0.0.1"\n\tbind_port = {port}\n'
        f'\tcert_path = "{pki / f"{node}.crt"}"\n\tkey_path = "{pki / f"{node}.key"}"\n'
        f'\tca_path = "{pki / "ca.crt"}"\n}}\n'
        f"for (n in range({hosts})) {{\n"
        '\tobject Host "pbx" + n { check_command = "dummy"; enable_active_checks = false }\n}\n'
        f"for (s in [{names}]) {{\n"
        "\tapply Service s {\n"
        '\t\tcheck_command = "dummy"\n\t\tenable_active_checks = false\n'
        '\t\tassign where match("pbx*", host.name)\n\t}\n}\n'
        'object ApiUser "asterisk-watch" {\n'
        f'\tpassword = "{password}"\n'
        '\tpermissions = [ "actions/process-check-result", "objects/query/Service" ]\n}\n'
    )
    validated = icinga2_validate(icinga2, work / "icinga2.conf", work / "cache")
    if validated.returncode != 0:
        raise SystemExit(validated.stdout + validated.stderr)
    daemon = icinga2_daemon(icinga2, work / "icinga2.conf", work)
    url = f"https://{node}:{port}"
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    auth = "Basic " + base64.b64encode(f"asterisk-watch:{password}".encode()).decode()
    last = f"pbx{hosts - 1}!{urllib.request.quote(SERVICES[-1])}"

    def ready() -> bool:
        request = urllib.request.Request(
            f"{url}/v1/objects/services/{last}", headers={"Authorization": auth}
        )
        try:
            with urllib.request.urlopen(request, context=context, timeout=5) as answer:
                return bool(json.load(answer)["results"])
        except OSError:
            return False

    if not wait_until(ready, 120, 0.5):
        stop(daemon)
        raise SystemExit((work / "icinga2.out").read_text(errors="replace"))
    return daemon, url, pki / "ca.crt", password


def bench_icinga(work: Path, hosts: int) -> None:
    daemon, url, ca, password = start_icinga(work, hosts)
    connects = [0]
    original = http.client.HTTPSConnection.connect

    def counting(self: http.client.HTTPSConnection) -> None:
        connects[0] += 1
        original(self)

    http.client.HTTPSConnection.connect = counting  # type: ignore[method-assign]
    every = services(hosts)
    print(f"Icinga 2 API ({hosts} hosts x 3 passive services, loopback)")
    try:
        runs: list[tuple[str, int, float]] = [("kept alive", n, 5.0) for n in (1, 2, 4, 8)]
        runs.append(("new TLS connection per request (before)", 1, 0.0))
        for round_, (how, in_flight, idle) in enumerate(runs):
            outputs.KEEPALIVE_IDLE = idle if idle else -1.0  # never reused: always connect
            api = IcingaApi(IcingaConfig(url, str(ca), "asterisk-watch", password))
            api.senders = in_flight
            publisher = Publisher([api], heartbeat=0)
            connects[0] = 0
            started = time.perf_counter()
            # The baseline is slow: a sample of 1,000 results is enough to time it.
            sample = every if idle else every[:1000]
            for n, service in enumerate(sample):
                publisher.publish(service, Outcome(0, TEXT), now=1e9 + round_ * 1e5 + n)
            if not publisher.flush(900):
                raise SystemExit(f"not delivered: {publisher.deliveries[0].waiting} waiting")
            took = time.perf_counter() - started
            delivery = publisher.deliveries[0]
            print(
                f"  {how}, {in_flight} in flight: {delivery.delivered} results in {took:.1f} s "
                f"= {delivery.delivered / took:,.0f}/s, {connects[0]} TLS connection(s)"
            )
            publisher.close(5)
    finally:
        http.client.HTTPSConnection.connect = original  # type: ignore[method-assign]
        outputs.KEEPALIVE_IDLE = 5.0
        stop(daemon)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pbxs", type=int, default=10_000, help="PBXs x 3 services (FIFO)")
    parser.add_argument("--icinga-pbxs", type=int, default=1_000, help="hosts x 3 in Icinga 2")
    parser.add_argument("--trickle", type=float, default=10.0, help="seconds of steady state")
    args = parser.parse_args()
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs")
    work = Path(tempfile.mkdtemp(prefix="bench-watch-outputs-"))
    try:
        bench_fifo(work, args.pbxs, args.trickle)
        if shutil.which("icinga2") or Path("/usr/sbin/icinga2").exists():
            bench_icinga(work, args.icinga_pbxs)
        else:
            print("Icinga 2 API: skipped, no icinga2 (.ci/setup.d/20-nagios-icinga.sh)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
