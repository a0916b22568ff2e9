"""check_postfix_queue against the alternatives, on one real Postfix queue of N deferred messages.

Needs root and the Postfix of .ci/setup.d/10-postfix.sh (loopback only, relayhost on a closed
port, so everything defers). For each size it empties the queue, fills it over one SMTP
session to 127.0.0.1:25, waits until every message sits in the deferred queue, then times:
both methods of ours, check_mailq -M postfix (monitoring-plugins-standard), raw
``postqueue -j > /dev/null`` and ``find`` over the queue directories. Reports the median wall
time and the peak RSS of each command (the largest of its runs). Not run in CI (about a
minute per 20,000 messages); the queue is emptied at the end unless --keep.

    .venv/bin/python benchmarks/bench_postfix_queue.py --sizes 2000,20000 --runs 11
"""

from __future__ import annotations

import argparse
import os
import shutil
import smtplib
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
CHECK_MAILQ = "/usr/lib/nagios/plugins/check_mailq"
GNU_TIME = "/usr/bin/time"  # Debian package "time"
QUEUES = ("maildrop", "active", "incoming", "deferred", "hold")
SENDERS = [f"customer{i}@dsl{i % 7}.isp.example" for i in range(40)]
DOMAINS = ["gmail.test", "yahoo.test", "outlook.test", "gmx.test", "web.test", "orange.test"]


def postconf(name: str) -> str:
    return subprocess.run(
        ["postconf", "-h", name], capture_output=True, text=True, check=True
    ).stdout.strip()


def queue_counts(spool: Path) -> dict[str, int]:
    counts = {}
    for queue in QUEUES:
        counts[queue] = sum(len(files) for _, _, files in os.walk(spool / queue))
    return counts


def empty_queue() -> None:
    subprocess.run(["postsuper", "-d", "ALL"], capture_output=True, check=True)


def fill(count: int, spool: Path) -> float:
    """Queue ``count`` messages over SMTP and wait until all are deferred; returns seconds."""
    started = time.monotonic()
    body = "\r\n".join(["Subject: benchmark", "", *(["x" * 70] * 10), ""])
    with smtplib.SMTP("127.0.0.1", 25, timeout=30) as smtp:
        for i in range(count):
            sender = SENDERS[i % len(SENDERS)]
            rcpt = f"user{i % 97}@{DOMAINS[i % len(DOMAINS)]}"
            smtp.sendmail(sender, [rcpt], f"From: {sender}\r\nTo: {rcpt}\r\n{body}")
    while True:
        counts = queue_counts(spool)
        if counts["deferred"] >= count and sum(counts.values()) == counts["deferred"]:
            break
        time.sleep(0.5)
    return time.monotonic() - started


def measure(argv: list[str], runs: int, shell: bool = False) -> tuple[float, float, str]:
    """Median wall ms and max peak RSS MiB over ``runs`` runs, after one warm-up run.

    The RSS comes from GNU time (``/usr/bin/time -f %M``): a child's ru_maxrss as seen by a
    large parent can include the parent's pages copied at fork, before the exec.
    """
    walls, peaks, codes = [], [], set()
    command = argv if not shell else ["/bin/sh", "-c", argv[0]]
    for attempt in range(runs + 1):
        started = time.perf_counter()
        done = subprocess.run(
            [GNU_TIME, "-f", "maxrss=%M", *command],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        wall = (time.perf_counter() - started) * 1000
        if attempt:
            codes.add(done.returncode)
            walls.append(wall)
            kib = [line for line in done.stderr.splitlines() if line.startswith("maxrss=")]
            peaks.append(int(kib[-1].split("=")[1]) / 1024 if kib else float("nan"))
    return statistics.median(walls), max(peaks), ",".join(str(c) for c in sorted(codes))


def cases(spool: Path, count: int) -> list[tuple[str, list[str], bool]]:
    plugin = str(BIN / "check_postfix_queue")
    dirs = " ".join(str(spool / q) for q in QUEUES)
    listed = [
        ("check_postfix_queue --method postqueue", [plugin, "--method", "postqueue"], False),
        ("check_postfix_queue --method spool", [plugin, "--method", "spool"], False),
        (
            "check_postfix_queue --method spool --top 0",
            [plugin, "--method", "spool", "--top", "0"],
            False,
        ),
        (
            "check_postfix_queue --method postqueue --top 0",
            [plugin, "--method", "postqueue", "--top", "0"],
            False,
        ),
        ("raw postqueue -j > /dev/null", [shutil.which("postqueue") or "postqueue", "-j"], False),
        (f"find {spool}/<queues> -type f | wc -l", [f"find {dirs} -type f | wc -l"], True),
    ]
    if os.access(CHECK_MAILQ, os.X_OK):
        warn, crit = str(count * 10), str(count * 20)  # check_mailq insists on w < c
        listed.insert(
            4,
            (
                "check_mailq -M postfix",
                [CHECK_MAILQ, "-M", "postfix", "-w", warn, "-c", crit],
                False,
            ),
        )
    return listed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,20000", help="comma-separated queue sizes")
    parser.add_argument("--runs", type=int, default=11, help="timed runs per command")
    parser.add_argument("--keep", action="store_true", help="leave the last queue in place")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the queue as it is if it holds that many"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root (fills and empties the Postfix queue)", file=sys.stderr)
        return 2
    if not os.access(GNU_TIME, os.X_OK):
        print(f"{GNU_TIME} missing: apt-get install time", file=sys.stderr)
        return 2
    spool = Path(postconf("queue_directory"))
    print(
        f"Postfix {postconf('mail_version')}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, median of {args.runs} runs"
    )
    print()
    print("| deferred | command | median ms | peak RSS MiB | exit |")
    print("|---:|---|---:|---:|---:|")
    try:
        for count in (int(s) for s in args.sizes.split(",")):
            if not (args.reuse and queue_counts(spool)["deferred"] == count):
                empty_queue()
                seconds = fill(count, spool)
                print(f"<!-- filled {count} in {seconds:.1f} s -->", file=sys.stderr)
            for label, argv, shell in cases(spool, count):
                wall, peak, codes = measure(argv, args.runs, shell)
                print(f"| {count} | {label} | {wall:.0f} | {peak:.1f} | {codes} |", flush=True)
    finally:
        if not args.keep:
            empty_queue()
    return 0


if __name__ == "__main__":
    sys.exit(main())
