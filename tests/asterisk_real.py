"""Private instances of a real Asterisk (13, 20, 22) built by .ci/setup.d/50-asterisk.sh.

Each instance runs from its own temporary directory: its own asterisk.conf pointing every
directory there (but the read-only data of the build), manager.conf with a monitoring user,
one without ``command`` permission and an admin for the test's own actions, a TLS listener
with a throw-away CA (20 and 22; 13 is built without OpenSSL), ``modules.conf`` with
``autoload = no``, and a debug log in which Asterisk writes ``Running action 'Logoff'``. It
listens on free loopback ports, is ready once it greets on the AMI port, and is stopped by its
PID. Without a build the tests skip (fail with ISP_PLUGINS_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import trustme

from tests.ports import free_port
from tests.services import service_missing

SETUP_SCRIPT = "50-asterisk.sh"
CACHE = Path(os.environ.get("ISP_PLUGINS_ASTERISK_CACHE", "/var/cache/isp-plugins/asterisk"))


@dataclass(frozen=True)
class Build:
    """One build in the cache: a release and what it was built with."""

    release: str
    flavour: str
    #: The simulator's profile that plays this generation (asterisk_ami.simulator.PROFILES).
    profile: str

    @property
    def prefix(self) -> Path:
        return CACHE / f"{self.release}-{self.flavour}"

    @property
    def tls(self) -> bool:
        return not self.release.startswith("13.")  # 13 is built without OpenSSL

    @property
    def ready(self) -> bool:
        built = self.prefix / ".built"
        return built.is_file() and built.read_text().split() == [self.release, self.flavour]


#: What .ci/setup.d/50-asterisk.sh builds, by the major version the tests name.
BUILDS = {
    "13": Build("13.38.3", "dahdi", "13"),
    "20": Build("20.20.1", "sip", "20"),
    "22": Build("22.10.1", "dahdi", "22"),
}
VERSIONS = sorted(BUILDS, key=int)

MONITOR = "monitor"
NO_COMMAND = "viewer"  # reads, but no `write = command`
ADMIN = "admin"  # the test's own actions: Reload, ModuleLoad
SECRET = "real-s3cret-Qm27"
ADMIN_SECRET = "admin-s3cret-Wx55"

MODULES = ("res_smdi.so", "chan_dahdi.so", "res_security_log.so")


def make_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a certificate for 127.0.0.1/localhost: (ca, cert, key) files."""
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    ca, cert, key = directory / "ca.pem", directory / "ami.pem", directory / "ami.key"
    authority.cert_pem.write_to_path(str(ca))
    certificate.cert_chain_pems[0].write_to_path(str(cert))
    certificate.private_key_pem.write_to_path(str(key))
    return ca, cert, key


