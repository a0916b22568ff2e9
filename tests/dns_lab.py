"""A private DNS lab for check_dnsbl: NSD serving blocklist zones, Unbound resolving through it.

Like a relay that runs its own resolver: the plugin asks Unbound (recursive, stub zones to
NSD), Unbound asks NSD (authoritative). Both are Debian's packages (.ci/setup.d/60-dns.sh),
run as our own foreground processes on free loopback ports with configuration, zone files
and pid files in a temporary directory; nothing touches a system service. The zones carry
the real lists' names (zen.spamhaus.org, ...), so the built-in list set is exercised as is.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.ports import free_ports
from tests.services import service_missing

#: A zone: its name -> records as (owner relative to the zone, type, value).
Zones = Mapping[str, Sequence[tuple[str, str, str]]]
SOA = "ns.lab. hostmaster.lab. 1 3600 600 86400 60"


def v4(address: str) -> str:
    """The owner name of an IPv4 address in a list: its octets reversed."""
    return ".".join(reversed(address.split(".")))


def v6(address: str) -> str:
    return ".".join(reversed(ipaddress.IPv6Address(address).packed.hex()))


def need_dns() -> tuple[str, str]:
    nsd, unbound = shutil.which("nsd") or "/usr/sbin/nsd", shutil.which("unbound")
    unbound = unbound or "/usr/sbin/unbound"
    if not (os.path.exists(nsd) and os.path.exists(unbound)):
        service_missing("60-dns.sh", "NSD and Unbound are not installed")
    return nsd, unbound


def zone_text(name: str, records: Sequence[tuple[str, str, str]]) -> str:
    lines = [f"$ORIGIN {name}.", "$TTL 60", f"@ IN SOA {SOA}", "@ IN NS ns.lab."]
    for owner, rtype, value in records:
        data = '"' + value.replace('"', '\\"') + '"' if rtype == "TXT" else value
        lines.append(f"{owner} IN {rtype} {data}")
    return "\n".join(lines) + "\n"


@dataclass
class Lab:
    """The running lab: ask ``resolver`` (host:port); ``root`` holds its files."""

    root: Path
    resolver: str
    nsd_port: int
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    blackhole: socket.socket | None = None

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self.blackhole is not None:
            self.blackhole.close()


def _wait_for_answer(port: int, name: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until the server on ``port`` answers a query for ``name`` (any answer), or it died."""
    query = (
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        + b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
        + b"\x00\x00\x06\x00\x01"
    )
    for _ in range(200):
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited: {log.read_text(errors='replace')}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.1)
            sock.sendto(query, ("127.0.0.1", port))
            with contextlib.suppress(OSError):
                if sock.recv(512)[:2] == b"\x12\x34":
                    return
        time.sleep(0.05)
    raise RuntimeError(f"no answer on port {port}: {log.read_text(errors='replace')}")


@contextlib.contextmanager
def running_lab(zones: Zones, silent: Sequence[str] = ()) -> Iterator[Lab]:
    """NSD with ``zones``, Unbound with a stub zone for each, and for each of ``silent`` a stub
    to a UDP socket that never answers (a list whose servers are gone)."""
    nsd, unbound = need_dns()
    root = Path(tempfile.mkdtemp(prefix="dnsbl-lab-"))
    nsd_port, unbound_port = free_ports(2)
    lab = Lab(root, f"127.0.0.1:{unbound_port}", nsd_port)
    try:
        zone_stanzas = []
        for name, records in zones.items():
            path = root / f"{name}.zone"
            path.write_text(zone_text(name, records))
            zone_stanzas.append(f"zone:\n  name: {name}\n  zonefile: {path}\n")
        (root / "nsd.conf").write_text(
            "server:\n"
            f"  ip-address: 127.0.0.1@{nsd_port}\n  port: {nsd_port}\n  do-ip6: no\n"
            '  username: ""\n  chroot: ""\n  database: ""\n'
            f"  zonesdir: {root}\n  pidfile: {root}/nsd.pid\n  logfile: {root}/nsd.log\n"
            f"  xfrdfile: {root}/xfrd.state\n  zonelistfile: {root}/zone.list\n"
            f"  xfrdir: {root}\n  server-count: 1\n  verbosity: 0\n  round-robin: no\n"
            "remote-control:\n  control-enable: no\n" + "".join(zone_stanzas)
        )
        nsd_log = root / "nsd.out"
        with nsd_log.open("wb") as out:
            lab.processes.append(
                subprocess.Popen([nsd, "-d", "-c", str(root / "nsd.conf")], stdout=out, stderr=out)
            )
        _wait_for_answer(nsd_port, next(iter(zones)), lab.processes[0], nsd_log)
        stubs = [
            f'stub-zone:\n  name: "{name}"\n  stub-addr: 127.0.0.1@{nsd_port}\n' for name in zones
        ]
        if silent:
            lab.blackhole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            lab.blackhole.bind(("127.0.0.1", 0))  # bound, never read: queries vanish
            hole = lab.blackhole.getsockname()[1]
            stubs += [
                f'stub-zone:\n  name: "{name}"\n  stub-addr: 127.0.0.1@{hole}\n' for name in silent
            ]
        (root / "unbound.conf").write_text(
            "server:\n"
            f"  interface: 127.0.0.1@{unbound_port}\n  port: {unbound_port}\n"
            '  username: ""\n  chroot: ""\n'
            f'  directory: "{root}"\n  pidfile: "{root}/unbound.pid"\n'
            '  use-syslog: no\n  logfile: ""\n  verbosity: 0\n'
            "  do-ip6: no\n  do-not-query-localhost: no\n  access-control: 127.0.0.0/8 allow\n"
            '  num-threads: 1\n  so-reuseport: no\n  module-config: "iterator"\n'
            "  qname-minimisation: no\n  ratelimit: 0\n  ip-ratelimit: 0\n"
            "  outgoing-range: 1024\n  num-queries-per-thread: 1024\n"
            "  # a silent stub is retried for long: a late SERVFAIL, not a fast one\n"
            "  infra-cache-min-rtt: 2000\n"
            "remote-control:\n  control-enable: no\n" + "".join(stubs)
        )
        unbound_log = root / "unbound.out"
        with unbound_log.open("wb") as out:
            lab.processes.append(
                subprocess.Popen(
                    [unbound, "-d", "-c", str(root / "unbound.conf")], stdout=out, stderr=out
                )
            )
        _wait_for_answer(unbound_port, next(iter(zones)), lab.processes[1], unbound_log)
        yield lab
    finally:
        lab.stop()
        shutil.rmtree(root, ignore_errors=True)


