"""Capture the real SIP trunk lab's peers replies, and write the 20's peers_* scenarios from them.

``python -m tests.capture_peers`` starts tests/sip_lab.py, waits for the qualifies and the
registrations, captures every peers action and CLI command raw into
``fixtures/asterisk/captured/20.20.1/peers/lab/``, stops the carrier, waits for the
PJSIP registration's refresh to go unanswered (still Registered, ``exp. 15s ago``) and
captures into ``.../peers/carrier_stale/``, then, four minutes after the stop, when the
registrations have timed out, into ``.../peers/carrier_down/``. The raw bytes
are kept as Asterisk wrote them (CRLF, the bytes that follow a reply), except what
:func:`scrub` replaces: the lab's random ports by fixed ones and its passwords by fixture
words (every other secret header of an ``AuthDetail`` event too).

The scenarios ``asterisk_ami/scenarios/20/peers_<state>`` are
:func:`scenario_files` of those captures, and ``peers_ok`` is :func:`healthy` of
``peers_lab``; tests/test_captured.py holds the scenarios to the captures, and
``python -m tests.capture_peers --scenarios`` rewrites the scenarios from the captures alone.
"""

from __future__ import annotations

import contextlib
import re
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.asterisk_real import ADMIN, ADMIN_SECRET, ami_request
from tests.capture_asterisk import CAPTURED, read_reply
from tests.sip_lab import BAD_PASSWORD, PASSWORD, Lab, sip_lab

SCENARIOS = Path(__file__).resolve().parent.parent / "asterisk_ami" / "scenarios" / "20"
#: Where the raw captures go, by lab state (the scenario is ``peers_<state>``).
PEERS_CAPTURED = CAPTURED / "20.20.1" / "peers"
STATES = ("lab", "carrier_stale", "carrier_down")
#: carrier_stale is captured once provider-reg's refresh is this many seconds overdue.
STALE_AFTER = 15
ACTIONS = (
    "SIPpeers",
    "SIPshowregistry",
    "IAXpeerlist",
    "IAXregistry",
    "PJSIPShowEndpoints",
    "PJSIPShowContacts",
    "PJSIPShowRegistrationsOutbound",
)
#: PJSIPShowEndpoint for these endpoints (the check asks it of endpoints with static contacts).
ENDPOINTS = ("provider-pj", "dead-pj", "slow-pj")
COMMANDS = (
    "sip show peers",
    "sip show registry",
    "iax2 show peers",
    "iax2 show registry",
    "pjsip show endpoints",
    "pjsip show registrations",
)
#: The lab's fixed stand-ins (asterisk_ami/scenarios/README.md): the carrier's chan_sip,
#: PJSIP and IAX2 ports, the port nobody answers, the slow OPTIONS responder's; the passwords.
FIXED_PORTS = {"sip": "5060", "pjsip": "5062", "iax": "4569", "dead": "5099", "slow": "5098"}
FIXTURE_PASSWORDS = {PASSWORD: "fixture-Trunk-pw-5521", BAD_PASSWORD: "fixture-Wrong-pw-6632"}
#: Any other secret an AuthDetail event could carry becomes this.
SCRUBBED = "fixture-scrubbed"
SECRET_HEADERS = ("Password", "Md5Cred", "PasswordDigest", "OauthSecret", "RefreshToken")
#: What the peers_ok scenario leaves out of peers_lab.
BROKEN = ("dead-", "pbxsip2", "wrong-reg", "provider-pj2", "slow-")
#: How long after a reply further bytes still belong to it (the PJSIP errors' stray CRLF).
LINGER = 0.3


def file_names() -> Iterator[tuple[str, str, dict[str, str]]]:
    """(capture name, action, headers) of every exchange, in order."""
    for action in ACTIONS:
        yield f"action-{action}", action, {}
    for endpoint in ENDPOINTS:
        yield f"action-PJSIPShowEndpoint-{endpoint}", "PJSIPShowEndpoint", {"Endpoint": endpoint}
    for command in COMMANDS:
        yield f"command-{command.replace(' ', '_')}", "Command", {"Command": command}


