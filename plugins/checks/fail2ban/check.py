"""check_fail2ban's machinery: fail2ban's answers as metrics, the states, the output.

Loaded by the command (``command``) only after its options are parsed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

import nagiosplugin

if TYPE_CHECKING:
    from isp_plugins.checks.fail2ban.command import Options

from isp_plugins.runtime.contexts import ReportSummary
from isp_plugins.runtime.deadline import session_deadline
from isp_plugins.runtime.failures import Failure, FailureContext, failure_metric
from isp_plugins.runtime.text import human_age, sanitize
from isp_plugins.sources import fail2ban as f2b
from isp_plugins.sources import logtail
from isp_plugins.sources.logtail import default_state_dir

NAME = "fail2ban"
STATE_PREFIX = "check_fail2ban"
#: Banned addresses named per jail in the long output.
BANNED_SHOWN = 10
#: Log files listed per jail in the long output.
FILES_SHOWN = 10
Thresholds = dict[str, tuple[Optional[nagiosplugin.Range], Optional[nagiosplugin.Range]]]


def label(jail: str) -> str:
    """A jail's name as a perfdata label prefix: word characters only."""
    return re.sub(r"\W", "_", jail)


@dataclass
class Report:
    status: f2b.Status
    growth: dict[str, int] = field(default_factory=dict)
    #: jail -> problems with its log files (missing, stale)
    stale: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, list[f2b.LogFile]] = field(default_factory=dict)
    first_run: bool = False


class Fail2ban(nagiosplugin.Resource):  # type: ignore[misc]
    def __init__(
        self, socket_path: str, jails: Sequence[str], stale: float, state_dir: str, timeout: float
    ) -> None:
        self.socket_path = socket_path
        self.jails = tuple(jails)
        self.stale = stale
        self.state_dir = state_dir
        self.timeout = timeout
        self.report: Report | None = None

    @property
    def name(self) -> str:
        return NAME.upper()

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        try:
            status = f2b.read_status(self.socket_path, self.jails, session_deadline(self.timeout))
            report = Report(status)
            self._growth(report)
        except f2b.Fail2banError as error:
            state = nagiosplugin.Critical if error.kind == "down" else nagiosplugin.Unknown
            text = sanitize(str(error), 1000)
            if error.kind == "down":
                text += " (protection is off)"
            elif error.kind == "timeout":
                text += f" within {self.timeout:g}s"
            yield failure_metric(Failure(state, text))
            return
        except logtail.StateError as exc:
            yield failure_metric(Failure(nagiosplugin.Unknown, sanitize(str(exc))))
            return
        now = time.time()
        for jail in status.jails:
            if jail.files is None:
                continue
            files = f2b.log_files(jail.files, now)
            report.files[jail.name] = files
            problems = []
            for log in files:
                if not log.exists:
                    problems.append(f"{log.path} does not exist")
                elif self.stale and log.age is not None and log.age > self.stale:
                    problems.append(f"{log.path} not written for {human_age(log.age)}")
            if not files:
                problems.append("no log file")
            if problems:
                report.stale[jail.name] = problems
        self.report = report
        yield nagiosplugin.Metric("missing", tuple(status.missing), context="missing")
        yield nagiosplugin.Metric("no_jail", int(not status.all_jails), context="no_jail")
        used: set[str] = set()
        for jail in status.jails:
            prefix = label(jail.name)
            while prefix in used:  # "a-b" and "a_b" both exist: keep the labels apart
                prefix += "_"
            used.add(prefix)
            yield nagiosplugin.Metric(
                f"{prefix}_banned", jail.currently_banned, min=0, context="banned"
            )
            yield nagiosplugin.Metric(
                f"{prefix}_failed", jail.currently_failed, min=0, context="failed"
            )
            yield nagiosplugin.Metric(
                f"{prefix}_failed_growth", report.growth[jail.name], min=0, context="failed_growth"
            )
            yield nagiosplugin.Metric(
                f"{prefix}_total_failed", jail.total_failed, "c", min=0, context="total"
            )
            yield nagiosplugin.Metric(
                f"{prefix}_total_banned", jail.total_banned, "c", min=0, context="total"
            )
            yield nagiosplugin.Metric(
                f"{prefix}_stale", tuple(report.stale.get(jail.name, ())), context="stale"
            )

    def _growth(self, report: Report) -> None:
        """Total failed since the last run, per jail; the new totals saved for the next."""
        path = logtail.state_path(self.state_dir, self.socket_path, STATE_PREFIX)
        saved = logtail.read_json(path)
        previous = saved.get("total_failed") if isinstance(saved, dict) else None
        report.first_run = not isinstance(previous, dict)
        previous = previous if isinstance(previous, dict) else {}
        totals = dict(previous)
        for jail in report.status.jails:
            before = previous.get(jail.name)
            if not isinstance(before, int) or isinstance(before, bool):
                growth = 0  # a jail seen for the first time: counted from now
            elif jail.total_failed >= before:
                growth = jail.total_failed - before
            else:  # fail2ban (or the jail) restarted: its counters started again
                growth = jail.total_failed
            report.growth[jail.name] = growth
            totals[jail.name] = jail.total_failed
        logtail.write_json(path, {"total_failed": totals})

    def summary_text(self) -> str:
        assert self.report is not None
        status = self.report.status
        clauses = [f"jail '{sanitize(name)}' does not exist" for name in status.missing]
        if not status.all_jails:
            clauses.append("fail2ban runs no jail")
        if status.missing or not status.all_jails:
            clauses[-1] += " (protection is off)"
        for name, problems in self.report.stale.items():
            clauses.append(f"jail {sanitize(name)} watches nothing: {sanitize(problems[0])}")
        for jail in status.jails:
            clauses.append(
                f"{sanitize(jail.name)}: {jail.currently_banned} banned, "
                f"{jail.currently_failed} failing, +{self.report.growth[jail.name]} failed"
            )
        return " - ".join(clauses)

    def long_output(self, verbose: int) -> list[str]:
        assert self.report is not None
        report = self.report
        lines = []
        if verbose >= 1:
            jails = ", ".join(sanitize(j) for j in report.status.all_jails) or "none"
            lines.append(f"socket: {self.socket_path}, jails on the server: {jails}")
        for jail in report.status.jails:
            shown = ", ".join(sanitize(ip) for ip in jail.banned[:BANNED_SHOWN])
            more = len(jail.banned) - BANNED_SHOWN
            banned = (
                f"; banned: {shown}" + (f", ... (+{more})" if more > 0 else "") if shown else ""
            )
            lines.append(
                f"{sanitize(jail.name)}: {jail.currently_banned} banned "
                f"({jail.total_banned} in total), {jail.currently_failed} failing, "
                f"{jail.total_failed} failed in total (+{report.growth[jail.name]} since the "
                f"last run){banned}"
            )
            if jail.files is None:
                lines.append(f"{sanitize(jail.name)} reads the systemd journal")
            files = report.files.get(jail.name, [])
            # the problems first, then the others; a jail on a glob may read hundreds
            files = sorted(files, key=lambda f: (f.exists, -(f.age or 0)))
            for log in files[:FILES_SHOWN]:
                if not log.exists:
                    lines.append(f"{sanitize(jail.name)} log {sanitize(log.path)}: does not exist")
                else:
                    lines.append(
                        f"{sanitize(jail.name)} log {sanitize(log.path)}: written "
                        f"{human_age(log.age or 0)} ago"
                    )
            if len(files) > FILES_SHOWN:
                lines.append(f"... and {len(files) - FILES_SHOWN} more log files")
        if report.first_run:
            lines.append("first run: failed growth counted from now")
        return lines


