"""A configured service as the active plugin would run it: the plugin's own click command
parses its options into the plugin's options object, its own build_check builds the
nagiosplugin Check, and the plugin's output class renders the text. Only the AMI session
differs: the watcher's, not a fresh one.
"""

from __future__ import annotations

import importlib
import io
import logging
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

import click
from click.core import ParameterSource

from isp_plugins.cli.command import status_line
from isp_plugins.cli.options import make_target
from isp_plugins.watch.config import PLUGINS, ConfigError, PbxConfig, ServiceConfig

if TYPE_CHECKING:
    import nagiosplugin

    from asterisk_ami.session import Target
    from isp_plugins.runtime.ami import Acquire

#: Options that belong to the [pbx] section, not to a service's command line.
CONNECTION_OPTIONS = ("hostname", "port", "tls", "ca_file", "insecure", "password", "secret_file")
STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")


class Outcome(NamedTuple):
    """One evaluation: the exit code and the text the plugin would print (no final newline)."""

    code: int
    text: str

    @property
    def state(self) -> str:
        return STATES[self.code] if 0 <= self.code < len(STATES) else "UNKNOWN"


@dataclass
class Service:
    """A service ready to evaluate: the plugin's parsed options for one PBX."""

    config: ServiceConfig
    pbx: str
    host_name: str
    check: ModuleType  # the plugin's check module (isp_plugins.checks.NAME.check)
    check_name: str  # ASTERISK_PRI: the prefix of the status line
    options: Any  # the plugin's options object, as its command would hand it over

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def key(self) -> tuple[str, str]:
        return (self.host_name, self.config.name)

    def build(self, target: Target) -> nagiosplugin.Check:
        """The Check the plugin would build for these options (a fresh one each time)."""
        return self.check.build_check(self.options, target)  # type: ignore[no-any-return]

    def evaluate(self, target: Target, acquire: Acquire) -> Outcome:
        """Run the check with ``acquire`` as its AMI session; never raises."""
        from isp_plugins.runtime.ami import AmiResource  # noqa: PLC0415
        from isp_plugins.runtime.run import SuiteOutput  # noqa: PLC0415

        try:
            check = self.build(target)
            for resource in check.resources:
                if isinstance(resource, AmiResource):
                    resource.acquire = acquire
            check()
            output = SuiteOutput(logging.StreamHandler(io.StringIO()))
            output.add(check)
            return Outcome(int(check.exitcode), str(output).rstrip("\n"))
        except Exception as exc:  # a bug of ours: still a status line, never a traceback
            log = logging.getLogger("asterisk_watch")
            log.error("%s/%s: evaluation failed: %r", self.host_name, self.name, exc)
            log.debug("the failed evaluation", exc_info=True)  # --log-level debug only
            return self.unknown(f"internal error: {type(exc).__name__}: {exc}")

    def unknown(self, text: str) -> Outcome:
        return Outcome(3, status_line(self.check_name, "UNKNOWN", text))


def _parse_options(command: click.Command, plugin: str, args: list[str]) -> Any:
    try:
        command.make_context(plugin, list(args))
    except click.MissingParameter as exc:
        if exc.param is None or exc.param.name != "username":
            raise
    except click.exceptions.Exit:
        raise click.UsageError("--help and --version have no place here") from None
    else:
        raise click.UsageError("-U/--username belongs in the [pbx] section (user =)")
    try:
        ctx = command.make_context(plugin, [*args, "--username", "-"])
    except click.exceptions.Exit:
        raise click.UsageError("--help and --version have no place here") from None
    for name in CONNECTION_OPTIONS:
        if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE:
            option = next(p for p in command.params if p.name == name)
            flag = "/".join(option.opts)  # type: ignore[attr-defined]
            raise click.UsageError(f"{flag} belongs in the [pbx] section")
    assert command.callback is not None
    return command.callback.build_options(ctx.params)  # type: ignore[attr-defined]


#: Options already parsed, by plugin and arguments: 10,000 PBXs share a few command lines,
#: and click took 0.6 ms a service (18 s for 30,000). The options objects are immutable
#: (NamedTuples) and parsing depends on nothing but the arguments.
_PARSED: dict[tuple[str, tuple[str, ...]], Any] = {}


def prepare(pbx: PbxConfig, config: ServiceConfig) -> Service:
    """Parse a service's options with its plugin's click command; ConfigError if they are bad."""
    info = PLUGINS[config.plugin]
    options = _PARSED.get((config.plugin, config.args))
    if options is None:
        command: click.Command = importlib.import_module(info.module).main
        try:
            options = _parse_options(command, config.plugin, list(config.args))
        except click.ClickException as exc:
            raise ConfigError(
                f"[pbx {pbx.name}] service {config.name}: {exc.format_message()}"
            ) from None
        _PARSED[(config.plugin, config.args)] = options
    check = importlib.import_module(info.check_module)
    return Service(config, pbx.name, pbx.host_name, check, info.name, options)


def target_of(pbx: PbxConfig) -> Target:
    """The AMI target of a PBX (the same as the plugins build from -H, -U, --tls...)."""
    try:
        return make_target(
            pbx.host, pbx.port, pbx.user, pbx.secret, pbx.auth, pbx.tls, pbx.ca_file, pbx.insecure
        )
    except click.ClickException as exc:
        raise ConfigError(f"[pbx {pbx.name}] {exc.format_message()}") from None
