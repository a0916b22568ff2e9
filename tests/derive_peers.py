"""Derive the peers_* scenarios of every other version from the ones captured on 20.

``python -m tests.derive_peers`` rewrites them (see asterisk_ami/scenarios/README.md for what
differs by version). 1.4's CLI files are rendered from 1.4's format strings (chan_sip.c,
chan_iax2.c), with Python's %-formatting (C printf's padding rules).
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "asterisk_ami" / "scenarios"
SCENARIOS = ("peers_ok", "peers_lab", "peers_carrier_down")
STALE = "peers_carrier_stale"
#: The chan_sip peers with a username (the CLI writes name/username).
USERNAMES = {"provider-sip": "pbxsip"}


def events(path: Path) -> list[dict[str, str]]:
    """The list events of a recorded reply (the ack and the Complete event left out)."""
    found = []
    for frame in path.read_text().strip("\n").split("\n\n")[1:-1]:
        headers = {}
        for line in filter(None, frame.split("\n")):
            name, _, value = line.partition(": ")
            headers[name.rstrip(":")] = value
        found.append(headers)
    return found


def copy(source: Path, target: Path, skip: tuple[str, ...] = ()) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for path in source.iterdir():
        if not any(re.match(pattern, path.name) for pattern in skip):
            shutil.copy(path, target / path.name)


def _online(status: str) -> bool:
    return status.startswith(("OK", "LAGGED"))


def asterisk_1_4(source: Path, target: Path) -> None:
    """1.4: SIPpeers with its own fields and framing; the CLI for the rest."""
    copy(source, target, (r"action_PJSIP", r"pjsip_", r"action_SIPshowregistry", r"action_IAX"))
    peers = events(source / "action_SIPpeers.txt")
    out = ["Response: Success\nActionID: 42\nMessage: Peer status list will follow\n"]
    for e in peers:
        out.append(
            f"Event: PeerEntry\nActionID: 42\nChanneltype: SIP\nObjectName: {e['ObjectName']}\n"
            f"ChanObjectType: peer\nIPaddress: {e['IPaddress']}\nIPport: {e['IPport']}\n"
            f"Dynamic: {e['Dynamic']}\nNatsupport: no\nVideoSupport: no\nACL: no\n"
            f"Status: {e['Status']}\nRealtimeDevice: no\n"
        )
    out.append(f"Event: PeerlistComplete\nListItems: {len(peers)}\nActionID: 42\n")
    (target / "action_SIPpeers.txt").write_text("\n".join(out) + "\n")

    row = "%-25.25s  %-15.15s %-3.3s %-3.3s %-3.3s %-8s %-10s %-10s"
    rows = [row % ("Name/username", "Host", "Dyn", "Nat", "ACL", "Port", "Status", "")]
    counts = {"on": 0, "off": 0, "uon": 0, "uoff": 0}
    for e in peers:
        name = e["ObjectName"] + (
            f"/{USERNAMES[e['ObjectName']]}" if e["ObjectName"] in USERNAMES else ""
        )
        host = "(Unspecified)" if e["IPaddress"] == "-none-" else e["IPaddress"]
        dyn = " D " if e["Dynamic"] == "yes" else "   "
        rows.append(
            row.replace("%-8s", "%-8d")
            % (name, host, dyn, "   ", "   ", int(e["IPport"]), e["Status"], "")
        )
        if e["Status"] == "Unmonitored":
            counts["uoff" if e["IPport"] == "0" else "uon"] += 1
        else:
            counts["on" if _online(e["Status"]) else "off"] += 1
    rows.append(
        f"{len(peers)} sip peers [Monitored: {counts['on']} online, {counts['off']} offline "
        f"Unmonitored: {counts['uon']} online, {counts['uoff']} offline]"
    )
    (target / "sip_show_peers.txt").write_text("\n".join(rows) + "\n")

    row = "%-30.30s  %-12.12s  %8.8s %-20.20s %-25.25s"
    rows = [row % ("Host", "Username", "Refresh", "State", "Reg.Time")]
    for r in events(source / "action_SIPshowregistry.txt"):
        stamp = int(r["RegistrationTime"])
        when = time.strftime("%a, %d %b %Y %T", time.gmtime(stamp)) if stamp else ""
        host = f"{r['Host']}:{r['Port']}"
        rows.append(
            row.replace("%8.8s", "%8d") % (host, r["Username"], int(r["Refresh"]), r["State"], when)
        )
    (target / "sip_show_registry.txt").write_text("\n".join(rows) + "\n")

    row = "%-15.15s  %-15.15s %s  %-15.15s  %-8s  %s %-10s%s"
    rows = [row % ("Name/Username", "Host", "   ", "Mask", "Port", "   ", "Status", "")]
    iax = events(source / "action_IAXpeerlist.txt")
    on = off = unmonitored = 0
    for e in iax:
        name = e["ObjectName"] + (f"/{e['ObjectUsername']}" if e.get("ObjectUsername") else "")
        host = "(Unspecified)" if e["IPaddress"] == "(null)" else e["IPaddress"]
        mask = "0.0.0.0" if e["Mask"] == "(null)" else e["Mask"]
        port = 0 if e["Port"] == "(null)" else int(e["Port"])
        kind = "(D)" if e["Dynamic"] == "yes" else "(S)"
        line = "%-15.15s  %-15.15s %s  %-15.15s  %-5d%s  %s %-10s%s"
        rows.append(line % (name, host, kind, mask, port, "   ", "   ", e["Status"], ""))
        if e["Status"] == "Unmonitored":
            unmonitored += 1
        elif _online(e["Status"]):
            on += 1
        else:
            off += 1
    rows.append(f"{len(iax)} iax2 peers [{on} online, {off} offline, {unmonitored} unmonitored]")
    (target / "iax2_show_peers.txt").write_text("\n".join(rows) + "\n")

    row = "%-20.20s  %-6.6s  %-10.10s  %-20.20s %8.8s  %s"
    rows = [row % ("Host", "dnsmgr", "Username", "Perceived", "Refresh", "State")]
    for r in events(source / "action_IAXregistry.txt"):
        values = (
            r["Host"],
            r["DNSmanager"],
            r["Username"],
            r["Perceived"],
            int(r["Refresh"]),
            r["State"],
        )
        rows.append(row.replace("%8.8s", "%8d") % values)
    (target / "iax2_show_registry.txt").write_text("\n".join(rows) + "\n")


def main() -> int:
    for scenario in SCENARIOS:
        source = ROOT / "20" / scenario
        copy(source, ROOT / "22" / scenario, (r"action_SIP", r"sip_"))
        for version in ("16", "18"):
            copy(source, ROOT / version / scenario)
        for version in ("13", "14"):
            copy(source, ROOT / version / scenario, (r"action_PJSIPShowContacts",))
        for path in (ROOT / "13" / scenario).iterdir():
            text = path.read_text()
            path.write_text(text.replace("NonQualified", "Created").replace("NonQual", "Created"))
        for version in ("1.6", "1.8", "11"):
            copy(source, ROOT / version / scenario, (r"action_PJSIP", r"pjsip_"))
        asterisk_1_4(source, ROOT / "1.4" / scenario)
        for version in ("1.4", "1.6", "1.8", "11", "13", "14", "16", "18", "20", "22"):
            shutil.copy(
                ROOT / version / "pri_all_up" / "core_show_version.txt", ROOT / version / scenario
            )
    # Captured on 20 only: the "(exp. Ns ago)" it shows came with 16.27, 18.13 and 19.5.
    shutil.copy(ROOT / "20" / "pri_all_up" / "core_show_version.txt", ROOT / "20" / STALE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
