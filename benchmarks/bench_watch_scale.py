"""make bench-watch-scale: one asterisk-watch for 10 to 10,000 PBXs, 3 services each.

For each size N the AMI simulator plays N PBXs from one separate process (``--pbxs N``: each
PBX on its own port, serving PRI spans, FXO lines and DAHDI spans), and one asterisk-watch
watches them all with three services per PBX (check_asterisk_pri -n 4, check_asterisk_fxo,
check_asterisk_dahdi) at a 30 s interval, writing to a Nagios command file: a FIFO this
benchmark reads, time-stamping each line as it arrives. Once every service has its first
result, 1 % of the PBXs (at least 5) flip span 3 in and out of alarm at random moments, half
of the flips with the SpanAlarm/SpanAlarmClear event Asterisk sends, half without (a layer-2
drop only the interval sees). Reported, per N:

- start-up: seconds from starting the watcher to the last PBX's first results (all three),
  and the most logins the simulator saw in one second;
- peak RSS of the watcher (VmHWM), total and per PBX;
- CPU of the watcher in steady state (its own user + system time over the flapping window,
  as a share of one core), and during start-up;
- event path: the simulator emitting the event -> the result line in the FIFO, median and
  99th percentile; interval path: a silent flip -> the result line, median and worst.

Targets at 10,000 (issue 19): event median < 1 s, p99 < 3 s; RSS < 1 GB; steady CPU < one
core; every first result within 60 s. ``--sizes 10000`` runs one size alone (about 4 min).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret"
SERVICES = {
    "PRI": "check_asterisk_pri -n 4",
    "FXO": "check_asterisk_fxo",
    "DAHDI": "check_asterisk_dahdi",
}
WATCH = Path(sys.executable).with_name("asterisk-watch")
LINE = re.compile(rb"^\[\d+\] PROCESS_SERVICE_CHECK_RESULT;([^;]*);([^;]*);(\d);")
TICKS = os.sysconf("SC_CLK_TCK")
FARM_SIZE = 5000


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Reader:
    """Reads the command FIFO in a thread; time-stamps each result line as it arrives."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        # Read and write: the FIFO always has a writer (no EOF between the watcher's opens),
        # and the watcher's non-blocking open always finds a reader.
        self.fd = os.open(path, os.O_RDWR)
        self.first: dict[tuple[str, str], float] = {}
        self.pri: dict[str, list[tuple[float, int]]] = {}
        self.lines = 0
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        pending = b""
        while self.running:
            chunk = os.read(self.fd, 1 << 20)
            now = time.time()
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                match = LINE.match(line)
                if match is None:
                    continue
                self.lines += 1
                host, service = match[1].decode(), match[2].decode()
                if match[3] == b"0":  # its first real result (not "no result yet": UNKNOWN)
                    self.first.setdefault((host, service), now)
                if service == "PRI":
                    self.pri.setdefault(host, []).append((now, int(match[3])))

    def close(self) -> None:
        self.running = False
        os.close(self.fd)


