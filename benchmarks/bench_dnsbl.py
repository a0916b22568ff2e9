"""make bench-dnsbl: check_dnsbl against a local NSD + Unbound (tests/dns_lab.py, installed by
.ci/setup.d/60-dns.sh), 16 addresses x 60 lists and a /24 (256 addresses) x 60 lists.

Budget (issue 17): 960 queries in under 1 s wall, the /24 (15,360 queries) in under 10 s, and
peak memory flat in the number of queries (the /24's peak RSS within 10 % of the 16's). Each
case runs cold (Unbound's cache empty: every query goes on to NSD) and then warm; the check
tests every list every run here (--retest 0, 120 more queries).
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.dns_lab import rfc_points, running_lab, v4  # noqa: E402

LISTS = 60
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
BUDGET = {"16 addresses": 1.0, "/24": 10.0}
GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None


def zones() -> dict[str, list[tuple[str, str, str]]]:
    """60 lists; each lists two addresses of the /24 (with a TXT reason) besides its test point."""
    found = {}
    for n in range(LISTS):
        records = rfc_points()
        for host in (n % 250 + 1, (n * 7) % 250 + 3):
            records += [
                (v4(f"192.0.2.{host}"), "A", "127.0.0.2"),
                (v4(f"192.0.2.{host}"), "TXT", f"listed by bench list {n}"),
            ]
        found[f"list{n:02d}.bench.example"] = records
    return found


def once(argv: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS MiB (0 without GNU time) and the status line of one run."""
    with tempfile.NamedTemporaryFile("r") as report:
        command = [GNU_TIME, "-f", "%M", "-o", report.name, *argv] if GNU_TIME else argv
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        text = report.read().strip()
    rss = int(text.splitlines()[-1]) / 1024 if text else 0.0
    return wall, rss, done.stdout.splitlines()[0] if done.stdout else done.stderr


def main() -> int:
    script = shutil.which("check_dnsbl", path=str(Path(sys.executable).parent))
    if not script:
        print("check_dnsbl is not installed in this virtualenv", file=sys.stderr)
        return 2
    lab_zones = zones()
    with tempfile.TemporaryDirectory() as work, running_lab(lab_zones) as lab:
        zones_file = Path(work) / "zones"
        zones_file.write_text("".join(f"{name} critical\n" for name in lab_zones))
        base = [script, "--nameserver", lab.resolver, "--no-default-zones", "--zones-file",
                str(zones_file), "--retest", "0", "--state-dir", work, "-t", "30"]  # fmt: skip
        cases = {
            "16 addresses": [*base, *(f"-a192.0.2.{n}" for n in range(1, 17))],
            "/24": [*base, "-a", "192.0.2.0/24"],
        }
        print(
            f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
            f"load {os.getloadavg()[0]:.2f}; {LISTS} lists on NSD behind Unbound; "
            f"median of {RUNS} warm runs"
        )
        print(f"{'case':<14} {'queries':>8} {'cold s':>8} {'warm s':>8} {'peak MiB':>9}  budget")
        peaks = {}
        over = False
        for name, argv in cases.items():
            cold, rss, line = once(argv)
            warm = [once(argv) for _ in range(RUNS)]
            median = statistics.median(w for w, _, _ in warm)
            peaks[name] = max([rss] + [r for _, r, _ in warm])
            addresses = 16 if name == "16 addresses" else 256
            ok = max(cold, median) < BUDGET[name]
            over |= not ok
            verdict = f"{'ok' if ok else 'OVER'} (< {BUDGET[name]:g} s)"
            print(
                f"{name:<14} {addresses * LISTS:>8} {cold:>8.2f} {median:>8.2f} "
                f"{peaks[name]:>9.1f}  {verdict}"
            )
            print(f"  {line[:150]}")
        small, large = peaks["16 addresses"], peaks["/24"]
        flat = large <= small * 1.10 if small else True
        print(
            f"peak RSS: {small:.1f} MiB for 960 queries, {large:.1f} MiB for 15,360: "
            f"{'flat' if flat else 'NOT flat'} (within 10 %)"
        )
    return 1 if os.environ.get("BENCH_STRICT") == "1" and (over or not flat) else 0


if __name__ == "__main__":
    sys.exit(main())
