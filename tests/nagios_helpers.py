"""Helpers for tests/test_nagios_config.py: real Nagios 4 and Icinga 2 on private configs, and
the readers of nagios-config/ that tests/test_registry.py uses too.

Nothing here touches a system Nagios or Icinga 2 (the stock /etc/icinga2 is only copied): every
main configuration, status file, lock, spool and cache lives in a temporary directory, and the
daemons run as the current user (root in CI), so no file needs handing over to a nagios user.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Callable

from isp_plugins.checks import AMI_CHECKS, CHECKS
from tests.services import service_missing

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "nagios-config"
NAGIOS_COMMANDS = CONFIG / "nagios"
NAGIOS_EXAMPLES = CONFIG / "nagios-examples"
ICINGA2 = CONFIG / "icinga2"
NRPE = CONFIG / "nrpe"
#: Where the console scripts are installed: Nagios's $USER1$, Icinga 2's PluginContribDir.
SCRIPTS = Path(sys.executable).parent

#: Every check of the registry by console script, with its Icinga 2 CheckCommand
#: (CheckInfo.icinga2_command: isp_asterisk_pri).
PLUGINS = {check.script: check.icinga2_command for check in CHECKS}
AMI_PLUGINS = [check.script for check in AMI_CHECKS]
#: The checks that read the PBX itself (its log, its fail2ban): NRPE or the agent runs them.
PBX_HOST_PLUGINS = ["check_asterisk_sipauth", "check_fail2ban"]
#: The checks that read the relay itself: NRPE or the Icinga 2 agent runs them there.
#: Every check that is not an AMI check is in one of these two lists (tests/test_registry.py).
RELAY_PLUGINS = [
    "check_postfix_queue",
    "check_ratelimit_offenders",
    "check_dnsbl",
    "check_postfix_deliveries",
]


def require(binary: str) -> str:
    """The daemon's path; skip without it, unless CI says the services must be there."""
    path = shutil.which(binary) or next(
        (str(p) for p in (Path("/usr/sbin") / binary, Path("/usr/bin") / binary) if p.exists()),
        None,
    )
    if path:
        return path
    service_missing("20-nagios-icinga.sh", f"{binary} is not installed")


def current_user() -> tuple[str, str]:
    """The current user and group names: the daemons run as them, no privilege drop."""
    return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


# -- plugin options ---------------------------------------------------------------------
_OPTION = re.compile(r"^\s{2}(?:(-\w), )?(--[\w-]+)", re.MULTILINE)


def plugin_options(script: str) -> dict[str, str]:
    """Every option the plugin's --help lists, short and long, mapped to its long form."""
    done = subprocess.run(
        [str(SCRIPTS / script), "--help"], capture_output=True, text=True, check=True
    )
    options: dict[str, str] = {}
    for short, long in _OPTION.findall(done.stdout.split("\nOptions:\n", 1)[1]):
        options[long] = long
        if short:
            options[short] = long
    return options


# -- Nagios -----------------------------------------------------------------------------
#: What the example templates refer to from the stock sample configuration (the 24x7 time
#: period, the admins contact group), without notifying anyone.
NAGIOS_BASE_OBJECTS = """\
define timeperiod {
    timeperiod_name 24x7
    alias           24 Hours A Day, 7 Days A Week
    sunday          00:00-24:00
    monday          00:00-24:00
    tuesday         00:00-24:00
    wednesday       00:00-24:00
    thursday        00:00-24:00
    friday          00:00-24:00
    saturday        00:00-24:00
}

define command {
    command_name    isp-test-notify-none
    command_line    /bin/true
}

define contact {
    contact_name                    nagiosadmin
    alias                           Nagios Admin
    host_notifications_enabled      0
    service_notifications_enabled   0
    host_notification_period        24x7
    service_notification_period     24x7
    host_notification_options       n
    service_notification_options    n
    host_notification_commands      isp-test-notify-none
    service_notification_commands   isp-test-notify-none
}

define contactgroup {
    contactgroup_name   admins
    alias               Nagios Administrators
    members             nagiosadmin
}
"""


