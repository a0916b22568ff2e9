"""check_ratelimit_offenders: senders at or near their quota, from the policy daemon's database
or from the Postfix log.

This module is the command line only; the check (``check``), nagiosplugin and
the database drivers load after the options are parsed, so ``--help`` stays fast.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, NamedTuple, NoReturn

import click

from isp_plugins.cli import secrets
from isp_plugins.cli.command import PluginCommand
from isp_plugins.cli.options import (
    apply_options,
    options_object,
    run_options,
    state_dir_option,
    top_option,
)
from isp_plugins.cli.types import RangeType, duration_seconds

if TYPE_CHECKING:
    import nagiosplugin

NAME = "ratelimit_offenders"
PASSWORD_ENV = "RATELIMIT_DB_PASSWORD"


def read_password(url_password: str, password_file: str | None) -> str:
    """The password from the URL, --password-file (a regular file's first line) or the
    environment, in that order; giving it both in the URL and in a file is an error."""
    if url_password and password_file is not None:
        raise click.UsageError("give the password in the URL or with --password-file, not both")
    if url_password:
        return url_password
    if password_file is not None:
        try:
            return secrets.read_first_line(password_file, "password file")
        except secrets.SecretFileError as exc:
            raise click.UsageError(str(exc)) from None
    return os.environ.get(PASSWORD_ENV, "")


def parse_limit(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?[smhdw]?)\s*", text)
    if not match:
        raise click.BadParameter(f"{text!r} is not N/SECONDS like 150/86400 or 10/1m")
    seconds = int(duration_seconds(match.group(2)))
    if seconds <= 0:
        raise click.BadParameter(f"{text!r}: the window must be at least one second")
    return int(match.group(1)), seconds


class Options(NamedTuple):
    """The parsed command line, handed whole to the check."""

    backend: str | None
    dsn: str | None
    password_file: str | None
    log_file: str | None
    patterns: tuple[str, ...]
    state_dir: str | None
    warning: nagiosplugin.Range
    critical: nagiosplugin.Range
    near: float
    exclude: tuple[str, ...]
    top_n: int
    policyd_conf: str | None
    default_msg_limit: int | None
    default_rcpt_limit: int | None
    default_quota_limit: int | None
    default_window: str | None
    table_prefix: str
    config_file: str | None
    limit_texts: tuple[str, ...]
    timeout: float
    verbose: int


@click.command(cls=PluginCommand, check_name=NAME.upper())
@click.option(
    "-b",
    "--backend",
    type=click.Choice(["policyd1", "cluebringer", "policyd-rate-limit"]),
    help="The policy daemon whose database --dsn points at.",
)
@click.option(
    "-d",
    "--dsn",
    metavar="URL",
    help="sqlite:///PATH or sqlite:////PATH (PATH taken literally: spaces, %, ? and # are "
    "part of it), mysql://USER[:PASSWORD]@HOST[:PORT]/DB (PyMySQL) or "
    "postgresql://USER[:PASSWORD]@HOST[:PORT]/DB (pip install 'isp-plugins[postgresql]'); "
    "a PASSWORD there is percent-decoded (% is %25).",
)
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help=f"Database password from the first line of FILE (else the URL or ${PASSWORD_ENV}).",
)
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Count the Postfix reject lines caused by the policy service in FILE since the "
    "last run, instead of reading a database.",
)
@click.option(
    "--pattern",
    "patterns",
    multiple=True,
    metavar="REGEX",
    help="--log: also count lines matching REGEX (a custom reject text). Repeatable.",
)
@state_dir_option("--log: where the position in the log is kept between runs.")
@click.option(
    "-w",
    "--warning",
    type=RangeType(),
    default="0",
    show_default=True,
    metavar="RANGE",
    help="WARNING when the number of senders near their limit is outside RANGE.",
)
@click.option(
    "-c",
    "--critical",
    type=RangeType(),
    default="0",
    show_default=True,
    metavar="RANGE",
    help="CRITICAL when the number of offenders is outside RANGE (0: any offender).",
)
@click.option(
    "--near",
    type=click.FloatRange(0, 100, min_open=True),
    default=80.0,
    show_default=True,
    metavar="PCT",
    help="A sender using PCT % or more of any limit is near it.",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="ID",
    help="Ignore this sender (SASL user, address, IP or cluebringer track key). Repeatable.",
)
@top_option("Offenders and near-limit senders listed in the long output.", default=10, most=1000)
@click.option(
    "--policyd-conf",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="policyd1: read the SENDER*LIMIT defaults from policyd.conf.",
)
@click.option(
    "--default-msg-limit",
    type=click.IntRange(min=1),
    help="policyd1: SENDERMSGLIMIT, for _count_max = 0.  [default: 512]",
)
@click.option(
    "--default-rcpt-limit",
    type=click.IntRange(min=1),
    help="policyd1: SENDERRCPTLIMIT, for _rcpt_max = 0.  [default: 3600]",
)
@click.option(
    "--default-quota-limit",
    type=click.IntRange(min=1),
    help="policyd1: SENDERQUOTALIMIT (bytes), for _quota_max = 0.  [default: 250000000]",
)
@click.option(
    "--default-window",
    metavar="SECONDS",
    help="policyd1: SENDERTIMELIMIT, for _time_limit = 0 (86400, 1d).  [default: 1d]",
)
@click.option(
    "--table-prefix",
    default="",
    metavar="PREFIX",
    help="cluebringer: the @PREFIX@ of its table names.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="policyd-rate-limit: its YAML (limits, limits_by_id).",
)
@click.option(
    "--limit",
    "limit_texts",
    multiple=True,
    metavar="N/SECONDS",
    help="policyd-rate-limit: a limit instead of the YAML's 'limits' (10/60, 150/1d). Repeatable.",
)
@apply_options(
    *run_options(
        "Seconds for the whole check; on expiry the state is UNKNOWN.",
        "-v adds the source and the query window.",
    )
)
@options_object(Options)
def main(options: Options) -> NoReturn:
    """Check a Postfix relay's rate limiter for senders at or near their quota.

    Reads the policy daemon's own database and applies that daemon's rule:

    \b
      policyd1            postfix-policyd 1.8x 'throttle': fixed window with lazy
                          reset (an expired row is never an offender); refused
                          while _count_cur >= _count_max, _quota_cur >= _quota_max
                          or _rcpt_cur >= _rcpt_max (0 = the policyd.conf
                          default), or _abuse_cur is set
      cluebringer         policyd v2 quotas: Counter decays linearly to 0 over the
                          quota's Period; refused when the decayed counter is
                          greater than CounterLimit; disabled quotas skipped
      policyd-rate-limit  sum of recipient_count over each limit's last SECONDS;
                          refused when the sum is N or more (limits_by_id apply
                          per sender); limit_report hits are listed

    With --log instead, counts the Postfix reject lines caused by the policy service
    (policyd v1 "Policy Rejection- Quota Exceeded", cluebringer "reason=quota_match",
    policyd-rate-limit "Rate limit reach", --pattern) per SASL user or sender since the
    last run; the position survives rotation and truncation.

    \b
    States:
      OK        no offender, no sender near a limit (with the default -w/-c)
      WARNING   the number of senders at or above --near % is outside -w
      CRITICAL  the number of offenders is outside -c; the database server is
                unreachable or refuses our login (the rate limiter is down)
      UNKNOWN   bad options or configuration (a --dsn we cannot read, an SQLite
                file missing or unreadable); missing tables or columns (named);
                the -t timeout; an unreadable log or state directory

    \b
    Perfdata:
      offenders    senders the daemon refuses now (--log: senders refused since
                   the last run)
      near_limit   other senders at or above --near % of a limit
      max_usage    the highest usage of any sender (%)
      rejects      --log only: reject lines since the last run

    \b
    Examples:
      check_ratelimit_offenders -b policyd-rate-limit --config /etc/policyd-rate-limit.yaml
          -d sqlite:///var/lib/policyd-rate-limit/db.sqlite3
      check_ratelimit_offenders -b cluebringer -d mysql://nagios@db1/policyd
          --password-file /etc/nagios/policyd.pw --exclude SASLUsername:newsletter
      check_ratelimit_offenders --log /var/log/mail.log --state-dir /var/lib/nagios -c 2
    """
    from isp_plugins.checks.ratelimit_offenders import check  # noqa: PLC0415 (after --help)
    from isp_plugins.runtime.run import run_check  # noqa: PLC0415

    if options.log_file is not None:
        if options.dsn or options.backend:
            raise click.UsageError("give --log or --backend/--dsn, not both")
        for pattern in options.patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise click.UsageError(f"--pattern {pattern!r}: {exc}") from None
        run_check(
            check.build_log_check(options), options.verbose, options.timeout, loggers=("ratelimit",)
        )
    if not options.dsn or not options.backend:
        raise click.UsageError("give --backend and --dsn (or --log FILE)")
    if options.patterns:
        raise click.UsageError("--pattern applies to --log only")
    from isp_plugins.sources.ratelimit import dsn as dsn_module  # noqa: PLC0415

    try:
        target = dsn_module.parse(options.dsn)
    except dsn_module.DsnError as exc:
        raise click.UsageError(str(exc)) from None
    password = read_password(target.password, options.password_file)
    target = target.with_password(password)
    limits = tuple(parse_limit(text) for text in options.limit_texts)
    if not re.fullmatch(r"[A-Za-z0-9_]*", options.table_prefix):
        raise click.UsageError("--table-prefix: letters, digits and _ only")
    run_check(
        check.build_db_check(options, target, limits),
        options.verbose,
        options.timeout,
        secret=password,
        loggers=("ratelimit",),
    )


if __name__ == "__main__":
    main()
