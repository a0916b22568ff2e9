"""check_postfix_queue's machinery: acquisition, evaluation and the nagiosplugin glue.

Loaded by the command (``command``) only after its options are parsed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import nagiosplugin
from nagiosplugin.state import ServiceState as State

if TYPE_CHECKING:
    from isp_plugins.checks.postfix_queue.command import Options

from isp_plugins.runtime.contexts import ReportSummary
from isp_plugins.runtime.deadline import deadline_instant
from isp_plugins.runtime.failures import Failure, FailureContext, failure_metric
from isp_plugins.runtime.text import describe_range, human_age, sanitize
from isp_plugins.sources.postfix_queue import instances, probe, runner
from isp_plugins.sources.postfix_queue.probe import QueueReading
from isp_plugins.sources.postfix_queue.stats import QueueStats, top

NAME = "postfix_queue"
PERF_QUEUES = ("active", "deferred", "hold", "incoming", "maildrop")
SHOWN_QUEUES = (*PERF_QUEUES, "corrupt")

Ok, Warn, Critical, Unknown = (
    nagiosplugin.Ok,
    nagiosplugin.Warn,
    nagiosplugin.Critical,
    nagiosplugin.Unknown,
)
SEVERITY = {probe.CRITICAL: Critical, probe.UNKNOWN: Unknown}


# -- formatting (pure) ------------------------------------------------------------------
def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError  # pragma: no cover


@dataclass(frozen=True)
class Thresholds:
    """Ranges per measured value: total, active, deferred, hold (counts), oldest (seconds)."""

    warning: dict[str, nagiosplugin.Range] = field(default_factory=dict)
    critical: dict[str, nagiosplugin.Range] = field(default_factory=dict)


@dataclass
class InstanceReport(QueueReading):
    """What was read of one instance, and what it is found to be: each fault or broken
    threshold with its state, worst first (filled by :func:`evaluate`)."""

    findings: list[tuple[State, str]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.instance.label

    @property
    def state(self) -> State:
        worst: State = max([s for s, _ in self.findings], default=Ok)
        return worst


def measured(stats: QueueStats, now: float) -> dict[str, float]:
    values: dict[str, float] = {q: stats.counts.get(q, 0) for q in PERF_QUEUES}
    values["total"] = stats.total
    values["bytes"] = stats.bytes
    values["oldest"] = stats.oldest_age(now)
    return values


def evaluate(report: InstanceReport, thresholds: Thresholds, now: float) -> None:
    """Fill ``report.findings``: each broken threshold or fault with its state, worst first."""
    found: list[tuple[State, str]] = []
    if report.failure is not None:
        severity, message = report.failure
        found.append((SEVERITY[severity], sanitize(message)))
    if report.down:
        found.append((Critical, sanitize(report.down)))
    stats = report.stats
    if stats is not None:
        values = measured(stats, now)
        for label in ("total", "active", "deferred", "hold", "oldest"):
            age = label == "oldest"
            shown = human_age(values[label]) if age else f"{values[label]:g}"
            for state, ranges in ((Critical, thresholds.critical), (Warn, thresholds.warning)):
                rng = ranges.get(label)
                if rng is not None and not rng.match(values[label]):
                    found.append((state, f"{label} {shown} {describe_range(rng, age)}"))
                    break
        corrupt = stats.counts.get("corrupt", 0)
        if corrupt:
            found.append((Warn, f"{corrupt} corrupt queue file{'s' * (corrupt != 1)}"))
    if report.malformed:
        lines = f"{report.malformed} unreadable postqueue line{'s' * (report.malformed != 1)}"
        if stats is None or not stats.total:
            found.append((Unknown, f"{lines}, no message read ({report.first_malformed})"))
        else:
            found.append((Warn, lines))
    found.sort(key=lambda item: -int(item[0]))
    report.findings = found


def overview(stats: QueueStats, now: float) -> str:
    """ "12 queued (deferred 10, hold 2), 4.6 KiB, oldest 5m 12s" or "queue empty"."""
    corrupt = stats.counts.get("corrupt", 0)
    tail = f", {corrupt} corrupt" if corrupt else ""
    if not stats.total:
        return "queue empty" + tail
    known = [q for q in SHOWN_QUEUES if q != "corrupt"]
    names = known + sorted(q for q in stats.counts if q not in SHOWN_QUEUES)
    parts = ", ".join(f"{q} {stats.counts[q]}" for q in names if stats.counts.get(q))
    return (
        f"{stats.total} queued ({parts}), {human_bytes(stats.bytes)}, "
        f"oldest {human_age(stats.oldest_age(now))}{tail}"
    )


def instance_summary(report: InstanceReport, now: float) -> str:
    texts = [text for _, text in report.findings]
    if report.stats is not None:
        texts.append(overview(report.stats, now))
    return " - ".join(texts)  # not "; ": Nagios 4 turns ";" in plugin output into ":"


def combined(reports: Sequence[InstanceReport]) -> QueueStats | None:
    """The instances' totals added up (for perfdata), or None when none was read."""
    read = [r.stats for r in reports if r.stats is not None]
    if not read:
        return None
    total = QueueStats()
    for stats in read:
        total.merge(stats)
    return total


def status_text(reports: Sequence[InstanceReport], now: float) -> str:
    if len(reports) == 1:
        return instance_summary(reports[0], now)
    problems = [f"{r.label}: {text}" for r in reports for state, text in r.findings if state != Ok]
    problems.sort(key=lambda t: 0)  # stable: instances in order, worst first within each
    total = combined(reports)
    tail = f"{len(reports)} instances"
    if total is not None:
        tail += f": {overview(total, now)}"
    return " - ".join([*problems, tail])