def nagios_main_config(
    directory: Path,
    cfg_files: Iterable[Path] = (),
    cfg_dirs: Iterable[Path] = (),
    resource: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
) -> Path:
    """A nagios.cfg whose every path is in directory; returns its path."""
    user, group = current_user()
    (directory / "checkresults").mkdir(exist_ok=True)
    base = directory / "base.cfg"
    base.write_text(NAGIOS_BASE_OBJECTS, encoding="utf-8")
    resources = {"USER1": str(SCRIPTS), **(resource or {})}
    (directory / "resource.cfg").write_text(
        "".join(f"${k}$={v}\n" for k, v in resources.items()), encoding="utf-8"
    )
    lines = [f"cfg_file={base}"]
    lines += [f"cfg_file={path}" for path in cfg_files]
    lines += [f"cfg_dir={path}" for path in cfg_dirs]
    main = {
        "resource_file": directory / "resource.cfg",
        "log_file": directory / "nagios.log",
        "object_cache_file": directory / "objects.cache",
        "precached_object_file": directory / "objects.precache",
        "status_file": directory / "status.dat",
        "temp_file": directory / "nagios.tmp",
        "temp_path": directory,
        "lock_file": directory / "nagios.lock",
        "command_file": directory / "nagios.cmd",
        "check_result_path": directory / "checkresults",
        "state_retention_file": directory / "retention.dat",
        "debug_file": directory / "nagios.debug",
        "nagios_user": user,
        "nagios_group": group,
        "check_external_commands": "0",
        "use_syslog": "0",
        "check_for_updates": "0",
        "enable_notifications": "0",
        "enable_event_handlers": "0",
        "illegal_macro_output_chars": "`~$&|'\"<>",
    }
    main.update(settings or {})
    lines += [f"{key}={value}" for key, value in main.items()]
    path = directory / "nagios.cfg"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def parse_status_dat(text: str) -> list[tuple[str, dict[str, str]]]:
    """status.dat as (block type, {key: value}) pairs, in file order."""
    blocks = []
    for kind, body in re.findall(r"^(\w+) \{\n(.*?)^\s*\}", text, re.MULTILINE | re.DOTALL):
        fields = {}
        for line in body.splitlines():
            key, _, value = line.strip().partition("=")
            fields[key] = value
        blocks.append((kind, fields))
    return blocks


def parse_nagios_objects(text: str) -> list[tuple[str, dict[str, str]]]:
    """`define TYPE { key value }` blocks of an object file, comments dropped."""
    text = re.sub(r"^\s*[#;].*$", "", text, flags=re.MULTILINE)
    blocks = []
    for kind, body in re.findall(r"define\s+(\w+)\s*\{(.*?)\}", text, re.DOTALL):
        fields = {}
        for line in body.splitlines():
            if line.strip():
                key, _, value = line.strip().partition(" ")
                fields[key] = value.strip()
        blocks.append((kind, fields))
    return blocks


def nagios_command_files() -> dict[str, dict[str, str]]:
    """Per file of nagios/ (by name without .cfg): its commands, command_name -> command_line."""
    files = {}
    for path in sorted(NAGIOS_COMMANDS.glob("*.cfg")):
        objects = parse_nagios_objects(path.read_text(encoding="utf-8"))
        files[path.stem] = {
            fields["command_name"]: fields["command_line"]
            for kind, fields in objects
            if kind == "command"
        }
    return files


def nagios_commands() -> dict[str, str]:
    """command_name -> command_line of every command defined in nagios/ and nagios-examples/."""
    commands = {}
    for path in sorted([*NAGIOS_COMMANDS.glob("*.cfg"), *NAGIOS_EXAMPLES.glob("*.cfg")]):
        for kind, fields in parse_nagios_objects(path.read_text(encoding="utf-8")):
            if kind == "command":
                assert fields["command_name"] not in commands, fields["command_name"]
                commands[fields["command_name"]] = fields["command_line"]
    return commands