@dataclass
class RealAsterisk:
    """One private Asterisk: its directory, ports and process."""

    build: Build
    directory: Path
    port: int = field(default_factory=free_port)
    tls_port: int = field(default_factory=free_port)
    ca_file: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    #: Modules loaded in this order (tests/sip_lab.py adds SIP, PJSIP and IAX2).
    modules: tuple[str, ...] = MODULES
    #: More files for etc/, by name (sip.conf, pjsip.conf, iax.conf ...).
    extra_files: dict[str, str] = field(default_factory=dict)

    # -- configuration ------------------------------------------------------------------
    def configure(self) -> None:
        etc = self.directory / "etc"
        for sub in ("etc", "run", "log", "spool", "lib", "db", "keys"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        prefix = self.build.prefix
        (etc / "asterisk.conf").write_text(
            "[directories]\n"
            f"astetcdir => {etc}\n"
            f"astmoddir => {prefix}/lib/asterisk/modules\n"
            f"astvarlibdir => {self.directory}/lib\n"
            f"astdbdir => {self.directory}/db\n"
            f"astkeydir => {self.directory}/keys\n"
            f"astdatadir => {prefix}/var/lib/asterisk\n"
            f"astagidir => {self.directory}/lib/agi-bin\n"
            f"astspooldir => {self.directory}/spool\n"
            f"astrundir => {self.directory}/run\n"
            f"astlogdir => {self.directory}/log\n"
            f"astsbindir => {prefix}/sbin\n"
            "\n[options]\n"
            "debug = 1\n"
            "verbose = 3\n"
            "nofork = yes\n"
            "documentation_language = en_US\n"
        )
        (etc / "logger.conf").write_text(
            "[general]\ndateformat = %F %T\n\n[logfiles]\n"
            "full => notice,warning,error,debug,verbose,security\n"
            "security => security\n"
        )
        (etc / "modules.conf").write_text(
            "[modules]\nautoload = no\n" + "".join(f"load => {m}\n" for m in self.modules)
        )
        for name, text in self.extra_files.items():
            (etc / name).write_text(text)
        (etc / "chan_dahdi.conf").write_text("[trunkgroups]\n\n[channels]\n")
        (etc / "smdi.conf").write_text("[interfaces]\n")
        tls = ""
        if self.build.tls:
            self.ca_file, cert, key = make_ca(self.directory)
            tls = (
                "tlsenable = yes\n"
                f"tlsbindaddr = 127.0.0.1:{self.tls_port}\n"
                f"tlscertfile = {cert}\n"
                f"tlsprivatekey = {key}\n"
            )
        local = "deny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255\n"
        (etc / "manager.conf").write_text(
            "[general]\nenabled = yes\nbindaddr = 127.0.0.1\n"
            f"port = {self.port}\n{tls}\n"
            f"[{MONITOR}]\nsecret = {SECRET}\n{local}"
            "read = system,call,reporting\nwrite = command,reporting\n\n"
            f"[{NO_COMMAND}]\nsecret = {SECRET}\n{local}"
            "read = system,call,reporting\nwrite = reporting\n\n"
            f"[{ADMIN}]\nsecret = {ADMIN_SECRET}\n{local}"
            "read = all\nwrite = system,command,reporting,config\n"
        )

    # -- process ------------------------------------------------------------------------
    def start(self, wait: float = 60) -> None:
        """Start Asterisk in the foreground of a child process; return once it greets."""
        conf = self.directory / "etc" / "asterisk.conf"
        command = [str(self.build.prefix / "sbin" / "asterisk"), "-C", str(conf), "-f", "-n"]
        if os.geteuid() == 0:
            command += ["-U", "root"]
        with open(self.directory / "console.log", "ab") as console:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Asterisk {self.build.release} exited: {self.console()[-2000:]}"
                )
            if self.greeting():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Asterisk {self.build.release} did not greet within {wait} s")

    def wait_fully_booted(self, wait: float = 60) -> None:
        """Until every module is loaded (AMI greets before chan_iax2 or PJSIP listen): the
        remote console's ``core waitfullybooted``."""
        conf = self.directory / "etc" / "asterisk.conf"
        command = [str(self.build.prefix / "sbin" / "asterisk"), "-C", str(conf)]
        subprocess.run(
            [*command, "-rx", "core waitfullybooted"],
            capture_output=True,
            timeout=wait,
            check=True,
        )

    def greeting(self) -> str:
        """The AMI greeting line, or "" when nobody greets on the port (yet)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
                conn.settimeout(2)
                return conn.recv(200).decode("latin-1").strip()
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL if it lingers; nothing is left running."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- what it wrote ------------------------------------------------------------------
    def console(self) -> str:
        return (self.directory / "console.log").read_text(errors="replace")

    def log(self, name: str = "full") -> str:
        path = self.directory / "log" / name
        return path.read_text(errors="replace") if path.is_file() else ""

    # -- the test's own AMI actions -----------------------------------------------------
    def action(
        self, action: str, user: str = ADMIN, secret: str = ADMIN_SECRET, **headers: str
    ) -> str:
        """Log in, send one action, return its raw reply (up to the blank line), log off."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as conn:
            stream = conn.makefile("rwb")
            stream.readline()  # the greeting
            login = ami_request("Login", Username=user, Secret=secret, Events="off")
            stream.write(login)
            stream.flush()
            read_message(stream)
            stream.write(ami_request(action, ActionID="test-1", **headers))
            stream.flush()
            reply = read_message(stream)
            stream.write(ami_request("Logoff"))
            stream.flush()
            read_message(stream)
            return reply

    def unload(self, module: str) -> None:
        """Unload a module through ModuleLoad (Command's `module unload` is refused)."""
        reply = self.action("ModuleLoad", Module=module, LoadType="unload")
        assert "Response: Success" in reply, reply

    def load(self, module: str) -> None:
        reply = self.action("ModuleLoad", Module=module, LoadType="load")
        assert "Response: Success" in reply, reply

    def sessions(self, user: str = MONITOR) -> list[bool]:
        """The AMI sessions ``user`` logged in so far, in order: True for each that sent Logoff.

        Asterisk runs a session in a thread of its own and, with ``debug = 1``, logs each
        action a session runs as ``Running action '...'`` under that thread's id; a session
        dropped without Logoff is logged "logged off" too, but without the Logoff line.
        """
        line = re.compile(r"^\[[^]]+\] \w+\[(\d+)\][^:]*: (.*)$")
        open_sessions: dict[str, int] = {}
        found: list[bool] = []
        for match in filter(None, map(line.match, self.log().splitlines())):
            thread, text = match.groups()
            if text.startswith(f"Manager '{user}' logged on from "):
                open_sessions[thread] = len(found)
                found.append(False)
            elif text == "Running action 'Logoff'" and thread in open_sessions:
                found[open_sessions[thread]] = True
            elif text.startswith(f"Manager '{user}' logged off from "):
                open_sessions.pop(thread, None)
        return found


def ami_request(action: str, **headers: str) -> bytes:
    lines = [f"Action: {action}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_message(stream: object) -> str:
    """One AMI message (up to its blank line), or a Command reply of 13 up to its end marker."""
    readline = stream.readline  # type: ignore[attr-defined]
    lines: list[str] = []
    follows = False
    while True:
        raw: bytes = readline()
        if not raw:
            break
        line = raw.decode("utf-8", "replace")
        lines.append(line)
        if line.startswith("Response: Follows"):
            follows = True
        if follows:
            if line.rstrip("\r\n").endswith("--END COMMAND--"):
                lines.append(readline().decode())
                break
        elif line in ("\r\n", "\n") and len(lines) > 1:
            break
    return "".join(lines)


def require_build(version: str) -> Build:
    """The build of ``version``, or skip (fail in CI) naming the setup script."""
    build = BUILDS[version]
    if not build.ready:
        service_missing(
            SETUP_SCRIPT,
            f"no Asterisk {build.release} ({build.flavour}) built in {build.prefix}",
        )
    return build


@contextlib.contextmanager
def running_asterisk(version: str, directory: Path) -> Iterator[RealAsterisk]:
    """A configured, started instance of ``version``; stopped (by PID) at the end."""
    instance = RealAsterisk(require_build(version), directory)
    instance.configure()
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def tls_context(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))
