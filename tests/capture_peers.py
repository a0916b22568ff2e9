"""Capture the peers_* scenarios of the simulator's 20 from the real SIP trunk lab.

``python -m tests.capture_peers`` starts tests/sip_lab.py, waits for the qualifies and the
registrations, writes ``asterisk_ami/scenarios/20/peers_lab``, derives ``peers_ok`` from it,
stops the carrier, waits for the registrations to time out and writes ``peers_carrier_down``.
The lab's random ports and passwords are replaced by fixed ones (scenarios/README.md).
"""

from __future__ import annotations

import re
import socket
import sys
import tempfile
import time
from pathlib import Path

from tests.asterisk_real import ADMIN, ADMIN_SECRET, ami_request, read_message
from tests.sip_lab import BAD_PASSWORD, PASSWORD, Lab, sip_lab

SCENARIOS = Path(__file__).resolve().parent.parent / "asterisk_ami" / "scenarios" / "20"
ACTIONS = (
    "SIPpeers",
    "SIPshowregistry",
    "IAXpeerlist",
    "IAXregistry",
    "PJSIPShowEndpoints",
    "PJSIPShowContacts",
    "PJSIPShowRegistrationsOutbound",
)
COMMANDS = (
    "sip show peers",
    "sip show registry",
    "iax2 show peers",
    "iax2 show registry",
    "pjsip show endpoints",
    "pjsip show registrations",
)
#: What the peers_ok scenario leaves out of peers_lab.
BROKEN = ("dead-", "pbxsip2", "wrong-reg", "provider-pj2")


def exchange(port: int, action: str, **headers: str) -> str:
    """One action's whole reply (its list events too), LF line ends."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        stream = conn.makefile("rwb")
        stream.readline()
        stream.write(ami_request("Login", Username=ADMIN, Secret=ADMIN_SECRET, Events="off"))
        stream.flush()
        read_message(stream)
        stream.write(ami_request(action, ActionID="42", **headers))
        stream.flush()
        parts = []
        while True:
            message = read_message(stream)
            parts.append(message)
            listing = "EventList: start" in message
            if not message or "EventList: Complete" in message or (not listing and len(parts) == 1):
                break
        stream.write(ami_request("Logoff"))
        stream.flush()
    return "".join(parts).replace("\r\n", "\n")


def capture(lab: Lab, target: Path) -> None:
    ports = lab.provider_ports
    dead = re.search(r"port = (\d+)\n\[quiet", (lab.pbx.directory / "etc" / "sip.conf").read_text())
    swaps = [(str(ports.sip), "5060"), (str(ports.pjsip), "5062"), (str(ports.iax), "4569")]
    swaps += [(PASSWORD, "fixture-Trunk-pw-5521"), (BAD_PASSWORD, "fixture-Wrong-pw-6632")]
    if dead:
        swaps.append((dead.group(1), "5099"))

    def fixed(text: str) -> str:
        for old, new in swaps:
            text = text.replace(old, new)
        return text

    target.mkdir(parents=True, exist_ok=True)
    for action in ACTIONS:
        (target / f"action_{action}.txt").write_text(fixed(exchange(lab.pbx.port, action)))
    for endpoint in ("provider-pj", "dead-pj"):
        reply = exchange(lab.pbx.port, "PJSIPShowEndpoint", Endpoint=endpoint)
        (target / f"action_PJSIPShowEndpoint_{endpoint}.txt").write_text(fixed(reply))
    for command in COMMANDS:
        reply = exchange(lab.pbx.port, "Command", Command=command)
        lines = [line[len("Output:") :].removeprefix(" ") for line in reply.split("\n")]
        text = "\n".join(x for x, raw in zip(lines, reply.split("\n")) if raw.startswith("Output:"))
        (target / ("_".join(command.split()) + ".txt")).write_text(fixed(text.rstrip("\n")) + "\n")


def healthy(source: Path, target: Path) -> None:
    """peers_ok: peers_lab without the broken peers and registrations (counts fixed)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if "dead-pj" in path.name:
            continue
        text = path.read_text()
        if path.name.startswith("action_"):
            blocks = [
                b
                for b in text.split("\n\n")
                if b.startswith("Response") or not any(x in b for x in BROKEN)
            ]
            items = sum(
                1
                for b in blocks
                if b.startswith("Event:")
                and not b.split("\n")[0].endswith("Complete")
                and not b.startswith("Event: AuthDetail")
            )
            out = re.sub(r"ListItems: \d+", f"ListItems: {items}", "\n\n".join(blocks))
            out = out.replace("Registered: 1\nNotRegistered: 1", "Registered: 1\nNotRegistered: 0")
        else:
            out = "\n".join(x for x in text.split("\n") if not any(b in x for b in BROKEN))
        (target / path.name).write_text(out)


def main() -> int:
    with tempfile.TemporaryDirectory() as directory, sip_lab(Path(directory)) as lab:
        time.sleep(30)  # qualifies every 2 s, registrations within seconds
        capture(lab, SCENARIOS / "peers_lab")
        healthy(SCENARIOS / "peers_lab", SCENARIOS / "peers_ok")
        lab.provider.stop()
        time.sleep(240)  # chan_sip's registry and IAX2's registration time out
        capture(lab, SCENARIOS / "peers_carrier_down")
    print(
        "captured; the trailers of peers_ok's CLI files (counts) are fixed by hand", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
