"""Running a check: AMI failures as states, the suite's output format, the backstop timer."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, NoReturn, TypeVar

import nagiosplugin
from nagiosplugin.output import Output

from isp_plugins.common import UNKNOWN, status_line

if TYPE_CHECKING:
    from asterisk_ami.errors import AmiError
    from asterisk_ami.session import Session, Target

T = TypeVar("T")
#: Runs an acquisition coroutine over an AMI session within a deadline (seconds).
Acquire = Callable[[Callable[["Session"], Awaitable[Any]], float], Any]


# -- failures ---------------------------------------------------------------------------
class Failure(NamedTuple):
    """An AMI failure turned into a state, a status text and optional long-output lines."""

    state: nagiosplugin.state.ServiceState
    summary: str
    detail: tuple[str, ...] = ()


def classify(error: AmiError, target: Target, timeout: float, not_found: str = "") -> Failure:
    """The service down or refusing us is CRITICAL; our own setup or an unreadable reply UNKNOWN."""
    from asterisk_ami import errors  # noqa: PLC0415

    crit, unknown = nagiosplugin.Critical, nagiosplugin.Unknown
    where = f"AMI at {target.address}"
    if isinstance(error, errors.AmiTimeout):
        return Failure(unknown, f"no answer from {where} within {timeout:g}s ({error.phase})")
    if isinstance(error, errors.ConnectionFailed):
        text = str(error)
        return Failure(crit, text if target.address in text else f"{where}: {text}")
    if isinstance(error, errors.NotAmiServer):
        return Failure(crit, f"{target.address} is not an AMI server: {error}")
    if isinstance(error, errors.AuthenticationFailed):
        return Failure(crit, str(error))
    if isinstance(error, errors.PermissionDenied):
        return Failure(
            unknown,
            f"AMI user '{target.username}' may not run CLI commands: "
            f"{error} (manager.conf needs write = command)",
        )
    if isinstance(error, errors.CommandNotFound):
        return Failure(crit, f"'{error.command}' not available{not_found}", (error.text,))
    if isinstance(error, errors.ParseError):
        return Failure(unknown, f"cannot read the output: {error}")
    return Failure(unknown, f"unreadable reply from {where}: {error}")


class FailureContext(nagiosplugin.Context):
    """Evaluates the ``failure`` metric a Resource yields instead of its measurements."""

    def __init__(self) -> None:
        super().__init__("failure")

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        failure: Failure = metric.value
        return nagiosplugin.Result(failure.state, failure.summary, metric)


def failure_metric(failure: Failure) -> nagiosplugin.Metric:
    return nagiosplugin.Metric("failure", failure, context="failure")  # type: ignore[arg-type]


def failure_of(results: nagiosplugin.Results) -> Failure | None:
    """The Failure behind a check's results, if the probe failed."""
    for result in results:
        if result.metric is not None and isinstance(result.metric.value, Failure):
            return result.metric.value
    return None


# -- running ----------------------------------------------------------------------------
class SuiteOutput(Output):  # type: ignore[misc]
    """Perfdata stays on the status line and the long output is printed at every verbosity.

    nagiosplugin moves perfdata to the end and drops the long output at -v0; a Nagios user
    wants the per-item lines in the service's long output without editing the command.
    """

    def add(self, check: nagiosplugin.Check) -> None:
        self.status = self.format_status(check)
        perfdata = self.format_perfdata(check)
        if perfdata:
            self.status += " " + perfdata
        self.add_longoutput(check.verbose_str)


class _Redact(logging.Filter):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret and self.secret in message:
            record.msg, record.args = message.replace(self.secret, "(hidden)"), ()
        return True


def run_check(
    check: nagiosplugin.Check,
    verbose: int,
    timeout: float,
    secret: str = "",
    loggers: tuple[str, ...] = ("asterisk_ami",),
) -> NoReturn:
    """Run a check under our output rules, with a hard backstop at ``timeout`` seconds.

    Records of ``loggers`` join nagiosplugin's log (shown at -vv/-vvv), with ``secret`` hidden.
    """
    runtime = nagiosplugin.Runtime()
    runtime.output = SuiteOutput(runtime.logchan)
    runtime.logchan.addFilter(_Redact(secret))
    for name in loggers:
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        if runtime.logchan not in logger.handlers:
            logger.addHandler(runtime.logchan)
    name = check.name.upper()

    def backstop(signum: int, frame: Any) -> None:
        # The session's asyncio deadline fires first; this covers anything that ignores it.
        line = status_line(name, "UNKNOWN", f"check aborted after {timeout:g}s (-t)")
        os.write(1, (line + "\n").encode())
        os._exit(UNKNOWN)

    measure = runtime.run

    def run_then_disarm(check: nagiosplugin.Check) -> None:
        # Disarm before nagiosplugin prints: the backstop must never add a second status
        # line, and must not fire during interpreter shutdown, when Python has put SIGALRM
        # back to its default action (the process would die of the signal: exit -14).
        try:
            measure(check)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    runtime.run = run_then_disarm
    signal.signal(signal.SIGALRM, backstop)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        check.main(verbose=verbose)
    except SystemExit as done:
        end_process(done.code)
    raise AssertionError("nagiosplugin's main returned")  # pragma: no cover


