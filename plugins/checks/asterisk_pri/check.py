"""The PRI spans check: evaluation of ``pri show spans`` and its nagiosplugin Resource,
Contexts and Summary. Loaded only when the check runs (see check_asterisk_pri for the CLI)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

import nagiosplugin

from isp_plugins.runtime.ami import CountResource
from isp_plugins.runtime.contexts import ListedCount, ReportSummary, UpCount, WarnWhenAny
from isp_plugins.runtime.failures import Failure, FailureContext, classify, failure_metric

if TYPE_CHECKING:
    from asterisk_ami.parsers.pri import PriSpan
    from asterisk_ami.parsers.pri_channels import PriChannel
    from asterisk_ami.replies import CommandOutput
    from asterisk_ami.session import Session, Target
    from isp_plugins.checks.asterisk_pri.command import Options

NAME = "asterisk_pri"
COMMAND = "pri show spans"
CALLS_COMMAND = "pri show channels"  # Asterisk 1.8.6 and later
NOT_FOUND = ": chan_dahdi is not loaded or was built without libpri"
REPLY_FORMATS = {
    "follows": "Response: Follows (Asterisk 1.4 to 13)",
    "output": "Output headers (Asterisk 14 and later)",
}


# -- evaluation (pure) ------------------------------------------------------------------
class SpanReport(NamedTuple):
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
        lost = ", ".join(str(d.dchan) for d in span.degraded)
        verdict += f", D-channel {lost} lost"
    channels = "; ".join(f"D-channel {d.dchan}: {d.status}" for d in span.dchannels)
    return f"span {span.number}: {verdict} ({channels})"


def _numbers(spans: Sequence[PriSpan]) -> str:
    return ", ".join(str(s.number) for s in spans)


def summarize(rep: SpanReport) -> str:
    if not rep.spans and rep.expected == 0:  # -n 0: none expected, none listed
        return "no PRI spans listed, none expected (-n 0)"
    parts = [f"{len(rep.up)} of {rep.expected} spans up"]
    alarm = [s for s in rep.down if s.in_alarm]
    down = [s for s in rep.down if not s.in_alarm]
    if alarm:
        parts.append(f"in alarm: {_numbers(alarm)}")
    if down:
        parts.append(f"down: {_numbers(down)}")
    if rep.degraded:
        lost = ", ".join(f"{d.span}/{d.dchan}" for s in rep.degraded for d in s.degraded)
        parts.append(f"D-channel lost: {lost}")
    if rep.count_differs:
        parts.append(f"{len(rep.spans)} spans listed, {rep.expected} expected")
    return " - ".join(parts)  # not "; ": Nagios 4 turns ";" in plugin output into ":"


# -- calls per span (pure) ---------------------------------------------------------------
class Calls(NamedTuple):
    """Calls per span from ``pri show channels``, for the spans that count."""

    per_span: dict[int, int]
    channels: dict[int, int]  # B-channels per span: the most calls it can carry

    @property
    def total(self) -> int:
        return sum(self.per_span.values())


def count_calls(rows: Sequence[PriChannel], spans: Sequence[PriSpan]) -> Calls:
    numbers = [s.number for s in spans]
    per_span = {n: sum(1 for r in rows if r.span == n and r.in_call) for n in numbers}
    channels = {n: sum(1 for r in rows if r.span == n and r.has_b_channel) for n in numbers}
    return Calls(per_span, channels)


# -- nagiosplugin glue ------------------------------------------------------------------
class PriSpans(CountResource):
    """Logs in to AMI, runs ``pri show spans`` (and ``pri show channels``) and measures."""

    name = NAME

    def __init__(
        self,
        target: Target,
        timeout: float,
        expected: int | None,
        exclude: Sequence[int],
        calls: bool = False,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.expected_option = expected
        self.exclude = exclude
        self.want_calls = calls
        self.report: SpanReport | None = None
        self.calls: Calls | None = None
        self.reply_format = ""

    async def _exchange(self, session: Session) -> tuple[CommandOutput, CommandOutput | None]:
        from asterisk_ami.errors import CommandNotFound  # noqa: PLC0415

        spans = await session.command(COMMAND)
        if not self.want_calls:
            return spans, None
        try:
            return spans, await session.command(CALLS_COMMAND)
        except CommandNotFound:  # before 1.8.6: keep the span result, say so
            return spans, None

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        from asterisk_ami.errors import AmiError  # noqa: PLC0415 (keeps asyncio out of --help)
        from asterisk_ami.parsers.pri import parse_pri_show_spans  # noqa: PLC0415

        try:
            output, channels = self.run_session(self._exchange)
            spans = parse_pri_show_spans(output.lines)
            rows = None
            if channels is not None:  # --calls only: its parser is not loaded otherwise
                from asterisk_ami.parsers.pri_channels import (  # noqa: PLC0415
                    parse_pri_show_channels,
                )

                rows = parse_pri_show_channels(channels.lines)
        except AmiError as error:
            yield failure_metric(classify(error, self.target, self.timeout, NOT_FOUND))
            return
        self.reply_format = output.reply_format
        rep = self.report = report(spans, self.expected_option, self.exclude)
        if not rep.spans and not rep.expected_given:
            text = "no PRI spans listed and none expected (give -n to expect spans)"
            yield failure_metric(Failure(nagiosplugin.Unknown, text))
            return
        top = max(rep.expected, len(rep.spans))
        yield nagiosplugin.Metric("spans_up", len(rep.up), min=0, max=rep.expected)
        yield nagiosplugin.Metric("spans_down", len(rep.down), min=0, max=top)
        yield nagiosplugin.Metric("spans_alarm", len(rep.in_alarm), min=0, max=top)
        yield nagiosplugin.Metric("spans_listed", len(rep.spans))
        yield nagiosplugin.Metric("spans_degraded", len(rep.degraded))
        if rows is not None:
            calls = self.calls = count_calls(rows, rep.spans)
            capacity = sum(calls.channels.values())
            yield nagiosplugin.Metric("calls", calls.total, min=0, max=capacity)
            for number, count in calls.per_span.items():
                yield nagiosplugin.Metric(
                    f"calls_span{number}",
                    count,
                    min=0,
                    max=calls.channels[number],
                    context="calls_span",
                )

    def summary_text(self) -> str:
        assert self.report is not None
        text = summarize(self.report)
        return text + (f" - {self.calls.total} calls" if self.calls else "")

    def long_output(self, verbose: int) -> list[str]:
        rep = self.report
        assert rep is not None
        lines = []
        for span in rep.spans:
            line = describe_span(span)
            if self.calls:
                count, channels = self.calls.per_span[span.number], self.calls.channels[span.number]
                line += f" - {count} of {channels} channels in calls"
            lines.append(line)
        lines += [f"span {s.number}: excluded ({s.dchannels[0].status})" for s in rep.excluded]
        lines += [f"span {n}: excluded, not listed" for n in rep.missing_excluded]
        if self.want_calls and self.calls is None:
            lines.append(f"calls: this Asterisk has no '{CALLS_COMMAND}' (it came in 1.8.6)")
        return self.framed(lines, verbose)

    def greeting_line(self) -> str:
        if not self.reply_format:  # the session failed before a reply was read
            return super().greeting_line()
        reply = REPLY_FORMATS.get(self.reply_format, self.reply_format)
        return f"{super().greeting_line()}; reply format: {reply}"


def build_check(options: Options, target: Target) -> nagiosplugin.Check:
    """The complete check for the options given on the command line."""
    timeout, verbose = options.ami.timeout, options.ami.verbose
    resource = PriSpans(target, timeout, options.expected, options.exclude_span, options.want_calls)
    return nagiosplugin.Check(
        resource,
        UpCount("spans_up", options.warning, options.critical, "{value} spans up"),
        nagiosplugin.ScalarContext("spans_down"),
        nagiosplugin.ScalarContext("spans_alarm"),
        ListedCount("spans_listed", "spans"),
        WarnWhenAny("spans_degraded", "D-channel lost"),  # NFAS redundancy
        nagiosplugin.ScalarContext(
            "calls", options.calls_warning, options.calls_critical, "{value} calls"
        ),
        nagiosplugin.ScalarContext("calls_span"),
        FailureContext(),
        ReportSummary(resource, verbose),
        name=NAME,
    )
