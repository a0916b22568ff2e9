"""check_ratelimit_offenders' machinery: acquisition, evaluation and the nagiosplugin glue.

Loaded by the command (``command``) only after its options are
parsed; the database drivers load inside the probe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click
import nagiosplugin

from isp_plugins.cli.types import duration_seconds
from isp_plugins.runtime.contexts import ReportSummary
from isp_plugins.runtime.deadline import session_deadline
from isp_plugins.runtime.failures import Failure, FailureContext, failure_metric
from isp_plugins.runtime.text import plural, sanitize
from isp_plugins.sources import logtail
from isp_plugins.sources.ratelimit import backends, config, db, logscan
from isp_plugins.sources.ratelimit.dsn import Dsn
from isp_plugins.sources.ratelimit.model import Report, Sender

if TYPE_CHECKING:
    from isp_plugins.checks.ratelimit_offenders.command import Options

NAME = "ratelimit_offenders"
log = logging.getLogger("ratelimit")
CRITICAL_KINDS = {"down", "auth"}
#: Offenders named in the summary line.
SUMMARY_OFFENDERS = 3


def number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


# -- options ----------------------------------------------------------------------------
@dataclass(frozen=True)
class BackendOptions:
    backend: str
    policyd_conf: str | None = None
    defaults: dict[str, int | None] = field(default_factory=dict)
    default_window: str | None = None
    table_prefix: str = ""
    config_file: str | None = None
    limits: tuple[tuple[int, int], ...] = ()


def policyd1_defaults(options: BackendOptions) -> backends.Policyd1Defaults:
    """The built-in defaults, then policyd.conf, then the --default-* options."""
    base = backends.Policyd1Defaults()
    if options.policyd_conf:
        text = config.read_text(options.policyd_conf, "policyd.conf")
        base = config.policyd1_defaults(text, base)
    values = {k: getattr(base, k) for k in ("msg", "rcpt", "quota", "window")}
    values.update({k: v for k, v in options.defaults.items() if v is not None})
    if options.default_window is not None:
        try:
            values["window"] = int(duration_seconds(options.default_window))
        except ValueError as exc:
            raise click.UsageError(f"--default-window: {exc}") from None
    if values["window"] <= 0:
        raise click.UsageError("--default-window must be at least one second")
    return backends.Policyd1Defaults(**values)


def rate_limits(options: BackendOptions) -> backends.RateLimits:
    limits = backends.RateLimits()
    if options.config_file:
        text = config.read_text(options.config_file, "policyd-rate-limit config")
        limits = config.rate_limits(text, options.config_file)
    if options.limits:
        limits = backends.RateLimits(options.limits, limits.by_id)
    return limits


def check_options(options: BackendOptions) -> None:
    """Options that belong to another backend are a mistake worth one clear line."""
    foreign: dict[str, list[tuple[str, object]]] = {
        "policyd1": [
            ("--policyd-conf", options.policyd_conf),
            ("--default-*", any(v is not None for v in options.defaults.values())),
            ("--default-window", options.default_window),
        ],
        "cluebringer": [("--table-prefix", options.table_prefix)],
        "policyd-rate-limit": [("--config", options.config_file), ("--limit", options.limits)],
    }
    for backend, pairs in foreign.items():
        if backend == options.backend:
            continue
        for name, value in pairs:
            if value:
                raise click.UsageError(f"{name} applies to --backend {backend} only")


# -- the database check -----------------------------------------------------------------
class Offenders(nagiosplugin.Resource):  # type: ignore[misc]
    """Reads the daemon's database; ``report`` is set once the backend answered."""

    def __init__(
        self,
        target: Dsn,
        backend: str,
        run: Any,
        near: float,
        exclude: Sequence[str],
        top_n: int,
        timeout: float,
    ) -> None:
        self.target = target
        self.backend = backend
        self.run = run
        self.near = near
        self.exclude = tuple(exclude)
        self.top_n = top_n
        self.timeout = timeout
        self.report: Report | None = None
        self.seconds = 0.0

    @property
    def name(self) -> str:
        return NAME.upper()

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        started = time.monotonic()
        # Leave the backstop (-t) room to print: the queries get 90 % of it.
        budget = session_deadline(self.timeout)
        conn = None
        try:
            conn = db.connect(self.target, budget)
            self.report = self.run(conn, int(time.time()))
        except db.DbFailure as failure:
            state = (
                nagiosplugin.Critical if failure.kind in CRITICAL_KINDS else nagiosplugin.Unknown
            )
            where = self.target.redacted()
            text = sanitize(str(failure).replace(self.target.password or "\0", "(hidden)"))
            if failure.kind == "timeout":
                text = f"{where}: no answer within {self.timeout:g}s ({text})"
            elif where not in text:
                text = f"{where}: {text}"
            yield failure_metric(Failure(state, text))
            return
        finally:
            if conn is not None:
                conn.close()
            self.seconds = time.monotonic() - started
        report = self.report
        yield nagiosplugin.Metric("offenders", report.offender_count, min=0, context="offenders")
        yield nagiosplugin.Metric("near_limit", report.near_count, min=0, context="near_limit")
        yield nagiosplugin.Metric(
            "max_usage", round(report.max_usage, 1), "%", min=0, context="max_usage"
        )

    def summary_text(self) -> str:
        assert self.report is not None
        report = self.report
        offenders, count = report.offenders, report.offender_count
        if count:
            shown = ", ".join(
                f"{sanitize(s.identity)} ({s.percent:.0f}%)" for s in offenders[:SUMMARY_OFFENDERS]
            )
            more = ", ..." if count > SUMMARY_OFFENDERS else ""
            head = f"{plural(count, 'offender')}: {shown}{more}"
        else:
            head = "no offender"
        near = f"{report.near_count} near limit (>= {self.near:g}%)"
        # " - ", not "; ": Nagios 4 turns ";" in plugin output into ":"
        return f"{head} - {near} - max usage {report.max_usage:.0f}%"

    def long_output(self, verbose: int) -> list[str]:
        assert self.report is not None
        lines = []
        if verbose >= 1:
            lines.append(
                f"source: {self.target.redacted()} ({self.backend}), read in {self.seconds:.3f}s"
            )
            if self.exclude:
                lines.append(f"excluded: {', '.join(sanitize(e) for e in self.exclude)}")
        senders = self.report.senders[: self.top_n]
        lines += [sender_line(s) for s in senders]
        rest = self.report.offender_count + self.report.near_count - len(senders)
        if rest > 0:
            lines.append(f"... and {plural(rest, 'more sender')}")
        lines += [sanitize(note) for note in self.report.notes[: max(self.top_n, 1)]]
        return lines