def exchange(port: int, action: str, **headers: str) -> bytes:
    """One action's whole reply, raw, and whatever the server sends right after it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        stream = conn.makefile("rwb")
        stream.readline()
        stream.write(ami_request("Login", Username=ADMIN, Secret=ADMIN_SECRET, Events="off"))
        stream.flush()
        read_reply(stream)  # type: ignore[arg-type]
        stream.write(ami_request(action, ActionID="42", **headers))
        stream.flush()
        raw = read_reply(stream)  # type: ignore[arg-type]
        conn.settimeout(LINGER)
        with contextlib.suppress(OSError):  # a timeout: nothing more came
            raw += stream.read1(65536)  # what is buffered already, or one read
    return raw


def scrub(raw: bytes, swaps: dict[str, str]) -> bytes:
    """The lab's ports and passwords replaced by fixed ones; any other non-empty secret header
    of an AuthDetail event by SCRUBBED."""
    text = raw.decode("utf-8")
    for old, new in swaps.items():
        text = text.replace(old, new)
    fixed = set(FIXTURE_PASSWORDS.values())

    def secret(match: re.Match[str]) -> str:
        value = match.group(2)
        return match.group(0) if not value or value in fixed else f"{match.group(1)}{SCRUBBED}"

    headers = "|".join(SECRET_HEADERS)
    text = re.sub(rf"^((?:{headers}): )([^\r\n]*)", secret, text, flags=re.M)
    return text.encode("utf-8")


def lab_swaps(lab: Lab) -> dict[str, str]:
    ports = lab.provider_ports
    conf = (lab.pbx.directory / "etc" / "sip.conf").read_text()
    dead = re.search(r"\[dead-sip\]\ntype = peer\nhost = 127.0.0.1\nport = (\d+)", conf)
    assert dead is not None
    swaps = {
        str(ports.sip): FIXED_PORTS["sip"],
        str(ports.pjsip): FIXED_PORTS["pjsip"],
        str(ports.iax): FIXED_PORTS["iax"],
        dead.group(1): FIXED_PORTS["dead"],
        str(lab.slow.port): FIXED_PORTS["slow"],
    }
    return {**swaps, **FIXTURE_PASSWORDS}


def capture(lab: Lab) -> dict[str, bytes]:
    swaps = lab_swaps(lab)
    return {
        name: scrub(exchange(lab.pbx.port, action, **headers), swaps)
        for name, action, headers in file_names()
    }


# -- the scenarios ---------------------------------------------------------------------------
def scenario_files(found: dict[str, bytes]) -> dict[str, str]:
    """A scenario from a state's captures: each action's reply with LF line ends (the bytes
    after it left out: the simulator frames), each command's CLI text."""
    files = {}
    for name, raw in found.items():
        kind, _, rest = name.partition("-")
        text = raw.decode("utf-8")
        if kind == "action":
            reply = text.replace("\r\n", "\n").rstrip("\n") + "\n\n"
            files[f"action_{rest.replace('-', '_', 1)}.txt"] = reply
        else:
            lines = [
                line[len("Output:") :].removeprefix(" ")
                for line in text.split("\r\n")
                if line.startswith("Output:")
            ]
            files[f"{rest}.txt"] = "\n".join(lines).rstrip("\n") + "\n"
    return files


def read_captures(state: str) -> dict[str, bytes]:
    directory = PEERS_CAPTURED / state
    return {path.stem: path.read_bytes() for path in sorted(directory.glob("*.txt"))}


def _recount(name: str, text: str) -> str:
    """The CLI trailers (counts) of a scenario left with fewer rows."""
    rows = text.split("\n")
    if name == "sip_show_peers.txt":
        peers = [r for r in rows[1:] if r and not re.match(r"\d+ sip peers", r)]
        unmonitored = [r for r in peers if "Unmonitored" in r]
        monitored = [r for r in peers if r not in unmonitored]
        on = sum(bool(re.search(r"(OK|LAGGED) \(", r)) for r in monitored)
        u_on = sum(bool(re.search(r"\s[1-9]\d*\s+Unmonitored", r)) for r in unmonitored)
        trailer = (
            f"{len(peers)} sip peers [Monitored: {on} online, {len(monitored) - on} offline "
            f"Unmonitored: {u_on} online, {len(unmonitored) - u_on} offline]"
        )
        return re.sub(r"^\d+ sip peers \[.*$", trailer, text, flags=re.M)
    if name == "iax2_show_peers.txt":
        peers = [r for r in rows[1:] if r and not re.match(r"\d+ iax2 peers", r)]
        on = sum(bool(re.search(r"(OK|LAGGED) \(", r)) for r in peers)
        quiet = sum("Unmonitored" in r for r in peers)
        trailer = (
            f"{len(peers)} iax2 peers [{on} online, {len(peers) - on - quiet} offline, "
            f"{quiet} unmonitored]"
        )
        return re.sub(r"^\d+ iax2 peers \[.*$", trailer, text, flags=re.M)
    if name == "sip_show_registry.txt":
        count = len([r for r in rows[1:] if r and not re.match(r"\d+ SIP registrations", r)])
        return re.sub(r"^\d+ SIP registrations", f"{count} SIP registrations", text, flags=re.M)
    if name == "pjsip_show_endpoints.txt":
        count = sum(r.startswith(" Endpoint:  ") and "<" not in r for r in rows)
        return re.sub(r"^Objects found: \d+", f"Objects found: {count}", text, flags=re.M)
    if name == "pjsip_show_registrations.txt":
        count = sum(bool(re.match(r" \S+/sip:", r)) for r in rows)
        return re.sub(r"^Objects found: \d+", f"Objects found: {count}", text, flags=re.M)
    return text


