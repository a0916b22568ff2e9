"""Reading one Postfix instance's queue: ``postconf`` for its directories and version, then
``postqueue -j`` (Postfix 3.1 and later) or a walk of the spool, all under one deadline; and
the list of instances (``postmulti -l``). Failures are results, a severity and a message,
never exceptions; the messages are Postfix's own words, not yet made safe for output.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

from isp_plugins.sources.postfix_queue import QUEUES, instances, runner
from isp_plugins.sources.postfix_queue.stats import QueueStats

#: Severities of a failure: the service's own fault, or ours (setup, permissions).
CRITICAL, UNKNOWN = "critical", "unknown"
#: postqueue -j came with Postfix 3.1.
JSON_SINCE = (3, 1)
log = logging.getLogger("postfix_queue")


@dataclass
class QueueReading:
    """What was read of one instance's queue."""

    instance: instances.Instance
    method: str = ""
    version: str = ""
    command: str = ""
    stats: QueueStats | None = None
    malformed: int = 0
    first_malformed: str = ""
    failure: tuple[str, str] | None = None  # (CRITICAL or UNKNOWN, message): no usable counts
    down: str = ""  # Postfix not running, though counts were read (root, or spool)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def _postqueue_failure(finished: runner.Finished, config_dir: str) -> tuple[str, str]:
    """postqueue's non-zero exit: not permitted is UNKNOWN with a hint, anything else CRITICAL."""
    lines = [line for line in finished.stderr.splitlines() if line.strip()]
    fatal = [line.split("fatal: ", 1)[1] for line in lines if "fatal: " in line]
    message = (fatal[-1] if fatal else lines[-1] if lines else "").strip()
    if not message:
        if finished.returncode < 0:
            message = f"postqueue killed by signal {-finished.returncode}"
        else:
            message = f"postqueue exited {finished.returncode}"
    if "not allowed to view the mail queue" in message:
        return UNKNOWN, f"{message} (authorized_mailq_users in {config_dir}/main.cf)"
    if "Permission denied" in message:
        return UNKNOWN, f"{message} (the postdrop group or root can reach the showq socket)"
    return CRITICAL, message


def read_postqueue(report: QueueReading, postqueue: str, deadline: float) -> None:
    from isp_plugins.sources.postfix_queue.reader import ParseError, read_messages  # noqa: PLC0415

    argv = [postqueue, "-j"]
    if report.instance.name != instances.DEFAULT_NAME or report.command == "-c":
        argv[1:1] = ["-c", report.instance.config_dir]
    report.command = " ".join(argv)
    stats = QueueStats()
    log.debug("running %s", report.command)
    with runner.stream(argv, deadline) as (lines, finished):
        for item in read_messages(lines):
            if isinstance(item, ParseError):
                report.malformed += 1
                if not report.first_malformed:
                    report.first_malformed = str(item)
            else:
                stats.add(item)
    log.debug("postqueue exit %s, stderr %r", finished.returncode, finished.stderr)
    if finished.returncode != 0:
        report.failure = _postqueue_failure(finished, report.instance.config_dir)
        return
    report.stats = stats
    down = [line for line in finished.stderr.splitlines() if "Mail system is down" in line]
    if down:  # root: postqueue read the spool itself, exit 0
        report.down = down[0].split("warning: ", 1)[-1].strip()


def read_spool(report: QueueReading, queue_dir: str, deadline: float, top_n: int) -> None:
    from isp_plugins.sources.postfix_queue import spool  # noqa: PLC0415

    report.command = f"read {queue_dir}/{{{','.join((*QUEUES, 'corrupt'))}}}"
    stats = QueueStats()
    try:
        for message in spool.read_spool(queue_dir, deadline, envelope=top_n > 0):
            stats.add(message)
    except spool.SpoolTimeout:
        raise runner.CommandTimeout("the queue directory walk did not finish") from None
    except spool.SpoolError as error:
        report.failure = (UNKNOWN, f"{error} (--method spool needs root or mail_owner)")
        return
    report.stats = stats
    if spool.master_running(queue_dir) is False:
        report.down = f"Postfix is not running (no master process for {queue_dir})"


def read_instance(
    report: QueueReading, explicit: bool, method: str, deadline: float, top_n: int, timeout: float
) -> None:
    """Read ``report.instance`` into ``report``: failures become ``report.failure``, never
    exceptions. ``explicit``: name its directory to Postfix (-c); ``method``: postqueue,
    spool or auto; ``top_n`` 0 skips reading senders and recipients from the spool."""
    postconf = runner.find_program("postconf")
    if postconf is None:
        report.failure = (UNKNOWN, "postconf not found (is Postfix installed? PATH and sbin)")
        return
    argv = [postconf]
    if explicit:
        argv += ["-c", report.instance.config_dir]
        report.command = "-c"
    argv += ["-h", "command_directory", "queue_directory", "mail_version"]
    try:
        text, finished = runner.run(argv, deadline)
        values = text.splitlines()
        if finished.returncode != 0 or len(values) < 3:
            why = finished.stderr.split("fatal: ", 1)[-1].strip() or "no output"
            report.failure = (UNKNOWN, f"postconf failed for {report.instance.config_dir}: {why}")
            return
        command_dir, queue_dir, report.version = (v.strip() for v in values[:3])
        chosen = method
        if method == "auto":
            chosen = "postqueue" if _version(report.version) >= JSON_SINCE else "spool"
        report.method = chosen
        if chosen == "spool":
            read_spool(report, queue_dir, deadline, top_n)
            return
        postqueue = os.path.join(command_dir, "postqueue")
        if not os.access(postqueue, os.X_OK):
            report.failure = (UNKNOWN, f"{postqueue} not found or not executable")
            return
        if _version(report.version) < JSON_SINCE:
            report.failure = (
                UNKNOWN,
                f"Postfix {report.version} has no postqueue -j (3.1+): use --method spool",
            )
            return
        read_postqueue(report, postqueue, deadline)
    except runner.CommandTimeout:
        report.failure = (
            UNKNOWN,
            f"{report.method or 'postconf'} not done within {timeout:g}s (-t)",
        )
        report.stats = None
    except runner.CommandError as error:
        report.failure = (UNKNOWN, f"{error} (is Postfix installed?)")


def list_instances(deadline: float) -> tuple[list[instances.Instance], list[str]]:
    """Enabled instances from postmulti -l (or multi_instance_directories), and disabled names."""
    postmulti = runner.find_program("postmulti")
    if postmulti is not None:
        try:
            text, finished = runner.run([postmulti, "-l"], deadline)
            found = instances.parse_postmulti(text) if finished.returncode == 0 else []
        except runner.CommandError:
            found = []
        if found:
            return [i for i in found if i.enabled], [i.label for i in found if not i.enabled]
    postconf = runner.find_program("postconf")
    if postconf is None:
        return [instances.Instance(instances.DEFAULT_NAME, instances.DEFAULT_CONFIG_DIR)], []
    text, _ = runner.run(
        [postconf, "-h", "config_directory", "multi_instance_directories"], deadline
    )
    values = [*text.splitlines(), "", ""]
    return instances.from_directories(
        values[0].strip() or instances.DEFAULT_CONFIG_DIR, values[1]
    ), []
