"""check_postfix_queue: per-queue counts, bytes and oldest age of Postfix instances.

This module is the command line only; the check itself (``check``) and
nagiosplugin load after the options are parsed, so ``--help`` stays fast.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

import click

from isp_plugins.cli.command import PluginCommand
from isp_plugins.cli.options import apply_options, options_object, run_options, top_option
from isp_plugins.cli.types import DurationRange, RangeType

if TYPE_CHECKING:
    import nagiosplugin

NAME = "postfix_queue"


def _range_option(name: str, what: str, kind: str) -> Any:
    return click.option(
        f"--{name}-{kind}",
        type=RangeType(),
        metavar="RANGE",
        help=f"{kind.upper()} when the number of {what} messages is outside RANGE.",
    )


class Options(NamedTuple):
    """The parsed command line, handed whole to the check."""

    warning: nagiosplugin.Range | None
    critical: nagiosplugin.Range | None
    active_warning: nagiosplugin.Range | None
    active_critical: nagiosplugin.Range | None
    deferred_warning: nagiosplugin.Range | None
    deferred_critical: nagiosplugin.Range | None
    hold_warning: nagiosplugin.Range | None
    hold_critical: nagiosplugin.Range | None
    age_warning: nagiosplugin.Range | None
    age_critical: nagiosplugin.Range | None
    top_n: int
    config_dirs: tuple[str, ...]
    all_instances: bool
    method: str
    timeout: float
    verbose: int


@click.command(cls=PluginCommand, check_name=NAME.upper())
@click.option(
    "-w",
    "--warning",
    type=RangeType(),
    metavar="RANGE",
    help="WARNING when the total queued is outside RANGE (-w 100: above 100).",
)
@click.option(
    "-c",
    "--critical",
    type=RangeType(),
    metavar="RANGE",
    help="CRITICAL on the total queued.",
)
@_range_option("active", "active", "warning")
@_range_option("active", "active", "critical")
@_range_option("deferred", "deferred", "warning")
@_range_option("deferred", "deferred", "critical")
@_range_option("hold", "held", "warning")
@_range_option("hold", "held", "critical")
@click.option(
    "--age-warning",
    type=DurationRange(),
    metavar="AGE",
    help="WARNING when the oldest message is older than AGE (30m, 2h, 1d) or outside the range.",
)
@click.option("--age-critical", type=DurationRange(), metavar="AGE", help="CRITICAL on age.")
@top_option(
    "Senders and recipient domains listed in the long output (0: none, and a faster "
    "--method spool).",
    most=1000,
)
@click.option(
    "-C",
    "--config-dir",
    "config_dirs",
    multiple=True,
    metavar="DIR",
    help="Check the instance configured in DIR (postqueue -c DIR). Repeatable.",
)
@click.option(
    "--all-instances",
    is_flag=True,
    help="Check every enabled instance listed by postmulti -l (or multi_instance_directories).",
)
@click.option(
    "--method",
    type=click.Choice(["auto", "postqueue", "spool"]),
    default="auto",
    show_default=True,
    help="postqueue -j (Postfix 3.1+, no root), or read the queue directories (root or "
    "mail_owner; fastest). auto: postqueue when Postfix is 3.1 or later.",
)
@apply_options(
    *run_options(
        "Seconds for the whole check; postqueue is killed and the state is UNKNOWN.",
        "-v adds the method and command per instance.",
    )
)
@options_object(Options)
def main(options: Options) -> NoReturn:
    """Check the Postfix mail queue: messages per queue, bytes and the oldest message's age.

    Reads 'postqueue -j' (Postfix 3.1 and later; any user allowed by authorized_mailq_users,
    which by default is everyone) line by line, so memory stays flat on queues of 100,000
    messages. '--method spool' reads the queue directories instead (root or mail_owner; needed
    before 3.1, fastest on huge queues, adds the corrupt queue); a message's age always comes
    from its queue file's arrival record, never from the file's time (a deferred file's time
    is its next retry). The long output lists each instance with the top senders and
    recipient domains of its queued messages.

    \b
    States (each instance is evaluated alone; the worst one wins):
      OK        every threshold holds
      WARNING   a -w/--*-warning/--age-warning threshold is broken; corrupt
                queue files (spool); some postqueue lines could not be read
      CRITICAL  a critical threshold is broken; Postfix is not running or the
                queue cannot be listed (postqueue's message, e.g. "mail system
                is down")
      UNKNOWN   bad options; postqueue or postconf missing; not permitted
                (authorized_mailq_users, spool permissions); the -t timeout;
                nothing readable in postqueue's output

    \b
    Perfdata (summed over the instances; oldest is the oldest of all):
      total     messages in active, deferred, hold, incoming and maildrop
      active, deferred, hold, incoming, maildrop   messages per queue
      bytes     message sizes added up (B)
      oldest    age of the oldest message (s)

    \b
    Examples:
      check_postfix_queue -w 100 -c 500
        like check_mailq -w 100 -c 500: WARNING above 100 messages queued
      check_postfix_queue --deferred-warning 200 --deferred-critical 1000 --age-critical 1d
        a spam run fills 'deferred'; mail stuck for a day is CRITICAL
      check_postfix_queue --all-instances --hold-warning 0 --top 10
        every postmulti instance; any held message is a WARNING
    """
    if options.config_dirs and options.all_instances:
        raise click.UsageError("give -C/--config-dir or --all-instances, not both")
    for directory in options.config_dirs:
        if not os.path.isabs(directory):
            raise click.UsageError(f"--config-dir {directory}: give an absolute path")
    from isp_plugins.checks.postfix_queue import check  # noqa: PLC0415 (after --help)
    from isp_plugins.runtime.run import run_check  # noqa: PLC0415

    run_check(
        check.build_check(options), options.verbose, options.timeout, loggers=("postfix_queue",)
    )


if __name__ == "__main__":
    main()