@dataclass
class Figures:
    pbxs: int
    startup: float | None = None
    started: int = 0
    login_peak: int = 0
    rss_mib: float = 0.0
    cpu_steady: float = 0.0
    cpu_startup: float = 0.0
    event: list[float] = field(default_factory=list)
    interval: list[float] = field(default_factory=list)
    missed: int = 0
    load: str = ""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def order(control: Path, line: str) -> str:
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(30)
        client.connect(str(control))
        client.sendall(line.encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            data = client.recv(4096)
            if not data:
                break
            answer += data
    return answer.decode().strip()


def write_config(path: Path, ports: dict[str, int], fifo: Path, interval: float) -> None:
    lines = ["[watch]", f"interval = {interval:g}", f"nagios_command_file = {fifo}", ""]
    for name, port in ports.items():
        lines += [f"[pbx {name}]", "host = 127.0.0.1", f"port = {port}", "user = monitor"]
        lines.append(f"secret = {SECRET}")
        lines += [f"service {service} = {command}" for service, command in SERVICES.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def latencies(changes: Path, reader: Reader, figures: Figures) -> None:
    """Each flip -> the first PRI result of that PBX in the new state after it (before the
    PBX's next flip, or the flip is counted as missed)."""
    flips: dict[str, list[tuple[float, str, str]]] = {}
    for line in changes.read_text().splitlines():
        when, name, state, how = line.split()
        flips.setdefault(name, []).append((float(when), state, how))
    for name, events in flips.items():
        results = reader.pri.get(name, [])
        for index, (when, state, how) in enumerate(events):
            until = events[index + 1][0] if index + 1 < len(events) else float("inf")
            wanted = (lambda code: code != 0) if state == "alarm" else (lambda code: code == 0)
            seen = next((t for t, code in results if when <= t < until and wanted(code)), None)
            if seen is None:
                figures.missed += 1
            elif how == "event":
                figures.event.append(seen - when)
            else:
                figures.interval.append(seen - when)


class Farm:
    """One simulator process playing PBXs ``first`` to ``first + count - 1``."""

    def __init__(self, work: Path, first: int, count: int) -> None:
        self.ports_file = work / f"ports-{first}.json"
        self.changes = work / f"changes-{first}.log"
        self.control = work / f"control-{first}"
        self.log = work / f"simulator-{first}.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "asterisk_ami.simulator",
                *("--pbxs", str(count), "--first", str(first)),
                *("--secret", SECRET, "--auth-delay", "0.05"),
                *("--ports-file", str(self.ports_file), "--changes-file", str(self.changes)),
                *("--control", str(self.control)),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "w"),  # noqa: SIM115
        )

    def ports(self) -> dict[str, int]:
        deadline = time.monotonic() + 300
        while not self.ports_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the simulator did not start: {self.log}")
            time.sleep(0.2)
        ports: dict[str, int] = json.loads(self.ports_file.read_text())
        return ports

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def run_size(n: int, args: argparse.Namespace, work: Path) -> Figures:
    figures = Figures(n)
    # Each PBX costs a simulator two files (its listening socket and its session): a process
    # plays at most FARM_SIZE of them, within a 20,000 open-files limit that root may not
    # be allowed to raise (a container).
    farms = [
        Farm(work, first, min(FARM_SIZE, n - first + 1)) for first in range(1, n + 1, FARM_SIZE)
    ]
    watcher: subprocess.Popen[bytes] | None = None
    reader: Reader | None = None
    try:
        ports = {name: port for farm in farms for name, port in farm.ports().items()}
        fifo = work / "nagios.cmd"
        reader = Reader(fifo)
        config = work / "watch.ini"
        write_config(config, ports, fifo, args.interval)
        wanted = n * len(SERVICES)
        started = time.time()
        watcher = subprocess.Popen(
            [str(WATCH), "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=open(work / "watch.log", "w"),  # noqa: SIM115
        )
        logins, deadline = 0, time.monotonic() + args.startup_limit
        while len(reader.first) < wanted and time.monotonic() < deadline:
            time.sleep(1)
            now_logins = sum(int(order(f.control, "logins").split()[1]) for f in farms)
            figures.login_peak = max(figures.login_peak, now_logins - logins)
            logins = now_logins
            if watcher.poll() is not None:
                raise SystemExit(f"the watcher died: {work / 'watch.log'}")
        figures.started = len(reader.first)
        if figures.started == wanted:
            figures.startup = max(reader.first.values()) - started
        figures.cpu_startup = cpu_seconds(watcher.pid) / max(time.time() - started, 1e-9)
        time.sleep(args.settle)
        share = max(args.flip_share, min(1.0, 5 / n))
        for farm in farms:
            order(farm.control, f"flap {share} {args.gap} 0.5 {n}")
        cpu0, wall0 = cpu_seconds(watcher.pid), time.monotonic()
        time.sleep(args.steady)
        for farm in farms:
            order(farm.control, "calm")
        figures.cpu_steady = (cpu_seconds(watcher.pid) - cpu0) / (time.monotonic() - wall0)
        figures.load = load()
        time.sleep(args.interval + 5)  # the last silent flips reach the interval evaluation
        figures.rss_mib = peak_rss_mib(watcher.pid)
        for farm in farms:
            latencies(farm.changes, reader, figures)
    finally:
        if watcher is not None:
            watcher.terminate()
            try:
                watcher.wait(30)
            except subprocess.TimeoutExpired:
                watcher.kill()
        for farm in farms:
            farm.stop()
        if reader is not None:
            reader.close()
    return figures


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def report(rows: list[Figures], args: argparse.Namespace) -> bool:
    print(
        f"asterisk-watch scale: N PBXs x {len(SERVICES)} services (PRI, FXO, DAHDI), interval "
        f"{args.interval:g} s, 1 % of PBXs (at least 5) flipping span 3 every "
        f"{args.gap / 2:g}-{args.gap * 1.5:g} s, half with events; "
        f"steady window {args.steady:g} s"
    )
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    head = (
        f"{'PBXs':>6} {'start s':>8} {'logins/s':>8} {'RSS MiB':>8} {'KiB/PBX':>8} "
        f"{'CPU st.':>7} {'CPU up':>7} {'event med':>9} {'p99':>6} {'n':>4} "
        f"{'intv med':>8} {'worst':>6} {'n':>4} {'miss':>4}  load (1/5/15)"
    )
    print(head)
    ok = True
    for r in rows:
        start = f"{r.startup:8.1f}" if r.startup is not None else f"{'(' + str(r.started) + ')':>8}"
        ev_med = statistics.median(r.event) if r.event else float("nan")
        ev_p99 = p99(r.event) if r.event else float("nan")
        iv_med = statistics.median(r.interval) if r.interval else float("nan")
        iv_max = max(r.interval) if r.interval else float("nan")
        print(
            f"{r.pbxs:>6} {start} {r.login_peak:>8} {r.rss_mib:>8.1f} "
            f"{r.rss_mib * 1024 / r.pbxs:>8.1f} {r.cpu_steady:>7.0%} {r.cpu_startup:>7.0%} "
            f"{ev_med:>8.2f}s {ev_p99:>5.2f}s {len(r.event):>4} {iv_med:>7.2f}s "
            f"{iv_max:>5.1f}s {len(r.interval):>4} {r.missed:>4}  {r.load}"
        )
        if r.pbxs >= 10000:
            ok = (
                r.startup is not None
                and r.startup < 60
                and ev_med < 1
                and ev_p99 < 3
                and r.rss_mib < 1024
                and r.cpu_steady < 1
            )
            print(
                "targets at 10,000 (start < 60 s, event median < 1 s, p99 < 3 s, RSS < 1 GB, "
                f"CPU < one core): {'met' if ok else 'MISSED'}"
            )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--steady", type=float, default=90.0, help="seconds of flapping")
    parser.add_argument("--gap", type=float, default=60.0, help="mean seconds between flips")
    parser.add_argument("--flip-share", type=float, default=0.01)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--startup-limit", type=float, default=180.0)
    parser.add_argument("--keep", action="store_true", help="keep the logs (printed path)")
    args = parser.parse_args()
    # SIGTERM (timeout, kill) ends the run through the finally blocks: no watcher or simulator
    # is left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        work = Path(tempfile.mkdtemp(prefix=f"bench-watch-scale-{n}-"))
        print(f"N = {n}: {work} (load {load()})", file=sys.stderr, flush=True)
        try:
            rows.append(run_size(n, args, work))
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    return 0 if report(rows, args) else 1


if __name__ == "__main__":
    sys.exit(main())
