"""make bench-watch-peers: CPU that asterisk-watch spends re-evaluating check_asterisk_peers after
one PeerStatus event, on the 2,000-peer PBX of bench_plugins.py (simulated).

The daemon watches the simulator at a 600 s interval, so only the events make it work; the
CPU time (user + system, from /proc) it used between the first result and the last of N
events, divided by N, is the cost of one event. Target (issue 16): under 100 ms.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_plugins import BIG_PBX, big_pbx  # noqa: E402

from asterisk_ami.simulator import Simulator  # noqa: E402
from tests.watch_helpers import Daemon, Results, watch_config  # noqa: E402

SECRET = "bench-secret"
EVENTS = int(os.environ.get("BENCH_EVENTS", "10"))
TARGET_MS = 100


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-watch-peers-"))
    sim = Simulator(
        asterisk="20", scenario="peers_2000", secret=SECRET, fixtures=big_pbx(work / "fixtures")
    )
    port = sim.start_in_thread()
    config = watch_config(
        work, port, {"peers": "check_asterisk_peers"}, SECRET, {"interval": "600"}
    )
    results = Results(work / "results.cmd")
    with Daemon(config) as daemon:
        if results.wait_for("peers", lambda c, t: True, 60) is None:
            print(daemon.log)
            return 1
        time.sleep(1)
        before = cpu_seconds(daemon.process.pid)
        for n in range(EVENTS):
            sim.emit("PeerStatus", ChannelType="SIP", Peer=f"SIP/phone{n}", PeerStatus="Reachable")
            time.sleep(1.5)  # one evaluation per event, not one for several
        used = cpu_seconds(daemon.process.pid) - before
        changed = sum(1 for name, _, _ in results.all() if name == "peers")
    sim.stop()
    per_event = used / EVENTS * 1000
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"PBX: {sum(BIG_PBX.values())} peers ({BIG_PBX}); {EVENTS} PeerStatus events")
    print(f"results written: {changed} (only changes are written; the events change nothing)")
    verdict = "ok" if per_event < TARGET_MS else "OVER"
    print(f"CPU per PeerStatus re-evaluation: {per_event:.0f} ms ({verdict}, target < {TARGET_MS})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
