"""check_postfix_deliveries's machinery: the log scan as metrics, the states, the output.

Loaded by the command (``command``) only after its options are parsed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import nagiosplugin
from nagiosplugin.state import ServiceState as State

from isp_plugins.checks.postfix_deliveries.command import LABELS
from isp_plugins.runtime.contexts import ReportSummary
from isp_plugins.runtime.deadline import session_deadline
from isp_plugins.runtime.failures import Failure, FailureContext, failure_metric
from isp_plugins.runtime.text import describe_range, plural, sanitize
from isp_plugins.sources.logtail import StateError, default_state_dir
from isp_plugins.sources.postfix_log import tally as tally_module
from isp_plugins.sources.postfix_log.providers import (
    BY_KEY,
    CAUSE_TEXT,
    CAUSES,
    PROVIDERS,
    REJECT_KINDS,
)

if TYPE_CHECKING:
    from isp_plugins.checks.postfix_deliveries.command import Options

NAME = "postfix_deliveries"
Ok, Warn, Critical, Unknown = (
    nagiosplugin.Ok,
    nagiosplugin.Warn,
    nagiosplugin.Critical,
    nagiosplugin.Unknown,
)
#: Characters of a receiver's reply quoted on the status line.
QUOTE_LIMIT = 100
#: Characters of an address or reply shown in the long output.
NAME_LIMIT = 64
REPLY_LIMIT = 200
#: Providers named on the status line, at most (the long output lists them all).
SHOWN_PROVIDERS = 3
PERCENT = {"deferred_ratio", "spam_ratio"}
#: How a broken threshold reads on the status line (others: "LABEL VALUE (above N)").
THRESHOLD_TEXT = {
    "spam_ratio": "{value}% of outbound mail is spam",
    "deferred_ratio": "{value}% of delivery attempts deferred",
}
#: A reply's code, and Gmail's "[192.0.2.25      15]" (the relay's address) after it.
_LEADING_CODE = re.compile(
    r"^\d{3}[ -](?:[245]\.\d{1,3}\.\d{1,3}[ -])?(?:\[[\d.:a-fA-F]+(?: +\d+)?\] )?"
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


# -- evaluation (pure) -------------------------------------------------------------------
def quote(reply: str) -> str:
    """A reply as the status line quotes it: without its code, its first sentences."""
    text = _LEADING_CODE.sub("", sanitize(reply)).strip()
    quoted = ""
    for sentence in _SENTENCE.split(text):
        candidate = f"{quoted} {sentence}".strip()
        if quoted and len(candidate) > QUOTE_LIMIT:
            break
        quoted = candidate
    quoted = quoted.rstrip(".")
    return quoted if len(quoted) <= QUOTE_LIMIT else quoted[: QUOTE_LIMIT - 3].rstrip() + "..."


def counted(refusal: tally_module.Refusal) -> str:
    """``37 deferred``, ``2 bounced``, ``37 deferred, 2 bounced``."""
    parts = [f"{refusal.deferred} deferred"] if refusal.deferred else []
    parts += [f"{refusal.bounced} bounced"] if refusal.bounced else []
    return ", ".join(parts)


def values_of(scan: tally_module.Scan) -> dict[str, float]:
    """Every perfdata value of a scan, by label."""
    tally = scan.tally
    values: dict[str, float] = {
        "sent": tally.sent,
        "deferred": tally.deferred,
        "bounced": tally.bounced,
        "expired": tally.expired,
        "rejected": tally.rejected_total,
        "sent_rate": round(scan.rate(tally.sent), 2),
        "deferred_rate": round(scan.rate(tally.deferred), 2),
        "bounced_rate": round(scan.rate(tally.bounced), 2),
        "rejected_rate": round(scan.rate(tally.rejected_total), 2),
        "deferred_ratio": ratio(tally.deferred, tally.attempts),
        "refused_reputation": sum(
            r.total for (_, cause), r in tally.refusals.items() if cause == "reputation"
        ),
        "throttled": sum(r.total for (_, cause), r in tally.refusals.items() if cause == "rate"),
        "outbound": sum(tally.outbound.values()),
        "spam": tally.spam,
        "spam_ratio": ratio(tally.spam, sum(tally.outbound.values())),
    }
    for kind in REJECT_KINDS:
        values[f"rejected_{kind}"] = tally.rejected[kind]
    for provider in (*PROVIDERS, BY_KEY["other"]):
        values[f"deferred_{provider.key}"] = tally.deferred_by_provider[provider.key]
    assert set(values) == set(LABELS)
    return values


def ratio(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


@dataclass(frozen=True)
class Thresholds:
    """Ranges per perfdata label, and who is a major provider."""

    warning: dict[str, nagiosplugin.Range] = field(default_factory=dict)
    critical: dict[str, nagiosplugin.Range] = field(default_factory=dict)
    critical_providers: tuple[str, ...] = ()
    min_messages: int = 1


def refusal_findings(
    scan: tally_module.Scan, critical_providers: Sequence[str]
) -> list[tuple[State, str]]:
    """Providers refusing the relay (reputation or block) or throttling it, worst first."""
    found: list[tuple[int, State, str]] = []
    for (key, cause), refusal in scan.tally.refusals.items():
        if cause not in ("reputation", "rate"):
            continue
        name = BY_KEY[key].name
        if key == "other":
            name = "a receiver (other)"
        code = refusal.dsn or "-"
        detail = f'({code}, {counted(refusal)}: "{quote(refusal.sample)}")'
        if cause == "reputation":
            state = Critical if key in critical_providers else Warn
            found.append((refusal.total, state, f"{name} refuses the relay {detail}"))
        else:
            found.append((refusal.total, Warn, f"{name} throttles the relay {detail}"))
    found.sort(key=lambda item: (-int(item[1]), -item[0], item[2]))
    return [(state, text) for _, state, text in found]


def threshold_findings(
    values: dict[str, float], thresholds: Thresholds, bases: dict[str, int]
) -> list[tuple[State, str]]:
    """Each perfdata value outside its -c or -w range, worst first."""
    found: list[tuple[State, str]] = []
    for label in LABELS:
        if label in bases and bases[label] < thresholds.min_messages:
            continue  # a share of too few messages says nothing
        value = values[label]
        for state, ranges in ((Critical, thresholds.critical), (Warn, thresholds.warning)):
            rng = ranges.get(label)
            if rng is not None and not rng.match(value):
                found.append(
                    (
                        state,
                        f"{THRESHOLD_TEXT.get(label, label + ' {value}')} "
                        f"({describe_range(rng)})".format(value=f"{value:g}"),
                    )
                )
                break
    found.sort(key=lambda item: -int(item[0]))
    return found


# -- nagiosplugin glue ------------------------------------------------------------------
class Deliveries(nagiosplugin.Resource):  # type: ignore[misc]
    """Scans the logs, evaluates, and yields one findings metric plus the perfdata."""

    def __init__(
        self,
        log_file: str,
        amavis_log: str | None,
        state_dir: str,
        thresholds: Thresholds,
        top_n: int,
        timeout: float,
    ) -> None:
        self.log_file = log_file
        self.amavis_log = amavis_log
        self.state_dir = state_dir
        self.thresholds = thresholds
        self.top_n = top_n
        self.timeout = timeout
        self.report: tally_module.Scan | None = None
        self.findings: list[tuple[State, str]] = []
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
                self.amavis_log,
                # Leave the -t backstop room: a huge log is read in part, the rest next run.
                deadline=started + session_deadline(self.timeout) * 0.7,
            )
        except StateError as exc:
            yield failure_metric(Failure(Unknown, sanitize(str(exc), 1000)))
            return
        self.seconds = time.monotonic() - started
        self.report = scan
        values = values_of(scan)
        tally = scan.tally
        bases = {"deferred_ratio": tally.attempts, "spam_ratio": sum(tally.outbound.values())}
        self.findings = refusal_findings(scan, self.thresholds.critical_providers)
        self.findings += threshold_findings(values, self.thresholds, bases)
        self.findings.sort(key=lambda item: -int(item[0]))
        yield nagiosplugin.Metric("findings", self.findings, context="findings")  # type: ignore[arg-type]
        for label in LABELS:
            uom = "%" if label in PERCENT else None
            yield nagiosplugin.Metric(label, values[label], uom, min=0, context=label)

    def summary_text(self) -> str:
        assert self.report is not None
        scan, tally = self.report, self.report.tally
        refusals = [text for _, text in self.findings if " the relay (" in text]
        clauses = refusals[:SHOWN_PROVIDERS]
        if len(refusals) > SHOWN_PROVIDERS:
            clauses.append(f"{len(refusals) - SHOWN_PROVIDERS} more in the long output")
        clauses += [text for _, text in self.findings if " the relay (" not in text]
        if not refusals:
            clauses.append(
                f"{tally.sent} sent, {tally.deferred} deferred, {tally.bounced} bounced, "
                f"{tally.expired} expired, {tally.rejected_total} rejected since the last run "
                f"({ratio(tally.deferred, tally.attempts):g}% of attempts deferred)"
            )
        outbound = sum(tally.outbound.values())
        if outbound and not any("of outbound mail is spam" in text for text in clauses):
            clauses.append(f"{ratio(tally.spam, outbound):g}% of outbound mail is spam")
        if scan.partial:
            clauses.append("log read in part (-t), the rest next run")
        return " - ".join(clauses)

    def long_output(self, verbose: int) -> list[str]:
        assert self.report is not None
        scan, tally = self.report, self.report.tally
        lines: list[str] = []
        if verbose >= 1:
            logs = self.log_file + (f" and {self.amavis_log}" if self.amavis_log else "")
            lines.append(
                f"log: {logs}, {scan.bytes_read} bytes read in {self.seconds:.3f}s, "
                f"window {scan.window:.0f}s"
            )
        refusals = [text for _, text in self.findings if " the relay (" in text]
        lines += refusals[SHOWN_PROVIDERS:]
        keys = sorted(
            {key for key, _ in tally.refusals},
            key=lambda key: (
                key == "other",
                -sum(r.total for (k, _), r in tally.refusals.items() if k == key),
                key,
            ),
        )
        for key in keys:
            lines.append(f"{BY_KEY[key].name}:")
            for cause in CAUSES:
                refusal = tally.refusals.get((key, cause))
                if refusal is None:
                    continue
                lines.append(
                    f"  {CAUSE_TEXT[cause]}: {counted(refusal)} ({refusal.dsn or '-'}) "
                    f'e.g. "{sanitize(refusal.sample, REPLY_LIMIT)}"'
                )
        if tally.reasons and self.top_n:
            lines.append(f"top deferral reasons (of {plural(len(tally.reasons), 'reason')}):")
            for reason, count in tally.reasons.most_common(self.top_n):
                sample = tally.reason_samples[reason]
                lines.append(f"  {count:>7}  {sanitize(sample, REPLY_LIMIT)}")
        if tally.rejected_total:
            kinds = ", ".join(
                f"{kind.replace('_', ' ')} {tally.rejected[kind]}"
                for kind in REJECT_KINDS
                if tally.rejected[kind]
            )
            lines.append(f"rejected incoming: {kinds}")
        outbound = sum(tally.outbound.values())
        if outbound:
            categories = ", ".join(
                f"{category} {count}" for category, count in sorted(tally.outbound.items())
            )
            lines.append(f"outbound mail scanned by amavis: {outbound} ({categories})")
        if tally.spam_clients and self.top_n:
            lines.append(
                f"top spam senders (of {len(tally.spam_clients)} client "
                f"address{'es' if len(tally.spam_clients) != 1 else ''}):"
            )
            for client, count in tally.spam_clients.most_common(self.top_n):
                lines.append(f"  {count:>7}  {sanitize(client, NAME_LIMIT)}")
        return lines + [sanitize(note) for note in scan.notes]


class FindingsContext(nagiosplugin.Context):
    """The state: the worst finding (providers refusing, thresholds broken)."""

    def __init__(self) -> None:
        super().__init__("findings")

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        findings: list[tuple[State, str]] = metric.value
        if not findings:
            return nagiosplugin.Result(Ok, metric=metric)
        return nagiosplugin.Result(findings[0][0], findings[0][1], metric)


class PerfContext(nagiosplugin.ScalarContext):
    """Perfdata with the ranges in effect; the state comes from the findings."""

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        return nagiosplugin.Result(Ok, metric=metric)


def build_check(options: Options) -> nagiosplugin.Check:
    """The complete check for the options given on the command line."""
    warning = {"deferred_ratio": options.deferred_warning}
    warning["spam_ratio"] = options.spam_ratio_warning
    critical = {"deferred_ratio": options.deferred_critical}
    critical["spam_ratio"] = options.spam_ratio_critical
    warning.update(dict(options.warning))  # -w LABEL=RANGE replaces the named option
    critical.update(dict(options.critical))
    thresholds = Thresholds(
        {k: v for k, v in warning.items() if v is not None},
        {k: v for k, v in critical.items() if v is not None},
        options.critical_providers,
        options.min_messages,
    )
    resource = Deliveries(
        options.log_file,
        options.amavis_log,
        options.state_dir or default_state_dir(),
        thresholds,
        options.top_n,
        options.timeout,
    )
    contexts = [
        PerfContext(label, thresholds.warning.get(label), thresholds.critical.get(label))
        for label in LABELS
    ]
    return nagiosplugin.Check(
        resource,
        FindingsContext(),
        *contexts,
        FailureContext(),
        ReportSummary(resource, options.verbose),
    )
