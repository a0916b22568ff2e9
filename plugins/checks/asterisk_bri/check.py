"""The BRI ports check: chan_misdn stacks and chan_dahdi/libpri BRI spans, evaluated, and
its nagiosplugin Resource, Contexts and Summary. Loaded only when the check runs (see
check_asterisk_bri for the command line)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import nagiosplugin

from isp_plugins.runtime.ami import CountResource
from isp_plugins.runtime.contexts import ListedCount, ReportSummary, UpCount
from isp_plugins.runtime.failures import Failure, FailureContext, classify, failure_metric

if TYPE_CHECKING:
    from asterisk_ami.parsers.misdn import MisdnPort
    from asterisk_ami.parsers.pri import PriSpan
    from asterisk_ami.parsers.pri_span import DChannelInfo
    from asterisk_ami.session import Session, Target
    from isp_plugins.checks.asterisk_bri.command import Options

NAME = "asterisk_bri"
MISDN, DAHDI = "misdn", "dahdi"
SOURCES = (MISDN, DAHDI)
MISDN_COMMAND = "misdn show stacks"
SPANS_COMMAND = "pri show spans"
NOT_FOUND = {
    MISDN: ": chan_misdn is not loaded (Asterisk 19 and later have no chan_misdn)",
    DAHDI: ": chan_dahdi is not loaded or was built without libpri",
}
REPLY_FORMATS = {
    "follows": "Response: Follows (Asterisk 1.4 to 13)",
    "output": "Output headers (Asterisk 14 and later)",
}
#: ("misdn" or "dahdi" or "" for either source, port or span number), as the options give it
PortRef = tuple[str, int]


# -- evaluation (pure) ------------------------------------------------------------------
class BriPort(NamedTuple):
    """A BRI port of either source, reduced to what the check judges."""

    source: str
    number: int | None  # None: an mISDN port configured without a stack
    kind: str  # "TE PMP", "NT PTP"...
    up: bool
    state: str  # what Asterisk printed: "L1 UP, L2 UP" or "In Alarm, Down, Active"
    te_pmp: bool
    note: str = ""  # "blocked", ...

    @property
    def name(self) -> str:
        what = "port" if self.source == MISDN else "span"
        return f"{self.source} {what} {'?' if self.number is None else self.number}"

    def matches(self, ref: PortRef) -> bool:
        source, number = ref
        return self.number == number and source in ("", self.source)


class SourceResult(NamedTuple):
    """What one source said: its BRI ports, or that it is not there, and other spans."""

    source: str
    ports: tuple[BriPort, ...] = ()
    missing: str = ""  # Asterisk's "No such command" text
    others: tuple[tuple[int, str], ...] = ()  # (span, long-output line) for PRI spans


def _misdn_note(port: MisdnPort) -> str:
    if port.number is None:
        return "configured, but without an mISDN stack"
    return "blocked" if port.blocked else ""


def misdn_ports(ports: Sequence[MisdnPort]) -> SourceResult:
    return SourceResult(
        MISDN,
        tuple(
            BriPort(
                source=MISDN,
                number=p.number,
                kind=p.kind,
                up=p.up,
                state=p.links,
                te_pmp=p.number is not None and not p.nt and not p.ptp,
                note=_misdn_note(p),
            )
            for p in ports
        ),
    )


def dahdi_ports(spans: Sequence[PriSpan], info: dict[int, list[DChannelInfo]]) -> SourceResult:
    """BRI spans become ports; PRI spans (libpri ``Type:`` without ``BRI``) are only noted."""
    ports, others = [], []
    for span in spans:
        first = info[span.number][0]
        state = "; ".join(d.status for d in span.dchannels)
        if not first.bri:
            note = f"dahdi span {span.number}: PRI, not a BRI port ({first.kind}; {state})"
            others.append((span.number, note))
            continue
        ports.append(
            BriPort(
                source=DAHDI,
                number=span.number,
                kind=first.kind,
                up=span.up,
                state=state,
                te_pmp=first.node == "CPE" and first.ptmp,
            )
        )
    return SourceResult(DAHDI, tuple(ports), others=tuple(others))


class BriReport(NamedTuple):
    """The ports that count, sorted by state, and what was expected of them."""

    up: tuple[BriPort, ...]
    idle: tuple[BriPort, ...]
    down: tuple[BriPort, ...]
    listed: tuple[BriPort, ...]  # counted ports in the order listed
    excluded: tuple[BriPort, ...]
    missing_excluded: tuple[PortRef, ...]
    expected: int
    expected_given: bool
    sources: tuple[SourceResult, ...] = ()

    @property
    def available(self) -> int:
        """What -w and -c judge: ports up, and ports idle by --idle-ok / --idle-ok-port."""
        return len(self.up) + len(self.idle)

    @property
    def count_differs(self) -> bool:
        return self.expected_given and len(self.listed) != self.expected

    def verdict(self, port: BriPort) -> str:
        if port in self.excluded:
            return "excluded"
        if port.up:
            return "up"
        if port in self.idle:
            return "idle"
        return f"DOWN, {port.note}" if port.note else "DOWN"


def report(
    sources: Sequence[SourceResult],
    expected: int | None = None,
    exclude: Sequence[PortRef] = (),
    idle_ok: bool = False,
    idle_ok_ports: Sequence[PortRef] = (),
) -> BriReport:
    """Sort the ports of every source; expected defaults to the ports counted."""
    ports = [p for s in sources for p in s.ports]
    excluded = [p for p in ports if any(p.matches(r) for r in exclude)]
    counted = [p for p in ports if p not in excluded]

    def idle(port: BriPort) -> bool:
        if port.up or port.note:  # a blocked port or one without a stack is not idle
            return False
        return (idle_ok and port.te_pmp) or any(port.matches(r) for r in idle_ok_ports)

    missing = tuple(r for r in dict.fromkeys(exclude) if not any(p.matches(r) for p in ports))
    return BriReport(
        up=tuple(p for p in counted if p.up),
        idle=tuple(p for p in counted if idle(p)),
        down=tuple(p for p in counted if not p.up and not idle(p)),
        listed=tuple(counted),
        excluded=tuple(excluded),
        missing_excluded=missing,
        expected=len(counted) if expected is None else expected,
        expected_given=expected is not None,
        sources=tuple(sources),
    )


def ref_name(ref: PortRef) -> str:
    source, number = ref
    if not source:
        return f"port {number}"
    return f"{source} {'port' if source == MISDN else 'span'} {number}"


def summarize(rep: BriReport) -> str:
    if not rep.listed and rep.expected == 0:  # -n 0: none expected, none listed
        return "no BRI ports listed, none expected (-n 0)"
    parts = [f"{len(rep.up)} of {rep.expected} ports up"]
    mixed = len({p.source for p in rep.listed}) > 1

    def names(ports: Sequence[BriPort]) -> str:
        return ", ".join(
            ("?" if p.number is None else str(p.number)) if not mixed else p.name for p in ports
        )

    if rep.idle:
        parts.append(f"idle: {names(rep.idle)}")
    if rep.down:
        parts.append(f"down: {names(rep.down)}")
    if rep.count_differs:
        parts.append(f"{len(rep.listed)} ports listed, {rep.expected} expected")
    return " - ".join(parts)  # not "; ": Nagios 4 turns ";" in plugin output into ":"


def describe(rep: BriReport) -> list[str]:
    """One long-output line per port or span listed, source by source in number order."""
    lines = []
    for source in rep.sources:
        numbered = [
            (p.number, f"{p.name}: {rep.verdict(p)} ({p.kind}; {p.state})")
            for p in source.ports
            if p.number is not None
        ]
        lines += [line for _, line in sorted(numbered + list(source.others))]
        lines += [f"{p.name}: {rep.verdict(p)}" for p in source.ports if p.number is None]
    lines += [f"{ref_name(r)}: excluded, not listed" for r in rep.missing_excluded]
    return lines


def source_notes(sources: Sequence[SourceResult]) -> list[str]:
    """What each source answered, for -v and for the no-ports verdict."""
    notes = []
    for result in sources:
        if result.missing:
            notes.append(f"{result.source}: not available ({clean(result.missing)})")
        else:
            bri = len(result.ports)
            other = f", {len(result.others)} PRI" if result.others else ""
            notes.append(f"{result.source}: {bri} BRI port{'s' if bri != 1 else ''}{other}")
    return notes


def clean(text: str) -> str:
    """Asterisk's text made safe for the long output: printable, no perfdata separator."""
    return "".join(c if c.isprintable() else "?" for c in text.strip()).replace("|", "/")


