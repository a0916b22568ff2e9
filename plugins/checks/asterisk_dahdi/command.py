"""check_asterisk_dahdi: DAHDI span alarms (RED, YEL, BLU...), from AMI ``dahdi show status``.

This module is the command line only; the check itself (``check``) and its
costly imports load after the options are parsed, so ``--help`` stays fast.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple, NoReturn

import click

from isp_plugins.cli.command import PluginCommand
from isp_plugins.cli.options import AmiOptions, ami_options, options_object
from isp_plugins.cli.types import NumberList


class Regex(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """A Python regular expression, compiled when the options are read."""

    name = "REGEX"

    def convert(self, value: Any, param: Any, ctx: Any) -> re.Pattern[str]:
        if isinstance(value, re.Pattern):
            return value
        try:
            return re.compile(str(value))
        except re.error as exc:
            self.fail(f"{value!r} is not a valid regular expression: {exc}", param, ctx)


class Options(NamedTuple):
    """The parsed command line, handed whole to the check (and by asterisk-watch)."""

    ami: AmiOptions
    spans: tuple[tuple[int, ...], ...]
    description: re.Pattern[str] | None
    unconfigured_critical: bool


@click.command(cls=PluginCommand, check_name="ASTERISK_DAHDI")
@ami_options()
@click.option(
    "--span",
    "spans",
    type=NumberList(),
    multiple=True,
    metavar="LIST",
    help="Check only these spans (3, 1,2 or 1-4; repeatable). A span given here that "
    "'dahdi show status' does not list is CRITICAL.",
)
@click.option(
    "--description",
    type=Regex(),
    metavar="REGEX",
    help="Check only spans whose description matches REGEX (Python syntax, searched "
    "anywhere), e.g. 'T4XXP' for the digital card only.",
)
@click.option(
    "--unconfigured-critical",
    is_flag=True,
    help="An UNCONFIGURED span (no channel configured in system.conf) is CRITICAL "
    "instead of ignored.",
)
@options_object(Options)
def main(options: Options) -> NoReturn:
    """Check the alarms of the DAHDI spans of an Asterisk PBX through AMI.

    Logs in to AMI and runs 'dahdi show status' (Asterisk 1.4 to 22, all four table
    layouts; 'zap show status' on 1.4.0-1.4.21). Every span has an alarm column: OK, an
    alarm list such as RED or BLU/YEL (cut by Asterisk to the column width), or
    UNCONFIGURED. The manager.conf user needs 'write = command'.

    \b
    States:
      OK        every checked span is OK
      WARNING   a span in YEL (remote alarm) or REC (recovering)
      CRITICAL  a span in RED, BLU, LB, NOP or UUU (an alarm cut short counts
                as the worst it can be: 1.4's 'RE' as RED); a --span that is
                not listed; UNCONFIGURED with --unconfigured-critical; DAHDI
                missing ('No DAHDI found', or no 'dahdi show status' command:
                chan_dahdi not loaded); DAHDI listing no span at all; AMI
                unreachable, TLS rejected, not an AMI server, login failed
      UNKNOWN   bad options, no 'command' permission, the -t timeout, a reply
                that cannot be read, or no span left to check after --span,
                --description and the UNCONFIGURED spans are set aside

    \b
    Perfdata:
      spans_ok                spans checked without alarm
      spans_alarm             spans checked with an alarm
      irq_misses_span<N>      per span, counters (UOM c) as DAHDI counts them
      bpv_span<N>             since the driver loaded: one label per span is
      crc_span<N>             fine, a PBX has few spans and they do not change
    Without a Span column (before 18.23/20.8/21.3) span N is the Nth row.

    \b
    Examples:
      check_asterisk_dahdi -H pbx1 -U nagios --secret-file /etc/nagios/ami.secret
        every configured span; RED on any is CRITICAL
      check_asterisk_dahdi -H pbx1 -U nagios --span 1-4 --unconfigured-critical
        spans 1 to 4 only, and each must be configured
      check_asterisk_dahdi -H pbx1 -U nagios --description 'T4XXP|TE[0-9]'
        the digital cards only, not the analog ones
    """
    from isp_plugins.checks.asterisk_dahdi import check  # noqa: PLC0415 (after --help)
    from isp_plugins.runtime import run  # noqa: PLC0415

    run.run_ami_check(options, check.build_check)


if __name__ == "__main__":
    main()
