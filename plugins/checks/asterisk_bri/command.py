"""check_asterisk_bri: BRI ports up, idle and down, from chan_misdn and chan_dahdi/libpri.

This module is the command line only; the check itself (``check``) and its
costly imports load after the options are parsed, so ``--help`` stays fast.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

import click

from isp_plugins.cli.command import PluginCommand
from isp_plugins.cli.options import AmiOptions, ami_options, count_options, options_object

if TYPE_CHECKING:
    import nagiosplugin


class PortRef(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """A port: ``N`` (either source), ``misdn:N`` (mISDN port) or ``dahdi:N`` (DAHDI span)."""

    name = "[SOURCE:]N"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[str, int]:
        if isinstance(value, tuple):
            return value
        match = re.fullmatch(r"\s*(?:(misdn|dahdi):)?(\d+)\s*", str(value), re.IGNORECASE)
        if match is None or not 1 <= int(match[2]) <= 1024:
            self.fail(f"{value!r} is not a port like 3, misdn:3 or dahdi:3", param, ctx)
        return ((match[1] or "").lower(), int(match[2]))


class Options(NamedTuple):
    """The parsed command line, handed whole to the check (and by asterisk-watch)."""

    ami: AmiOptions
    warning: nagiosplugin.Range | None
    critical: nagiosplugin.Range | None
    expected: int | None
    source: str
    exclude_port: tuple[tuple[str, int], ...]
    idle_ok: bool
    idle_ok_port: tuple[tuple[str, int], ...]


@click.command(cls=PluginCommand, check_name="ASTERISK_BRI")
@ami_options()
@count_options("BRI ports", "--exclude-port", "are up (idle ones included)")
@click.option(
    "--source",
    type=click.Choice(["auto", "misdn", "dahdi"]),
    default="auto",
    show_default=True,
    help="Where the BRI ports come from: chan_misdn ('misdn show stacks'), chan_dahdi with "
    "libpri ('pri show spans' and 'pri show span N'), or whichever the server has.",
)
@click.option(
    "--exclude-port",
    type=PortRef(),
    multiple=True,
    metavar="[SOURCE:]N",
    help="Leave port N out of every count: 3 (either source), misdn:3 or dahdi:3. Repeatable.",
)
@click.option(
    "--idle-ok",
    is_flag=True,
    help="A TE point-to-multipoint port that is down is idle, not down: many telcos "
    "deactivate layers 1 and 2 of an idle BRI line.",
)
@click.option(
    "--idle-ok-port",
    type=PortRef(),
    multiple=True,
    metavar="[SOURCE:]N",
    help="Port N, of any type, is idle when down (like --idle-ok for one port). Repeatable.",
)
@options_object(Options)
def main(options: Options) -> NoReturn:
    """Check the BRI (ISDN basic rate) ports of an Asterisk PBX through AMI.

    Logs in to AMI and reads the BRI ports of chan_misdn ('misdn show stacks', Asterisk 1.4
    to 18) and of chan_dahdi with libpri (Asterisk 1.6 to 22: 'pri show spans' lists BRI
    spans with PRI wording, 'pri show span N' tells them apart by 'Type: BRI ...'; PRI spans
    are listed but not counted). An mISDN port is up when layers 1 and 2 are up (layer 1
    alone on NT point-to-multipoint ports, whose layer 2 chan_misdn cannot know) and it is
    not blocked; a DAHDI BRI span is up when its D-channel is Up and not In Alarm. The
    manager.conf user needs 'write = command'.

    \b
    States:
      OK        ports up (and idle) within the thresholds; with -n 0, none listed
      WARNING   -w reached (default: fewer ports up or idle than expected);
                -n given and a different number of ports listed
      CRITICAL  -c reached (default: no port up or idle); AMI unreachable,
                TLS rejected, not an AMI server, login failed; the --source
                asked for is not loaded, or with --source auto neither is
      UNKNOWN   bad options, no 'command' permission, the -t timeout, a reply
                that cannot be read, or no BRI port listed and no -n given

    \b
    Perfdata:
      ports_up    ports with layers 1 and 2 up (warn/crit ranges, max expected;
                  the ranges judge ports up plus ports idle)
      ports_down  ports listed that are neither up nor idle
      ports_idle  ports down but idle by --idle-ok or --idle-ok-port

    \b
    Examples:
      check_asterisk_bri -H pbx1 -U nagios --secret-file /etc/nagios/ami.secret -n 4
        4 BRI ports expected; WARNING when fewer are up, CRITICAL when none is
      check_asterisk_bri -H pbx1 -U nagios -n 4 --idle-ok --exclude-port dahdi:4
        TE multipoint lines may sleep when idle; span 4 is unused
      check_asterisk_bri -H pbx1 -U nagios --source misdn -w 1 -c 0
        chan_misdn only; WARNING at 1 or fewer up, CRITICAL at none
    """
    from isp_plugins.checks.asterisk_bri import check  # noqa: PLC0415 (after --help)
    from isp_plugins.runtime import run  # noqa: PLC0415

    run.run_ami_check(options, check.build_check)


if __name__ == "__main__":
    main()