# -- acquisition ------------------------------------------------------------------------
class Gathered(NamedTuple):
    reply_format: str
    sources: tuple[SourceResult, ...]


async def gather(session: Session, source: str) -> Gathered:
    """Ask each wanted source; with ``auto`` a source that is not there is noted, not fatal."""
    from asterisk_ami.errors import CommandNotFound  # noqa: PLC0415
    from asterisk_ami.parsers.misdn import parse_misdn_show_stacks  # noqa: PLC0415
    from asterisk_ami.parsers.pri import parse_pri_show_spans  # noqa: PLC0415
    from asterisk_ami.parsers.pri_span import parse_pri_show_span  # noqa: PLC0415

    results: list[SourceResult] = []
    reply_format = ""
    if source in (MISDN, "auto"):
        try:
            output = await session.command(MISDN_COMMAND)
            reply_format = output.reply_format
            results.append(misdn_ports(parse_misdn_show_stacks(output.lines)))
        except CommandNotFound as missing:
            if source != "auto":
                raise
            results.append(SourceResult(MISDN, missing=missing.text))
    if source in (DAHDI, "auto"):
        try:
            output = await session.command(SPANS_COMMAND)
        except CommandNotFound as missing:
            if source != "auto":
                raise
            results.append(SourceResult(DAHDI, missing=missing.text))
        else:
            reply_format = reply_format or output.reply_format
            spans = parse_pri_show_spans(output.lines)
            info = {}
            for span in spans:
                detail = await session.command(f"pri show span {span.number}")
                info[span.number] = parse_pri_show_span(detail.lines, span.number)
            results.append(dahdi_ports(spans, info))
    return Gathered(reply_format, tuple(results))


