"""Helpers for the asterisk-watch tests: a config file, the daemon as a subprocess, its results."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from tests.nagios_helpers import nagios_main_config, parse_status_dat, stop, wait_until

WATCH = Path(sys.executable).with_name("asterisk-watch")
_RESULT = re.compile(r"^\[(\d+)\] PROCESS_SERVICE_CHECK_RESULT;([^;]*);([^;]*);(\d);(.*)$")


def watch_config(
    directory: Path,
    port: int,
    services: dict[str, str],
    secret: str,
    watch: dict[str, str] | None = None,
    pbx: dict[str, str] | None = None,
) -> Path:
    """An asterisk-watch INI with one PBX on the simulator at ``port``."""
    secret_file = directory / "ami.secret"
    secret_file.write_text(secret + "\n", encoding="utf-8")
    secret_file.chmod(0o600)
    settings = {"interval": "5", "nagios_command_file": str(directory / "results.cmd")}
    settings.update(watch or {})
    connection = {
        "host": "127.0.0.1",
        "port": str(port),
        "user": "monitor",
        "secret_file": str(secret_file),
        "host_name": "pbx1",
    }
    connection.update(pbx or {})
    lines = ["[watch]", *(f"{k} = {v}" for k, v in settings.items()), "", "[pbx pbx1]"]
    lines += [f"{k} = {v}" for k, v in connection.items()]
    lines += [f"service {name} = {command}" for name, command in services.items()]
    path = directory / "watch.ini"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if settings["nagios_command_file"] == str(directory / "results.cmd"):
        (directory / "results.cmd").touch()
    return path


class Results:
    """The PROCESS_SERVICE_CHECK_RESULT lines of a regular-file command file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def all(self) -> list[tuple[str, int, str]]:
        """(service, code, output with its long output unescaped), in order."""
        found = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            match = _RESULT.match(line)
            if match:
                found.append((match[3], int(match[4]), match[5].replace("\\n", "\n")))
        return found

    def last(self, service: str) -> tuple[int, str] | None:
        matches = [(code, text) for name, code, text in self.all() if name == service]
        return matches[-1] if matches else None

    def wait_for(
        self, service: str, predicate: Callable[[int, str], bool], seconds: float = 10
    ) -> tuple[int, str] | None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            last = self.last(service)
            if last is not None and predicate(*last):
                return last
            time.sleep(0.05)
        return self.last(service)


class Daemon:
    """asterisk-watch running in the background, its stderr in a file."""

    def __init__(self, config: Path, *args: str) -> None:
        self.log_path = config.with_suffix(".log")
        env = {k: v for k, v in os.environ.items() if k != "ASTERISK_AMI_SECRET"}
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [str(WATCH), "--config", str(config), *args],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=env,
                start_new_session=True,
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def signal(self, number: int) -> None:
        self.process.send_signal(number)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- a private Nagios 4 for passive results ------------------------------------------
PASSIVE_OBJECTS = """\
define command {
    command_name    isp-test-stale
    command_line    /bin/false
}

define host {
    host_name               pbx1
    address                 127.0.0.1
    max_check_attempts      1
    check_period            24x7
    active_checks_enabled   0
    contact_groups          admins
    notification_period     24x7
}

define service {
    host_name               pbx1
    service_description     %s
    check_command           isp-test-stale
    active_checks_enabled   0
    passive_checks_enabled  1
    check_freshness         0
    max_check_attempts      1
    check_interval          5
    retry_interval          1
    check_period            24x7
    contact_groups          admins
    notification_period     24x7
    notifications_enabled   0
}
"""


class Nagios:
    """A private Nagios 4 daemon (4.4 handles external commands as they arrive)."""

    def __init__(self, binary: str, directory: Path, services: list[str]) -> None:
        self.nagios = binary
        objects = directory / "watched.cfg"
        objects.write_text(_objects(services))
        self.main = nagios_main_config(
            directory,
            cfg_files=[objects],
            settings={
                "check_external_commands": "1",
                "status_update_interval": "1",
                "retain_state_information": "0",
                "execute_host_checks": "0",
                "check_service_freshness": "0",
            },
        )
        self.command_file = directory / "nagios.cmd"
        self.status = directory / "status.dat"
        self.out = open(directory / "nagios.out", "w")  # noqa: SIM115 (closed in stop)
        verify = subprocess.run(
            [self.nagios, "-v", str(self.main)], capture_output=True, text=True, check=False
        )
        assert verify.returncode == 0, verify.stdout
        self.process = subprocess.Popen(
            [self.nagios, str(self.main)],
            stdout=self.out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert wait_until(self.command_file.exists, 15), "Nagios made no command file"

    def service(self, name: str) -> dict[str, str]:
        if not self.status.exists():
            return {}
        text = self.status.read_text(encoding="utf-8", errors="replace")
        for kind, fields in parse_status_dat(text):
            if kind == "servicestatus" and fields.get("service_description") == name:
                return fields
        return {}

    def stop(self) -> None:
        stop(self.process)  # the module's stop(): SIGTERM, then the process group
        self.out.close()


def _objects(services: list[str]) -> str:
    head, _, service = PASSIVE_OBJECTS.partition("define service {")
    return head + "".join(f"define service {{{service % name}" for name in services)
