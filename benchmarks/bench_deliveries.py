"""check_postfix_deliveries's log scan on a generated 1 GB relay mail log, against ``grep -c``.

Two logs of a realistic mix (per message: smtpd connect, client=, cleanup, qmgr from=,
amavisd-new's verdict, the delivery line, qmgr removed, smtpd disconnect; 1 % of outbound mail
spam): one where every delivery is sent, one where one delivery line in ten is a deferral or a
bounce (Gmail's 4.7.28, Yahoo's [TSS04], Microsoft's S3150 and 4.7.500, unknown users,
connection timeouts; each with its own addresses and ids). Each is read whole (a first run),
warm, best of 3, and compared with ``LC_ALL=C grep -c status=deferred`` on the same file, by
wall time and by CPU time (user + system: on a machine other jobs share, the fairer figure).

Each log is read both ways the check counts a block: one pass of the Aho-Corasick automaton
(ahocorasick_rs, installed with the suite on x86_64 and aarch64) and the bytes.count passes it
falls back to elsewhere (``--counter`` picks one).

Goals (issue 18): at least a third of grep -c's speed when nothing is deferred, and at least
200,000 delivery lines a second classified when one in ten is a deferral.

    make bench-deliveries
    .venv/bin/python benchmarks/bench_deliveries.py [--mb 1024] [--keep DIR] [--counter bytes]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from isp_plugins.sources.postfix_log import automaton, tally  # noqa: E402

#: The module ahocorasick_rs, or None where it is not installed.
AUTOMATON = automaton.ahocorasick_rs

#: Bytes generated once and written again and again (with distinct ids inside).
CHUNK_MESSAGES = 12000
DOMAINS = [
    ("gmail.com", "gmail-smtp-in.l.google.com[142.250.102.27]"),
    ("yahoo.com", "mta6.am0.yahoodns.net[67.195.204.72]"),
    ("outlook.com", "outlook-com.olc.protection.outlook.com[52.101.42.3]"),
    ("hotmail.com", "hotmail-com.olc.protection.outlook.com[52.101.42.4]"),
    ("web.de", "mx-ha03.web.de[212.227.17.8]"),
    ("example.org", "mx.example.org[198.51.100.25]"),
]
FAILURES = [
    "deferred (host {host} said: 421-4.7.28 [192.0.2.25      15] Our system has detected an "
    "unusual rate of 421-4.7.28 unsolicited mail originating from your IP address. To protect "
    "our 421-4.7.28 users from spam, mail sent from your IP address has been temporarily "
    "421-4.7.28 rate limited. Please visit 421-4.7.28 "
    "https://support.google.com/mail/?p=UnsolicitedRateLimitError to 421 4.7.28 review our "
    "Bulk Email Senders Guidelines. {tag}si{n}qkb.{k} - gsmtp (in reply to end of DATA "
    "command))",
    "deferred (host {host} said: 421 4.7.0 [TSS04] Messages from 192.0.2.{k} temporarily "
    "deferred due to unexpected volume or user complaints - 4.16.55.1; see "
    "https://postmaster.yahooinc.com/error-codes (in reply to MAIL FROM command))",
    "bounced (host {host} said: 550 5.7.1 Unfortunately, messages from [192.0.2.{k}] weren't "
    "sent. Please contact your Internet service provider since part of their network is on our "
    "block list (S3150). You can also refer your provider to "
    "http://mail.live.com/mail/troubleshooting.aspx#errors. [DB{n}.eop-eur04.prod.protection."
    "outlook.com] (in reply to MAIL FROM command))",
    "deferred (host {host} said: 451 4.7.500 Server busy. Please try again later from "
    "[192.0.2.{k}]. (S77714) [AM0EUR02FT{k}.eop-EUR02.prod.protection.outlook.com] (in reply "
    "to MAIL FROM command))",
    "bounced (host {host} said: 550 5.1.1 <u{n}@example.org>: Recipient address rejected: "
    "User unknown in virtual mailbox table (in reply to RCPT TO command))",
    "deferred (connect to mx.example.org[198.51.100.{k}]:25: Connection timed out)",
]


def message(rng: random.Random, index: int, failing: bool) -> str:
    """The lines one outbound message leaves in the log."""
    stamp = f"Dec  3 {6 + index // 3600 % 12:02d}:{index // 60 % 60:02d}:{index % 60:02d}"
    qid, out = f"4N{index:08X}A", f"4N{index:08X}B"
    ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    user = f"user{rng.randrange(100000)}"
    domain, host = rng.choice(DOMAINS)
    rcpt = f"r{rng.randrange(10**6)}@{domain}"
    pid = rng.randrange(1000, 60000)
    spam = rng.random() < 0.01
    verdict = (
        f"Blocked SPAM {{DiscardedOutbound,Quarantined}}, ORIGINATING/MYNETS LOCAL [{ip}]:"
        f"{pid} [{ip}] <{user}@isp.example> -> <{rcpt}>, quarantine: spam-{qid}.gz, Queue-ID: "
        f"{qid}, Message-ID: <{index}.{user}@isp.example>, mail_id: {qid}x, Hits: 18.2, "
        "size: 2313, 812 ms"
        if spam
        else f"Passed CLEAN {{RelayedOutbound}}, ORIGINATING/MYNETS LOCAL [{ip}]:{pid} [{ip}] "
        f"<{user}@isp.example> -> <{rcpt}>, Queue-ID: {qid}, Message-ID: "
        f"<{index}.{user}@isp.example>, mail_id: {qid}x, Hits: -1.3, size: 2313, queued_as: "
        f"{out}, 412 ms"
    )
    if failing:
        outcome = rng.choice(FAILURES).format(
            host=host, n=rng.randrange(10**9), k=rng.randrange(1, 255), tag="ab"
        )
        dsn = "4.7.0" if outcome.startswith("deferred") else "5.7.1"
    else:
        outcome = f"sent (250 2.0.0 OK  1764741603 {qid.lower()}si{index}qkb.12 - gsmtp)"
        dsn = "2.0.0"
    lines = [
        f"postfix/smtpd[{pid}]: connect from dsl.isp.example[{ip}]",
        f"postfix/smtpd[{pid}]: {qid}: client=dsl.isp.example[{ip}], sasl_method=PLAIN, "
        f"sasl_username={user}",
        f"postfix/cleanup[{pid + 1}]: {qid}: message-id=<{index}.{user}@isp.example>",
        f"postfix/qmgr[901]: {qid}: from=<{user}@isp.example>, size=2313, nrcpt=1 (queue active)",
        f"amavis[{pid + 2}]: ({pid + 2:05d}-{index % 100:02d}) {verdict}",
    ]
    if not spam:
        lines += [
            f"postfix/smtp[{pid + 3}]: {out}: to=<{rcpt}>, relay={host}:25, delay=1.2, "
            f"delays=0.1/0/0.5/0.6, dsn={dsn}, status={outcome}",
            f"postfix/qmgr[901]: {out}: removed",
        ]
    lines.append(
        f"postfix/smtpd[{pid}]: disconnect from dsl.isp.example[{ip}] ehlo=1 auth=1 mail=1 "
        "rcpt=1 data=1 quit=1 commands=6"
    )
    return "".join(f"{stamp} relay1 {line}\n" for line in lines)


def generate(path: Path, megabytes: int, failing_share: float, seed: int) -> int:
    """Write about ``megabytes`` of log; returns the delivery lines in it."""
    rng = random.Random(seed)
    target = megabytes << 20
    written = deliveries = index = 0
    with open(path, "w") as handle:
        while written < target:
            chunk = []
            for _ in range(CHUNK_MESSAGES):
                text = message(rng, index, rng.random() < failing_share)
                deliveries += " status=" in text
                chunk.append(text)
                index += 1
            data = "".join(chunk)
            handle.write(data)
            written += len(data)
    return deliveries


def grep_seconds(path: Path) -> tuple[float, float]:
    """grep -c's best wall and CPU (user + system) seconds of 3 runs."""
    walls, cpus = [], []
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            ["grep", "-c", "status=deferred", str(path)],
            capture_output=True,
            env={**os.environ, "LC_ALL": "C"},
            check=False,
        )
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), min(cpus)


