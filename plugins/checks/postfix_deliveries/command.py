"""check_postfix_deliveries: which receivers refuse the relay and why, delivery rates, and
how much of the outbound mail is spam, from the mail log since the last run.

This module is the command line only; the check (``check``) and nagiosplugin load after the
options are parsed, so ``--help`` stays fast.
"""

from __future__ import annotations

import re
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
from isp_plugins.cli.types import RangeType

if TYPE_CHECKING:
    import nagiosplugin

NAME = "postfix_deliveries"
#: Debian's and Ubuntu's rsyslog file of the mail facility.
DEFAULT_LOG = "/var/log/mail.log"
#: The perfdata keys of the providers, as --critical-providers takes them (one place: the
#: source's data, read here without importing it: the command line stays light).
PROVIDER_KEYS = (
    "google",
    "yahoo",
    "microsoft",
    "apple",
    "gmx",
    "tonline",
    "orange",
    "comcast",
    "mailru",
    "yandex",
    "other",
)
MAJOR_DEFAULT = "google,microsoft,yahoo,apple,gmx"
#: Every perfdata label, in the order of the status line's perfdata (nagiosplugin sorts them).
LABELS: tuple[str, ...] = (
    "sent",
    "deferred",
    "bounced",
    "expired",
    "rejected",
    "sent_rate",
    "deferred_rate",
    "bounced_rate",
    "rejected_rate",
    "deferred_ratio",
    "refused_reputation",
    "throttled",
    "rejected_blocklist",
    "rejected_policy",
    "rejected_unknown_user",
    "rejected_other",
    "outbound",
    "spam",
    "spam_ratio",
    *(f"deferred_{key}" for key in PROVIDER_KEYS),
)


