"""make bench: wall time and peak RSS of each plugin process against the simulator, vs the floor.

The floor is the interpreter importing the four libraries every AMI check needs; a plugin can
hardly start faster than that, so the ratio shows what our own code costs. The cases run
round-robin, so a busy machine slows all of them alike and the ratios stay comparable.
Budget (issue 6): a plugin at most 1.15x the floor, --help at most 0.75x, peak RSS < 40 MiB.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from asterisk_ami.simulator import Simulator

RUNS = int(os.environ.get("BENCH_RUNS", "20"))
BIN = Path(sys.executable).parent
SECRET = "bench-secret"
FLOOR = "floor: import asyncio, click, nagiosplugin, panoramisk"
BUDGET = {"run": 1.15, "help": 0.75}
RSS_BUDGET_MIB = 40


def once(argv: list[str]) -> tuple[float, float]:
    """Wall ms and peak RSS MiB of one run."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return (time.perf_counter() - started) * 1000, usage.ru_maxrss / 1024


def main() -> int:
    fixtures = Path(__file__).resolve().parent.parent / "fixtures" / "asterisk"
    sims = {
        "pri": Simulator(
            asterisk="18", scenario="pri_span3_alarm", secret=SECRET, fixtures=fixtures
        ),
        "fxo": Simulator(
            asterisk="18", scenario="fxo_no_battery", secret=SECRET, fixtures=fixtures
        ),
    }
    ports = {name: sim.start_in_thread() for name, sim in sims.items()}

    def ami(script: str, sim: str, *extra: str) -> list[str]:
        return [
            str(BIN / script),
            "-H",
            "127.0.0.1",
            "-p",
            str(ports[sim]),
            "-U",
            "monitor",
            "-P",
            SECRET,
            *extra,
        ]

    cases: list[tuple[str, str, list[str]]] = [
        (FLOOR, "floor", [sys.executable, "-c", "import asyncio, click, nagiosplugin, panoramisk"]),
        ("check_asterisk_pri", "run", ami("check_asterisk_pri", "pri", "-n", "4")),
        ("check_asterisk_pri --calls", "run", ami("check_asterisk_pri", "pri", "--calls")),
        ("check_asterisk_fxo", "run", ami("check_asterisk_fxo", "fxo", "-n", "2")),
        ("check_asterisk_pri --help", "help", [str(BIN / "check_asterisk_pri"), "--help"]),
        ("check_asterisk_fxo --help", "help", [str(BIN / "check_asterisk_fxo"), "--help"]),
    ]
    walls: dict[str, list[float]] = {label: [] for label, _, _ in cases}
    peaks: dict[str, float] = dict.fromkeys(walls, 0.0)
    for _label, _, argv in cases:  # warm-up: page cache and .pyc files
        once(argv)
    for _ in range(RUNS):
        for label, _, argv in cases:
            wall, peak = once(argv)
            walls[label].append(wall)
            peaks[label] = max(peaks[label], peak)
    for sim in sims.values():
        sim.stop()

    floor = statistics.median(walls[FLOOR])
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}; median of {RUNS} runs, round-robin"
    )
    print(f"{'command':58} {'median ms':>9} {'x floor':>8} {'peak MiB':>9}  budget")
    over = False
    for label, kind, _ in cases:
        wall = statistics.median(walls[label])
        ratio = wall / floor
        limit = BUDGET.get(kind)
        verdict = ""
        if limit is not None:
            fits = ratio <= limit and peaks[label] < RSS_BUDGET_MIB
            over |= not fits
            verdict = f"{'ok' if fits else 'OVER'} (<= {limit}x, < {RSS_BUDGET_MIB} MiB)"
        print(f"{label:58} {wall:9.1f} {ratio:8.2f} {peaks[label]:9.1f}  {verdict}")
    return 1 if over and os.environ.get("BENCH_STRICT") else 0


if __name__ == "__main__":
    sys.exit(main())
