"""check_asterisk_sipauth's machinery: the log scan as metrics, the states, the output.

Loaded by the command (``command``) only after its options are parsed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Optional

import nagiosplugin

if TYPE_CHECKING:
    from isp_plugins.checks.asterisk_sipauth.command import Options

from isp_plugins.runtime.contexts import ReportSummary
from isp_plugins.runtime.deadline import session_deadline
from isp_plugins.runtime.failures import Failure, FailureContext, failure_metric
from isp_plugins.runtime.text import human_age, plural, sanitize
from isp_plugins.sources.logtail import StateError, default_state_dir
from isp_plugins.sources.sip_security import tally as tally_module

#: Characters of an attacker-chosen name (account, address) shown at most.
NAME_LIMIT = 64
NAME = "asterisk_sipauth"
#: Accounts named per source in the long output.
ACCOUNTS_SHOWN = 10
METRICS = ("attempts", "rate", "sources", "accounts", "top_source")
Thresholds = dict[str, tuple[Optional[nagiosplugin.Range], Optional[nagiosplugin.Range]]]


def account_order(name: str) -> tuple[int, int, str]:
    """Extensions in numeric order (200, 201, 1000), then names."""
    return (0, int(name), name) if name.isdigit() and len(name) < 19 else (1, 0, name)


class SipAuth(nagiosplugin.Resource):  # type: ignore[misc]
    def __init__(
        self,
        log_file: str,
        state_dir: str,
        ignore: Sequence[tally_module.Network],
        compromise_failures: int | None,
        top_n: int,
        timeout: float = 10.0,
        hold: float = 0.0,
    ) -> None:
        self.timeout = timeout
        self.hold = hold
        self.log_file = log_file
        self.state_dir = state_dir
        self.ignore = tuple(ignore)
        self.compromise_failures = compromise_failures
        self.top_n = top_n
        self.report: tally_module.Scan | None = None
        self.seconds = 0.0

    @property
    def name(self) -> str:
        return NAME.upper()

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        started = time.monotonic()
        try:
            scan = tally_module.scan_log(
                self.log_file,
                self.state_dir,
                self.ignore,
                min_failures=self.compromise_failures or 1,
                # Leave the -t backstop room: a huge log is read in part, the rest next run.
                deadline=started + session_deadline(self.timeout) * 0.8,
                hold=self.hold,
            )
        except StateError as exc:
            yield failure_metric(Failure(nagiosplugin.Unknown, sanitize(str(exc), 1000)))
            return
        self.seconds = time.monotonic() - started
        self.report = scan
        counts = scan.tally.counts
        top = counts.per_source.most_common(1)
        yield nagiosplugin.Metric("attempts", counts.attempts, min=0, context="attempts")
        yield nagiosplugin.Metric("rate", round(scan.rate, 2), min=0, context="rate")
        yield nagiosplugin.Metric("sources", len(counts.per_source), min=0, context="sources")
        yield nagiosplugin.Metric("accounts", len(counts.accounts), min=0, context="accounts")
        yield nagiosplugin.Metric(
            "top_source", top[0][1] if top else 0, min=0, context="top_source"
        )
        if self.compromise_failures is not None:
            found = len(scan.tally.compromises) + len(scan.tally.held)
            yield nagiosplugin.Metric("compromises", found, context="compromises")

    def summary_text(self) -> str:
        assert self.report is not None
        scan = self.report
        counts = scan.tally.counts
        clauses = []
        found = scan.tally.compromises + scan.tally.held
        if self.compromise_failures is not None and found:
            first, more = found[0], len(found) - 1
            clauses.append(
                f"likely compromise: account {sanitize(first.account, NAME_LIMIT)} "
                f"authenticated from {sanitize(first.source, NAME_LIMIT)} after "
                f"{plural(first.failures, 'failure')}"
                + self.ago(first)
                + (f" (and {more} more)" if more else "")
            )
        if not counts.attempts:
            clauses.append("no failed SIP authentication since the last run")
        else:
            clauses.append(
                f"{plural(counts.attempts, 'failed SIP authentication')} since the last run "
                f"({scan.rate:.1f}/min) from {plural(len(counts.per_source), 'source')} on "
                f"{plural(len(counts.accounts), 'account')}"
            )
            source, count = counts.per_source.most_common(1)[0]
            clauses.append(f"top {sanitize(source, NAME_LIMIT)} ({count})")
        return " - ".join(clauses)

    def ago(self, compromise: tally_module.Compromise) -> str:
        """'' for a compromise found now; ' (found 12m ago)' for one held from before."""
        assert self.report is not None
        if compromise in self.report.tally.compromises:
            return ""
        return f" (found {human_age(max(0.0, time.time() - compromise.found))} ago)"

    def long_output(self, verbose: int) -> list[str]:
        assert self.report is not None
        scan = self.report
        tally, counts = scan.tally, scan.tally.counts
        lines = []
        if verbose >= 1:
            lines.append(
                f"log: {self.log_file}, {scan.bytes_read} bytes read in {self.seconds:.3f}s, "
                f"window {scan.window:.0f}s, counted: "
                f"{plural(tally.notice_lines, 'NOTICE line')} + "
                f"{plural(tally.security_events, 'security event')} - {tally.pairs} logged "
                f"in both forms, {plural(tally.successes, 'successful authentication')}"
            )
        if self.compromise_failures is not None:
            lines += [
                f"likely compromise: account {sanitize(c.account, NAME_LIMIT)} "
                f"authenticated from {sanitize(c.source, NAME_LIMIT)} after "
                f"{plural(c.failures, 'failure')} from that address" + self.ago(c)
                for c in tally.compromises + tally.held
            ]
        for source, count in counts.per_source.most_common(self.top_n):
            accounts = sorted(counts.accounts_of.get(source, ()), key=account_order)
            shown = ", ".join(sanitize(a, NAME_LIMIT) or "''" for a in accounts[:ACCOUNTS_SHOWN])
            rest = len(accounts) - ACCOUNTS_SHOWN
            lines.append(
                f"{sanitize(source, NAME_LIMIT)}: {plural(count, 'failure')} on "
                f"{plural(len(accounts), 'account')}: {shown}"
                + (f", ... (+{rest})" if rest > 0 else "")
            )
        others = len(counts.per_source) - min(self.top_n, len(counts.per_source))
        if others > 0:
            lines.append(f"... and {plural(others, 'more source')}")
        if tally.ignored:
            lines.append(f"{plural(tally.ignored, 'event')} from --ignore networks left out")
        return lines + [sanitize(note) for note in scan.notes]


class CompromiseContext(nagiosplugin.Context):
    """CRITICAL when an account authenticated from a failing address (no perfdata)."""

    def __init__(self) -> None:
        super().__init__("compromises")

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        if metric.value:
            return nagiosplugin.Result(nagiosplugin.Critical, "likely compromise", metric)
        return nagiosplugin.Result(nagiosplugin.Ok, metric=metric)


def build_check(options: Options) -> nagiosplugin.Check:
    """The complete check for the options given on the command line."""
    thresholds = {
        "attempts": (options.attempts_warning, options.attempts_critical),
        "rate": (options.rate_warning, options.rate_critical),
        "sources": (options.sources_warning, options.sources_critical),
        "accounts": (options.accounts_warning, options.accounts_critical),
        "top_source": (options.top_source_warning, options.top_source_critical),
    }
    resource = SipAuth(
        options.log_file,
        options.state_dir or default_state_dir(),
        tuple(options.ignore),
        None if options.no_compromise_check else options.compromise_failures,
        options.top_n,
        options.timeout,
        options.compromise_hold,
    )
    contexts = [
        nagiosplugin.ScalarContext(metric, *thresholds.get(metric, (None, None)))
        for metric in METRICS
    ]
    return nagiosplugin.Check(
        resource,
        *contexts,
        CompromiseContext(),
        FailureContext(),
        ReportSummary(resource, options.verbose),
    )