def long_output(
    reports: Sequence[InstanceReport], skipped: Sequence[str], now: float, top_n: int, verbose: int
) -> list[str]:
    lines = []
    for report in reports:
        state = str(report.state).upper()
        lines.append(f"{report.label}: {state} - {instance_summary(report, now)}")
        if verbose >= 1:
            lines.append(
                f"  {report.method or 'no method'}: {report.command or '-'}"
                f"{f', Postfix {report.version}' if report.version else ''}"
            )
        if report.malformed:
            lines.append(f"  first unreadable line: {sanitize(report.first_malformed)}")
        stats = report.stats
        if stats is None or not stats.total or top_n <= 0:
            continue
        if stats.senders:
            lines.append(f"  top senders (messages, of {len(stats.senders)} senders):")
            lines += [f"    {n:>6}  {sanitize(name)}" for name, n in top(stats.senders, top_n)]
        if stats.domains:
            lines.append(f"  top recipient domains (messages, of {len(stats.domains)} domains):")
            lines += [f"    {n:>6}  {sanitize(name)}" for name, n in top(stats.domains, top_n)]
        if stats.forced_expire:
            lines.append(f"  {stats.forced_expire} messages forced to expire (postsuper -e)")
    lines += [f"{name}: disabled in postmulti, not checked" for name in skipped]
    return lines


# -- nagiosplugin glue ------------------------------------------------------------------
class PostfixQueues(nagiosplugin.Resource):
    """Reads each instance's queue and yields one result per instance plus summed perfdata."""

    name = NAME

    def __init__(
        self,
        config_dirs: Sequence[str],
        all_instances: bool,
        method: str,
        thresholds: Thresholds,
        top_n: int,
        timeout: float,
    ) -> None:
        self.config_dirs = config_dirs
        self.all_instances = all_instances
        self.method = method
        self.thresholds = thresholds
        self.top_n = top_n
        self.timeout = timeout
        self.reports: list[InstanceReport] = []
        self.skipped: list[str] = []
        self.now = 0.0

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        deadline = deadline_instant(self.timeout)
        self.now = time.time()
        explicit = True
        if self.config_dirs:
            targets = [instances.Instance(d, d) for d in self.config_dirs]
        elif self.all_instances:
            try:
                targets, self.skipped = probe.list_instances(deadline)
            except runner.CommandError as error:
                fail = Failure(Unknown, f"cannot list Postfix instances: {error}")
                yield failure_metric(fail)
                return
            explicit = len(targets) > 1
        else:
            targets = [instances.Instance(instances.DEFAULT_NAME, instances.DEFAULT_CONFIG_DIR)]
            explicit = False
        for target in targets:
            report = InstanceReport(target)
            probe.read_instance(report, explicit, self.method, deadline, self.top_n, self.timeout)
            evaluate(report, self.thresholds, self.now)
            self.reports.append(report)
        if not self.reports:
            fail = Failure(Unknown, "no enabled Postfix instance to check")
            yield failure_metric(fail)
            return
        for index, report in enumerate(self.reports):
            yield nagiosplugin.Metric(f"instance {index}", report, context="instance")  # type: ignore[arg-type]
        total = combined(self.reports)
        if total is None:
            return
        for label, value in measured(total, self.now).items():
            uom = {"bytes": "B", "oldest": "s"}.get(label)
            yield nagiosplugin.Metric(label, int(value), uom, min=0)

    # -- what runtime.contexts.ReportSummary reads --------------------------------------
    @property
    def report(self) -> list[InstanceReport] | None:
        """The instances read, or None when none was (a failure, or nagiosplugin's error)."""
        return self.reports or None

    def summary_text(self) -> str:
        return status_text(self.reports, self.now)

    def long_output(self, verbose: int) -> list[str]:
        return long_output(self.reports, self.skipped, self.now, self.top_n, verbose)


class InstanceContext(nagiosplugin.Context):
    """One instance's state: its worst finding."""

    def __init__(self) -> None:
        super().__init__("instance")

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        report: InstanceReport = metric.value
        return nagiosplugin.Result(report.state, report.label, metric)


class PerfContext(nagiosplugin.ScalarContext):
    """Perfdata with the thresholds that apply per instance; the state comes from instances."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        return nagiosplugin.Result(Ok, metric=metric)


def build_check(options: Options) -> nagiosplugin.Check:
    """The check: one resource over every instance, perf contexts, the summary."""
    warning = {"total": options.warning, "active": options.active_warning}
    warning.update(deferred=options.deferred_warning, hold=options.hold_warning)
    warning.update(oldest=options.age_warning)
    critical = {"total": options.critical, "active": options.active_critical}
    critical.update(deferred=options.deferred_critical, hold=options.hold_critical)
    critical.update(oldest=options.age_critical)
    thresholds = Thresholds(
        {k: v for k, v in warning.items() if v is not None},
        {k: v for k, v in critical.items() if v is not None},
    )
    resource = PostfixQueues(
        options.config_dirs,
        options.all_instances,
        options.method,
        thresholds,
        options.top_n,
        options.timeout,
    )
    contexts = [
        PerfContext(label, warning.get(label), critical.get(label))
        for label in ("total", *PERF_QUEUES, "bytes", "oldest")
    ]
    return nagiosplugin.Check(
        resource,
        InstanceContext(),
        *contexts,
        FailureContext(),
        ReportSummary(resource, options.verbose),
        name=NAME,
    )
