"""make bench: wall time and peak RSS of each plugin process against the simulator, vs the floor.

The floor is the interpreter importing the four libraries every AMI check needs; a plugin can
hardly start faster than that, so the ratio shows what our own code costs. The cases run
round-robin, so a busy machine slows all of them alike and the ratios stay comparable.
Budget (issue 6): a plugin at most 1.15x the floor, --help at most 0.75x, peak RSS < 40 MiB;
issue 16: check_asterisk_peers on a 2,000-peer PBX at most 1.5x.
"""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from asterisk_ami.simulator import SCENARIOS, Simulator
from isp_plugins.checks import AMI_CHECKS, CHECKS

RUNS = int(os.environ.get("BENCH_RUNS", "20"))
BIN = Path(sys.executable).parent
SECRET = "bench-secret"
FLOOR = "floor: import asyncio, click, nagiosplugin, panoramisk"
BUDGET = {"run": 1.15, "help": 0.75, "big": 1.5}
RSS_BUDGET_MIB = 40
#: How each AMI check of the registry is timed: (simulator scenario, options). An AMI check
#: missing here stops the bench (every AMI check gets timed).
AMI_RUNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "check_asterisk_pri": ("pri_span3_alarm", ("-n", "4")),
    "check_asterisk_bri": ("bri_misdn_all_up", ("-n", "4")),
    "check_asterisk_fxo": ("fxo_no_battery", ("-n", "2")),
    "check_asterisk_dahdi": ("dahdi_all_ok", ()),
    "check_asterisk_peers": ("peers_lab", ()),
}
#: The 2,000-peer PBX of check_asterisk_peers (issue 16): most peers chan_sip, a tenth PJSIP
#: endpoints (each read with its own PJSIPShowEndpoint), the rest IAX2. Budget: 1.5x the floor.
BIG_PBX = {"SIP": 1600, "PJSIP": 200, "IAX2": 200}


def big_pbx(fixtures: Path) -> Path:
    """A simulator fixture tree with a "peers_2000" scenario on 20; returns ``fixtures``."""

    scenario = fixtures / "20" / "peers_2000"
    shutil.copytree(SCENARIOS / "20" / "peers_ok", scenario)
    states = ["OK (12 ms)", "OK (3 ms)", "UNREACHABLE", "UNKNOWN", "Unmonitored", "LAGGED (700 ms)"]
    head = "Response: Success\nActionID: 42\nEventList: start\nMessage: {}\n\n"
    tail = "Event: {}\nActionID: 42\nEventList: Complete\nListItems: {}\n\n"
    sip = [
        f"Event: PeerEntry\nActionID: 42\nChanneltype: SIP\nObjectName: phone{n}\n"
        f"ChanObjectType: peer\nIPaddress: 192.0.2.{n % 250 + 1}\nIPport: 5060\n"
        f"Dynamic: {'no' if n < 20 else 'yes'}\nStatus: {states[n % len(states)]}\n"
        "Description: \n\n"
        for n in range(BIG_PBX["SIP"])
    ]
    (scenario / "action_SIPpeers.txt").write_text(
        head.format("Peer status list will follow")
        + "".join(sip)
        + tail.format("PeerlistComplete", len(sip))
    )
    iax = [
        f"Event: PeerEntry\nActionID: 42\nChanneltype: IAX\nObjectName: iax{n}\n"
        f"ChanObjectType: peer\nIPaddress: 198.51.100.{n % 250 + 1}\nMask: 255.255.255.255\n"
        f"Port: 4569\nDynamic: yes\nTrunk: no\nEncryption: no\n"
        f"Status: {states[n % len(states)]}\n\n"
        for n in range(BIG_PBX["IAX2"])
    ]
    (scenario / "action_IAXpeerlist.txt").write_text(
        head.format("IAX Peer status list will follow")
        + "".join(iax)
        + tail.format("PeerlistComplete", len(iax))
    )
    endpoints, contacts = [], []
    for n in range(BIG_PBX["PJSIP"]):
        name, host = f"pj{n}", f"203.0.113.{n % 250 + 1}"
        uri = f"sip:{name}@{host}:5060"
        endpoints.append(
            f"Event: EndpointList\nActionID: 42\nObjectType: endpoint\nObjectName: {name}\n"
            f"Transport: \nAor: {name}\nAuths: {name}\nOutboundAuths: \n"
            f"Contacts: {name}/{uri},\nDeviceState: Not in use\nActiveChannels: 0\n\n"
        )
        status, rtt = ("Reachable", "8211") if n % 4 else ("Unreachable", "N/A")
        contact = f"Status: {status}\nRoundtripUsec: {rtt}\nEndpointName: {name}\n"
        if n < 10:  # static contacts (trunks): asked one endpoint at a time
            (scenario / f"action_PJSIPShowEndpoint_{name}.txt").write_text(
                head.format("Following are Events for each object associated with the Endpoint")
                + f"Event: ContactStatusDetail\nActionID: 42\nAOR: {name}\nURI: {uri}\n"
                + contact
                + "\n"
                + tail.format("EndpointDetailComplete", 1)
            )
        else:  # registered phones: all in PJSIPShowContacts
            contacts.append(
                f"Event: ContactList\nActionID: 42\nObjectType: contact\n"
                f"ObjectName: {name};@{n:032x}\nUri: {uri}\nEndpoint: {name}\n{contact}\n"
            )
    (scenario / "action_PJSIPShowEndpoints.txt").write_text(
        head.format("A listing of Endpoints follows, presented as EndpointList events")
        + "".join(endpoints)
        + tail.format("EndpointListComplete", len(endpoints))
    )
    (scenario / "action_PJSIPShowContacts.txt").write_text(
        head.format("A listing of Contacts follows, presented as ContactList events")
        + "".join(contacts)
        + tail.format("ContactListComplete", len(contacts))
    )
    return fixtures