def healthy(lab: dict[str, str]) -> dict[str, str]:
    """peers_ok: peers_lab without the broken (and slow) peers and registrations."""
    files = {}
    for name, text in lab.items():
        if any(broken in name for broken in BROKEN):
            continue
        if name.startswith("action_"):
            blocks = text.split("\n\n")
            kept = [
                b for b in blocks if b.startswith("Response") or not any(x in b for x in BROKEN)
            ]
            # Asterisk counts the listed objects, not the AuthDetail events that go with them.
            gone = sum(1 for b in blocks if b not in kept and not b.startswith("Event: AuthDetail"))
            out = "\n\n".join(kept)
            listed = re.search(r"ListItems: (\d+)", out)
            if listed and gone:
                out = out.replace(listed.group(0), f"ListItems: {int(listed.group(1)) - gone}")
            out = re.sub(r"NotRegistered: \d+", "NotRegistered: 0", out)
        else:
            # A PJSIP endpoint's block (its Aor and Contact lines) goes with it.
            kept, skipping = [], False
            for line in text.split("\n"):
                if line.startswith(" Endpoint:  "):
                    skipping = any(b in line for b in BROKEN)
                if not skipping and not any(b in line for b in BROKEN):
                    kept.append(line)
                elif not line.strip():
                    skipping = False
                    kept.append(line)
            out = _recount(name, "\n".join(kept))
        files[name] = out
    return files


def write_scenario(name: str, files: dict[str, str]) -> None:
    target = SCENARIOS / name
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.txt"):
        if old.name != "core_show_version.txt":  # tests/derive_peers.py puts it there
            old.unlink()
    for file, text in files.items():
        (target / file).write_text(text, encoding="utf-8")


def write_scenarios() -> None:
    lab = scenario_files(read_captures("lab"))
    write_scenario("peers_lab", lab)
    write_scenario("peers_ok", healthy(lab))
    for state in STATES[1:]:
        write_scenario(f"peers_{state}", scenario_files(read_captures(state)))


def write_captures(state: str, found: dict[str, bytes]) -> None:
    directory = PEERS_CAPTURED / state
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.txt"):
        old.unlink()
    for name, raw in found.items():
        (directory / f"{name}.txt").write_bytes(raw)


def overdue_seconds(lab: Lab) -> int:
    """How long ago provider-reg's refresh was due while it still says Registered; 0 if not."""
    raw = exchange(lab.pbx.port, "Command", Command="pjsip show registrations")
    found = re.search(rb"provider-reg/\S+\s+\S+\s+Registered\s+\(exp\. (\d+)s ago\)", raw)
    return int(found.group(1)) if found else 0


def main(args: list[str]) -> int:
    if args != ["--scenarios"]:
        with tempfile.TemporaryDirectory() as directory, sip_lab(Path(directory)) as lab:
            time.sleep(30)  # qualifies every 2 s, registrations within seconds
            assert b"provider-sip" in exchange(lab.pbx.port, "SIPpeers"), "not the pbx"
            write_captures("lab", capture(lab))
            lab.provider.stop()
            stopped = time.monotonic()
            # PJSIP's refresh falls due within a minute and stays unanswered for about 30 s,
            # the registration still Registered: the stale state, once 15 s overdue.
            while overdue_seconds(lab) < STALE_AFTER and time.monotonic() - stopped < 150:
                time.sleep(1)
            write_captures("carrier_stale", capture(lab))
            time.sleep(max(0.0, 240 - (time.monotonic() - stopped)))  # chan_sip's registry
            write_captures("carrier_down", capture(lab))
    write_scenarios()
    print("written; now run python -m tests.derive_peers", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
