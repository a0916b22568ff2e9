"""check_asterisk_sipauth at scale: the scan of a warm 100+ MB Asterisk ``full`` log against
``grep -c`` of the same fixed text (MB/s, peak RSS), a quiet log and one under attack.

    .venv/bin/python benchmarks/bench_sipauth.py [--log-mb 128]
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from isp_plugins.sources.sip_security import tally  # noqa: E402

FAILED = (
    "[2024-03-10 10:{m:02d}:{s:02d}] NOTICE[4567][C-0000{n:04x}]: chan_sip.c:28390 "
    "handle_request_register: Registration from '<sip:{a}@192.0.2.10>' failed for "
    "'203.0.113.{n}:5060' - Wrong password\n"
)
NOISE = [
    "[2024-03-10 10:{m:02d}:{s:02d}] VERBOSE[4{n}][C-0000{n:04x}] pbx.c:     -- Executing "
    '[{a}@from-internal:1] Dial("SIP/{a}-0000{n:04x}", "SIP/trunk/0049301234{a}") in new stack\n',
    "[2024-03-10 10:{m:02d}:{s:02d}] VERBOSE[4{n}] chan_sip.c:     -- Registered SIP '{a}' at "
    "192.0.2.{n}:5060\n",
    "[2024-03-10 10:{m:02d}:{s:02d}] SECURITY[4{n}] res_security_log.c: "
    'SecurityEvent="ChallengeSent",EventTV="2024-03-10T10:{m:02d}:{s:02d}.000+0100",'
    'Severity="Informational",Service="SIP",EventVersion="1",AccountID="{a}",'
    'SessionID="0x7f3a1c0{n}",LocalAddress="IPV4/UDP/192.0.2.10/5060",'
    'RemoteAddress="IPV4/UDP/192.0.2.{n}/5060",Challenge="4f1a2b3c"\n',
    "[2024-03-10 10:{m:02d}:{s:02d}] VERBOSE[4{n}][C-0000{n:04x}] app_dial.c:     -- "
    "SIP/trunk-0000{n:04x} is ringing\n",
]


def best(func: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times)


def write_log(path: Path, megabytes: int, attack: float) -> None:
    rng = random.Random(8)
    with path.open("w") as handle:
        written = 0
        while written < megabytes << 20:
            block = "".join(
                (FAILED if rng.random() < attack else rng.choice(NOISE)).format(
                    m=rng.randrange(60),
                    s=rng.randrange(60),
                    n=rng.randrange(250),
                    a=rng.randrange(100, 400),
                )
                for _ in range(10000)
            )
            handle.write(block)
            written += len(block)


def bench(megabytes: int, attack: float, tmp: Path) -> None:
    path = tmp / "full"
    write_log(path, megabytes, attack)
    size = path.stat().st_size
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm
    grep = best(
        lambda: subprocess.run(
            ["grep", "-c", "' failed for '", str(path)], stdout=subprocess.PIPE, check=False
        )
    )

    def scan() -> tally.Scan:
        return tally.scan_log(str(path), str(tmp / "state"), update=False)

    ours = best(scan)
    found = scan().tally.counts.attempts
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"log {size / 1e6:.0f} MB, {attack:.1%} failures ({found} counted): grep -c "
        f"{size / grep / 1e6:.0f} MB/s, scan {size / ours / 1e6:.0f} MB/s "
        f"({grep / ours:.2f} of grep's speed), peak RSS of this process {rss:.0f} MiB"
    )
    path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log-mb", type=int, default=128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        for attack in (0.001, 0.05):
            bench(args.log_mb, attack, Path(name))


if __name__ == "__main__":
    main()