class ProviderList(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """Provider keys separated by commas (``none``: no provider)."""

    name = "LIST"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        text = str(value).strip().lower()
        if text in ("", "none"):
            return ()
        keys = tuple(part.strip() for part in text.split(","))
        unknown = [key for key in keys if key not in PROVIDER_KEYS]
        if unknown:
            self.fail(
                f"{unknown[0]!r} is not a provider; known: {', '.join(PROVIDER_KEYS)}", param, ctx
            )
        return keys


class LabelRange(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """``LABEL=RANGE``: a threshold on one perfdata value."""

    name = "LABEL=RANGE"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[str, Any]:
        if isinstance(value, tuple):
            return value
        label, sep, spec = str(value).partition("=")
        label = label.strip()
        if not sep or not re.fullmatch(r"[a-z_]+", label):
            self.fail(f"{value!r} is not LABEL=RANGE, like deferred_google=100", param, ctx)
        if label not in LABELS:
            self.fail(f"{label!r} is not a perfdata label", param, ctx)
        return label, RangeType().convert(spec, param, ctx)


class Options(NamedTuple):
    """The parsed command line, handed whole to the check."""

    log_file: str
    amavis_log: str | None
    state_dir: str | None
    critical_providers: tuple[str, ...]
    deferred_warning: nagiosplugin.Range | None
    deferred_critical: nagiosplugin.Range | None
    spam_ratio_warning: nagiosplugin.Range | None
    spam_ratio_critical: nagiosplugin.Range | None
    min_messages: int
    warning: tuple[tuple[str, nagiosplugin.Range], ...]
    critical: tuple[tuple[str, nagiosplugin.Range], ...]
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
    help="Postfix's log: syslog's mail log, or Postfix's own maillog_file.",
)
@click.option(
    "--amavis-log",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="amavisd-new's log (its Passed/Blocked lines). Default: the --log file.",
)
@state_dir_option("Where the positions in the logs are kept between runs.")
@click.option(
    "--critical-providers",
    type=ProviderList(),
    default=MAJOR_DEFAULT,
    show_default=True,
    metavar="LIST",
    help="CRITICAL when one of these refuses the relay for reputation or a block (others: "
    "WARNING); keys: google, yahoo, microsoft, apple, gmx, tonline, orange, comcast, mailru, "
    "yandex, other; none for no provider.",
)
@click.option(
    "--deferred-warning",
    type=RangeType(),
    default="10",
    show_default=True,
    metavar="RANGE",
    help="WARNING when the deferred share of delivery attempts (%) is outside RANGE.",
)
@click.option(
    "--deferred-critical",
    type=RangeType(),
    metavar="RANGE",
    help="CRITICAL when the deferred share of delivery attempts (%) is outside RANGE.",
)
@click.option(
    "--spam-ratio-warning",
    type=RangeType(),
    default="2",
    show_default=True,
    metavar="RANGE",
    help="WARNING when the spam or infected share of outbound mail (%) is outside RANGE.",
)
@click.option(
    "--spam-ratio-critical",
    type=RangeType(),
    default="5",
    show_default=True,
    metavar="RANGE",
    help="CRITICAL when the spam or infected share of outbound mail (%) is outside RANGE.",
)
@click.option(
    "--min-messages",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    metavar="N",
    help="Judge the two shares only over N delivery attempts or outbound messages at "
    "least (1 spam of 2 messages is no 50% spam run).",
)
@click.option(
    "-w",
    "--warning",
    type=LabelRange(),
    multiple=True,
    metavar="LABEL=RANGE",
    help="WARNING when the perfdata value LABEL is outside RANGE (rejected=100, "
    "deferred_google=50, sent_rate=1:); deferred_ratio and spam_ratio replace the options "
    "above. Repeatable.",
)
@click.option(
    "-c",
    "--critical",
    type=LabelRange(),
    multiple=True,
    metavar="LABEL=RANGE",
    help="CRITICAL when the perfdata value LABEL is outside RANGE. Repeatable.",
)
@top_option("Deferral reasons and spam-sending client addresses listed in the long output.")
@apply_options(
    *run_options(
        "Seconds for the whole check; on expiry the state is UNKNOWN.",
        "-v adds the logs, the bytes read and the window.",
    )
)
@options_object(Options)
def main(options: Options) -> NoReturn:
    """Check the relay's mail log for receivers refusing it, and for outbound spam.

    Reads the Postfix log incrementally (the position survives rotation and truncation; a
    line still being written waits for the next run; a log too big for -t is read in parts
    over several runs) and counts, since the last run: deliveries sent, deferred, bounced
    and expired (postfix/smtp, lmtp, error, local, virtual, pipe, any syslog_name) and
    smtpd's rejects by class. Each refused delivery's reply is classified by cause
    (reputation or block, rate limited, recipient, policy/authentication, TLS, DNS,
    connection) and its receiver grouped into a provider by recipient domain or MX host.
    amavisd-new's Passed/Blocked lines of originating mail (ORIGINATING, MYNETS, LOCAL)
    give the share of outbound mail that is spam or infected.

    \b
    States:
      OK        nothing below
      WARNING   a provider throttles the relay, or one not in --critical-providers
                refuses it; --deferred-warning, --spam-ratio-warning or a -w broken
      CRITICAL  a provider of --critical-providers refuses the relay for reputation
                or a block; --deferred-critical, --spam-ratio-critical or a -c broken
      UNKNOWN   bad options; an unreadable log or state directory; the -t timeout

    \b
    Perfdata (counts since the last run, rates per minute of log time):
      sent deferred bounced expired rejected                 counts
      sent_rate deferred_rate bounced_rate rejected_rate     per minute
      deferred_ratio                 deferred share of delivery attempts, %
      refused_reputation throttled   refusals for reputation/block, rate limits
      rejected_blocklist rejected_policy rejected_unknown_user rejected_other
      outbound spam spam_ratio       outbound mail scanned, spam or infected, %
      deferred_google ... deferred_other   deferrals per provider

    \b
    Examples:
      check_postfix_deliveries --state-dir /var/lib/nagios
      check_postfix_deliveries --log /var/log/postfix.log --amavis-log
          /var/log/amavis.log -w deferred_google=50 -c rejected_blocklist=1000
    """
    from isp_plugins.checks.postfix_deliveries import check  # noqa: PLC0415 (after --help)
    from isp_plugins.runtime.run import run_check  # noqa: PLC0415

    run_check(check.build_check(options), options.verbose, options.timeout)


if __name__ == "__main__":
    main()
