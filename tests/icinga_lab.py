"""Two Icinga 2 nodes on loopback for tests/test_icinga_zones.py: a master and a PBX satellite
in a child zone, certificates from `icinga2 pki`, the zone configuration from nagios-config/.

The lab plays the administrator who follows the README: each node's own configuration is what
`icinga2 node wizard` writes (constants, the API listener, zones.conf with the node's endpoint,
its zone and the global zone), and the rest is the shipped files, copied where the README puts
them with the example's names and addresses edited to the lab's (edit() refuses an edit that
finds nothing, so a changed example fails here instead of testing something else). Every
directory a node writes is under its own temporary directory; both run as the current user
(root in CI: no privilege drop to nagios, so no file needs handing over).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import re
import shutil
import socket
import ssl
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.nagios_helpers import ICINGA2, MASTER, SCRIPTS, current_user, stop
from tests.ports import free_port

#: The satellite zone of the shipped example (zones.conf, zones.d/pbx-east/).
ZONE = "pbx-east"
#: The example's satellite endpoint; the lab's is LOCALHOST: asterisk-watch verifies the API's
#: certificate against the name in icinga_url, and only "localhost" resolves to loopback on
#: every machine (icinga2 pki puts the CN in the certificate's subjectAltName, no address).
EXAMPLE_SATELLITE = "satellite-east.example.net"
SATELLITE = "localhost"
#: The shipped files of the scaled-out layout, by where the README puts them on the master.
MASTER_FILES = {
    "zones.d/global-templates/isp-plugins-commands.conf": "commands.conf",
    "zones.d/global-templates/isp-plugins-satellite-pbx.conf": (
        "zones.d/global-templates/isp-plugins-satellite-pbx.conf"
    ),
    "zones.d/master/pbx-satellites.conf": "zones.d/master/pbx-satellites.conf",
    f"zones.d/{ZONE}/{ZONE}.conf": f"zones.d/{ZONE}/{ZONE}.conf",
}
WATCH_INI = ICINGA2 / f"asterisk-watch-{ZONE}.ini"
#: The lab's own API user on each node, for the test's queries (not the watcher's).
LAB_USER = "lab"


def edit(text: str, edits: dict[str, str], where: str) -> str:
    """Replace each key of edits (every occurrence) by its value; each must occur."""
    for old, new in edits.items():
        assert old in text, f"{where}: the example no longer has {old!r}"
        text = text.replace(old, new)
    return text


def retime(text: str, block: str, settings: dict[str, str], where: str) -> str:
    """Set `key = value` lines inside one `template/object TYPE "NAME" { ... }` block."""
    found = re.search(
        rf"^(?:template|object) \w+ \"{re.escape(block)}\" \{{\n.*?^\}}", text, re.M | re.S
    )
    assert found, f"{where}: no block {block!r}"
    body = found.group(0)
    for key, value in settings.items():
        body, count = re.subn(rf"^(\t{key} = )\S+", rf"\g<1>{value}", body, flags=re.M)
        assert count == 1, f"{where}: {block} has no {key}"
    return text[: found.start()] + body + text[found.end() :]


def environment() -> dict[str, str]:
    """As root Icinga 2 drops privileges to ICINGA2_USER (default nagios), who could not
    write a private temporary directory: the current user instead."""
    user, group = current_user()
    return {**os.environ, "ICINGA2_USER": user, "ICINGA2_GROUP": group}


def free_loopback(port: int) -> str:
    """A 127.x.y.z address with nothing listening on port (a PBX's AMI port: the example
    gives none, so 5038)."""
    for _ in range(50):
        address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
        with socket.socket() as probe:
            try:
                probe.bind((address, port))
            except OSError:
                continue
        return address
    raise AssertionError(f"no free loopback address for port {port}")


def run(*command: str) -> None:
    done = subprocess.run(
        command, capture_output=True, text=True, env=environment(), timeout=60, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)}: {done.stdout}{done.stderr}"


class Pki:
    """A CA made by `icinga2 pki new-ca`, signing node certificates locally (no ticket, no
    network): what `icinga2 node wizard` and the master's CA do, without the request."""

    def __init__(self, icinga2: str, directory: Path) -> None:
        self.icinga2 = icinga2
        self.directory = directory
        # new-ca and sign-csr keep the CA in DataDir/ca.
        self.data = f"-DDataDir={directory}"
        run(icinga2, "pki", "new-ca", self.data)
        self.ca = directory / "ca" / "ca.crt"

    def issue(self, node: str, certs: Path) -> None:
        """certs/NODE.key, certs/NODE.crt and certs/ca.crt: an ApiListener's defaults."""
        certs.mkdir(parents=True, exist_ok=True)
        key, csr, crt = (certs / f"{node}.{ext}" for ext in ("key", "csr", "crt"))
        run(self.icinga2, "pki", "new-cert", "--cn", node, "--key", str(key), "--csr", str(csr))
        run(self.icinga2, "pki", "sign-csr", self.data, "--csr", str(csr), "--cert", str(crt))
        shutil.copy(self.ca, certs / "ca.crt")