def sender_line(sender: Sender) -> str:
    worst = sender.worst
    label = "offender" if sender.offender else "near"
    text = (
        f"{label} {sanitize(sender.identity)}: {number(worst.used)}/{number(worst.limit)} "
        f"{worst.unit} ({worst.percent:.0f}%) per {worst.window}"
    )
    notes = [n for n in (worst.note,) if n]
    return text + (f" - {sanitize(' - '.join(notes))}" if notes else "")


def backend_runner(
    options: BackendOptions, near: float, exclude: Sequence[str], top_n: int | None = None
) -> Any:
    """The backend call with its configuration loaded (config errors are usage errors).

    The backend lists only the senders the output shows: the ``top_n`` of the long output,
    and at least the 3 offenders of the summary line; it counts the others.
    """
    check_options(options)
    top = None if top_n is None else max(top_n, SUMMARY_OFFENDERS)
    try:
        if options.backend == "policyd1":
            defaults = policyd1_defaults(options)
            return lambda conn, now: backends.policyd1(conn, defaults, near, now, exclude, top)
        if options.backend == "cluebringer":
            prefix = options.table_prefix
            return lambda conn, now: backends.cluebringer(conn, prefix, near, now, exclude, top)
        limits = rate_limits(options)
    except config.ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    return lambda conn, now: backends.policyd_rate_limit(conn, limits, near, now, exclude, top)