class ProblemContext(nagiosplugin.Context):
    """``state`` when the metric (problems, or a count) is not empty (no perfdata)."""

    def __init__(self, name: str, state: nagiosplugin.state.ServiceState, hint: str) -> None:
        super().__init__(name)
        self.state = state
        self.hint = hint

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        if metric.value:
            return nagiosplugin.Result(self.state, self.hint, metric)
        return nagiosplugin.Result(nagiosplugin.Ok, metric=metric)


def build_check(options: Options) -> nagiosplugin.Check:
    """The complete check for the options given on the command line."""
    thresholds = {
        "banned": (options.warning, options.critical),
        "failed_growth": (options.failed_warning, options.failed_critical),
    }
    resource = Fail2ban(
        options.socket_path,
        tuple(dict.fromkeys(options.jails)),  # a jail named twice is checked once
        options.stale,
        options.state_dir or default_state_dir(),
        options.timeout,
    )
    return nagiosplugin.Check(
        resource,
        nagiosplugin.ScalarContext("banned", *thresholds["banned"]),
        nagiosplugin.ScalarContext("failed_growth", *thresholds["failed_growth"]),
        nagiosplugin.ScalarContext("failed"),
        nagiosplugin.ScalarContext("total"),
        ProblemContext("missing", nagiosplugin.Critical, "jail missing"),
        ProblemContext("no_jail", nagiosplugin.Critical, "no jail"),
        ProblemContext("stale", nagiosplugin.Warn, "log file missing or stale"),
        FailureContext(),
        ReportSummary(resource, options.verbose),
    )
