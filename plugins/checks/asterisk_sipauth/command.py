"""check_asterisk_sipauth: SIP brute-force attempts in Asterisk's log since the last run.

This module is the command line only; the check (``check``) and
nagiosplugin load after the options are parsed, so ``--help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

import click

from isp_plugins.cli.command import PluginCommand
from isp_plugins.cli.options import (
    apply_options,
    options_object,
    run_options,
    state_dir_option,
    top_option,
)
from isp_plugins.cli.types import Duration, RangeType

if TYPE_CHECKING:
    import nagiosplugin

NAME = "asterisk_sipauth"
DEFAULT_LOG = "/var/log/asterisk/full"


class Network(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """An IPv4 or IPv6 network in CIDR notation (a bare address is a /32 or /128)."""

    name = "NET"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        import ipaddress  # noqa: PLC0415 (not needed for --help)

        if not isinstance(value, str):
            return value
        try:
            return ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            self.fail(f"{value!r} is not a network like 192.0.2.0/24 or 2001:db8::/32", param, ctx)


#: A phone with a wrong password retries every 20 to 60 s (1 to 3 a minute); a brute-force
#: tool sends tens to thousands a second.
DEFAULTS = {("rate", "warning"): "10", ("rate", "critical"): "100"}


def threshold_options(metric: str, what: str) -> list[Any]:
    """--METRIC-warning and --METRIC-critical, ranges without a default."""
    return [
        click.option(
            f"--{metric}-{level}",
            type=RangeType(),
            metavar="RANGE",
            default=default,
            show_default=default is not None,
            help=f"{level.upper()} when {what} outside RANGE.",
        )
        for level, default in (
            ("warning", DEFAULTS.get((metric, "warning"))),
            ("critical", DEFAULTS.get((metric, "critical"))),
        )
    ]


class Options(NamedTuple):
    """The parsed command line, handed whole to the check."""

    log_file: str
    state_dir: str | None
    attempts_warning: nagiosplugin.Range | None
    attempts_critical: nagiosplugin.Range | None
    rate_warning: nagiosplugin.Range | None
    rate_critical: nagiosplugin.Range | None
    sources_warning: nagiosplugin.Range | None
    sources_critical: nagiosplugin.Range | None
    accounts_warning: nagiosplugin.Range | None
    accounts_critical: nagiosplugin.Range | None
    top_source_warning: nagiosplugin.Range | None
    top_source_critical: nagiosplugin.Range | None
    ignore: tuple[Any, ...]
    no_compromise_check: bool
    compromise_failures: int
    compromise_hold: float
    top_n: int
    timeout: float
    verbose: int


@click.command(cls=PluginCommand, check_name=NAME.upper())
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False),
    default=DEFAULT_LOG,
    show_default=True,
    metavar="FILE",
    help="Asterisk's log with the NOTICE lines (full, messages) or res_security_log's "
    "SECURITY lines (/var/log/asterisk/security).",
)
@state_dir_option("Where the position in the log is kept between runs.")
@apply_options(
    *threshold_options("attempts", "the number of failed authentications since the last run is"),
    *threshold_options("rate", "failed authentications per minute are"),
    *threshold_options("sources", "the number of addresses that failed is"),
    *threshold_options("accounts", "the number of accounts tried is"),
    *threshold_options("top-source", "the failures of the busiest address are"),
)
@click.option(
    "--ignore",
    type=Network(),
    multiple=True,
    metavar="NET",
    help="Leave out failures and successes from NET (CIDR; your monitoring and "
    "provisioning systems). Repeatable.",
)
@click.option(
    "--no-compromise-check",
    is_flag=True,
    help="Do not turn CRITICAL when an account authenticates (SuccessfulAuth) from an address "
    "that failed --compromise-failures times before (the default does).",
)
@click.option(
    "--compromise-failures",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    metavar="N",
    help="Failures (this run and the last 24 hours' runs) that make an address an attacker.",
)
@click.option(
    "--compromise-hold",
    type=Duration(),
    default="1h",
    show_default=True,
    metavar="AGE",
    help="Keep reporting a likely compromise for AGE after the run that found it (a one-run "
    "CRITICAL stays a soft state in Nagios); 0: that run only.",
)
@top_option("Sources listed in the long output, with the accounts they tried.")
@apply_options(
    *run_options(
        "Seconds for the whole check; on expiry the state is UNKNOWN.",
        "-v adds the log, the bytes read, the window and the lines of each form read.",
    )
)
@options_object(Options)
def main(options: Options) -> NoReturn:
    """Check Asterisk's log for SIP brute-force attacks since the last run.

    Reads the log incrementally (the position survives rotation and truncation; a line
    still being written waits for the next run) and counts failed SIP authentications:
    chan_sip's "Registration from '...' failed for 'ADDR' - Wrong password" (and No
    matching peer found, Username/auth name mismatch, ...; Asterisk 1.4 to 20), PJSIP's
    "Request ... failed for 'ADDR' (callid: ...) - ..." (12 to 22), and res_security_log's
    InvalidPassword, ChallengeResponseFailed and InvalidAccountID events of the SIP and
    PJSIP services. Each failure counts once: a NOTICE line and a security event with the
    same address and account, logged within 2 seconds of each other, are one failure; the
    lines of either form left unmatched count too (res_security_log loaded partway, or a
    service that logs no security events). A failure whose two lines fall on either side of
    a run's position counts in both runs.

    A log too big to read within -t (a first run on years of log) is read in part: the
    position saved is where the read stopped, the next runs go on from there, and the
    long output says so.

    The rate is per minute over the log time from where the previous run stopped (the
    stamp of the last line it read) to the last line read now; on a first run, from the
    first failure read. A window under a minute counts as a minute.

    \b
    States:
      OK        no threshold crossed (defaults: only --rate-*)
      WARNING   a metric outside its --*-warning range
      CRITICAL  a metric outside its --*-critical range; an account authenticated
                (SuccessfulAuth, res_security_log) from an address that had failed
                --compromise-failures times: a likely compromise (reported
                again for --compromise-hold)
      UNKNOWN   bad options; an unreadable log or state directory; the -t timeout

    \b
    Perfdata:
      attempts    failed authentications since the last run
      rate        failed authentications per minute
      sources     distinct addresses that failed
      accounts    distinct accounts tried
      top_source  failures of the busiest address

    \b
    Examples:
      check_asterisk_sipauth --log /var/log/asterisk/security --state-dir /var/lib/nagios
      check_asterisk_sipauth --attempts-warning 50 --sources-critical 20
          --ignore 192.0.2.0/28 --ignore 2001:db8:1::/48
    """
    from isp_plugins.checks.asterisk_sipauth import check  # noqa: PLC0415 (after --help)
    from isp_plugins.runtime.run import run_check  # noqa: PLC0415

    run_check(check.build_check(options), options.verbose, options.timeout)


if __name__ == "__main__":
    main()
