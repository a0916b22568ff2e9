"""Running a check: the suite's output format, secrets hidden from the log, the backstop timer,
and the quick exit once the status is written."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, Any, Callable, NoReturn

import nagiosplugin
from nagiosplugin.output import Output

from isp_plugins.cli.command import UNKNOWN, status_line

if TYPE_CHECKING:
    from asterisk_ami.session import Target


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
    loggers: tuple[str, ...] = (),
) -> NoReturn:
    """Run a check under our output rules, with a hard backstop at ``timeout`` seconds.

    Records of ``loggers`` join nagiosplugin's log (shown at -vv/-vvv), with ``secret`` hidden.
    """
    runtime = nagiosplugin.Runtime()
    runtime.output = SuiteOutput(runtime.logchan)
    runtime.logchan.addFilter(_Redact(secret))
    # The level nagiosplugin gives its log at this verbosity: records below it are never
    # built (describing each AMI message costs 0.1 s on a PBX with 2,000 peers).
    level = logging.DEBUG if verbose >= 3 else logging.INFO if verbose == 2 else logging.WARNING
    for name in loggers:
        logger = logging.getLogger(name)
        logger.setLevel(level)
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


def run_ami_check(
    options: Any, build_check: Callable[[Any, Target], nagiosplugin.Check]
) -> NoReturn:
    """Run an AMI check: ``options.ami`` says where to log in and how; the secret is hidden."""
    target = options.ami.target()
    check = build_check(options, target)
    run_check(
        check, options.ami.verbose, options.ami.timeout, target.secret, loggers=("asterisk_ami",)
    )


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
