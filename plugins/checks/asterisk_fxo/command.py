"""check_asterisk_fxo: analog FXO lines (telco lines) with and without battery, over AMI.

This module is the command line only; the check (``check``) and its costly
imports load after the options are parsed, so ``--help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, NoReturn

import click

from isp_plugins.cli.command import PluginCommand
from isp_plugins.cli.options import AmiOptions, ami_options, count_options, options_object
from isp_plugins.cli.types import NumberList

if TYPE_CHECKING:
    import nagiosplugin


class Options(NamedTuple):
    """The parsed command line, handed whole to the check (and by asterisk-watch)."""

    ami: AmiOptions
    warning: nagiosplugin.Range | None
    critical: nagiosplugin.Range | None
    expected: int | None
    channel: tuple[int, ...] | None
    include_fxs: bool
    method: str


@click.command(cls=PluginCommand, check_name="ASTERISK_FXO")
@ami_options()
@count_options("FXO ports", "--channel", "have line")
@click.option(
    "--channel",
    type=NumberList(),
    metavar="LIST",
    help="Only these DAHDI channels, e.g. 1-4,7. Default: every channel.",
)
@click.option(
    "--include-fxs",
    is_flag=True,
    help="Also report FXS ports (phones); one in alarm is WARNING.",
)
@click.option(
    "--method",
    type=click.Choice(["auto", "action", "cli"]),
    default="auto",
    show_default=True,
    help="Read channels with the AMI action DAHDIShowChannels (any logged-in user), or the "
    "CLI 'dahdi show channel(s)' (needs write = command); auto tries the action first.",
)
@options_object(Options)
def main(options: Options) -> NoReturn:
    """Check the analog FXO lines of an Asterisk PBX through the Asterisk Manager Interface.

    An FXO port takes a line from the telco; chan_dahdi shows it with FXS signalling (FXS
    Kewlstart, ...), the naming is inverted. When the line or its battery is gone, the DAHDI
    driver raises a red alarm on the channel: that port has no line. Works on Asterisk 1.4.22
    to 22 through the AMI action DAHDIShowChannels (ZapShowChannels on 1.4 in Zap mode), or
    the CLI 'dahdi show channels' and 'dahdi show channel N'.

    \b
    States:
      OK        FXO lines with line within the thresholds; with -n 0, none
                listed
      WARNING   -w reached (default: fewer lines up than expected); -n given
                and a different number of FXO ports listed; with --include-fxs,
                a phone port in alarm
      CRITICAL  -c reached (default: no line up); AMI unreachable (refused,
                reset, DNS failure), TLS certificate rejected, not an AMI
                server, login failed, or chan_dahdi not loaded
      UNKNOWN   bad options, no permission (--method cli needs write =
                command), the -t timeout, a reply that cannot be read, or no
                FXO ports listed and no -n given

    \b
    Perfdata:
      fxo_ok      FXO ports with line (warn/crit ranges, max expected)
      fxo_alarm   FXO ports in alarm (no line or no battery)

    \b
    Examples:
      check_asterisk_fxo -H pbx1 -U nagios --secret-file /etc/nagios/ami.secret -n 4
        4 telco lines expected; WARNING when one is lost, CRITICAL when all are
      check_asterisk_fxo -H pbx1 -U nagios --secret-file /etc/nagios/ami.secret --channel 1-4 -c 1
        only channels 1 to 4; CRITICAL at 1 line or fewer
    """
    from isp_plugins.checks.asterisk_fxo import check  # noqa: PLC0415 (after --help)
    from isp_plugins.runtime import run  # noqa: PLC0415

    run.run_ami_check(options, check.build_check)


if __name__ == "__main__":
    main()