def plugin_words(command_line: str) -> tuple[str, list[str]] | None:
    """(script, arguments) when the command line runs one of our plugins, else None."""
    words = shlex.split(command_line)
    for at, word in enumerate(words):
        name = word.rsplit("/", 1)[-1]
        if name in PLUGINS:
            return name, words[at + 1 :]
    return None


def program(command_line: str) -> str:
    """The name of the program a command line runs (past sudo and its options), whether ours
    or not."""
    words = [word.rsplit("/", 1)[-1] for word in shlex.split(command_line)]
    return next(word for word in words if word != "sudo" and not word.startswith("-"))


def wait_until(predicate: Callable[[], bool], seconds: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# -- NRPE -------------------------------------------------------------------------------
def nrpe_commands() -> dict[str, str]:
    """command[name]=line of nrpe/, the commented-out (optional) ones included."""
    text = (NRPE / "isp-plugins.cfg").read_text(encoding="utf-8")
    return dict(re.findall(r"^#?command\[([\w-]+)\]=(.*)$", text, re.MULTILINE))


# -- sudo ---------------------------------------------------------------------------------
#: The files we ship that may hold sudoers lines (quoted in comments or indented in Markdown).
SHIPPED_TEXT = (ROOT / "README.md", *sorted(p for p in CONFIG.rglob("*") if p.is_file()))
#: A sudoers rule: user, hosts = (run-as) TAGS: /command arguments.
SUDOERS_RULE = re.compile(
    r"^[\s#;>]*(?P<rule>(?P<user>[\w.%-]+)\s+(?P<hosts>[\w.,-]+)\s*=\s*"
    r"(?:\((?P<runas>[^)]*)\)\s*)?(?P<tags>(?:[A-Z_]+:\s*)*)(?P<command>/\S.*?))\s*$",
    re.MULTILINE,
)
#: How the definitions run a command as root: -n only (sudo never asks for a password: without
#: its sudoers line it fails at once, "a password is required"), so nothing but the command
#: varies.
SUDO = "/usr/bin/sudo -n "


def sudoers_rules() -> list[tuple[str, str, str]]:
    """(file, the whole rule, its command line) of every sudoers line in SHIPPED_TEXT."""
    rules = []
    for path in SHIPPED_TEXT:
        text = path.read_text(encoding="utf-8", errors="replace")
        for found in SUDOERS_RULE.finditer(text):
            rule, command = found.group("rule", "command")
            rules.append((str(path.relative_to(ROOT)), rule, " ".join(command.split())))
    return rules


def sudo_command_lines() -> dict[str, str]:
    """Definition name -> the command line it runs through sudo (past SUDO), NRPE and Nagios."""
    lines = {f"NRPE command[{k}]": v for k, v in nrpe_commands().items()}
    lines |= {f"Nagios command {k}": v for k, v in nagios_commands().items()}
    run = {}
    for name, line in lines.items():
        if any(word.rsplit("/", 1)[-1] == "sudo" for word in shlex.split(line)):
            assert line.startswith(SUDO), f"{name} runs sudo other than as {SUDO!r}: {line}"
            run[name] = " ".join(line[len(SUDO) :].split())
    return run


# -- Icinga 2 ---------------------------------------------------------------------------
def icinga2_checkcommands() -> list[str]:
    """The names of the CheckCommand objects commands.conf defines, in file order."""
    text = (ICINGA2 / "commands.conf").read_text(encoding="utf-8")
    return re.findall(r'^object CheckCommand "([^"]+)"', text, re.MULTILINE)


def icinga2_constants(node: str = "icinga2-master.example.net") -> str:
    """constants.conf as Debian ships it, with the plugins found in the venv."""
    return (
        'const PluginDir = "/usr/lib/nagios/plugins"\n'
        'const ManubulonPluginDir = "/usr/lib/nagios/plugins"\n'
        f'const PluginContribDir = "{SCRIPTS}"\n'
        f'const NodeName = "{node}"\n'
        'const ZoneName = "master"\n'
        'const TicketSalt = ""\n'
    )


def icinga2_validate(
    icinga2: str, main: Path, cache: Path, defines: Iterable[str] = ()
) -> subprocess.CompletedProcess:
    """`icinga2 daemon -C` on main, its variables and objects dumped into cache.

    As root Icinga 2 drops privileges to ICINGA2_USER/ICINGA2_GROUP (default nagios), which
    could not read a private temporary directory: name the current user instead. defines are
    more -DNAME=VALUE (ZonesDir, which is not relative to main).
    """
    user, group = current_user()
    cache.mkdir(exist_ok=True)
    env = {**os.environ, "ICINGA2_USER": user, "ICINGA2_GROUP": group}
    return subprocess.run(
        [icinga2, "daemon", "-C", "-c", str(main), "-DCacheDir=" + str(cache), *defines],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def icinga2_daemon(icinga2: str, main: Path, directory: Path) -> subprocess.Popen:
    """`icinga2 daemon` in the foreground, every path it writes under directory."""
    user, group = current_user()
    paths = {
        "CacheDir": "cache",
        "DataDir": "data",
        "LogDir": "log",
        "SpoolDir": "spool",
        "InitRunDir": "run",
    }
    defines = []
    for constant, name in paths.items():
        (directory / name).mkdir(exist_ok=True)
        defines.append(f"-D{constant}={directory / name}")
    defines.append(f"-DPidPath={directory / 'run' / 'icinga2.pid'}")
    env = {**os.environ, "ICINGA2_USER": user, "ICINGA2_GROUP": group}
    with open(directory / "icinga2.out", "w") as out:
        return subprocess.Popen(
            [icinga2, "daemon", "-c", str(main), *defines],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the daemon this test started, then SIGKILL what is left of its session.

    The daemon was started with start_new_session, so its process group holds only it and
    its children (Nagios's check workers; Icinga 2's worker and process spawn helper, which
    can outlive the umbrella process).
    """
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def icinga2_objects(cache: Path) -> list[dict]:
    """The objects `daemon -C` wrote to CacheDir/icinga2.debug (netstrings of JSON)."""
    data = (cache / "icinga2.debug").read_bytes()
    objects, at = [], 0
    while at < len(data):
        colon = data.index(b":", at)
        size = int(data[at:colon])
        objects.append(json.loads(data[colon + 1 : colon + 1 + size]))
        at = colon + 1 + size + 1  # the trailing comma
    return objects


# -- Icinga 2 as Debian installs it -----------------------------------------------------------
#: Debian's stock configuration (icinga2-common) and the Icinga Template Library it includes.
STOCK_ICINGA2 = Path("/etc/icinga2")
ITL = Path("/usr/share/icinga2/include")
#: The ITL parts the stock icinga2.conf includes, in its order (a test holds it to the file).
ITL_INCLUDES = ("itl", "plugins", "plugins-contrib", "manubulon", "windows-plugins", "nscp")
#: One Icinga 2 server: each shipped file (under nagios-config/icinga2/) and where the READMEs
#: and its own header put it (under /etc/icinga2/).
SINGLE_SERVER_FILES = {
    "commands.conf": "conf.d/isp-plugins-commands.conf",
    "conf.d/isp-plugins-templates.conf": "conf.d/isp-plugins-templates.conf",
    "conf.d/isp-plugins-pbx.conf": "conf.d/isp-plugins-pbx.conf",
    "asterisk-watch.conf": "conf.d/asterisk-watch.conf",
}
#: A master with agents and a PBX satellite: the CheckCommands, the satellite PBXs' templates
#: and rules in the global zone, the relays and the satellite's health in the master's zone,
#: the PBXs in the satellite's.
#: zones.conf is appended to the master's own (see stock_icinga2_master).
DISTRIBUTED_FILES = {
    "commands.conf": "zones.d/global-templates/isp-plugins-commands.conf",
    "zones.d/master/mail-relays.conf": "zones.d/master/mail-relays.conf",
    # Scaling out the PBXs: a satellite zone (tests/icinga_lab.py runs it for real).
    "zones.d/global-templates/isp-plugins-satellite-pbx.conf": (
        "zones.d/global-templates/isp-plugins-satellite-pbx.conf"
    ),
    "zones.d/master/pbx-satellites.conf": "zones.d/master/pbx-satellites.conf",
    "zones.d/pbx-east/pbx-east.conf": "zones.d/pbx-east/pbx-east.conf",
}
#: The master of the distributed example: its NodeName; its zone is "master".
MASTER = "icinga2-master.example.net"


def stock_file(name: str) -> Path:
    """A file of the stock /etc/icinga2; skip (fail in CI) where there is none to read (no
    Icinga 2, or not root: Debian makes it nagios:nagios 0750)."""
    path = STOCK_ICINGA2 / name
    if not os.access(path, os.R_OK):
        service_missing("20-nagios-icinga.sh", f"no readable stock {path}")
    return path


def stock_icinga2(directory: Path, files: dict[str, str]) -> Path:
    """A copy of Debian's /etc/icinga2 in directory/etc, icinga2.conf and every stock file
    untouched, with the shipped files added where files says; returns the copy's icinga2.conf.

    A shipped file never replaces a stock one: that is an error of our instructions.
    """
    stock_file("icinga2.conf")
    etc = directory / "etc"
    shutil.copytree(STOCK_ICINGA2, etc, symlinks=True)
    for shipped, place in files.items():
        target = etc / place
        assert not target.exists(), f"{shipped} would replace the stock {STOCK_ICINGA2 / place}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ICINGA2 / shipped, target)
    return etc / "icinga2.conf"


def stock_icinga2_master(directory: Path) -> Path:
    """The stock configuration as `icinga2 node wizard` leaves a master (NodeName and ZoneName
    in constants.conf; zones.conf's own Endpoint and Zone, global-templates, director-global),
    with our zones.conf appended to its zones.conf and DISTRIBUTED_FILES added."""
    main = stock_icinga2(directory, DISTRIBUTED_FILES)
    constants = main.parent / "constants.conf"
    text, named = re.subn(
        r"^//const NodeName = .*$",
        f'const NodeName = "{MASTER}"',
        constants.read_text(),
        flags=re.M,
    )
    text, zoned = re.subn(r"^const ZoneName = .*$", 'const ZoneName = "master"', text, flags=re.M)
    assert named == zoned == 1, "the stock constants.conf changed: NodeName, ZoneName"
    constants.write_text(text)
    zones = main.parent / "zones.conf"
    zones.write_text(zones.read_text() + "\n" + (ICINGA2 / "zones.conf").read_text())
    return main


def stock_constant(name: str) -> str:
    """A string constant of the stock constants.conf (PluginContribDir)."""
    text = stock_file("constants.conf").read_text(encoding="utf-8")
    found = re.search(rf'^const {name} = "([^"]*)"', text, re.MULTILINE)
    assert found, f"no {name} in {STOCK_ICINGA2 / 'constants.conf'}"
    return found.group(1)


def itl_checkcommands() -> set[str]:
    """Every CheckCommand the installed ITL names (objects and templates), all of its parts."""
    if not ITL.is_dir():
        service_missing("20-nagios-icinga.sh", f"no Icinga Template Library in {ITL}")
    names = set()
    for path in sorted(ITL.rglob("*")):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            names.update(
                re.findall(r'^\s*(?:object|template)\s+CheckCommand\s+"([^"]+)"', text, re.M)
            )
    return names
