"""make bench: wall time and peak RSS of each plugin process against the simulator, vs the floor.

The floor is the interpreter importing the four libraries every AMI check needs; a plugin can
hardly start faster than that, so the ratio shows what our own code costs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from asterisk_ami.simulator import Simulator

RUNS = 20
BIN = Path(sys.executable).parent
SECRET = "bench-secret"


def measure(argv: list[str]) -> tuple[float, float]:
    """Median wall ms and max peak RSS MiB over RUNS runs, after one warm-up run."""
    walls, peaks = [], []
    for attempt in range(RUNS + 1):
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        if attempt:  # the first run warms the page cache and .pyc files
            walls.append((time.perf_counter() - started) * 1000)
            peaks.append(usage.ru_maxrss / 1024)
    return statistics.median(walls), max(peaks)


def main() -> int:
    sim = Simulator(asterisk="18", scenario="pri_span3_alarm", secret=SECRET)
    port = sim.start_in_thread()
    plugin = [
        str(BIN / "check_asterisk_pri"),
        "-H",
        "127.0.0.1",
        "-p",
        str(port),
        "-U",
        "monitor",
        "-P",
        SECRET,
        "-n",
        "4",
    ]
    cases = [
        (
            "floor: import asyncio, click, nagiosplugin, panoramisk",
            [sys.executable, "-c", "import asyncio, click, nagiosplugin, panoramisk"],
        ),
        ("check_asterisk_pri (Asterisk 18 simulator)", plugin),
        ("check_asterisk_pri --help", [str(BIN / "check_asterisk_pri"), "--help"]),
    ]
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {RUNS} runs")
    print(f"{'command':58} {'median ms':>10} {'x floor':>8} {'peak MiB':>9}")
    floor = None
    for label, argv in cases:
        wall, peak = measure(argv)
        floor = floor or wall
        print(f"{label:58} {wall:10.1f} {wall / floor:8.2f} {peak:9.1f}")
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