def end_process(code: object) -> NoReturn:
    """Exit at once with ``code`` once the status is written, skipping the interpreter's teardown.

    Freeing the few hundred modules a check has loaded takes about 25 ms, 15 % of a whole run
    (``make bench``), and does nothing a finished check needs: every connection was closed by
    the check itself (AMI Logoff, database close), so only the output buffers are flushed here.
    """
    status = code if isinstance(code, int) else (0 if code is None else UNKNOWN)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # OSError: the reader has gone (EPIPE); ValueError: the stream was closed.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


def connection_notes(target: Target) -> list[str]:
    """Long-output warnings about how the session was made."""
    from asterisk_ami.tls import verified  # noqa: PLC0415

    if target.tls is not None and not verified(target.tls):
        return ["warning: the AMI TLS certificate was not verified (--insecure)"]
    return []


# -- acquisition over AMI ---------------------------------------------------------------
class AmiResource(nagiosplugin.Resource):
    """A Resource whose probe acquires its data over one AMI session.

    By default the probe opens a session of its own (:func:`asterisk_ami.session.run`);
    asterisk-watch sets ``acquire`` to run the same acquisition over its long-lived session,
    so the evaluation and the output stay those of the plugin.
    """

    target: Target
    acquire: Acquire | None = None

    def run_session(self, work: Callable[[Session], Awaitable[T]], deadline: float) -> T:
        if self.acquire is not None:
            return self.acquire(work, deadline)  # type: ignore[no-any-return]
        from asterisk_ami import session  # noqa: PLC0415 (keeps asyncio out of --help)

        return session.run(self.target, deadline, work)


# -- counts of things up (spans, ports, lines) ------------------------------------------
class CountResource(AmiResource):
    """A Resource that counts things up against an expected number (-n), as UpCount and
    ListedCount read it: set ``expected_option`` (-n or None) and, once probed, ``report``
    (anything with an ``expected`` attribute)."""

    expected_option: int | None = None
    report: Any = None

    @property
    def expected(self) -> int | None:
        """Things expected: -n, or the number listed; None before probing."""
        return self.report.expected if self.report is not None else None

    @property
    def expected_given(self) -> bool:
        return self.expected_option is not None


class UpCount(nagiosplugin.ScalarContext):
    """Thresholds on how many things are up, for a Resource with an ``expected`` attribute.

    Without -w: WARNING below the expected count (known only after probing when -n was not
    given); without -c: CRITICAL when none is up. Perfdata shows the ranges in effect.
    """

    def __init__(
        self,
        name: str,
        warning: nagiosplugin.Range | None,
        critical: nagiosplugin.Range | None,
        fmt_metric: str = "{value} up",
    ) -> None:
        super().__init__(name, warning, critical or nagiosplugin.Range("1:"), fmt_metric)
        self.default_warning = warning is None

    def _settle(self, resource: Any) -> None:
        expected = getattr(resource, "expected", None)
        if self.default_warning and expected is not None:
            self.warning = nagiosplugin.Range(f"{expected}:")

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        self._settle(resource)
        return super().evaluate(metric, resource)

    def performance(self, metric: nagiosplugin.Metric, resource: Any) -> Any:
        self._settle(resource)
        return super().performance(metric, resource)


class ListedCount(nagiosplugin.Context):
    """WARNING when -n was given (``resource.expected_given``) and a different number is listed."""

    def __init__(self, name: str, noun: str) -> None:
        super().__init__(name)
        self.noun = noun

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        expected = getattr(resource, "expected", None)
        if getattr(resource, "expected_given", False) and metric.value != expected:
            text = f"{metric.value} {self.noun} listed, {expected} expected"
            return nagiosplugin.Result(nagiosplugin.Warn, text, metric)
        return nagiosplugin.Result(nagiosplugin.Ok, metric=metric)


class ReportSummary(nagiosplugin.Summary):
    """Status line and long output from the Resource's report, or from the failure instead.

    The Resource provides ``summary_text()`` and ``long_output(verbose)`` once it has a report
    (``report`` is not None).
    """

    def __init__(self, resource: Any, verbose: int) -> None:
        self.resource = resource
        self.verbose_level = verbose

    def ok(self, results: nagiosplugin.Results) -> str:
        return self.problem(results)

    def problem(self, results: nagiosplugin.Results) -> str:
        failure = failure_of(results)
        if failure is not None:
            return failure.summary
        if getattr(self.resource, "report", None) is None:  # a CheckError: nagiosplugin's text
            return str(super().problem(results))
        return str(self.resource.summary_text())

    def verbose(self, results: nagiosplugin.Results) -> list[str]:
        failure = failure_of(results)
        if failure is not None:
            return list(failure.detail)
        if getattr(self.resource, "report", None) is None:
            return []
        return list(self.resource.long_output(self.verbose_level))


class WarnWhenAny(nagiosplugin.Context):
    """WARNING with ``hint`` when the metric, a count of problems, is not zero (no perfdata)."""

    def __init__(self, name: str, hint: str) -> None:
        super().__init__(name)
        self.hint = hint

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        if metric.value:
            return nagiosplugin.Result(nagiosplugin.Warn, self.hint, metric)
        return nagiosplugin.Result(nagiosplugin.Ok, metric=metric)
