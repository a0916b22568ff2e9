"""The DAHDI span alarms check: evaluation of ``dahdi show status`` and its nagiosplugin
Resource, Contexts and Summary. Loaded only when the check runs (see check_asterisk_dahdi)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import nagiosplugin

from isp_plugins.runtime.ami import AmiResource
from isp_plugins.runtime.contexts import ReportSummary
from isp_plugins.runtime.failures import Failure, FailureContext, classify, failure_metric

if TYPE_CHECKING:
    from asterisk_ami.parsers.dahdi_status import DahdiSpan, DahdiStatus
    from asterisk_ami.replies import CommandOutput
    from asterisk_ami.session import Session, Target
    from isp_plugins.checks.asterisk_dahdi.command import Options

NAME = "asterisk_dahdi"
COMMAND = "dahdi show status"
#: Asterisk 1.4.0-1.4.21 (chan_zap) knows only this name; 1.4.22-1.4.44 keep it as an alias.
ZAP_COMMAND = "zap show status"
NOT_FOUND = ": DAHDI is missing (chan_dahdi is not loaded)"
REPLY_FORMATS = {
    "follows": "Response: Follows (Asterisk 1.4 to 13)",
    "output": "Output headers (Asterisk 14 and later)",
}
LAYOUTS = {
    "1.4": "Asterisk 1.4",
    "1.6": "Asterisk 1.6.0 to 1.8.6 (CRC4)",
    "1.8": "Asterisk 1.8.7 to 18.22, 20.7, 21.2 (CRC)",
    "span": "Asterisk 18.23, 20.8, 21.3 and later (Span column)",
}
COUNTERS = (("irq_misses", "IRQ misses"), ("bpv", "bpviol"), ("crc", "CRC"))


# -- evaluation (pure) ------------------------------------------------------------------
class DahdiReport(NamedTuple):
    """The spans of one ``dahdi show status``, sorted by what the check makes of them."""

    spans: tuple[DahdiSpan, ...]  # selected and judged
    ignored: tuple[DahdiSpan, ...]  # selected, UNCONFIGURED, not judged
    unselected: tuple[DahdiSpan, ...]  # left out by --span / --description
    not_listed: tuple[int, ...]  # --span numbers that dahdi show status does not list
    unconfigured_critical: bool = False

    def severity(self, span: DahdiSpan) -> str:
        if span.unconfigured and self.unconfigured_critical:
            return "critical"
        return span.severity

    @property
    def ok(self) -> list[DahdiSpan]:
        return [s for s in self.spans if self.severity(s) == "ok"]

    @property
    def alarmed(self) -> list[DahdiSpan]:
        return [s for s in self.spans if self.severity(s) != "ok"]

    @property
    def critical(self) -> bool:
        return bool(self.not_listed) or any(self.severity(s) == "critical" for s in self.spans)

    @property
    def counted(self) -> tuple[DahdiSpan, ...]:
        """The spans whose error counters go into the perfdata."""
        return tuple(sorted(self.spans + self.ignored, key=lambda s: s.number))


def report(
    status: DahdiStatus,
    spans: Sequence[int] = (),
    description: re.Pattern[str] | None = None,
    unconfigured_critical: bool = False,
) -> DahdiReport:
    """Apply the --span and --description filters and set UNCONFIGURED spans aside."""

    def selected(span: DahdiSpan) -> bool:
        if spans and span.number not in spans:
            return False
        return description is None or description.search(span.description) is not None

    chosen = [s for s in status.spans if selected(s)]
    listed = {s.number for s in status.spans}
    return DahdiReport(
        spans=tuple(s for s in chosen if unconfigured_critical or not s.unconfigured),
        ignored=tuple(s for s in chosen if s.unconfigured and not unconfigured_critical),
        unselected=tuple(s for s in status.spans if not selected(s)),
        not_listed=tuple(sorted(n for n in set(spans) if n not in listed)),
        unconfigured_critical=unconfigured_critical,
    )


def _numbers(spans: Sequence[DahdiSpan]) -> str:
    return ", ".join(str(s.number) for s in spans)


def alarm_text(span: DahdiSpan) -> str:
    return "UNCONFIGURED" if span.unconfigured else span.alarms


def summarize(rep: DahdiReport) -> str:
    parts = [f"{len(rep.ok)} of {len(rep.spans)} spans OK"]
    groups: dict[str, list[DahdiSpan]] = {}
    for span in rep.alarmed:
        groups.setdefault(alarm_text(span), []).append(span)
    parts += [f"{alarms}: {_numbers(spans)}" for alarms, spans in groups.items()]
    parts += [f"span {n} not listed" for n in rep.not_listed]
    if rep.ignored:
        parts.append(f"unconfigured: {_numbers(rep.ignored)} (ignored)")
    return " - ".join(parts)  # not "; ": Nagios 4 turns ";" in plugin output into ":"


def describe_span(span: DahdiSpan, verdict: str) -> str:
    """One long-output line: the verdict, the description and what the row says besides."""
    counters = ", ".join(f"{label} {getattr(span, name)}" for name, label in COUNTERS)
    line = " ".join(x for x in (span.framing, span.coding, span.options) if x)
    extra = f"; {line}" if line else ""
    return f"span {span.number}: {verdict} - {span.description} ({counters}{extra})"


def describe(rep: DahdiReport) -> list[str]:
    """The long output: every span listed or asked for, in span order."""
    lines: list[tuple[int, str]] = []
    for span in rep.spans:
        verdict = alarm_text(span)
        if span.cut and not span.ok:
            verdict += " (the column is full: more alarms may be cut off)"
        lines.append((span.number, describe_span(span, verdict)))
    lines += [(s.number, describe_span(s, "UNCONFIGURED, ignored")) for s in rep.ignored]
    lines += [(n, f"span {n}: not listed") for n in rep.not_listed]
    lines += [
        (s.number, describe_span(s, f"{alarm_text(s)}, not selected")) for s in rep.unselected
    ]
    return [line for _, line in sorted(lines, key=lambda item: item[0])]


def clean(text: str) -> str:
    """Asterisk's text made safe for the long output: printable, no perfdata separator."""
    return "".join(c if c.isprintable() else "?" for c in text.strip()).replace("|", "/")


