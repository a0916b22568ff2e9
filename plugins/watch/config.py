"""asterisk-watch's configuration: an INI file of PBXs, their services, and where results go.

The format (documented in nagios-config/asterisk-watch.ini)::

    [watch]
    interval = 5                  ; seconds between evaluations over each session
    stale = 30                    ; seconds without a session before services go UNKNOWN
    heartbeat = 240               ; resend unchanged results this often (freshness checks)
    nagios_command_file = /var/lib/nagios4/rw/nagios.cmd
    icinga_url = https://icinga.example.net:5665
    icinga_ca_file = /etc/asterisk-watch/icinga-ca.crt
    icinga_credentials_file = /etc/asterisk-watch/icinga-api.credentials

    [pbx pbx1]
    host = pbx1.example.net
    user = nagios
    secret_file = /etc/asterisk-watch/pbx1.secret
    service PRI spans = check_asterisk_pri -w 2 -c 1 -n 4

INI rather than TOML: ``configparser`` is in every supported Python, ``tomllib`` only from 3.11.
"""

from __future__ import annotations

import configparser
import os
import shlex
from dataclasses import dataclass, field
from typing import Any

from isp_plugins.checks import AMI_CHECKS
from isp_plugins.cli import secrets
from isp_plugins.watch import DEFAULT_HEARTBEAT, DEFAULT_INTERVAL, DEFAULT_STALE