def build_db_check(
    options: Options, target: Dsn, limits: tuple[tuple[int, int], ...]
) -> nagiosplugin.Check:
    """The database check for the options given on the command line (``--limit`` parsed)."""
    assert options.backend is not None
    backend = BackendOptions(
        backend=options.backend,
        policyd_conf=options.policyd_conf,
        defaults={
            "msg": options.default_msg_limit,
            "rcpt": options.default_rcpt_limit,
            "quota": options.default_quota_limit,
        },
        default_window=options.default_window,
        table_prefix=options.table_prefix,
        config_file=options.config_file,
        limits=limits,
    )
    near, exclude, top_n = options.near, options.exclude, options.top_n
    warning, critical, verbose = options.warning, options.critical, options.verbose
    run = backend_runner(backend, near, exclude, top_n)
    resource = Offenders(target, backend.backend, run, near, exclude, top_n, options.timeout)
    return nagiosplugin.Check(
        resource,
        nagiosplugin.ScalarContext("offenders", None, critical, fmt_metric="{value} offenders"),
        nagiosplugin.ScalarContext("near_limit", warning, None, fmt_metric="{value} near"),
        nagiosplugin.ScalarContext("max_usage"),
        FailureContext(),
        ReportSummary(resource, verbose),
    )


# -- the log check ----------------------------------------------------------------------
class LogRejects(nagiosplugin.Resource):  # type: ignore[misc]
    def __init__(
        self,
        log_file: str,
        state_dir: str,
        patterns: Sequence[str],
        exclude: Sequence[str],
        top_n: int,
    ) -> None:
        self.log_file = log_file
        self.state_dir = state_dir
        self.patterns = tuple(patterns)
        self.exclude = set(exclude)
        self.top_n = top_n
        self.report: logscan.Scan | None = None
        self.seconds = 0.0

    @property
    def name(self) -> str:
        return NAME.upper()

    def probe(self) -> Iterator[nagiosplugin.Metric]:
        started = time.monotonic()
        try:
            scan = logscan.scan_log(self.log_file, self.state_dir, self.patterns)
        except logtail.StateError as exc:
            yield failure_metric(Failure(nagiosplugin.Unknown, sanitize(str(exc))))
            return
        self.seconds = time.monotonic() - started
        for ident in self.exclude:
            scan.rejects.pop(ident, None)
        self.report = scan
        yield nagiosplugin.Metric("offenders", len(scan.rejects), min=0, context="offenders")
        yield nagiosplugin.Metric("rejects", scan.total, min=0, context="rejects")

    def summary_text(self) -> str:
        assert self.report is not None
        scan = self.report
        if not scan.rejects:
            return "no reject since the last run"
        top = scan.rejects.most_common(3)
        shown = ", ".join(f"{sanitize(ident)} ({n})" for ident, n in top)
        more = ", ..." if len(scan.rejects) > 3 else ""
        return (
            f"{plural(len(scan.rejects), 'sender')} refused since the last run "
            f"({plural(scan.total, 'reject')}): {shown}{more}"
        )

    def long_output(self, verbose: int) -> list[str]:
        assert self.report is not None
        scan = self.report
        lines = []
        if verbose >= 1:
            lines.append(
                f"log: {self.log_file}, {scan.bytes_read} bytes read in {self.seconds:.3f}s"
            )
        lines += [
            f"refused {sanitize(i)}: {plural(n, 'reject')}"
            for i, n in scan.rejects.most_common(self.top_n)
        ]
        rest = len(scan.rejects) - min(self.top_n, len(scan.rejects))
        if rest > 0:
            lines.append(f"... and {plural(rest, 'more sender')}")
        return lines + scan.notes


def build_log_check(options: Options) -> nagiosplugin.Check:
    """The --log check for the options given on the command line."""
    from isp_plugins.sources.logtail import default_state_dir  # noqa: PLC0415

    assert options.log_file is not None
    warning, critical, verbose = options.warning, options.critical, options.verbose
    resource = LogRejects(
        options.log_file,
        options.state_dir or default_state_dir(),
        options.patterns,
        options.exclude,
        options.top_n,
    )
    return nagiosplugin.Check(
        resource,
        nagiosplugin.ScalarContext("offenders", warning, critical, fmt_metric="{value} refused"),
        nagiosplugin.ScalarContext("rejects"),
        FailureContext(),
        ReportSummary(resource, verbose),
    )