# -- nagiosplugin glue ------------------------------------------------------------------
class DahdiSpans(AmiResource):
    """Logs in to AMI, runs ``dahdi show status`` (or 1.4's ``zap show status``) and
    measures the spans."""

    name = NAME

    def __init__(
        self,
        target: Target,
        timeout: float,
        spans: Sequence[int],
        description: re.Pattern[str] | None,
        unconfigured_critical: bool,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.spans = spans
        self.description = description
        self.unconfigured_critical = unconfigured_critical
        self.report: DahdiReport | None = None
        self.layout = ""
        self.reply_format = ""

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        from asterisk_ami.errors import AmiError  # noqa: PLC0415 (keeps asyncio out of --help)

        try:
            output = self.run_session(_dahdi_show_status)
            status = _parse(output)
        except AmiError as error:
            yield failure_metric(classify(error, self.target, self.timeout, NOT_FOUND))
            return
        except _Failed as failed:
            self.reply_format = output.reply_format
            yield failure_metric(failed.failure)
            return
        self.reply_format, self.layout = output.reply_format, status.layout
        failure = self._failure(status)
        if failure is not None:
            yield failure_metric(failure)
            return
        rep = self.report = report(status, self.spans, self.description, self.unconfigured_critical)
        if not rep.spans and not rep.not_listed:
            why = []
            if rep.unselected:
                why.append(f"{len(rep.unselected)} not selected by --span/--description")
            if rep.ignored:
                why.append(f"{len(rep.ignored)} UNCONFIGURED (see --unconfigured-critical)")
            yield failure_metric(
                Failure(
                    nagiosplugin.Unknown,
                    f"no DAHDI span to check: {'; '.join(why)}",
                    tuple(describe(rep)),
                )
            )
            return
        total = len(rep.spans)
        yield nagiosplugin.Metric("spans_ok", len(rep.ok), min=0, max=total)
        yield nagiosplugin.Metric("spans_alarm", len(rep.alarmed), min=0, max=total)
        yield nagiosplugin.Metric("span_alarms", len(rep.alarmed), context="span_alarms")
        for span in rep.counted:
            for name, _ in COUNTERS:
                yield nagiosplugin.Metric(
                    f"{name}_span{span.number}",
                    getattr(span, name),
                    uom="c",
                    min=0,
                    context="dahdi_counter",
                )

    def summary_text(self) -> str:
        assert self.report is not None
        return summarize(self.report)

    def long_output(self, verbose: int) -> list[str]:
        assert self.report is not None
        return self.framed(describe(self.report), verbose)

    def greeting_line(self) -> str:
        line = super().greeting_line()
        if self.reply_format:
            line += f"; reply format: {REPLY_FORMATS.get(self.reply_format, self.reply_format)}"
        if self.layout in LAYOUTS:  # not "none" (no DAHDI), nor unknown before a reply
            line += f"; layout: {LAYOUTS[self.layout]}"
        return line

    def _failure(self, status: DahdiStatus) -> Failure | None:
        if status.missing:
            return Failure(
                nagiosplugin.Critical,
                "DAHDI is missing: chan_dahdi found no DAHDI device "
                "(are the DAHDI kernel modules loaded?)",
                tuple(clean(line) for line in status.missing),
            )
        if not status.spans:
            return Failure(
                nagiosplugin.Critical,
                "DAHDI lists no spans (is the driver of the card loaded?)",
            )
        return None


class _Failed(Exception):
    """A reply that is a verdict of its own (14+ ``Response: Error`` we cannot read)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.summary)
        self.failure = failure


async def _dahdi_show_status(session: Session) -> CommandOutput:
    from asterisk_ami.errors import CommandNotFound  # noqa: PLC0415

    try:
        return await session.command(COMMAND)
    except CommandNotFound as missing:
        try:  # chan_zap of Asterisk 1.4.0 to 1.4.21
            return await session.command(ZAP_COMMAND)
        except CommandNotFound:
            raise missing from None


def _parse(output: CommandOutput) -> DahdiStatus:
    from asterisk_ami.errors import ParseError, excerpt  # noqa: PLC0415
    from asterisk_ami.parsers.dahdi_status import parse_dahdi_show_status  # noqa: PLC0415

    try:
        return parse_dahdi_show_status(output.lines)
    except ParseError:
        if not output.failed:
            raise
        first = next((line for line in output.lines if line.strip()), "")
        raise _Failed(
            Failure(
                nagiosplugin.Unknown,
                f"'{output.command}' failed: {excerpt(first, 80)}",
                tuple(clean(line) for line in output.lines),
            )
        ) from None


class SpanAlarms(nagiosplugin.Context):
    """CRITICAL for RED, BLU, LB, NOP, UUU (and UNCONFIGURED with --unconfigured-critical)
    or a --span that is not listed; WARNING for YEL and REC."""

    def __init__(self) -> None:
        super().__init__("span_alarms")

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        rep: DahdiReport | None = resource.report
        if rep is None or not (rep.alarmed or rep.not_listed):
            return nagiosplugin.Result(nagiosplugin.Ok, metric=metric)
        state = nagiosplugin.Critical if rep.critical else nagiosplugin.Warn
        return nagiosplugin.Result(state, "span alarm", metric)


def build_check(options: Options, target: Target) -> nagiosplugin.Check:
    """The complete check for the options given on the command line."""
    timeout, verbose = options.ami.timeout, options.ami.verbose
    numbers = tuple(sorted({n for group in options.spans for n in group}))
    resource = DahdiSpans(
        target, timeout, numbers, options.description, options.unconfigured_critical
    )
    return nagiosplugin.Check(
        resource,
        nagiosplugin.ScalarContext("spans_ok"),
        nagiosplugin.ScalarContext("spans_alarm"),
        nagiosplugin.ScalarContext("dahdi_counter"),
        SpanAlarms(),
        FailureContext(),
        ReportSummary(resource, verbose),
        name=NAME,
    )
