"""Running a check: the suite's output format, secrets hidden from the log, the backstop timer,
and the quick exit once the status is written."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, Any, Callable, NoReturn

import nagiosplugin
from nagiosplugin.output import Output

from isp_plugins.cli.command import UNKNOWN, status_line
from isp_plugins.runtime import deadline

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

    def add_longoutput(self, text: Any) -> None:
        """nagiosplugin's, at once for a list of lines that it would keep as they are (no '|'
        to remove, no line ending in a newline); it goes through them one call each."""
        if isinstance(text, list) and all(type(line) is str for line in text):
            block = "\n".join(text)
            if "|" not in block and "\n\n" not in block and not block.endswith("\n"):
                self.out.extend(text)
                return
        super().add_longoutput(text)


def secret_forms(secret: str) -> list[str]:
    """Every way ``secret`` can show in a log line: as is, repr'd or escaped (in a dict or an
    exception), and, when it holds undecodable bytes, those bytes decoded some other way."""
    if not secret:
        return []
    forms = {secret, repr(secret)[1:-1], ascii(secret)[1:-1]}
    forms.add(secret.encode("utf-8", "backslashreplace").decode("ascii", "replace"))
    forms.add(secret.encode("unicode_escape").decode("ascii", "replace"))
    raw = secret.encode("utf-8", "surrogateescape")
    forms.add(repr(raw)[2:-1])
    forms.update(raw.decode(codec, "replace") for codec in ("utf-8", "latin-1"))
    return sorted(forms, key=len, reverse=True)  # the longest first: no half-hidden form


class RedactSecret(logging.Filter):
    """Hides the secret, in every form, from a record's text and its traceback."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.forms = secret_forms(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.forms:
            return True
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + record.stack_info
        hidden = text
        for form in self.forms:
            hidden = hidden.replace(form, "(hidden)")
        if hidden != text or record.exc_info or record.stack_info:
            record.msg, record.args = hidden, ()
            record.exc_info, record.exc_text, record.stack_info = None, None, None
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
    runtime.logchan.addFilter(RedactSecret(secret))
    # The records nagiosplugin shows at this -v, and no others: a logger that knows its level
    # builds no debug text (one per AMI message) that would only be thrown away.
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
    deadline.arm()  # the check's own deadlines count from here too
    try:
        check.main(verbose=verbose)
    except SystemExit as done:
        end_process(done.code)
    raise AssertionError("nagiosplugin's main returned")  # pragma: no cover


def run_ami_check(
    options: Any, build_check: Callable[[Any, Target], nagiosplugin.Check]
) -> NoReturn:
    """Run an AMI check: ``options.ami`` says where to log in and how; the secret is hidden.

    Without the cyclic garbage collector: the process lives for one session (bounded by -t and
    the 8 MiB reply limit) and frees what it builds by reference counting, so the collector
    only traced the live message and peer lists again and again, freeing nothing (at 2,000
    peers about 7 ms of CPU, 10 % of the check's own; peak RSS the same without it).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        target = options.ami.target()
        check = build_check(options, target)
        run_check(
            check,
            options.ami.verbose,
            options.ami.timeout,
            target.secret,
            loggers=("asterisk_ami",),
        )
    finally:  # reached only where end_process does not end the process (a test's patch)
        if collecting:
            gc.enable()


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
