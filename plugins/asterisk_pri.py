"""The PRI spans check: evaluation of ``pri show spans`` and its nagiosplugin Resource,
Contexts and Summary. Loaded only when the check runs (see check_asterisk_pri for the CLI)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import nagiosplugin

from isp_plugins import common, runtime

if TYPE_CHECKING:
    from asterisk_ami.parsers.pri import PriSpan
    from asterisk_ami.session import Target

NAME = "asterisk_pri"
COMMAND = "pri show spans"
NOT_FOUND = ": chan_dahdi is not loaded or was built without libpri"
REPLY_FORMATS = {
    "follows": "Response: Follows (Asterisk 1.4 to 13)",
    "output": "Output headers (Asterisk 14 and later)",
}


# -- evaluation (pure) ------------------------------------------------------------------
@dataclass(frozen=True)
class SpanReport:
    """The spans that count, sorted by state, and what was expected of them."""

    spans: tuple[PriSpan, ...]
    excluded: tuple[PriSpan, ...]
    missing_excluded: tuple[int, ...]
    expected: int
    expected_given: bool

    @property
    def up(self) -> list[PriSpan]:
        return [s for s in self.spans if s.up]

    @property
    def down(self) -> list[PriSpan]:
        return [s for s in self.spans if not s.up]

    @property
    def in_alarm(self) -> list[PriSpan]:
        return [s for s in self.spans if s.in_alarm]

    @property
    def degraded(self) -> list[PriSpan]:
        return [s for s in self.spans if s.degraded]

    @property
    def count_differs(self) -> bool:
        return self.expected_given and len(self.spans) != self.expected


def report(spans: Sequence[PriSpan], expected: int | None, exclude: Sequence[int]) -> SpanReport:
    """Split the listed spans into counted and excluded; expected defaults to those counted."""
    counted = tuple(s for s in spans if s.number not in exclude)
    excluded = tuple(s for s in spans if s.number in exclude)
    listed = {s.number for s in spans}
    missing = tuple(sorted(n for n in set(exclude) if n not in listed))
    return SpanReport(
        counted,
        excluded,
        missing,
        len(counted) if expected is None else expected,
        expected is not None,
    )


def describe_span(span: PriSpan) -> str:
    """One long-output line: the span's verdict, then each D-channel as Asterisk printed it."""
    verdict = {"up": "up", "alarm": "DOWN, in alarm", "down": "DOWN"}[span.state]
    if span.degraded:
        lost = ", ".join(str(d.index) for d in span.degraded)
        verdict += f", D-channel {lost} lost"
    channels = "; ".join(f"D-channel {d.index}: {d.status}" for d in span.dchannels)
    return f"span {span.number}: {verdict} ({channels})"


def _numbers(spans: Sequence[PriSpan]) -> str:
    return ", ".join(str(s.number) for s in spans)


def summarize(rep: SpanReport) -> str:
    parts = [f"{len(rep.up)} of {rep.expected} spans up"]
    alarm = [s for s in rep.down if s.in_alarm]
    down = [s for s in rep.down if not s.in_alarm]
    if alarm:
        parts.append(f"in alarm: {_numbers(alarm)}")
    if down:
        parts.append(f"down: {_numbers(down)}")
    if rep.degraded:
        lost = ", ".join(f"{d.span}/{d.index}" for s in rep.degraded for d in s.degraded)
        parts.append(f"D-channel lost: {lost}")
    if rep.count_differs:
        parts.append(f"{len(rep.spans)} spans listed, {rep.expected} expected")
    return "; ".join(parts)


