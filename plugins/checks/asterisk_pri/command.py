"""check_asterisk_pri: PRI spans up, down and in alarm, from AMI ``pri show spans``.

This module is the command line only; the check itself (``check``) and its costly
imports load after the options are parsed, so ``--help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, NoReturn

import click

from isp_plugins.cli.command import PluginCommand
from isp_plugins.cli.options import AmiOptions, ami_options, count_options, options_object
from isp_plugins.cli.types import RangeType

if TYPE_CHECKING:
    import nagiosplugin


class Options(NamedTuple):
    """The parsed command line, handed whole to the check (and by asterisk-watch)."""

    ami: AmiOptions
    warning: nagiosplugin.Range | None
    critical: nagiosplugin.Range | None
    expected: int | None
    exclude_span: tuple[int, ...]
    calls: bool
    calls_warning: nagiosplugin.Range | None
    calls_critical: nagiosplugin.Range | None

    @property
    def want_calls(self) -> bool:
        """--calls, or implied by a calls threshold."""
        return self.calls or self.calls_warning is not None or self.calls_critical is not None


@click.command(cls=PluginCommand, check_name="ASTERISK_PRI")
@ami_options()
@count_options("spans", "--exclude-span")
@click.option(
    "--exclude-span",
    type=click.IntRange(min=1),
    multiple=True,
    metavar="N",
    help="Leave span N out of every count (e.g. a BRI line idle by design). Repeatable.",
)
@click.option(
    "--calls",
    is_flag=True,
    help="Also count active calls per span from 'pri show channels' (Asterisk 1.8.6+): "
    "perfdata calls and calls_spanN.",
)
@click.option(
    "--calls-warning",
    type=RangeType(),
    metavar="RANGE",
    help="WARNING when the total of calls is outside RANGE (e.g. 50: above 50). Implies --calls.",
)
@click.option(
    "--calls-critical",
    type=RangeType(),
    metavar="RANGE",
    help="CRITICAL when the total of calls is outside RANGE. Implies --calls.",
)
@options_object(Options)
def main(options: Options) -> NoReturn:
    """Check the PRI spans of an Asterisk PBX through the Asterisk Manager Interface.

    Logs in to AMI, runs 'pri show spans' (every Asterisk from 1.4 to 22, either AMI reply
    format) and counts the spans that are up: a span is up when one of its D-channels is Up
    and not In Alarm. The manager.conf user needs 'write = command'.

    \b
    States:
      OK        spans up within the thresholds; with -n 0, none listed
      WARNING   -w reached (default: fewer spans up than expected);
                --calls-warning reached; -n given and a different number of
                spans listed; or a span that is up lost one of its
                D-channels (NFAS: one Down or In Alarm)
      CRITICAL  -c reached (default: no span up); --calls-critical reached;
                AMI unreachable (refused, reset, DNS failure), TLS
                certificate rejected, not an AMI server, login failed, or
                'pri show spans' not available (no chan_dahdi or libpri)
      UNKNOWN   bad options, no 'command' permission, the -t timeout, a reply
                that cannot be read, or no spans listed and no -n given

    \b
    Perfdata:
      spans_up     spans with a usable D-channel (warn/crit ranges, max expected)
      spans_down   spans listed but not up
      spans_alarm  spans with a D-channel In Alarm
      calls        with --calls: active calls on all spans (max: B-channels)
      calls_spanN  with --calls: active calls on span N (one label per span)

    \b
    Examples:
      check_asterisk_pri -H pbx1 -U nagios --secret-file /etc/nagios/ami.secret -w 2 -c 1 -n 4
        4 spans expected; WARNING at 2 or fewer up, CRITICAL at 1 or fewer
      ASTERISK_AMI_SECRET=... check_asterisk_pri -H pbx1 -U nagios -n 4
        WARNING when fewer than 4 spans are up, CRITICAL when none is
      check_asterisk_pri -H pbx1 -U nagios -P secret -w 3: -c @0:1 -n 4
        the same thresholds written as ranges on the number of spans up
    """
    from isp_plugins.checks.asterisk_pri import check  # noqa: PLC0415 (after --help)
    from isp_plugins.runtime import run  # noqa: PLC0415

    run.run_ami_check(options, check.build_check)


if __name__ == "__main__":
    main()