# -- the zones of the tests ---------------------------------------------------------------
#: Addresses of the relays in the tests (TEST-NET-1 and the IPv6 documentation prefix).
LISTED_XBL = "192.0.2.25"  # zen (XBL) and SpamCop, with TXT reasons
LISTED_PBL = "192.0.2.26"  # zen (PBL): a warning; UCEPROTECT level 3: info
LISTED_V6 = "2001:db8::25"  # zen (SBL CSS) over IPv6
SPAM_DOMAIN = "spammy.example"  # DBL: spam domain
CUSTOM = "bl.isp-test.example"  # the parent of the lists of our own
DQS_KEY = "labkey0123456789abcdefghij"  # 26 letters and digits, like Spamhaus' keys


def rfc_points(listed: str = "127.0.0.2") -> list[tuple[str, str, str]]:
    """RFC 5782's IPv4 test point, listed."""
    return [(v4("127.0.0.2"), "A", listed)]


def standard_zones() -> dict[str, list[tuple[str, str, str]]]:
    """The built-in lists (Barracuda silent: its servers answer registered resolvers only) and
    lists of our own that misbehave in every way the check must survive."""
    xbl_reason = f"https://check.spamhaus.org/query/ip/{LISTED_XBL}"
    return {
        "zen.spamhaus.org": [
            *rfc_points(),
            (v4(LISTED_XBL), "A", "127.0.0.4"),
            (v4(LISTED_XBL), "TXT", xbl_reason),
            (v4(LISTED_PBL), "A", "127.0.0.10"),
            (v4(LISTED_PBL), "TXT", "https://check.spamhaus.org/query/ip/192.0.2.26"),
            (v6(LISTED_V6), "A", "127.0.0.3"),
            (v6(LISTED_V6), "TXT", "snowshoe range 2001:db8::/64"),
        ],
        "dbl.spamhaus.org": [
            ("dbltest.com", "A", "127.0.1.2"),
            (SPAM_DOMAIN, "A", "127.0.1.2"),
            (SPAM_DOMAIN, "TXT", f"https://check.spamhaus.org/query/dbl/{SPAM_DOMAIN}"),
        ],
        "bl.spamcop.net": [
            *rfc_points(),
            (v4(LISTED_XBL), "A", "127.0.0.2"),
            (v4(LISTED_XBL), "TXT", f"Blocked - see https://www.spamcop.net/bl.shtml?{LISTED_XBL}"),
        ],
        "psbl.surriel.com": rfc_points(),
        "dnsbl-1.uceprotect.net": rfc_points(),
        "dnsbl-2.uceprotect.net": rfc_points(),
        "dnsbl-3.uceprotect.net": [*rfc_points(), (v4(LISTED_PBL), "A", "127.0.0.2")],
        "spam.spamrats.com": rfc_points("127.0.0.38"),
        "noptr.spamrats.com": rfc_points("127.0.0.37"),
        # Spamhaus through DQS: another answer than the public mirror, to tell them apart
        f"{DQS_KEY}.zen.dq.spamhaus.net": [*rfc_points(), (v4(LISTED_PBL), "A", "127.0.0.2")],
        # ours: every way a list goes wrong
        f"everything.{CUSTOM}": [("*", "A", "127.0.0.2")],  # a dead list's wildcard
        f"outside.{CUSTOM}": [("*", "A", "198.51.100.7")],  # a parked domain's web server
        f"dead.{CUSTOM}": [],  # lists nothing, not even its test point
        f"refusing.{CUSTOM}": [("*", "A", "127.255.255.254")],  # an error answer
        f"plain.{CUSTOM}": [*rfc_points(), (v4(LISTED_XBL), "A", "127.0.0.5")],
        f"many.{CUSTOM}": [
            *rfc_points(),
            *((v4(f"192.0.2.{64 + n}"), "A", "127.0.0.2") for n in range(16)),
        ],
        f"v6.{CUSTOM}": [
            (v6("::ffff:7f00:2"), "A", "127.0.0.2"),
            (v6(LISTED_V6), "A", "127.0.0.2"),
        ],
        f"domains.{CUSTOM}": [("test", "A", "127.0.0.2"), (SPAM_DOMAIN, "A", "127.0.0.2")],
    }


#: Zones whose servers never answer (stubs to a socket that reads nothing).
SILENT = ("b.barracudacentral.org", f"silent.{CUSTOM}")


def spamhaus_refusing_zones() -> dict[str, list[tuple[str, str, str]]]:
    """Spamhaus as a public resolver sees it: every query answered with an error code."""
    return {
        "zen.spamhaus.org": [("*", "A", "127.255.255.254")],
        "dbl.spamhaus.org": [("*", "A", "127.255.255.255")],
    }