# -- nagiosplugin glue ------------------------------------------------------------------
class BriPorts(CountResource):
    """Logs in to AMI, reads the BRI sources and measures the ports."""

    name = NAME

    def __init__(
        self,
        target: Target,
        timeout: float,
        source: str,
        expected: int | None,
        exclude: Sequence[PortRef],
        idle_ok: bool,
        idle_ok_ports: Sequence[PortRef],
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.source = source
        self.expected_option = expected
        self.exclude = exclude
        self.idle_ok = idle_ok
        self.idle_ok_ports = idle_ok_ports
        self.report: BriReport | None = None
        self.gathered: Gathered | None = None

    def summary_text(self) -> str:
        assert self.report is not None
        return summarize(self.report)

    def long_output(self, verbose: int) -> list[str]:
        assert self.report is not None and self.gathered is not None
        lines = describe(self.report)
        if verbose >= 1:
            lines += source_notes(self.gathered.sources)
        return self.framed(lines, verbose)

    def greeting_line(self) -> str:
        if self.gathered is None or not self.gathered.reply_format:
            return super().greeting_line()
        reply = REPLY_FORMATS.get(self.gathered.reply_format, self.gathered.reply_format)
        return f"{super().greeting_line()}; reply format: {reply}"

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        from asterisk_ami.errors import AmiError  # noqa: PLC0415 (keeps asyncio out of --help)

        async def work(session: Session) -> Gathered:
            return await gather(session, self.source)

        try:
            gathered = self.gathered = self.run_session(work)
        except AmiError as error:
            hint = NOT_FOUND.get(self.source, "")
            yield failure_metric(classify(error, self.target, self.timeout, hint))
            return
        missing = [s for s in gathered.sources if s.missing]
        if len(missing) == len(SOURCES):
            yield failure_metric(
                Failure(
                    nagiosplugin.Critical,
                    "no BRI source: neither chan_misdn ('misdn show stacks') nor chan_dahdi "
                    "with libpri ('pri show spans') is loaded",
                    tuple(clean(s.missing) for s in missing),
                )
            )
            return
        rep = self.report = report(
            gathered.sources, self.expected_option, self.exclude, self.idle_ok, self.idle_ok_ports
        )
        if not rep.listed and not rep.expected_given:
            yield failure_metric(
                Failure(
                    nagiosplugin.Unknown,
                    "no BRI ports listed and none expected (give -n to expect ports)",
                    tuple(describe(rep) + source_notes(gathered.sources)),
                )
            )
            return
        top = max(rep.expected, len(rep.listed))
        yield nagiosplugin.Metric("ports_up", len(rep.up), min=0, max=rep.expected)
        yield nagiosplugin.Metric("ports_down", len(rep.down), min=0, max=top)
        yield nagiosplugin.Metric("ports_idle", len(rep.idle), min=0, max=top)
        yield nagiosplugin.Metric("ports_listed", len(rep.listed))


class PortsUp(UpCount):
    """UpCount on ports up, where -w and -c judge ports up plus ports idle."""

    def __init__(
        self, warning: nagiosplugin.Range | None, critical: nagiosplugin.Range | None
    ) -> None:
        super().__init__("ports_up", warning, critical, "{value} ports up")

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        if resource.report is not None:
            metric = metric.replace(value=resource.report.available)
        return super().evaluate(metric, resource)


def build_check(options: Options, target: Target) -> nagiosplugin.Check:
    """The complete check for the options given on the command line."""
    timeout, verbose = options.ami.timeout, options.ami.verbose
    resource = BriPorts(
        target,
        timeout,
        options.source,
        options.expected,
        options.exclude_port,
        options.idle_ok,
        options.idle_ok_port,
    )
    return nagiosplugin.Check(
        resource,
        PortsUp(options.warning, options.critical),
        nagiosplugin.ScalarContext("ports_down"),
        nagiosplugin.ScalarContext("ports_idle"),
        ListedCount("ports_listed", "ports"),
        FailureContext(),
        ReportSummary(resource, verbose),
        name=NAME,
    )
