"""The FXO lines check: which analog telco lines have battery, from chan_dahdi's channel list.

Loaded only when the check runs (see check_asterisk_fxo for the command line).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

import nagiosplugin

from isp_plugins.runtime.ami import CountResource
from isp_plugins.runtime.contexts import ListedCount, ReportSummary, UpCount, WarnWhenAny
from isp_plugins.runtime.failures import Failure, FailureContext, classify, failure_metric

if TYPE_CHECKING:
    from asterisk_ami.parsers.dahdi_channels import DahdiChannel
    from asterisk_ami.session import Session, Target
    from isp_plugins.checks.asterisk_fxo.command import Options

NAME = "asterisk_fxo"
#: 1.4.22+ registers DAHDIShowChannels; 1.4 in Zap mode only ZapShowChannels.
ACTION = "DAHDIShowChannels"
ZAP_ACTION = "ZapShowChannels"
#: The greeting of Asterisk 1.4 (AMI 1.0), the only generation that may have ZapShowChannels.
#: It is never sent to a later one: each unknown action is a RequestBadFormat security event
#: in the PBX's security log (fail2ban reads it).
ZAP_GENERATION = (1, 0)
NOT_FOUND = ": chan_dahdi is not loaded"


# -- acquisition ------------------------------------------------------------------------
async def read_channels(
    session: Session, method: str, selected: Sequence[int]
) -> tuple[list[DahdiChannel], str]:
    """The channels and where they came from: the AMI action, else the CLI (``method=auto``).

    When the action is unknown, chan_dahdi is not loaded (1.4 in Zap mode aside): the CLI is
    still asked (it may know better), but if it is refused for want of ``command`` permission,
    the action's answer is the verdict.
    """
    from asterisk_ami.errors import CommandNotFound, PermissionDenied  # noqa: PLC0415
    from asterisk_ami.parsers import dahdi_channels as parse  # noqa: PLC0415

    missing: CommandNotFound | None = None
    if method in ("auto", "action"):
        actions = [ACTION]
        if session.ami_version[:2] == ZAP_GENERATION:
            actions.append(ZAP_ACTION)
        for action in actions:
            try:
                events = await session.action_list({"Action": action})
            except CommandNotFound as error:
                missing = missing or error
                continue
            return parse.parse_channel_events(events), f"AMI action {action}"
        if method == "action":
            assert missing is not None
            raise missing
    try:
        listed = await session.command("dahdi show channels")
    except PermissionDenied:
        if missing is None:
            raise
        raise missing from None
    rows = parse.parse_show_channels(listed.lines)
    if selected:
        rows = [r for r in rows if r.number in selected]
    if all(r.signalling for r in rows):  # 18.23+ prints signalling and alarms in the table
        channels = [
            parse.DahdiChannel(r.number, r.signalling or "", r.alarm or "", r.description)
            for r in rows
        ]
        return channels, "CLI 'dahdi show channels'"
    details = [await session.command(f"dahdi show channel {r.number}") for r in rows]
    return [parse.parse_show_channel(d.lines) for d in details], "CLI 'dahdi show channel N'"


# -- evaluation (pure) ------------------------------------------------------------------
class LineReport(NamedTuple):
    """FXO ports (telco lines) and, with --include-fxs, FXS ports (phones)."""

    fxo: tuple[DahdiChannel, ...]
    fxs: tuple[DahdiChannel, ...]
    missing: tuple[int, ...]
    expected: int
    expected_given: bool

    @property
    def with_line(self) -> list[DahdiChannel]:
        return [c for c in self.fxo if not c.in_alarm]

    @property
    def without_line(self) -> list[DahdiChannel]:
        return [c for c in self.fxo if c.in_alarm]

    @property
    def fxs_in_alarm(self) -> list[DahdiChannel]:
        return [c for c in self.fxs if c.in_alarm]


def report(
    channels: Sequence[DahdiChannel],
    expected: int | None,
    selected: Sequence[int],
    include_fxs: bool,
) -> LineReport:
    """Keep the selected channels (all when none are), split by port type."""
    chosen = [c for c in channels if not selected or c.number in selected]
    listed = {c.number for c in channels}
    fxo = tuple(c for c in chosen if c.port == "FXO")
    fxs = tuple(c for c in chosen if c.port == "FXS") if include_fxs else ()
    missing = tuple(n for n in selected if n not in listed)
    return LineReport(
        fxo, fxs, missing, len(fxo) if expected is None else expected, expected is not None
    )


def describe(channel: DahdiChannel) -> str:
    """One long-output line per port: number, kind, verdict, description."""
    kind = "FXO line" if channel.port == "FXO" else "FXS phone port"
    if channel.port == "FXO":
        verdict = f"NO LINE ({channel.alarm})" if channel.in_alarm else "line OK"
    else:
        verdict = f"ALARM ({channel.alarm})" if channel.in_alarm else "OK"
    call = ", in a call" if channel.in_call else ""
    about = f" - {channel.description}" if channel.description else ""
    return f"channel {channel.number} ({kind}, {channel.signalling}): {verdict}{call}{about}"


def summarize(rep: LineReport) -> str:
    if not rep.fxo and rep.expected == 0:  # -n 0: none expected, none listed
        return "no FXO ports listed, none expected (-n 0)"
    parts = [f"{len(rep.with_line)} of {rep.expected} FXO lines up"]
    if rep.without_line:
        parts.append("no line: " + ", ".join(str(c.number) for c in rep.without_line))
    if rep.fxs_in_alarm:
        parts.append("phone port alarm: " + ", ".join(str(c.number) for c in rep.fxs_in_alarm))
    if rep.expected_given and len(rep.fxo) != rep.expected:
        parts.append(f"{len(rep.fxo)} FXO ports listed, {rep.expected} expected")
    return " - ".join(parts)  # not "; ": Nagios 4 turns ";" in plugin output into ":"


# -- nagiosplugin glue ------------------------------------------------------------------
class FxoLines(CountResource):
    """Logs in to AMI, lists chan_dahdi's channels and measures the FXO lines."""

    name = NAME

    def __init__(
        self,
        target: Target,
        timeout: float,
        expected: int | None,
        selected: Sequence[int],
        include_fxs: bool,
        method: str,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.expected_option = expected
        self.selected = selected
        self.include_fxs = include_fxs
        self.method = method
        self.report: LineReport | None = None
        self.source = ""

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        from asterisk_ami.errors import AmiError  # noqa: PLC0415 (keeps asyncio out of --help)

        async def work(ami: Session) -> tuple[list[DahdiChannel], str]:
            return await read_channels(ami, self.method, self.selected)

        try:
            channels, self.source = self.run_session(work)
        except AmiError as error:
            failure = classify(error, self.target, self.timeout, NOT_FOUND)
            yield failure_metric(failure)
            return
        rep = self.report = report(channels, self.expected_option, self.selected, self.include_fxs)
        if not rep.fxo and not rep.expected_given:
            text = "no FXO ports listed and none expected (give -n to expect lines)"
            yield failure_metric(Failure(nagiosplugin.Unknown, text))
            return
        top = max(rep.expected, len(rep.fxo))
        yield nagiosplugin.Metric("fxo_ok", len(rep.with_line), min=0, max=rep.expected)
        yield nagiosplugin.Metric("fxo_alarm", len(rep.without_line), min=0, max=top)
        yield nagiosplugin.Metric("fxo_listed", len(rep.fxo))
        yield nagiosplugin.Metric("fxs_alarm", len(rep.fxs_in_alarm))

    def summary_text(self) -> str:
        assert self.report is not None
        return summarize(self.report)

    def long_output(self, verbose: int) -> list[str]:
        assert self.report is not None
        lines = [
            describe(c) for c in sorted(self.report.fxo + self.report.fxs, key=lambda c: c.number)
        ]
        lines += [f"channel {n}: not configured in chan_dahdi" for n in self.report.missing]
        return self.framed(lines, verbose)

    def greeting_line(self) -> str:
        if not self.source:  # the session failed before the channels were read
            return super().greeting_line()
        return f"{super().greeting_line()}; channels from {self.source}"


def build_check(options: Options, target: Target) -> nagiosplugin.Check:
    """The complete check for the options given on the command line."""
    timeout, verbose = options.ami.timeout, options.ami.verbose
    resource = FxoLines(
        target,
        timeout,
        options.expected,
        options.channel or (),
        options.include_fxs,
        options.method,
    )
    return nagiosplugin.Check(
        resource,
        UpCount("fxo_ok", options.warning, options.critical, "{value} FXO lines up"),
        nagiosplugin.ScalarContext("fxo_alarm"),
        ListedCount("fxo_listed", "FXO ports"),
        WarnWhenAny("fxs_alarm", "phone port in alarm"),  # with --include-fxs
        FailureContext(),
        ReportSummary(resource, verbose),
        name=NAME,
    )