#: GNU time reports the child's own peak RSS; os.wait4 would count the bench process too,
#: whose pages the child shares between fork and exec.
GNU_TIME = shutil.which("time") if Path("/usr/bin/time").exists() else None


def once(argv: list[str]) -> tuple[float, float]:
    """Wall ms and peak RSS MiB (0 without GNU time) of one run."""
    with tempfile.NamedTemporaryFile("r") as report:
        command = [GNU_TIME, "-f", "%M", "-o", report.name, *argv] if GNU_TIME else argv
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        wall = (time.perf_counter() - started) * 1000
        text = report.read().strip()
    return wall, int(text.splitlines()[-1]) / 1024 if text else 0.0


def main() -> int:
    root = Path(__file__).resolve().parent.parent / "fixtures"
    missing = sorted({check.script for check in AMI_CHECKS} - set(AMI_RUNS))
    if missing:
        raise SystemExit(f"bench: no AMI_RUNS entry for {', '.join(missing)}")
    sims = {  # one simulator per AMI check, from the scenarios asterisk_ami ships
        check.script: Simulator(asterisk="18", scenario=AMI_RUNS[check.script][0], secret=SECRET)
        for check in AMI_CHECKS
    }
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    sims["big"] = Simulator(
        asterisk="20", scenario="peers_2000", secret=SECRET, fixtures=big_pbx(work / "fixtures")
    )
    ports = {script: sim.start_in_thread() for script, sim in sims.items()}
    database = work / "throttle.db"
    with sqlite3.connect(database) as db:  # policyd v1's schema, empty
        db.executescript((root / "ratelimit" / "policyd1.sqlite.sql").read_text())

    def ami(script: str, *extra: str) -> list[str]:
        return [
            str(BIN / script),
            "-H",
            "127.0.0.1",
            "-p",
            str(ports[script]),
            "-U",
            "monitor",
            "-P",
            SECRET,
            *extra,
        ]

    def plain(script: str, *args: str) -> list[str]:
        return [str(BIN / script), *args]

    cases: list[tuple[str, str, list[str]]] = [
        (FLOOR, "floor", [sys.executable, "-c", "import asyncio, click, nagiosplugin, panoramisk"]),
        *[
            (check.script, "run", ami(check.script, *AMI_RUNS[check.script][1]))
            for check in AMI_CHECKS
        ],
        ("check_asterisk_pri --calls", "run", ami("check_asterisk_pri", "--calls")),
        (
            "check_asterisk_peers (2,000 peers)",
            "big",
            [*ami("check_asterisk_peers")[:4], str(ports["big"]), *ami("check_asterisk_peers")[5:]],
        ),
        (
            "check_ratelimit_offenders (policyd1, SQLite)",
            "run",
            plain("check_ratelimit_offenders", "-b", "policyd1", "-d", f"sqlite:///{database}"),
        ),
    ]
    log = work / "full"  # an Asterisk log with failed registrations, read incrementally
    shutil.copy(root / "asterisk_security" / "chan_sip-11.log", log)
    state = work / "state"
    cases.append(
        (
            "check_asterisk_sipauth (incremental log)",
            "run",
            plain("check_asterisk_sipauth", "--log", str(log), "--state-dir", str(state)),
        )
    )
    if shutil.which("postqueue"):  # a local Postfix, its queue as it is
        cases.append(("check_postfix_queue", "run", plain("check_postfix_queue")))
    # --help of every check of the registry (each has its own docstring and options)
    cases += [(f"{c.script} --help", "help", plain(c.script, "--help")) for c in CHECKS]
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
    shutil.rmtree(work)

    floor = statistics.median(walls[FLOOR])
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}; median of {RUNS} runs, round-robin"
    )
    print(f"{'command':50} {'median ms':>9} {'x floor':>8} {'peak MiB':>9}  budget")
    if not GNU_TIME:
        print("(peak RSS not measured: install Debian's 'time' package for /usr/bin/time)")
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
        print(f"{label:50} {wall:9.1f} {ratio:8.2f} {peaks[label]:9.1f}  {verdict}")
    return 1 if over and os.environ.get("BENCH_STRICT") else 0


if __name__ == "__main__":
    sys.exit(main())