# -- nagiosplugin glue ------------------------------------------------------------------
class PriSpans(nagiosplugin.Resource):
    """Logs in to AMI, runs ``pri show spans`` and measures the spans."""

    name = NAME

    def __init__(
        self, target: Target, timeout: float, expected: int | None, exclude: Sequence[int]
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.expected_option = expected
        self.exclude = exclude
        self.report: SpanReport | None = None
        self.greeting = ""
        self.reply_format = ""

    @property
    def expected(self) -> int | None:
        """Spans expected: -n, or the number listed; None before probing."""
        return self.report.expected if self.report else None

    @property
    def expected_given(self) -> bool:
        return self.expected_option is not None

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        from asterisk_ami.errors import AmiError  # noqa: PLC0415 (keeps asyncio out of --help)
        from asterisk_ami.parsers.pri import parse_pri_show_spans  # noqa: PLC0415
        from asterisk_ami.session import run_commands  # noqa: PLC0415

        try:
            transcript = run_commands(self.target, [COMMAND], common.session_deadline(self.timeout))
            output = transcript.outputs[0]
            spans = parse_pri_show_spans(output.lines)
        except AmiError as error:
            yield runtime.failure_metric(
                runtime.classify(error, self.target, self.timeout, NOT_FOUND)
            )
            return
        self.greeting, self.reply_format = transcript.greeting, output.reply_format
        rep = self.report = report(spans, self.expected_option, self.exclude)
        if rep.expected == 0 and not rep.spans:
            yield runtime.failure_metric(
                runtime.Failure(
                    nagiosplugin.Unknown,
                    "no PRI spans listed and none expected (give -n to expect spans)",
                )
            )
            return
        top = max(rep.expected, len(rep.spans))
        yield nagiosplugin.Metric("spans_up", len(rep.up), min=0, max=rep.expected)
        yield nagiosplugin.Metric("spans_down", len(rep.down), min=0, max=top)
        yield nagiosplugin.Metric("spans_alarm", len(rep.in_alarm), min=0, max=top)
        yield nagiosplugin.Metric("spans_listed", len(rep.spans))
        yield nagiosplugin.Metric("spans_degraded", len(rep.degraded))


class DChannelsLost(nagiosplugin.Context):
    """WARNING when a span that is up lost one of its D-channels (NFAS redundancy)."""

    def __init__(self) -> None:
        super().__init__("spans_degraded")

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        if metric.value:
            return nagiosplugin.Result(nagiosplugin.Warn, "D-channel lost", metric)
        return nagiosplugin.Result(nagiosplugin.Ok, metric=metric)


class PriSummary(nagiosplugin.Summary):
    """Status text from the span report, or from the failure that prevented one."""

    def __init__(self, resource: PriSpans, verbose: int) -> None:
        self.resource = resource
        self.verbose_level = verbose

    def ok(self, results: nagiosplugin.Results) -> str:
        return self.problem(results)

    def problem(self, results: nagiosplugin.Results) -> str:
        failure = runtime.failure_of(results)
        if failure is not None:
            return failure.summary
        if self.resource.report is None:  # a CheckError: nagiosplugin's own message
            return str(super().problem(results))
        return summarize(self.resource.report)

    def verbose(self, results: nagiosplugin.Results) -> list[str]:
        failure = runtime.failure_of(results)
        if failure is not None:
            return list(failure.detail)
        rep = self.resource.report
        if rep is None:
            return []
        lines = runtime.connection_notes(self.resource.target)
        lines += [describe_span(s) for s in rep.spans]
        lines += [f"span {s.number}: excluded ({s.dchannels[0].status})" for s in rep.excluded]
        lines += [f"span {n}: excluded, not listed" for n in rep.missing_excluded]
        if self.verbose_level >= 1:
            reply = REPLY_FORMATS.get(self.resource.reply_format, self.resource.reply_format)
            lines.append(f"AMI greeting: {self.resource.greeting}; reply format: {reply}")
        return lines


def build_check(
    target: Target,
    timeout: float,
    warning: nagiosplugin.Range | None,
    critical: nagiosplugin.Range | None,
    expected: int | None,
    exclude: Sequence[int],
    verbose: int,
) -> nagiosplugin.Check:
    """The complete check for the options given on the command line."""
    resource = PriSpans(target, timeout, expected, exclude)
    return nagiosplugin.Check(
        resource,
        runtime.UpCount("spans_up", warning, critical, "{value} spans up"),
        nagiosplugin.ScalarContext("spans_down"),
        nagiosplugin.ScalarContext("spans_alarm"),
        runtime.ListedCount("spans_listed", "spans"),
        DChannelsLost(),
        runtime.FailureContext(),
        PriSummary(resource, verbose),
        name=NAME,
    )
