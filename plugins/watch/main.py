"""asterisk-watch: keep one AMI session per PBX and push the AMI checks' results as passive
results to Nagios/Naemon (external command file) and Icinga 2 (REST API).

    asterisk-watch --config /etc/asterisk-watch/asterisk-watch.ini
    asterisk-watch --check-config /etc/asterisk-watch/asterisk-watch.ini
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from typing import Any

import click

from isp_plugins.version import __version__
from isp_plugins.watch import DEFAULT_HEARTBEAT, DEFAULT_INTERVAL, DEFAULT_STALE

log = logging.getLogger("asterisk_watch")
LEVELS = ("debug", "info", "warning", "error")
#: Exit codes: 0 clean stop or config OK, 2 bad configuration or options.
EXIT_CONFIG = 2


def _setup_logging(level: str) -> None:
    from isp_plugins.watch.logs import FORMAT, NamePbx  # noqa: PLC0415

    handler = logging.StreamHandler(sys.stderr)
    # systemd's journal adds the time; the level prefix lets it set the priority too.
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(NamePbx())  # the AMI library's lines name their PBX
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for name in ("asterisk_watch", "asterisk_ami"):
        logging.getLogger(name).setLevel(level.upper())
    if level != "debug":  # one line per command at info is noise for a daemon
        logging.getLogger("asterisk_ami").setLevel(logging.WARNING)


def _fail(message: str) -> None:
    click.echo(f"asterisk-watch: {message}", err=True)
    sys.exit(EXIT_CONFIG)


def _load(path: str, overrides: dict[str, float | None]) -> Any:
    """Read and fully validate the configuration (every service's plugin options too)."""
    import dataclasses  # noqa: PLC0415

    from isp_plugins.watch import config, services  # noqa: PLC0415

    settings = config.load(path)
    changes: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if changes:
        settings = dataclasses.replace(settings, **changes)
    for pbx in settings.pbxs:
        services.target_of(pbx)
        for service in pbx.services:
            services.prepare(pbx, service)
    return settings


def _outputs(settings: Any) -> list[Any]:
    from isp_plugins.watch.outputs import IcingaApi, NagiosCommandFile  # noqa: PLC0415

    outputs: list[Any] = []
    if settings.nagios_command_file:
        outputs.append(NagiosCommandFile(settings.nagios_command_file))
    if settings.icinga is not None:
        outputs.append(IcingaApi(settings.icinga))
    return outputs


async def _serve(path: str, settings: Any, overrides: dict[str, float | None]) -> None:
    import asyncio  # noqa: PLC0415 (--help stays light: tests/test_imports.py)

    from isp_plugins.watch.config import ConfigError  # noqa: PLC0415
    from isp_plugins.watch.limits import raise_open_files  # noqa: PLC0415
    from isp_plugins.watch.supervisor import Supervisor  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    # One socket per PBX: as many files as the hard limit allows (the systemd unit sets it).
    supervisor = Supervisor(settings, _outputs, raise_open_files())
    stop = asyncio.Event()
    reloads: asyncio.Queue[None] = asyncio.Queue()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reloads.put_nowait, None)
    supervisor.start()

    async def reloader() -> None:
        # Nothing may end this task: a dead reloader ignores every later SIGHUP.
        while True:
            await reloads.get()
            log.info("SIGHUP: reloading %s", path)
            try:
                new = _load(path, overrides)
                await supervisor.reload(new)
            except ConfigError as exc:
                log.error("configuration not reloaded, keeping the running one: %s", exc)
            except Exception as exc:  # a bug of ours; its text may quote the file: not logged
                log.error(
                    "configuration not reloaded, keeping the running one: internal error (%s)",
                    type(exc).__name__,
                )

    task = asyncio.ensure_future(reloader())
    try:
        await stop.wait()
        log.info("stopping: logging off every session")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await supervisor.stop()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", metavar="FILE", help="Run with this configuration.")
@click.option(
    "--check-config",
    "check_path",
    metavar="FILE",
    help="Validate this configuration (every service's plugin options too) and exit.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    help="Seconds between evaluations over each session "
    f"(default {DEFAULT_INTERVAL:g}, or [watch] interval).",
)
@click.option(
    "--stale",
    type=click.FloatRange(min=1),
    help="Seconds without an AMI session before its services are reported UNKNOWN "
    f"(default {DEFAULT_STALE:g}, or [watch] stale).",
)
@click.option(
    "--heartbeat",
    type=click.FloatRange(min=1),
    help="Resend an unchanged result this often, for freshness checks "
    f"(default {DEFAULT_HEARTBEAT:g}, or "
    "[watch] heartbeat).",
)
@click.option(
    "--log-level", type=click.Choice(LEVELS), default="info", show_default=True, help="On stderr."
)
@click.version_option(__version__, "-V", "--version", message="asterisk-watch %(version)s")
def main(
    config_path: str | None,
    check_path: str | None,
    interval: float | None,
    stale: float | None,
    heartbeat: float | None,
    log_level: str,
) -> None:
    """Watch Asterisk PBXs over one resident AMI session each and push the results of the
    AMI checks (check_asterisk_pri, _bri, _fxo, _dahdi) to Nagios/Naemon and Icinga 2 as
    passive results, within seconds of a change.

    \b
    Each service is evaluated by the plugin's own code: the same states, status line,
    perfdata and long output as the active check. Evaluations run on every alarm event
    (Alarm, AlarmClear, SpanAlarm, SpanAlarmClear, FullyBooted, Reload) and every
    --interval seconds; a result is sent when it changes and every --heartbeat seconds.
    A refused connection is retried every second (a restarted Asterisk is back within
    one); other failures after 1 s, doubling to 60 s; a rejected login once a minute at
    most. SIGHUP reloads the configuration, SIGTERM logs off and exits.
    """
    from isp_plugins.watch.config import ConfigError  # noqa: PLC0415

    overrides = {"interval": interval, "stale": stale, "heartbeat": heartbeat}
    if (config_path is None) == (check_path is None):
        _fail("give --config FILE or --check-config FILE (see --help)")
    _setup_logging(log_level)
    path = check_path or config_path
    assert path is not None
    try:
        settings = _load(path, overrides)
    except ConfigError as exc:
        _fail(f"{path}: {exc}")
    except Exception as exc:  # a bug of ours: one line, and not its text (it may quote a secret)
        _fail(f"{path}: cannot be used: internal error ({type(exc).__name__})")
    if check_path is not None:
        outputs = []
        if settings.nagios_command_file:
            outputs.append(f"command file {settings.nagios_command_file}")
        if settings.icinga is not None:
            outputs.append(f"Icinga 2 API {settings.icinga.url}")
        click.echo(
            f"{path}: OK - {len(settings.pbxs)} PBX(s), {settings.service_count} service(s), "
            f"reporting to {' and '.join(outputs)}"
        )
        return
    import asyncio  # noqa: PLC0415

    with contextlib.suppress(KeyboardInterrupt):  # SIGINT is handled by the loop
        asyncio.run(_serve(path, settings, overrides))


if __name__ == "__main__":
    main()
