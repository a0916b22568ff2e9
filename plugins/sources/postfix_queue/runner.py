"""Postfix commands run by full path under a deadline: killed, not waited for, when it passes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

# Nagios and NRPE often run plugins with PATH=/usr/bin:/bin; Postfix lives in sbin.
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin", "/opt/postfix/sbin")
STDERR_KEEP = 4096


class CommandError(Exception):
    """A command could not be run, or ran and failed."""


class CommandNotFound(CommandError):
    """The executable does not exist or may not be executed."""


class CommandTimeout(CommandError):
    """The command outlived the deadline and was killed."""


@dataclass
class Finished:
    """How a command ended: exit status (negative: killed by that signal) and its stderr."""

    argv: tuple[str, ...]
    returncode: int
    stderr: str


def find_program(name: str) -> str | None:
    """The full path of ``name`` on PATH or in the usual sbin directories."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS])
    return shutil.which(name, path=search)


def _remaining(deadline: float) -> float:
    return deadline - time.monotonic()


def _launch(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(
            list(argv),
            bufsize=1 << 16,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "LC_ALL": "C"},
            start_new_session=True,  # its own process group: a kill reaches any child too
        )
    except (FileNotFoundError, PermissionError) as exc:
        raise CommandNotFound(f"cannot run {argv[0]}: {exc.strerror}") from None
    except OSError as exc:
        raise CommandError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):  # already gone
        os.killpg(proc.pid, signal.SIGKILL)


class _Stderr(threading.Thread):
    """Drains stderr while stdout streams, keeping its first STDERR_KEEP bytes."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        super().__init__(daemon=True)
        self.proc = proc
        self.kept = bytearray()

    def run(self) -> None:
        assert self.proc.stderr is not None
        for chunk in iter(lambda: self.proc.stderr.read(4096), b""):  # type: ignore[union-attr]
            if len(self.kept) < STDERR_KEEP:
                self.kept += chunk[: STDERR_KEEP - len(self.kept)]

    @property
    def text(self) -> str:
        return self.kept.decode("utf-8", "replace").strip()


@contextmanager
def stream(argv: Sequence[str], deadline: float) -> Iterator[tuple[Iterator[bytes], Finished]]:
    """Run ``argv``; yield its stdout lines and a Finished filled in when the block ends.

    A timer kills the process at ``deadline`` (a time.monotonic() value), which ends the
    line iterator; CommandTimeout is then raised when the block exits. Leaving the block
    early (an exception in the caller) kills the process too.
    """
    if _remaining(deadline) <= 0:
        raise CommandTimeout(f"no time left to run {argv[0]}")
    proc = _launch(argv)
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        _kill(proc)

    timer = threading.Timer(_remaining(deadline), expire)
    timer.daemon = True
    timer.start()
    errors = _Stderr(proc)
    errors.start()
    finished = Finished(tuple(argv), 0, "")
    assert proc.stdout is not None
    completed = False
    try:
        yield iter(proc.stdout), finished
        completed = True
    finally:
        if not completed and proc.poll() is None:
            _kill(proc)
        proc.stdout.close()
        try:
            proc.wait(max(0.1, _remaining(deadline)))
        except subprocess.TimeoutExpired:
            _kill(proc)
            proc.wait()
            expired.set()
        timer.cancel()
        errors.join(1.0)
    if expired.is_set():
        raise CommandTimeout(f"{os.path.basename(argv[0])} killed after the deadline")
    finished.returncode = proc.returncode
    finished.stderr = errors.text


def run(argv: Sequence[str], deadline: float) -> tuple[str, Finished]:
    """Run a short command (postconf, postmulti) to the end; its stdout as text."""
    if _remaining(deadline) <= 0:
        raise CommandTimeout(f"no time left to run {argv[0]}")
    try:
        done = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_remaining(deadline),
            env={**os.environ, "LC_ALL": "C"},
            check=False,
        )
    except (FileNotFoundError, PermissionError) as exc:
        raise CommandNotFound(f"cannot run {argv[0]}: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise CommandTimeout(f"{os.path.basename(argv[0])} killed after the deadline") from None
    except OSError as exc:
        raise CommandError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    stderr = done.stderr.decode("utf-8", "replace").strip()
    return done.stdout.decode("utf-8", "replace"), Finished(tuple(argv), done.returncode, stderr)