def scan_seconds(path: Path, state: Path, counter: str) -> tuple[float, float, tally.Scan]:
    """The scan's best wall and CPU seconds of 3 first runs (no state), counting blocks the
    ``counter`` way."""
    automaton.ahocorasick_rs = AUTOMATON if counter == "automaton" else None
    walls, cpus, found = [], [], None
    for _ in range(3):
        shutil.rmtree(state, ignore_errors=True)
        started, cpu = time.perf_counter(), time.process_time()
        found = tally.scan_log(str(path), str(state))
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    assert found is not None
    return min(walls), min(cpus), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=1024, help="size of each log (MB)")
    parser.add_argument("--keep", type=Path, help="generate into DIR and leave the logs there")
    parser.add_argument(
        "--counter", choices=("automaton", "bytes"), action="append", help="(default: both)"
    )
    args = parser.parse_args()
    counters = args.counter or ["automaton", "bytes"]
    if "automaton" in counters and AUTOMATON is None:
        parser.error("ahocorasick_rs is not installed: use --counter bytes")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-deliveries-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print(
            f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load "
            f"{os.getloadavg()[0]:.2f}; best of 3, warm page cache"
        )
        print(
            f"{'log (counter)':<36}{'MB':>6}{'grep wall/cpu s':>17}{'scan wall/cpu s':>17}"
            f"{'x grep (cpu)':>14}{'deliveries/s (cpu)':>20}"
        )
        for name, share in (("nothing deferred", 0.0), ("1 delivery in 10 failing", 0.1)):
            log = work / f"mail-{int(share * 100)}.log"
            if not log.exists():
                generate(log, args.mb, share, seed=18)
            size = log.stat().st_size / 1e6
            grep_wall, grep_cpu = grep_seconds(log)
            for counter in counters:
                scan_wall, scan_cpu, found = scan_seconds(log, work / "state", counter)
                t = found.tally
                deliveries = t.sent + t.deferred + t.bounced
                print(
                    f"{f'{name} ({counter})':<36}{size:>6.0f}{grep_wall:>9.2f}/{grep_cpu:<7.2f}"
                    f"{scan_wall:>9.2f}/{scan_cpu:<7.2f}{grep_wall / scan_wall:>6.2f} "
                    f"({grep_cpu / scan_cpu:.2f}){deliveries / scan_wall:>11,.0f} "
                    f"({deliveries / scan_cpu:,.0f})"
                )
                print(
                    f"  sent {t.sent}, deferred {t.deferred}, bounced {t.bounced}, outbound "
                    f"{sum(t.outbound.values())}, spam {t.spam}; {size / scan_wall:.0f} MB/s"
                )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of the benchmark process: {peak:.0f} MiB")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