class Node:
    """One Icinga 2 instance: its main configuration, directories, API port and process."""

    PATHS = ("cache", "data", "log", "spool", "run", "zones.d")

    def __init__(self, icinga2: str, directory: Path, name: str, zone: str) -> None:
        self.icinga2 = icinga2
        self.directory = directory
        self.name = name
        self.zone = zone
        self.port = free_port()
        self.password = f"lab-{self.port}"
        for sub in self.PATHS:
            (directory / sub).mkdir(parents=True, exist_ok=True)
        self.main = directory / "icinga2.conf"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ca(self) -> Path:
        return self.directory / "data" / "certs" / "ca.crt"

    def configure(self, zones: str, accept_config: bool) -> None:
        """What the node wizard leaves: constants, features, the API, zones.conf."""
        (self.directory / "constants.conf").write_text(
            'const PluginDir = "/usr/lib/nagios/plugins"\n'
            f'const PluginContribDir = "{SCRIPTS}"\n'
            f'const NodeName = "{self.name}"\n'
            f'const ZoneName = "{self.zone}"\n'
            'const TicketSalt = ""\n'
        )
        accept = "true" if accept_config else "false"
        self.main.write_text(
            f"""include "constants.conf"
include <itl>
include <plugins>

object IcingaApplication "app" {{ }}
object CheckerComponent "checker" {{ }}
object FileLogger "main-log" {{
\tpath = "{self.directory / "log" / "icinga2.log"}"
\tseverity = "notice"
}}
object ApiListener "api" {{
\tbind_host = "127.0.0.1"
\tbind_port = {self.port}
\taccept_config = {accept}
\taccept_commands = {accept}
}}
object ApiUser "{LAB_USER}" {{
\tpassword = "{self.password}"
\tpermissions = [ "*" ]
}}
include "zones.conf"
"""
        )
        (self.directory / "zones.conf").write_text(zones)

    def defines(self) -> list[str]:
        paths = {
            "CacheDir": "cache",
            "DataDir": "data",
            "LogDir": "log",
            "SpoolDir": "spool",
            "InitRunDir": "run",
            "ZonesDir": "zones.d",
        }
        found = [f"-D{constant}={self.directory / sub}" for constant, sub in paths.items()]
        return [*found, f"-DPidPath={self.directory / 'run' / 'icinga2.pid'}"]

    def validate(self) -> str:
        """`icinga2 daemon -C` on this node's configuration: no error, no warning."""
        done = subprocess.run(
            [self.icinga2, "daemon", "-C", "-c", str(self.main), *self.defines()],
            capture_output=True,
            text=True,
            env=environment(),
            timeout=60,
            check=False,
        )
        report = done.stdout + done.stderr
        assert done.returncode == 0, report
        problems = [line for line in report.splitlines() if re.search(r"(warning|critical)/", line)]
        assert problems == [], report
        return report

    def start(self) -> None:
        with open(self.directory / "icinga2.out", "w") as out:
            self.process = subprocess.Popen(
                [self.icinga2, "daemon", "-c", str(self.main), *self.defines()],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=environment(),
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None

    @property
    def log(self) -> str:
        parts = []
        for name in ("icinga2.out", "log/icinga2.log"):
            path = self.directory / name
            if path.exists():
                parts.append(f"--- {self.name} {name}\n" + path.read_text(errors="replace")[-6000:])
        return "\n".join(parts)

    def get(self, path: str, **query: str) -> Any:
        """GET the API as the lab user; None while the node does not answer."""
        url = f"https://127.0.0.1:{self.port}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        context = ssl.create_default_context(cafile=str(self.ca))
        context.check_hostname = False  # 127.0.0.1, a certificate for the node's name
        pair = f"{LAB_USER}:{self.password}".encode()
        request = urllib.request.Request(
            url,
            headers={
                "Accept": "application/json",
                "Authorization": "Basic " + base64.b64encode(pair).decode(),
            },
        )
        try:
            with urllib.request.urlopen(request, context=context, timeout=5) as answer:
                return json.load(answer)
        except (OSError, ValueError):
            return None

    def objects(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every object of a type (hosts, services) by name, its attributes; {} if none yet."""
        answer = self.get(f"/v1/objects/{kind}") or {}
        return {r["name"]: r["attrs"] for r in answer.get("results", [])}


class Lab:
    """The master and the satellite, configured and started; stop() ends both, always."""

    def __init__(self, icinga2: str, directory: Path, pbxs: dict[str, str], secret: str) -> None:
        """pbxs: the example's PBX address -> the address of the simulator playing it."""
        self.directory = directory
        pki = Pki(icinga2, directory / "pki")
        self.master = Node(icinga2, directory / "master", MASTER, "master")
        self.satellite = Node(icinga2, directory / "satellite", SATELLITE, ZONE)
        for node in (self.master, self.satellite):
            pki.issue(node.name, node.directory / "data" / "certs")
        self.secrets = directory / "secrets"
        self.secrets.mkdir()
        self.secret_file = self.secrets / "ami.secret"
        self.secret_file.write_text(secret + "\n")
        self.secret_file.chmod(0o600)
        self.pbxs = pbxs
        self._master_files()
        self._satellite_files()

    def _master_files(self) -> None:
        node = self.master
        # The master's zones.conf: its own endpoint and zone, the global zone (the node
        # wizard's), and the shipped zones.conf appended as the README says.
        shipped = (ICINGA2 / "zones.conf").read_text(encoding="utf-8")
        shipped = edit(shipped, {EXAMPLE_SATELLITE: SATELLITE}, "zones.conf")
        node.configure(
            f'object Endpoint "{MASTER}" {{ }}\n'
            f'object Zone "master" {{ endpoints = [ "{MASTER}" ] }}\n'
            'object Zone "global-templates" { global = true }\n\n' + shipped,
            accept_config=False,
        )
        for place, source in MASTER_FILES.items():
            text = (ICINGA2 / source).read_text(encoding="utf-8")
            text = self.adapt(source, text)
            target = node.directory / place
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    def adapt(self, source: str, text: str) -> str:
        """The administrator's edits of one shipped file: addresses, secrets, and intervals
        of seconds instead of minutes (the example's thresholds and names stay)."""
        if source.endswith("isp-plugins-satellite-pbx.conf"):
            fast = {"check_interval": "2s", "retry_interval": "2s"}
            text = retime(text, "isp-satellite-ami-service", fast, source)
            fresh = {"check_interval": "10s", "retry_interval": "10s"}
            text = retime(text, "isp-satellite-watched-service", fresh, source)
        elif source.endswith("pbx-satellites.conf"):
            fast = {"check_interval": "1s", "retry_interval": "1s"}
            text = retime(text, "isp-pbx-satellite", fast, source)
        elif source.endswith(f"{ZONE}.conf"):
            edits = {f'"{old}"': f'"{new}"' for old, new in self.pbxs.items()}
            edits['"/etc/icinga2/secrets/pbx5.ami"'] = f'"{self.secret_file}"'
            text = edit(text, edits, source)
        return text

    def _satellite_files(self) -> None:
        # The satellite's zones.conf, as the node wizard writes it: the master's endpoint
        # with its address (the satellite connects), its own endpoint and zone.
        self.satellite.configure(
            f'object Endpoint "{MASTER}" {{\n'
            f'\thost = "127.0.0.1"\n\tport = {self.master.port}\n}}\n'
            f'object Zone "master" {{ endpoints = [ "{MASTER}" ] }}\n'
            f'object Endpoint "{SATELLITE}" {{ }}\n'
            f'object Zone "{ZONE}" {{\n\tendpoints = [ "{SATELLITE}" ]\n\tparent = "master"\n}}\n'
            'object Zone "global-templates" { global = true }\n',
            accept_config=True,
        )

    def watch_ini(self) -> Path:
        """The shipped watcher configuration of the zone, pointed at the lab's satellite."""
        credentials = self.secrets / "icinga-api.credentials"
        password = re.search(
            rf'ApiUser "asterisk-watch-{ZONE}" \{{\n\tpassword = "([^"]+)"',
            (ICINGA2 / f"zones.d/{ZONE}/{ZONE}.conf").read_text(encoding="utf-8"),
        )
        assert password, "the zone's ApiUser has no password"
        credentials.write_text(f"asterisk-watch-{ZONE}:{password.group(1)}\n")
        credentials.chmod(0o600)
        edits = {
            f"icinga_url = https://{EXAMPLE_SATELLITE}:5665": (
                f"icinga_url = https://{SATELLITE}:{self.satellite.port}"
            ),
            "icinga_ca_file = /etc/asterisk-watch/icinga-ca.crt": (
                f"icinga_ca_file = {self.satellite.ca}"
            ),
            "icinga_credentials_file = /etc/asterisk-watch/icinga-api.credentials": (
                f"icinga_credentials_file = {credentials}"
            ),
            # Results resent every 3 s, well within the lab's freshness of 10 s.
            "heartbeat = 240": "heartbeat = 3",
            "secret_file = /etc/asterisk-watch/pbx5.secret": f"secret_file = {self.secret_file}",
            "secret_file = /etc/asterisk-watch/pbx6.secret": f"secret_file = {self.secret_file}",
        }
        edits.update({f"host = {old}\n": f"host = {new}\n" for old, new in self.pbxs.items()})
        text = edit(WATCH_INI.read_text(encoding="utf-8"), edits, WATCH_INI.name)
        path = self.directory / "asterisk-watch.ini"
        path.write_text(text)
        return path

    def start(self) -> None:
        # The shipped files are validated first, for a clear message; the satellite's own
        # configuration is the lab's, and it validates what the master syncs to it anyway.
        self.master.validate()
        self.master.start()
        self.satellite.start()

    def stop(self) -> None:
        for node in (self.satellite, self.master):
            with contextlib.suppress(Exception):
                node.stop()

    @property
    def logs(self) -> str:
        return self.master.log + "\n" + self.satellite.log
