"""check_asterisk_peers: SIP, PJSIP and IAX2 peers, qualify latency and outbound registrations.

This module is the command line only; the check (``check``) and its costly imports load
after the options are parsed, so ``--help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, NoReturn

import click

from isp_plugins.cli.command import PluginCommand
from isp_plugins.cli.options import AmiOptions, ami_options, options_object
from isp_plugins.cli.types import CountThreshold

if TYPE_CHECKING:
    import nagiosplugin

TECHS = ("sip", "pjsip", "iax2")


class Options(NamedTuple):
    """The parsed command line, handed whole to the check (and by asterisk-watch)."""

    ami: AmiOptions
    warning: nagiosplugin.Range | None
    critical: nagiosplugin.Range | None
    expected: int | None
    tech: tuple[str, ...]
    peer: tuple[str, ...]
    exclude: tuple[str, ...]
    trunk: tuple[str, ...]
    registration: tuple[str, ...]
    rtt_warning: float | None
    rtt_critical: float | None
    rtt_perfdata: bool


@click.command(cls=PluginCommand, check_name="ASTERISK_PEERS")
@ami_options()
@click.option(
    "-w",
    "--warning",
    type=CountThreshold(),
    metavar="K|RANGE",
    help="WARNING when K or fewer watched peers are reachable, or when that number is outside "
    "RANGE. Default: WARNING when any watched peer other than a trunk is unreachable.",
)
@click.option(
    "-c",
    "--critical",
    type=CountThreshold(),
    metavar="K|RANGE",
    help="CRITICAL when K or fewer watched peers are reachable, or outside RANGE. Default: "
    "CRITICAL when a watched trunk is unreachable.",
)
@click.option(
    "-n",
    "--expected",
    type=click.IntRange(min=0),
    metavar="N",
    help="Watched peers that should be reachable; fewer is WARNING (unless -w is given).",
)
@click.option(
    "--tech",
    type=click.Choice(TECHS),
    multiple=True,
    help="Only this technology (repeatable); one that is not loaded is CRITICAL. Default: "
    "every one the PBX has loaded.",
)
@click.option(
    "--peer",
    multiple=True,
    metavar="PATTERN",
    help="Watch only the peers (PJSIP: endpoints) whose name matches this shell pattern, "
    "e.g. 'carrier*' (repeatable). Default: every monitored peer (qualify on).",
)
@click.option("--exclude", multiple=True, metavar="PATTERN", help="Leave these peers out.")
@click.option(
    "--trunk",
    multiple=True,
    metavar="PATTERN",
    help="These peers are trunks too (besides those with a static host, and PJSIP "
    "endpoints with an outbound auth): one down is CRITICAL.",
)
@click.option(
    "--registration",
    multiple=True,
    metavar="PATTERN",
    help="Judge only the outbound registrations matching this pattern (chan_sip and IAX2: "
    "user@host:port; PJSIP: the registration's name). Default: all.",
)
@click.option(
    "--rtt-warning",
    type=click.FloatRange(min=0),
    metavar="MS",
    help="WARNING when a peer's qualify time exceeds MS milliseconds.",
)
@click.option(
    "--rtt-critical",
    type=click.FloatRange(min=0),
    metavar="MS",
    help="CRITICAL when a peer's qualify time exceeds MS milliseconds.",
)
@click.option(
    "--rtt-perfdata",
    is_flag=True,
    help="Per-peer qualify time perfdata (rtt_TECH_NAME) for every watched peer, not only "
    "for trunks.",
)
@options_object(Options)
def main(options: Options) -> NoReturn:
    """Check the SIP, PJSIP and IAX2 trunks, phones and outbound registrations of an Asterisk
    PBX through the Asterisk Manager Interface.

    A peer (PJSIP: an endpoint, reachable when one of its contacts is) is watched when
    Asterisk qualifies it (qualify on); one without qualify is listed as unmonitored and
    never alarms. A trunk is a peer with a static host, a PJSIP endpoint with an outbound
    auth, or one named by --trunk. Works on Asterisk 1.4 to 22 with the AMI actions SIPpeers,
    SIPshowregistry, IAXpeerlist, IAXregistry, PJSIPShowEndpoints, PJSIPShowEndpoint and
    PJSIPShowRegistrationsOutbound (write = system, or reporting for SIP and IAX2), or the
    CLI (write = command) where an action is missing or refused. Registration passwords
    never reach the output.

    \b
    States:
      OK        every watched trunk and registration up, within the thresholds
      WARNING   a watched peer (not a trunk) UNREACHABLE, a peer LAGGED or over
                --rtt-warning, fewer peers reachable than -n, -w reached;
                a registration in progress (Request Sent, Auth. Sent)
      CRITICAL  a watched trunk UNREACHABLE (without -c), -c reached, a peer over
                --rtt-critical; a registration Rejected, Failed, No
                Authentication, Unregistered or Timeout; a --tech not loaded, no
                channel driver loaded; AMI unreachable, login failed
      UNKNOWN   bad options, no permission, the -t timeout, a reply that cannot be
                read

    \b
    Perfdata:
      peers_reachable       watched peers reachable (warn/crit ranges, max watched)
      peers_unreachable     watched peers UNREACHABLE
      peers_lagged          watched peers LAGGED
      peers_unmonitored     peers without qualify
      registrations_ok      outbound registrations Registered
      registrations_failed  outbound registrations not Registered
      rtt_max               slowest qualify time of the watched peers (ms)
      rtt_TECH_NAME         qualify time of each trunk (every peer with --rtt-perfdata)

    \b
    Examples:
      check_asterisk_peers -H pbx1 -U nagios --secret-file /etc/nagios/ami.secret
        every monitored peer and registration; a trunk down is CRITICAL
      check_asterisk_peers -H pbx1 -U nagios --secret-file /etc/nagios/ami.secret \\
          --tech pjsip --peer 'carrier*' --rtt-warning 150 --rtt-critical 400
        the carrier endpoints only, with qualify time thresholds
    """
    from isp_plugins.checks.asterisk_peers import check  # noqa: PLC0415 (after --help)
    from isp_plugins.runtime import run  # noqa: PLC0415

    run.run_ami_check(options, check.build_check)


if __name__ == "__main__":
    main()
