"""check_fail2ban: fail2ban running, its jails present, watching live logs, and what they ban.

This module is the command line only; the check (``check``) and
nagiosplugin load after the options are parsed, so ``--help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, NoReturn

import click

from isp_plugins.cli.command import PluginCommand
from isp_plugins.cli.options import apply_options, options_object, run_options, state_dir_option
from isp_plugins.cli.types import Duration, RangeType

if TYPE_CHECKING:
    import nagiosplugin

NAME = "fail2ban"
DEFAULT_SOCKET = "/var/run/fail2ban/fail2ban.sock"


class Options(NamedTuple):
    """The parsed command line, handed whole to the check."""

    socket_path: str
    jails: tuple[str, ...]
    warning: nagiosplugin.Range | None
    critical: nagiosplugin.Range | None
    failed_warning: nagiosplugin.Range | None
    failed_critical: nagiosplugin.Range | None
    stale: float
    state_dir: str | None
    timeout: float
    verbose: int


@click.command(cls=PluginCommand, check_name=NAME.upper())
@click.option(
    "-s",
    "--socket",
    "socket_path",
    default=DEFAULT_SOCKET,
    show_default=True,
    metavar="PATH",
    help="fail2ban's socket (fail2ban.conf 'socket').",
)
@click.option(
    "-j",
    "--jail",
    "jails",
    multiple=True,
    metavar="JAIL",
    help="A jail that must exist and run. Repeatable. Default: every jail of the server.",
)
@click.option(
    "-w",
    "--warning",
    type=RangeType(),
    metavar="RANGE",
    help="WARNING when a jail's currently banned addresses are outside RANGE.",
)
@click.option(
    "-c",
    "--critical",
    type=RangeType(),
    metavar="RANGE",
    help="CRITICAL when a jail's currently banned addresses are outside RANGE.",
)
@click.option(
    "--failed-warning",
    type=RangeType(),
    metavar="RANGE",
    help="WARNING when a jail's total failed grew by more than RANGE since the last run.",
)
@click.option(
    "--failed-critical",
    type=RangeType(),
    metavar="RANGE",
    help="CRITICAL when a jail's total failed grew by more than RANGE since the last run.",
)
@click.option(
    "--stale",
    type=Duration(),
    default="1d",
    show_default=True,
    metavar="AGE",
    help="WARNING when a jail's log file has not been written for AGE (90s, 30m, 2h, 1d; "
    "0: never).",
)
@state_dir_option("Where the total failed counts are kept between runs (--failed-*).")
@apply_options(
    *run_options(
        "Seconds for the whole check; on expiry the state is UNKNOWN.",
        "-v adds the socket and the server's jail list.",
    )
)
@options_object(Options)
def main(options: Options) -> NoReturn:
    """Check that fail2ban runs its jails, that they watch live logs, and what they ban.

    Asks the fail2ban server on its socket (what fail2ban-client does; root, or sudo, is
    usually needed to open it) for its jails, then 'status JAIL' for each: currently
    failed, total failed, currently banned, total banned and the log files it reads.
    The growth of total failed is counted from the previous run (kept in --state-dir): 0
    on a first run (or for a new jail), the new total after fail2ban restarted.

    \b
    States:
      OK        every jail runs and no threshold is crossed
      WARNING   banned or failed growth outside -w / --failed-warning; a jail's log
                file does not exist, or was not written for --stale (the jail
                watches nothing: a log path that changed)
      CRITICAL  fail2ban is not running (no socket, connection refused); a --jail
                does not exist; the server runs no jail (protection is off); banned
                or failed growth outside -c / --failed-critical
      UNKNOWN   bad options; no permission on the socket; a reply that is not
                fail2ban's answer (its shape, or too big to be); the -t timeout;
                an unusable state directory

    \b
    Perfdata, per jail (JAIL is the jail's name, non-word characters as _):
      JAIL_banned         addresses banned now
      JAIL_failed         addresses failing now (not banned yet)
      JAIL_failed_growth  failures since the last run
      JAIL_total_failed   failures since fail2ban started (counter)
      JAIL_total_banned   bans since fail2ban started (counter)

    \b
    Examples:
      check_fail2ban --jail asterisk --jail sshd -w 20 -c 100
      check_fail2ban -s /run/fail2ban/fail2ban.sock --failed-warning 500 --stale 2h
    """
    for jail in options.jails:
        if not jail.strip() or any(c in jail for c in "\r\n\0,"):
            raise click.UsageError(f"--jail {jail!r} is not a jail name")
    from isp_plugins.checks.fail2ban import check  # noqa: PLC0415 (after --help)
    from isp_plugins.runtime.run import run_check  # noqa: PLC0415

    run_check(check.build_check(options), options.verbose, options.timeout)


if __name__ == "__main__":
    main()