#: The plugins the watcher can run (the AMI checks of the registry), by console script name.
PLUGINS = {check.script: check for check in AMI_CHECKS}
WATCH_KEYS = {
    "interval",
    "stale",
    "heartbeat",
    "nagios_command_file",
    "icinga_url",
    "icinga_ca_file",
    "icinga_credentials_file",
    "icinga_insecure",
}
PBX_KEYS = {
    "host",
    "port",
    "user",
    "secret",
    "secret_file",
    "auth",
    "tls",
    "ca_file",
    "insecure",
    "events",
    "host_name",
}


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and why, in one line."""


@dataclass(frozen=True)
class ServiceConfig:
    """One service: its Nagios/Icinga name and the plugin command line it stands for."""

    name: str
    command: str
    plugin: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class PbxConfig:
    """One PBX: how to log in to its AMI and which services to evaluate over the session."""

    name: str
    host: str
    port: int | None
    user: str
    secret: str = field(repr=False)
    auth: str = "plain"
    tls: bool = False
    ca_file: str | None = None
    insecure: bool = False
    events: str = "system"
    host_name: str = ""
    services: tuple[ServiceConfig, ...] = ()

    def connection(self) -> tuple[Any, ...]:
        """What a session depends on: a change here means a new session."""
        return (
            self.host,
            self.port,
            self.user,
            self.secret,
            self.auth,
            self.tls,
            self.ca_file,
            self.insecure,
            self.events,
        )


@dataclass(frozen=True)
class IcingaConfig:
    url: str
    ca_file: str | None
    username: str
    password: str = field(repr=False)
    insecure: bool = False


@dataclass(frozen=True)
class WatchConfig:
    interval: float
    stale: float
    heartbeat: float
    nagios_command_file: str | None
    icinga: IcingaConfig | None
    pbxs: tuple[PbxConfig, ...]

    @property
    def service_count(self) -> int:
        return sum(len(p.services) for p in self.pbxs)


def _number(section: str, key: str, text: str, minimum: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"[{section}] {key} = {text!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"[{section}] {key} must be at least {minimum:g}")
    return value


def _flag(section: str, key: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "yes", "true", "on"):
        return True
    if lowered in ("0", "no", "false", "off", ""):
        return False
    raise ConfigError(f"[{section}] {key} = {text!r} is not yes or no")


def read_first_line(path: str, what: str) -> str:
    """The first line of a secret or credentials file; ConfigError if unreadable or empty."""
    try:
        line = secrets.read_first_line(path, what)
    except secrets.SecretFileError as exc:
        raise ConfigError(str(exc)) from None
    if not line:
        raise ConfigError(f"{what} {path} is empty")
    return line


def _service(section: str, name: str, command: str) -> ServiceConfig:
    if not name:
        raise ConfigError(f"[{section}] 'service' needs a name: service NAME = COMMAND")
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"[{section}] service {name}: {exc}") from None
    if not words:
        raise ConfigError(f"[{section}] service {name}: no command")
    plugin = os.path.basename(words[0])
    if plugin not in PLUGINS:
        known = ", ".join(sorted(PLUGINS))
        raise ConfigError(f"[{section}] service {name}: {words[0]!r} is not one of {known}")
    return ServiceConfig(name, command, plugin, tuple(words[1:]))


def _pbx(parser: configparser.ConfigParser, section: str) -> PbxConfig:
    name = section[len("pbx") :].strip()
    if not name:
        raise ConfigError(f"[{section}] needs a name: [pbx NAME]")
    values = parser[section]
    services: list[ServiceConfig] = []
    for key, value in values.items():
        if key.lower().startswith("service ") or key.lower() == "service":
            services.append(_service(section, key[len("service") :].strip(), value))
        elif key.lower() not in PBX_KEYS:
            raise ConfigError(f"[{section}] unknown key {key!r}")
    if not services:
        raise ConfigError(f"[{section}] has no service (service NAME = check_asterisk_...)")
    names = [s.name for s in services]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ConfigError(f"[{section}] service {duplicate!r} is given twice")
    user = values.get("user", "").strip()
    if not user:
        raise ConfigError(f"[{section}] needs user = (the manager.conf user)")
    secret_file = values.get("secret_file")
    if values.get("secret") and secret_file:
        raise ConfigError(f"[{section}] give secret or secret_file, not both")
    if secret_file:
        secret = read_first_line(secret_file, "secret file")
    else:
        secret = values.get("secret", "")
        if not secret:
            raise ConfigError(f"[{section}] needs secret_file = (or secret =)")
    for what, text in (("user", user), ("secret", secret), ("host", values.get("host", ""))):
        if "\r" in text or "\n" in text:
            raise ConfigError(f"[{section}] {what} must not contain a line break")
    auth = values.get("auth", "plain").strip().lower()
    if auth not in ("plain", "md5"):
        raise ConfigError(f"[{section}] auth = {auth!r} is not plain or md5")
    port = None
    if values.get("port"):
        port = int(_number(section, "port", values["port"], 1))
        if port > 65535:
            raise ConfigError(f"[{section}] port must be at most 65535")
    tls = _flag(section, "tls", values.get("tls", "no"))
    insecure = _flag(section, "insecure", values.get("insecure", "no"))
    ca_file = values.get("ca_file") or None
    if (ca_file or insecure) and not tls:
        raise ConfigError(f"[{section}] ca_file and insecure apply to tls = yes only")
    events = values.get("events", "system").strip() or "system"
    return PbxConfig(
        name=name,
        host=values.get("host", "127.0.0.1").strip().strip("[]"),
        port=port,
        user=user,
        secret=secret,
        auth=auth,
        tls=tls,
        ca_file=ca_file,
        insecure=insecure,
        events=events,
        host_name=values.get("host_name", "").strip() or name,
        services=tuple(services),
    )


def _icinga(section: str, values: configparser.SectionProxy) -> IcingaConfig | None:
    url = values.get("icinga_url", "").strip().rstrip("/")
    if not url:
        return None
    if not url.startswith("https://"):
        raise ConfigError(f"[{section}] icinga_url must be https:// (the Icinga 2 API)")
    credentials_file = values.get("icinga_credentials_file")
    if not credentials_file:
        raise ConfigError(f"[{section}] icinga_url needs icinga_credentials_file (USER:PASSWORD)")
    line = read_first_line(credentials_file, "credentials file")
    username, colon, password = line.partition(":")
    if not colon or not username:
        raise ConfigError(f"credentials file {credentials_file} must hold USER:PASSWORD")
    ca_file = values.get("icinga_ca_file") or None
    insecure = _flag(section, "icinga_insecure", values.get("icinga_insecure", "no"))
    if ca_file and not os.path.isfile(ca_file):
        raise ConfigError(f"[{section}] icinga_ca_file {ca_file} does not exist")
    if ca_file:
        _check_ca_file(section, ca_file)
    return IcingaConfig(url, ca_file, username, password, insecure)


def _check_ca_file(section: str, ca_file: str) -> None:
    """Load the CA file now: a file that is no certificate is a configuration error, not an
    exception when the outputs are made (at start-up, or on a reload)."""
    import ssl  # noqa: PLC0415 (only a configuration with icinga_ca_file pays for it)

    try:
        ssl.create_default_context(cafile=ca_file)
    except (ssl.SSLError, OSError, ValueError):
        # No detail: OpenSSL's says little, and must not quote the file.
        raise ConfigError(
            f"[{section}] icinga_ca_file {ca_file} holds no usable CA certificate"
        ) from None


def parse(text: str, source: str = "<config>") -> WatchConfig:
    """The configuration in ``text``; ConfigError with one line saying what is wrong."""
    # No interpolation: a '%' is a character like any other. With it, a secret holding '%'
    # raised at the first read (a traceback, the end of the secret in it) and '%%' silently
    # became '%': the login failed with a secret the file does not hold.
    parser = configparser.ConfigParser(
        delimiters=("=",),
        comment_prefixes=("#", ";"),
        inline_comment_prefixes=(" ;", " #"),
        interpolation=None,
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep service names
    try:
        parser.read_string(text, source)
    except configparser.Error as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(first) from None
    pbxs: list[PbxConfig] = []
    for section in parser.sections():
        if section == "watch":
            continue
        if section.startswith("pbx ") or section == "pbx":
            pbxs.append(_pbx(parser, section))
        else:
            raise ConfigError(f"unknown section [{section}] (know [watch] and [pbx NAME])")
    watch = parser["watch"] if parser.has_section("watch") else parser[parser.default_section]
    for key in watch:
        if parser.has_section("watch") and key not in WATCH_KEYS:
            raise ConfigError(f"[watch] unknown key {key!r}")
    if not pbxs:
        raise ConfigError("no [pbx NAME] section: nothing to watch")
    seen: set[tuple[str, str]] = set()  # a set: 30,000 services are checked in no time
    for host_service in ((p.host_name, s.name) for p in pbxs for s in p.services):
        if host_service in seen:
            host, service = host_service
            raise ConfigError(f"service {service!r} of host {host!r} is given twice")
        seen.add(host_service)
    command_file = watch.get("nagios_command_file") or None
    icinga = _icinga("watch", watch)
    if command_file is None and icinga is None:
        raise ConfigError("[watch] needs nagios_command_file or icinga_url: nowhere to report")
    return WatchConfig(
        interval=_number("watch", "interval", watch.get("interval", f"{DEFAULT_INTERVAL:g}"), 0.1),
        stale=_number("watch", "stale", watch.get("stale", f"{DEFAULT_STALE:g}"), 1),
        heartbeat=_number(
            "watch", "heartbeat", watch.get("heartbeat", f"{DEFAULT_HEARTBEAT:g}"), 1
        ),
        nagios_command_file=command_file,
        icinga=icinga,
        pbxs=tuple(pbxs),
    )


def load(path: str) -> WatchConfig:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read {path}: not UTF-8 text") from None
    return parse(text, path)
